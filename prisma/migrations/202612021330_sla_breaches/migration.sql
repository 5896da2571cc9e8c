-- Service-level targets of a case (first response, resolution) and the failures their breaches file.
-- A case gets its due times when it is recorded, from the program's targets for its channel; cases
-- recorded before this migration have none and are never judged (no burst of failures on deploy).

-- CreateEnum
CREATE TYPE "SlaTarget" AS ENUM ('FIRST_RESPONSE', 'RESOLUTION');

-- AlterTable
ALTER TABLE "service_cases"
    ADD COLUMN "first_response_due_at" TIMESTAMPTZ(3),
    ADD COLUMN "resolution_due_at" TIMESTAMPTZ(3),
    -- When the maintenance sweep must look at the case next: the earliest due time that is neither
    -- met nor breached yet; NULL when nothing is pending. The sweep finds overdue cases by this index
    -- and each case at most once per target.
    ADD COLUMN "sla_check_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "service_cases_sla_check_at_idx" ON "service_cases"("sla_check_at");

-- CreateTable
-- One row per case and target that was missed: the primary key makes a second failure for the same
-- breach impossible, however often and however concurrently the check runs.
CREATE TABLE "sla_breaches" (
    "case_id" UUID NOT NULL,
    "target" "SlaTarget" NOT NULL,
    "due_at" TIMESTAMPTZ(3) NOT NULL,
    "failure_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sla_breaches_pkey" PRIMARY KEY ("case_id","target")
);

-- CreateIndex
CREATE UNIQUE INDEX "sla_breaches_failure_id_key" ON "sla_breaches"("failure_id");

-- AddForeignKey
ALTER TABLE "sla_breaches" ADD CONSTRAINT "sla_breaches_case_id_fkey" FOREIGN KEY ("case_id") REFERENCES "service_cases"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sla_breaches" ADD CONSTRAINT "sla_breaches_failure_id_fkey" FOREIGN KEY ("failure_id") REFERENCES "service_failures"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
