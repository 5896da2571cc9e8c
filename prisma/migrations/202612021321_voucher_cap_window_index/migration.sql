-- The compensation cap reads a member's vouchers of one kind issued in a window, per failure decided
-- (thousands per second in an incident's batches). Without this index the planner may combine the
-- member index with the kind index, which reads every voucher of the kind for each failure.
CREATE INDEX "vouchers_member_id_kind_issued_at_idx" ON "vouchers"("member_id", "kind", "issued_at");
