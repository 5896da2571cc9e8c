-- Checks the existing members against members_balance_fits_an_integer (added NOT VALID by the migration before):
-- VALIDATE CONSTRAINT scans the table under a SHARE UPDATE EXCLUSIVE lock, so reads and writes of members go on
-- meanwhile. A member already past the limit fails it (23514, recorded as failed: docs/operations.md, "Upgrades");
-- such members are found by
--   SELECT id FROM members WHERE available_points::bigint + pending_points > 2147483647;
-- and no write of Treue's can have made one (the ledger kernel refuses it).
ALTER TABLE "members" VALIDATE CONSTRAINT "members_balance_fits_an_integer";
