-- What an incident's batches issued against its budget, kept on the incident row that every batch
-- locks: summing the incident's compensated failures in every batch grew with the incident.
ALTER TABLE "service_incidents" ADD COLUMN "budget_used" DECIMAL(12,2) NOT NULL DEFAULT 0;
ALTER TABLE "service_incidents" ADD CONSTRAINT "service_incidents_budget_used_within_budget"
  CHECK ("budget_used" >= 0 AND ("budget" IS NULL OR "budget_used" <= "budget"));
