-- Every ledger transaction and every uncached member-status read asks for the settings' version
-- (the parsed settings are cached per version in each process) as md5(settings::text): 2.3 kB of
-- JSON printed and hashed each time, 0.02 ms of PostgreSQL's CPU per earn (pgbench, prepared). A
-- stored generated column computes the same hash once per change of the settings; it cannot go
-- stale, whatever writes the row.
ALTER TABLE "program" ADD COLUMN "settings_hash" TEXT GENERATED ALWAYS AS (md5(("settings")::text)) STORED;
