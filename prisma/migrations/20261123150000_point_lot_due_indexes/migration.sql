-- Lots due for maintenance (points to release, lots to expire) found through an index
-- instead of a sequential scan of every lot ever granted, every 5 minutes: with 4 million
-- lots the scan took 0.8 s, with these indexes 0.2 ms (bench/README.md). New lots append at
-- the right end of both (released_at and expired_at NULL, dates increasing), so an earn
-- pays little for them.

-- CreateIndex
CREATE INDEX "point_lots_released_at_available_at_idx" ON "point_lots"("released_at", "available_at");

-- CreateIndex
CREATE INDEX "point_lots_expired_at_expires_at_idx" ON "point_lots"("expired_at", "expires_at");
