-- A service failure's compensation amount and its currency go together (money keeps the currency it
-- was decided in, docs/domain-rules.md): 202612141000 gave every amount its currency, but nothing
-- refused an amount written without one since, which the API would then have read in whatever
-- currency the program uses by then. From here on PostgreSQL refuses it.
--
-- (An incident's currency needs nothing more: it is NOT NULL since 202612141000, as it is the
-- currency of budget_used and of what the incident spent, which exist with or without a budget.)

-- An amount without its currency: its voucher's currency when one was issued, else the program
-- currency, which is the one it was computed in unless it changed since — the best there is to
-- know, as in 202612141000.
UPDATE "service_failures" f
SET "compensation_currency" = coalesce(
  (SELECT v."currency" FROM "vouchers" v WHERE v."id" = f."voucher_id"),
  (SELECT p."settings"->>'currency' FROM "program" p WHERE p."id" = 1),
  'EUR')
WHERE f."compensation_amount" IS NOT NULL AND f."compensation_currency" IS NULL;

-- A currency without an amount is the currency of nothing.
UPDATE "service_failures" SET "compensation_currency" = NULL
WHERE "compensation_amount" IS NULL AND "compensation_currency" IS NOT NULL;

-- Both present or both absent.
ALTER TABLE "service_failures" ADD CONSTRAINT "service_failures_compensation_currency_paired"
  CHECK (("compensation_amount" IS NULL) = ("compensation_currency" IS NULL));
