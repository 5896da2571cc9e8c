-- A member's lots by expiry date served every reader of a member's lots: first-in first-out taking (every
-- redeem, reward, refund and claw-back), the expiries of every uncached status read, the due check of every
-- ledger transaction, settling. All of them ask for lots not expired, yet the index held every lot the
-- member ever had, and expired lots sort first by expiry date: each of those reads went through all of the
-- member's expired lots, one heap fetch each, before reaching an open one. Expired lots only grow (one per
-- earn, about two years later), so a member of some years paid for each old order on every read
-- (tests/points/due-lots.test.ts). Partial on `expired_at IS NULL`, the index holds open lots only; a lot
-- leaves it when it expires (an update that already changed an indexed column), and a redeem's change of
-- `remaining` stays a HOT update.
DROP INDEX "point_lots_member_id_expires_at_idx";
CREATE INDEX "point_lots_member_id_expires_at_idx" ON "point_lots"("member_id", "expires_at") WHERE expired_at IS NULL;
