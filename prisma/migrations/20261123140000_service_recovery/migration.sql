-- CreateEnum
CREATE TYPE "ServiceFailureType" AS ENUM ('LATE_DELIVERY', 'DEFECTIVE_PRODUCT', 'WRONG_ITEM', 'UNRESOLVED_CONTACT', 'LONG_WAIT', 'BILLING_ERROR', 'OUTAGE', 'OTHER');

-- CreateEnum
CREATE TYPE "Severity" AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL');

-- CreateEnum
CREATE TYPE "ServiceFailureStatus" AS ENUM ('RECORDED', 'COMPENSATED', 'NEEDS_REVIEW', 'NOT_ELIGIBLE');

-- CreateEnum
CREATE TYPE "ContractStatus" AS ENUM ('ACTIVE', 'EXPIRED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "GoodwillReason" AS ENUM ('DELAYED_DELIVERY', 'DEFECTIVE_PRODUCT', 'BILLING_ERROR', 'POOR_EXPERIENCE', 'LONG_WAIT', 'OTHER');

-- CreateEnum
CREATE TYPE "GoodwillKind" AS ENUM ('POINTS', 'VOUCHER');

-- CreateEnum
CREATE TYPE "GoodwillStatus" AS ENUM ('GRANTED', 'PENDING_APPROVAL', 'REJECTED');

-- CreateEnum
CREATE TYPE "ServiceChannel" AS ENUM ('PHONE', 'EMAIL', 'CHAT', 'SOCIAL', 'SELF_SERVICE', 'STORE');

-- AlterTable
ALTER TABLE "members" ADD COLUMN     "at_risk" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "at_risk_since" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "outbox_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "queue" TEXT NOT NULL,
    "job_name" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "enqueued_at" TIMESTAMPTZ(3),
    "enqueues" INTEGER NOT NULL DEFAULT 0,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_failures" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "type" "ServiceFailureType" NOT NULL,
    "severity" "Severity" NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "order_ref" TEXT,
    "case_ref" TEXT,
    "description" TEXT,
    "reporter_type" "ActorType" NOT NULL,
    "reporter_id" TEXT NOT NULL,
    "status" "ServiceFailureStatus" NOT NULL DEFAULT 'RECORDED',
    "repeat_index" INTEGER,
    "compensation_amount" DECIMAL(12,2),
    "voucher_id" UUID,
    "decided_by" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "decision_note" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_failures_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "contracts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "external_ref" TEXT NOT NULL,
    "plan" TEXT NOT NULL,
    "starts_at" TIMESTAMPTZ(3) NOT NULL,
    "ends_at" TIMESTAMPTZ(3) NOT NULL,
    "term_months" INTEGER NOT NULL,
    "status" "ContractStatus" NOT NULL DEFAULT 'ACTIVE',
    "cancelled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "contracts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "contract_renewals" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "contract_id" UUID NOT NULL,
    "sequence" INTEGER NOT NULL,
    "term_months" INTEGER NOT NULL,
    "previous_ends_at" TIMESTAMPTZ(3) NOT NULL,
    "new_ends_at" TIMESTAMPTZ(3) NOT NULL,
    "requested_type" "ActorType" NOT NULL,
    "requested_by" TEXT NOT NULL,
    "bonus_points" INTEGER,
    "bonus_entry_id" UUID,
    "bonus_granted_at" TIMESTAMPTZ(3),
    "clawed_back_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "contract_renewals_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "goodwill_gestures" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "agent_id" TEXT NOT NULL,
    "kind" "GoodwillKind" NOT NULL,
    "points" INTEGER,
    "amount" DECIMAL(12,2),
    "currency" TEXT NOT NULL,
    "money_value" DECIMAL(12,2) NOT NULL,
    "reason" "GoodwillReason" NOT NULL,
    "note" TEXT NOT NULL,
    "case_ref" TEXT,
    "status" "GoodwillStatus" NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "ledger_entry_id" UUID,
    "voucher_id" UUID,
    "decided_by" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "decision_note" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "goodwill_gestures_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "goodwill_audit_entries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "gesture_id" UUID NOT NULL,
    "action" TEXT NOT NULL,
    "actor_id" TEXT NOT NULL,
    "actor_role" TEXT NOT NULL,
    "note" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "goodwill_audit_entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agent_authorities" (
    "agent_id" TEXT NOT NULL,
    "per_gesture_limit" DECIMAL(12,2),
    "per_gesture_points_limit" INTEGER,
    "monthly_budget" DECIMAL(12,2),
    "updated_by" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agent_authorities_pkey" PRIMARY KEY ("agent_id")
);

-- CreateTable
CREATE TABLE "service_cases" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "external_ref" TEXT,
    "channel" "ServiceChannel" NOT NULL,
    "category" TEXT NOT NULL,
    "opened_at" TIMESTAMPTZ(3) NOT NULL,
    "first_response_at" TIMESTAMPTZ(3),
    "resolved_at" TIMESTAMPTZ(3),
    "contacts" INTEGER NOT NULL DEFAULT 1,
    "resolved_on_first_contact" BOOLEAN,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_cases_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "feedback" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "case_id" UUID,
    "nps" INTEGER,
    "csat" INTEGER,
    "comment" TEXT,
    "channel" "ServiceChannel",
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "feedback_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "outbox_events_completed_at_enqueued_at_idx" ON "outbox_events"("completed_at", "enqueued_at");

-- CreateIndex
CREATE UNIQUE INDEX "service_failures_voucher_id_key" ON "service_failures"("voucher_id");

-- CreateIndex
CREATE INDEX "service_failures_member_id_occurred_at_idx" ON "service_failures"("member_id", "occurred_at" DESC);

-- CreateIndex
CREATE INDEX "service_failures_status_created_at_idx" ON "service_failures"("status", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "service_failures_member_id_type_order_ref_key" ON "service_failures"("member_id", "type", "order_ref");

-- CreateIndex
CREATE UNIQUE INDEX "contracts_external_ref_key" ON "contracts"("external_ref");

-- CreateIndex
CREATE INDEX "contracts_member_id_idx" ON "contracts"("member_id");

-- CreateIndex
CREATE UNIQUE INDEX "contract_renewals_bonus_entry_id_key" ON "contract_renewals"("bonus_entry_id");

-- CreateIndex
CREATE UNIQUE INDEX "contract_renewals_contract_id_sequence_key" ON "contract_renewals"("contract_id", "sequence");

-- CreateIndex
CREATE UNIQUE INDEX "goodwill_gestures_ledger_entry_id_key" ON "goodwill_gestures"("ledger_entry_id");

-- CreateIndex
CREATE UNIQUE INDEX "goodwill_gestures_voucher_id_key" ON "goodwill_gestures"("voucher_id");

-- CreateIndex
CREATE INDEX "goodwill_gestures_agent_id_created_at_idx" ON "goodwill_gestures"("agent_id", "created_at");

-- CreateIndex
CREATE INDEX "goodwill_gestures_status_created_at_idx" ON "goodwill_gestures"("status", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "goodwill_gestures_agent_id_idempotency_key_key" ON "goodwill_gestures"("agent_id", "idempotency_key");

-- CreateIndex
CREATE INDEX "goodwill_audit_entries_gesture_id_created_at_idx" ON "goodwill_audit_entries"("gesture_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "service_cases_external_ref_key" ON "service_cases"("external_ref");

-- CreateIndex
CREATE INDEX "service_cases_member_id_opened_at_idx" ON "service_cases"("member_id", "opened_at" DESC);

-- CreateIndex
CREATE INDEX "service_cases_opened_at_idx" ON "service_cases"("opened_at");

-- CreateIndex
CREATE INDEX "feedback_member_id_created_at_idx" ON "feedback"("member_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "feedback_created_at_idx" ON "feedback"("created_at");

-- AddForeignKey
ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "contracts" ADD CONSTRAINT "contracts_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "contract_renewals" ADD CONSTRAINT "contract_renewals_contract_id_fkey" FOREIGN KEY ("contract_id") REFERENCES "contracts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "goodwill_gestures" ADD CONSTRAINT "goodwill_gestures_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "goodwill_audit_entries" ADD CONSTRAINT "goodwill_audit_entries_gesture_id_fkey" FOREIGN KEY ("gesture_id") REFERENCES "goodwill_gestures"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_cases" ADD CONSTRAINT "service_cases_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_case_id_fkey" FOREIGN KEY ("case_id") REFERENCES "service_cases"("id") ON DELETE SET NULL ON UPDATE CASCADE;


-- Guards beyond Prisma's schema language.
ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_compensation_nonnegative" CHECK ("compensation_amount" IS NULL OR "compensation_amount" >= 0);
ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_compensated_has_voucher" CHECK ("status" <> 'COMPENSATED' OR "voucher_id" IS NOT NULL);
ALTER TABLE "contracts" ADD CONSTRAINT "contracts_term" CHECK ("term_months" IN (12, 24));
ALTER TABLE "contracts" ADD CONSTRAINT "contracts_dates" CHECK ("ends_at" > "starts_at");
ALTER TABLE "contract_renewals" ADD CONSTRAINT "contract_renewals_term" CHECK ("term_months" IN (12, 24));
ALTER TABLE "contract_renewals" ADD CONSTRAINT "contract_renewals_sequence_positive" CHECK ("sequence" >= 1);
ALTER TABLE "contract_renewals" ADD CONSTRAINT "contract_renewals_bonus_nonnegative" CHECK ("bonus_points" IS NULL OR "bonus_points" >= 0);
ALTER TABLE "goodwill_gestures" ADD CONSTRAINT "goodwill_gestures_value_shape" CHECK (
  ("kind" = 'POINTS' AND "points" > 0 AND "amount" IS NULL) OR
  ("kind" = 'VOUCHER' AND "amount" > 0 AND "points" IS NULL));
ALTER TABLE "goodwill_gestures" ADD CONSTRAINT "goodwill_gestures_money_value_nonnegative" CHECK ("money_value" >= 0);
ALTER TABLE "goodwill_gestures" ADD CONSTRAINT "goodwill_gestures_granted_has_effect" CHECK (
  "status" <> 'GRANTED' OR "ledger_entry_id" IS NOT NULL OR "voucher_id" IS NOT NULL);
ALTER TABLE "agent_authorities" ADD CONSTRAINT "agent_authorities_nonnegative" CHECK (
  ("per_gesture_limit" IS NULL OR "per_gesture_limit" >= 0) AND
  ("per_gesture_points_limit" IS NULL OR "per_gesture_points_limit" >= 0) AND
  ("monthly_budget" IS NULL OR "monthly_budget" >= 0));
ALTER TABLE "service_cases" ADD CONSTRAINT "service_cases_contacts_positive" CHECK ("contacts" >= 1);
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_nps_range" CHECK ("nps" IS NULL OR "nps" BETWEEN 0 AND 10);
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_csat_range" CHECK ("csat" IS NULL OR "csat" BETWEEN 1 AND 5);
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_has_answer" CHECK ("nps" IS NOT NULL OR "csat" IS NOT NULL);
