-- Whether a member has a point lot due to be settled (released after its return window, or expired), as
-- committed when the calling statement reaches this call.
--
-- The ledger kernel's opening statement locks the member row (FOR UPDATE) and asks, in its select list,
-- whether any of the member's lots is due. Under READ COMMITTED that statement's own snapshot was taken
-- before it waited for the lock, so it missed a lot that the transaction it waited for had just made due
-- (a restore past the lot's original expiry): the operation ran on a balance holding expired points. A
-- VOLATILE function takes a fresh snapshot for each query it runs, as idempotency_key_taken does.
--
-- The condition is src/domain/points/ledger.ts's lotIsDue (lotToRelease OR lotToExpire), the one the
-- maintenance sweep and the settle use; tests/points/due-lots.test.ts checks that the two agree. Served by
-- point_lots_member_id_expires_at_idx (the member's open lots).
--
-- Its plan is cached per connection as the kernel's prepared statement's was (generic after five calls when
-- no dearer by the estimates: on a table of many members, the member's index). Planning it for every call
-- (plan_cache_mode = force_custom_plan) cost 35-60 us of PostgreSQL's time per call here, ~6 % of an earn's.
CREATE FUNCTION "member_has_due_lots"(p_member UUID, p_now TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN EXISTS (
    SELECT 1 FROM point_lots l
    WHERE l.member_id = p_member
      AND ((l.released_at IS NULL AND l.expired_at IS NULL AND l.available_at <= p_now)
           OR (l.expired_at IS NULL AND l.expires_at <= p_now)));
END $$;
