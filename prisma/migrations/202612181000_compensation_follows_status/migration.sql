-- What a service failure's status says of its compensation, held by PostgreSQL as every writer holds it
-- (src/domain/service-failures: the policy's decisions carry an amount for these statuses):
-- * COMPENSATED, NEEDS_REVIEW and HELD have the amount the policy computed (and its currency, paired by
--   service_failures_compensation_currency_paired): a compensated failure was issued that amount, and a
--   waiting one is granted it by reviewServiceFailure or grantApprovedRemainder, which cannot grant a
--   failure without one (storedCompensation throws). RECORDED (not decided yet, released from a hold, or
--   an approved remainder) and NOT_ELIGIBLE may have one or not.
-- * Only a COMPENSATED failure has a voucher (that it has one is service_failures_compensated_has_voucher):
--   every writer sets voucher_id with the status COMPENSATED, and nothing moves a failure out of it.

-- A failure that is not COMPENSATED but names a voucher issued for it (a COMPENSATION voucher caused by
-- this failure): the member holds its compensation, so it is COMPENSATED, in that voucher's amount and
-- currency. A voucher id that names no compensation of this failure is cleared.
UPDATE "service_failures" f
SET "status" = 'COMPENSATED', "compensation_amount" = v."amount", "compensation_currency" = v."currency"
FROM "vouchers" v
WHERE v."id" = f."voucher_id" AND f."status" <> 'COMPENSATED'
  AND v."kind" = 'COMPENSATION' AND v."cause_type" = 'FAILURE' AND v."cause_ref" = f."id"::text AND v."amount" IS NOT NULL;

UPDATE "service_failures" SET "voucher_id" = NULL
WHERE "voucher_id" IS NOT NULL AND "status" <> 'COMPENSATED';

-- A COMPENSATED failure without an amount was issued its voucher's: that amount, in that currency.
UPDATE "service_failures" f
SET "compensation_amount" = v."amount", "compensation_currency" = v."currency"
FROM "vouchers" v
WHERE v."id" = f."voucher_id" AND f."status" = 'COMPENSATED' AND f."compensation_amount" IS NULL AND v."amount" IS NOT NULL;

-- A failure waiting for a grant without the amount to grant — NEEDS_REVIEW, HELD, or an incident's
-- remainder approved and not issued yet (RECORDED, approved) — can be neither granted nor rightly
-- declined (declining would refuse the member what the policy owes them), and its amount cannot be told
-- now: it depended on the member's tier, repeats and the settings of then. It goes back to RECORDED with
-- a compensation job of its own, as a hold that ends does (releaseHeldCompensation): the policy decides
-- it as if it had just arrived (docs/domain-rules.md, "Held grants"), and whatever it decides —
-- compensated, over the cap, held — comes with its amount. The approval, note and review reason were
-- about an amount it does not have: cleared, which also keeps grantApprovedRemainder away from it.
WITH released AS (
  UPDATE "service_failures"
  SET "status" = 'RECORDED', "decision_note" = NULL, "decided_by" = NULL, "decided_at" = NULL, "review_reason" = NULL
  WHERE "compensation_amount" IS NULL
    AND ("status" IN ('NEEDS_REVIEW', 'HELD')
         OR ("status" = 'RECORDED' AND "review_reason" = 'INCIDENT_BUDGET' AND "decided_by" IS NOT NULL))
  RETURNING "id"),
jobs AS (SELECT uuid_v7() AS "id", "id" AS "failure_id" FROM released)
INSERT INTO "outbox_events" ("id", "queue", "job_name", "payload")
SELECT "id", 'compensation', 'compensate', jsonb_build_object('failureId', "failure_id"::text, 'eventId', "id"::text)
FROM jobs;

-- Left: a COMPENSATED failure whose voucher is gone or has no fixed amount, which only a hand edit makes.
-- Nothing here is safe to guess (a new voucher may pay it twice, NOT_ELIGIBLE may hide a payment): the
-- migration stops and names them, for an operator to mend.
DO $$
DECLARE
  unknown TEXT;
BEGIN
  SELECT string_agg("id"::text, ', ') INTO unknown
  FROM (SELECT "id" FROM "service_failures" WHERE "status" = 'COMPENSATED' AND "compensation_amount" IS NULL
        ORDER BY "id" LIMIT 20) broken;
  IF unknown IS NOT NULL THEN
    -- In the message: the migrator reports the message alone, not a HINT.
    RAISE EXCEPTION 'COMPENSATED service failures without an amount, and no voucher of a fixed amount to take it from: %. '
      'Set each one''s compensation_amount and compensation_currency to what it was issued, then mark this migration '
      'rolled back and migrate again.', unknown;
  END IF;
END $$;

ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_granted_or_waiting_has_amount"
  CHECK ("status" NOT IN ('COMPENSATED', 'NEEDS_REVIEW', 'HELD') OR "compensation_amount" IS NOT NULL);

ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_voucher_only_when_compensated"
  CHECK ("voucher_id" IS NULL OR "status" = 'COMPENSATED');
