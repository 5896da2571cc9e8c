-- Money keeps the currency it was decided in (docs/domain-rules.md): a service failure's
-- compensation and an incident's budget carry their currency, so that a program currency change
-- never turns 15.00 EUR decided before it into 15.00 of the new currency.

-- The currency of compensation_amount (null while there is no amount).
ALTER TABLE "service_failures" ADD COLUMN "compensation_currency" TEXT;

-- A compensation already issued is in its voucher's currency; one computed and waiting (or declined)
-- was computed in the program currency, which is the current one unless it changed since — the
-- best there is to know.
UPDATE "service_failures" f
SET "compensation_currency" = coalesce(
  (SELECT v."currency" FROM "vouchers" v WHERE v."id" = f."voucher_id"),
  (SELECT p."settings"->>'currency' FROM "program" p WHERE p."id" = 1),
  'EUR')
WHERE f."compensation_amount" IS NOT NULL;

-- The currency of the incident's budget, of what its batches used of it and of what it spent.
ALTER TABLE "service_incidents" ADD COLUMN "currency" TEXT;

UPDATE "service_incidents"
SET "currency" = coalesce((SELECT p."settings"->>'currency' FROM "program" p WHERE p."id" = 1), 'EUR');

ALTER TABLE "service_incidents" ALTER COLUMN "currency" SET NOT NULL;
