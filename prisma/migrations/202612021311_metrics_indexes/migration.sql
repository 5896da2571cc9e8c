-- loyaltyMetrics reads each figure's rows by the time that places them in a period (docs/metrics.md):
-- a range scan of a year instead of a scan of every row ever written.
CREATE INDEX "service_cases_first_response_at_idx" ON "service_cases"("first_response_at");
CREATE INDEX "service_cases_resolved_at_idx" ON "service_cases"("resolved_at");
CREATE INDEX "service_failures_occurred_at_idx" ON "service_failures"("occurred_at");
CREATE INDEX "contracts_ends_at_idx" ON "contracts"("ends_at");
CREATE INDEX "contract_renewals_previous_ends_at_idx" ON "contract_renewals"("previous_ends_at");
CREATE INDEX "vouchers_issued_at_idx" ON "vouchers"("issued_at");
CREATE INDEX "goodwill_gestures_status_decided_at_idx" ON "goodwill_gestures"("status", "decided_at");
