-- The supervisors' queue of held renewal bonuses (`heldRenewalBonuses`, contracts.service.ts
-- `heldRenewalBonusesWhere`: held, neither granted nor clawed back, longest waiting first) read every renewal ever
-- made on each console refetch. This index holds the waiting ones only, in the queue's order (`bonus_held_at`, `id`):
-- a decided bonus leaves it (tests/contracts/held-renewal-bonuses-index.test.ts).
--
-- contract_renewals is written by every extension and bonus job: wait 5 s at most for its lock (the script is then
-- rolled back and tried again at the next start). IF NOT EXISTS: on a large contract_renewals an operator builds the
-- index beforehand with CREATE INDEX CONCURRENTLY (docs/operations.md, "Upgrades"), which this transaction cannot do.
SET LOCAL lock_timeout = '5s';

CREATE INDEX IF NOT EXISTS "contract_renewals_held_bonus_queue_idx" ON "contract_renewals"("bonus_held_at", "id") WHERE bonus_held_at IS NOT NULL AND bonus_granted_at IS NULL AND clawed_back_at IS NULL;
