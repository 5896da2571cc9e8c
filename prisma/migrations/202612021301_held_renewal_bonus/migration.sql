-- A SUSPENDED member's renewal bonus is held, never lost: `bonus_held_at` marks it (the points the
-- policy computed in `bonus_points`) until the suspension ends or a supervisor decides; the decision
-- keeps who decided and why.
ALTER TABLE "contract_renewals"
  ADD COLUMN "bonus_held_at" TIMESTAMPTZ(3),
  ADD COLUMN "bonus_decided_by" TEXT,
  ADD COLUMN "bonus_decision_note" TEXT;
