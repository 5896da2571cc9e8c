-- The retention job (src/domain/outbox/retention.service.ts) deletes deliveries SUCCEEDED longer than
-- WEBHOOK_RETENTION_DAYS ago, oldest first, 1 000 at a time: without this index each batch read every delivery.
--
-- Partial: a delivery waiting, failing or dead-lettered is no candidate and has no entry here.
--
-- webhook_deliveries is written by every event an endpoint subscribes to: wait 5 s at most for its lock (the script
-- is then rolled back and tried again at the next start). IF NOT EXISTS: on a large webhook_deliveries an operator
-- builds the index beforehand with CREATE INDEX CONCURRENTLY (docs/operations.md, "Upgrades"), which this
-- transaction cannot do.
SET LOCAL lock_timeout = '5s';

CREATE INDEX IF NOT EXISTS "webhook_deliveries_delivered_at_idx" ON "webhook_deliveries"("delivered_at") WHERE status = 'SUCCEEDED'::"WebhookDeliveryStatus";
