-- Which compensations an incident's batches counted in its budget_used: set on the failures a batch records
-- COMPENSATED, cleared when staff void the voucher, whose amount then goes back to budget_used (a voided voucher gave
-- nothing; docs/domain-rules.md, "Service incidents"). A failure of an incident compensated otherwise — an approved
-- remainder, a grant after review, a hold released by the reactivation — was never counted and gives nothing back, and
-- its row cannot otherwise be told from a batch's. So existing rows are left false: a voucher a batch issued before
-- this migration keeps its place in budget_used when voided (no backfill, which could only guess).
--
-- A constant default: the table is not rewritten. service_failures is written by every report and compensation: wait
-- 5 s at most for its lock (the script is then rolled back and tried again at the next start).
SET LOCAL lock_timeout = '5s';
ALTER TABLE "service_failures" ADD COLUMN "counted_in_budget" BOOLEAN NOT NULL DEFAULT false;
