-- An incident's failures in the order of their ids (`ServiceIncident.failures`, incident-failures.service.ts): a page
-- of 10 of an incident with 90 000 failures read all 90 000 through (incident_id, member_id) and sorted them. This
-- index holds each incident's failures in the page's order, so a page reads its rows and one more
-- (tests/service-failures/incident-failures-page.test.ts).
--
-- Partial: a failure reported on its own (reportServiceFailure, the SLA sweep) has no incident and no entry here; it
-- pays nothing for this index when it is written or its status changes.
--
-- service_failures is written by every report and compensation: wait 5 s at most for its lock (the script is then
-- rolled back and tried again at the next start). IF NOT EXISTS: on a large service_failures an operator builds the
-- index beforehand with CREATE INDEX CONCURRENTLY (docs/operations.md, "Upgrades"), which this transaction cannot do.
SET LOCAL lock_timeout = '5s';

CREATE INDEX IF NOT EXISTS "service_failures_incident_id_id_idx" ON "service_failures"("incident_id", "id") WHERE incident_id IS NOT NULL;
