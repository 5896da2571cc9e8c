-- The ledger kernel's due check (member_has_due_lots, migration 202612121000) asked one condition of the member's
-- open lots — pending and past its return window, or past its expiry — which no index answers as a range: it read
-- every open lot of the member (two years of orders) before every point operation, ~40 us of PostgreSQL's time for
-- 64 lots here, and more for each year a customer keeps buying. Asked as two conditions, each is a range of an
-- index of the member's lots: past expiry by point_lots_member_id_expires_at_idx (the member's open lots by
-- expiry), past the return window by this index of the member's pending lots by release date. Like the sweeps'
-- indexes it holds only the lots still to settle (a released lot leaves it), so it stays the size of the lots
-- in their return window. tests/points/due-lots.test.ts holds the check to the lots it may find due.
--
-- IF NOT EXISTS: on a large point_lots an operator builds the index beforehand with CREATE INDEX CONCURRENTLY.
CREATE INDEX IF NOT EXISTS "point_lots_member_id_available_at_idx" ON "point_lots"("member_id", "available_at") WHERE released_at IS NULL;

-- The same condition as src/domain/points/ledger.ts's lotIsDue (lotToRelease OR lotToExpire), one EXISTS each.
CREATE OR REPLACE FUNCTION "member_has_due_lots"(p_member UUID, p_now TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN EXISTS (
      SELECT 1 FROM point_lots l
      WHERE l.member_id = p_member AND l.expired_at IS NULL AND l.expires_at <= p_now)
    OR EXISTS (
      SELECT 1 FROM point_lots l
      WHERE l.member_id = p_member AND l.released_at IS NULL AND l.expired_at IS NULL AND l.available_at <= p_now);
END $$;
