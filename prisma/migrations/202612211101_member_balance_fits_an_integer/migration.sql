-- A member's balance (available + pending points: a ledger entry's balance_after) fits a PostgreSQL integer. Each
-- column alone always did, but every read that adds them up as integers — the status read, the ledger check — failed
-- (integer out of range, 22003) for a member past 2 147 483 647 in all. The ledger kernel refuses such a grant
-- before it writes (assertRoomFor, a ValidationError); this is the last line of defence behind it. Added up as
-- bigint, so that a row past the limit is refused as a check violation, not as an overflow of the check itself.
--
-- NOT VALID: added without reading the table, so the ACCESS EXCLUSIVE lock is held for a moment, not for a scan of
-- every member (every request touches members); new and updated rows are checked from now on, and the next
-- migration checks the existing ones under a lock that lets reads and writes go on. A lock not granted within 5 s
-- (a long transaction on members) stops the script, which is rolled back and tried again at the next start.
SET LOCAL lock_timeout = '5s';
ALTER TABLE "members" ADD CONSTRAINT "members_balance_fits_an_integer"
  CHECK ("available_points"::bigint + "pending_points" <= 2147483647) NOT VALID;
