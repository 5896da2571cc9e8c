-- The maintenance sweeps' three indexes held every lot the program ever granted, settled ones too: a lot is
-- pending for the return window (two weeks) and open until it expires (two years), yet each index kept it
-- forever, and every release, expiry and reminder added the lot to its index once more under the new
-- value. Each sweep asks only for lots it may still take (`released_at IS NULL`, `expired_at IS NULL`,
-- `expiry_reminded_at IS NULL AND expired_at IS NULL`: a lot that expired unreminded, the maintenance worker
-- away for longer than the reminder window, is past reminding), so each index now holds those lots only, by
-- the date the sweep compares (tests/points/due-lots.test.ts): a settled lot leaves the index (its old entry
-- once vacuumed) instead of staying in it for good.
--
-- IF [NOT] EXISTS: on a large point_lots an operator builds the new indexes beforehand with CREATE INDEX
-- CONCURRENTLY (docs/operations.md, "Upgrades"), which this transaction cannot do; it then only drops the old ones.
DROP INDEX IF EXISTS "point_lots_released_at_available_at_idx";
DROP INDEX IF EXISTS "point_lots_expired_at_expires_at_idx";
DROP INDEX IF EXISTS "point_lots_expiry_reminded_at_expires_at_idx";
CREATE INDEX IF NOT EXISTS "point_lots_pending_available_at_idx" ON "point_lots"("available_at") WHERE released_at IS NULL;
CREATE INDEX IF NOT EXISTS "point_lots_open_expires_at_idx" ON "point_lots"("expires_at") WHERE expired_at IS NULL;
CREATE INDEX IF NOT EXISTS "point_lots_unreminded_expires_at_idx" ON "point_lots"("expires_at") WHERE expiry_reminded_at IS NULL AND expired_at IS NULL;
