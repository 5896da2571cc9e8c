-- loyaltyMetrics' churn after failure reads every change to PASSIVE or CLOSED and every contract
-- cancellation that can fall in a follow-up window, by time: two small range scans, the member id
-- read from the index.
CREATE INDEX "member_status_changes_to_status_changed_at_idx" ON "member_status_changes"("to_status", "changed_at") INCLUDE ("member_id");
CREATE INDEX "contracts_cancelled_at_idx" ON "contracts"("cancelled_at");
