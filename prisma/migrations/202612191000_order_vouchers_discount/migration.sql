-- What the vouchers redeemed on a member's order, and not rolled back, take off it in all (0 when none, or no
-- such order), as committed when the calling statement reaches this call.
--
-- A voucher redeemed on an order takes off at most what the order's other vouchers left of its total
-- (src/domain/vouchers/vouchers.service.ts, docs/orders.md). redeemVoucher's opening statement locks the
-- voucher's member and the voucher and reads, in its select list, this sum. Under READ COMMITTED that
-- statement's own snapshot was taken before it waited for the member: it would miss the voucher that the
-- redemption it waited for had just redeemed on the same order, and both would take the whole total. A
-- VOLATILE function takes a fresh snapshot for each query it runs, as idempotency_key_taken does. Every
-- redemption and every rollback of a voucher holds its member's lock, so the sum holds until the redemption
-- commits. Served by point_orders' unique (member_id, order_ref) and voucher_redemptions_order_id_idx.
CREATE FUNCTION "order_vouchers_discount"(p_member UUID, p_order_ref TEXT) RETURNS NUMERIC
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN (
    SELECT COALESCE(sum(r.discount), 0)
    FROM point_orders o JOIN voucher_redemptions r ON r.order_id = o.id
    WHERE o.member_id = p_member AND o.order_ref = p_order_ref AND r.rolled_back_at IS NULL);
END $$;
