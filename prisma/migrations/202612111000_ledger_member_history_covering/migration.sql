-- The member status screen sums the member's qualifying entries of the tier window on every read
-- (src/domain/tiers/tiers.service.ts, `qualifyingPointsSql`): through (member_id, created_at) alone each of
-- those entries was a visit to its heap page, and a member's entries lie one per page, written among everyone
-- else's, so a read cost one page per entry of the window (a customer who shops weekly: ~50 a year). With kind
-- and amount in the index the sum is an index-only scan over the few leaf pages that hold the member's entries
-- (heap visits only for pages changed since the last vacuum). Same key, so the ledger pages and every other
-- reader use it as before.
--
-- IF [NOT] EXISTS: on a large ledger an operator builds the new index beforehand with CREATE INDEX
-- CONCURRENTLY (docs/operations.md, "Upgrades"), which this transaction cannot do; it then only drops the old one.
CREATE INDEX IF NOT EXISTS "ledger_entries_member_history_idx" ON "ledger_entries"("member_id", "created_at" DESC) INCLUDE ("kind", "amount");
DROP INDEX IF EXISTS "ledger_entries_member_id_created_at_idx";
