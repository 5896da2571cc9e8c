-- Service incidents: one outage or carrier delay naming many members, fanned out into one
-- service failure per member (docs/domain-rules.md, "Service incidents").

-- Why a failure waits for a supervisor: over the member's 30-day cap, or over its incident's budget.
CREATE TYPE "ServiceFailureReviewReason" AS ENUM ('CAP', 'INCIDENT_BUDGET');

-- CreateTable
CREATE TABLE "service_incidents" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "type" "ServiceFailureType" NOT NULL,
    "severity" "Severity" NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "description" TEXT,
    "budget" DECIMAL(12,2),
    "reporter_type" "ActorType" NOT NULL,
    "reporter_id" TEXT NOT NULL,
    "over_budget_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_incidents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_incident_pages" (
    "id" UUID NOT NULL,
    "incident_id" UUID NOT NULL,
    "entries" INTEGER NOT NULL,
    "named" INTEGER NOT NULL,
    "already_named" INTEGER NOT NULL,
    "unresolved" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expanded_at" TIMESTAMPTZ(3),

    CONSTRAINT "service_incident_pages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_incident_members" (
    "incident_id" UUID NOT NULL,
    "member_id" UUID NOT NULL,
    "order_ref" TEXT,
    "page_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "expanded_at" TIMESTAMPTZ(3),
    "failure_id" UUID,
    "duplicate" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "service_incident_members_pkey" PRIMARY KEY ("incident_id","member_id")
);

-- AlterTable
ALTER TABLE "service_failures" ADD COLUMN     "incident_id" UUID,
ADD COLUMN     "review_reason" "ServiceFailureReviewReason";

-- CreateIndex
CREATE INDEX "service_incidents_created_at_idx" ON "service_incidents"("created_at");

-- CreateIndex
CREATE INDEX "service_incident_pages_incident_id_created_at_idx" ON "service_incident_pages"("incident_id", "created_at");

-- CreateIndex
CREATE INDEX "service_incident_members_page_id_position_idx" ON "service_incident_members"("page_id", "position");

-- CreateIndex
CREATE UNIQUE INDEX "service_failures_incident_id_member_id_key" ON "service_failures"("incident_id", "member_id");

-- CreateIndex
CREATE INDEX "point_orders_order_ref_idx" ON "point_orders"("order_ref");

-- AddForeignKey
ALTER TABLE "service_incident_pages" ADD CONSTRAINT "service_incident_pages_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "service_incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_incident_members" ADD CONSTRAINT "service_incident_members_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "service_incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_incident_members" ADD CONSTRAINT "service_incident_members_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_incident_members" ADD CONSTRAINT "service_incident_members_page_id_fkey" FOREIGN KEY ("page_id") REFERENCES "service_incident_pages"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "service_incidents"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- A budget is a positive amount; pages name at least one entry and account for each of them.
ALTER TABLE "service_incidents" ADD CONSTRAINT "service_incidents_budget_positive" CHECK ("budget" IS NULL OR "budget" > 0);
ALTER TABLE "service_incident_pages" ADD CONSTRAINT "service_incident_pages_counts"
  CHECK ("entries" > 0 AND "named" >= 0 AND "already_named" >= 0 AND "unresolved" >= 0
         AND "named" + "already_named" + "unresolved" = "entries");
-- Only a failure of an incident waits for the incident's budget decision.
ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_budget_review_has_incident"
  CHECK ("review_reason" IS DISTINCT FROM 'INCIDENT_BUDGET' OR "incident_id" IS NOT NULL);
