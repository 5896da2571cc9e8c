-- Lifetime points (members.lifetime_points, every point ever granted) only grow, and were a PostgreSQL integer: a
-- member who reached 2 147 483 647 of them could never earn again (the ledger kernel refused every grant as past
-- the limit, although their balance had room). Qualifying points, a sum of some of them, grow past an integer with
-- them, and the tier history records them (tier_changes.qualifying_points). Both columns are bigint from now on.
-- A member's balance (available + pending) stays an integer: members_balance_fits_an_integer is left as it is.
--
-- Every reader reads them exactly up to 2^53 - 1, the largest whole number a JSON number (the Points scalar) carries
-- exactly: the ledger kernel refuses a grant past it (a ValidationError), and this CHECK is the last line of defence
-- behind it. It is checked in the same pass as the rewrite below.
--
-- ALTER COLUMN ... TYPE bigint rewrites the table and rebuilds every index on it, under an ACCESS EXCLUSIVE lock held
-- until the script commits: no request reads or writes members meanwhile (docs/operations.md, "Upgrades", says what
-- that costs on a large table). members first, then tier_changes: the order in which a point operation takes them,
-- so that the migration never waits for one while holding the other. A lock not granted within 5 s (a long
-- transaction on either table) stops the script, which is rolled back and tried again at the next start.
SET LOCAL lock_timeout = '5s';

ALTER TABLE "members"
  ALTER COLUMN "lifetime_points" TYPE BIGINT,
  ADD CONSTRAINT "members_lifetime_points_fit_a_json_number" CHECK ("lifetime_points" <= 9007199254740991);

ALTER TABLE "tier_changes" ALTER COLUMN "qualifying_points" TYPE BIGINT;
