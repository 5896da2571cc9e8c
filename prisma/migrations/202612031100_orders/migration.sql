-- Orders as a first-class record (docs/orders.md). `point_orders` becomes the order: created by whichever
-- of earnPoints, redeemPoints or redeemVoucher names (member, reference) first; the later ones attach.
-- It links, as rows, the points it earned (its lot), the points redeemed on it (order_point_redemptions),
-- the vouchers redeemed on it (voucher_redemptions.order_id) and every cancel or return (order_returns).

-- A RESTORE entry gives back points redeemed on an order that was cancelled or returned.
ALTER TYPE "LedgerEntryKind" ADD VALUE 'RESTORE';

-- The total is the amount paid that earns points: unknown until the order earns (an order a redemption
-- created first has none yet). Existing rows all earned, when they were created.
ALTER TABLE "point_orders"
    ALTER COLUMN "order_total" DROP NOT NULL,
    ALTER COLUMN "points_earned" SET DEFAULT 0,
    ADD COLUMN "channel" TEXT,
    ADD COLUMN "placed_at" TIMESTAMPTZ(3),
    ADD COLUMN "earned_at" TIMESTAMPTZ(3),
    ADD COLUMN "cancelled_at" TIMESTAMPTZ(3),
    ADD COLUMN "points_redeemed" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "points_restored" INTEGER NOT NULL DEFAULT 0;
UPDATE "point_orders" SET "placed_at" = "created_at", "earned_at" = "created_at";
ALTER TABLE "point_orders" ALTER COLUMN "placed_at" SET NOT NULL;
ALTER TABLE "point_orders"
    -- A short key rules match on ("web", "app", "store").
    ADD CONSTRAINT "point_orders_channel_format" CHECK ("channel" ~ '^[a-z][a-z0-9_-]{0,31}$'),
    ADD CONSTRAINT "point_orders_restore_in_range" CHECK ("points_restored" >= 0 AND "points_restored" <= "points_redeemed"),
    -- Only an order that earned has a total to refund against, and only an earned order has points to reverse.
    ADD CONSTRAINT "point_orders_earned_total" CHECK ("earned_at" IS NULL OR "order_total" IS NOT NULL),
    ADD CONSTRAINT "point_orders_unearned_nothing" CHECK ("earned_at" IS NOT NULL OR ("points_earned" = 0 AND "points_reversed" = 0));

-- The order's line items, as earnPoints received them; `share` is the line's part of the order total
-- (prorated by line amount, largest remainder to the cent), what returning the line gives back.
CREATE TABLE "order_lines" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "order_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "sku" TEXT NOT NULL,
    "category" TEXT,
    "quantity" INTEGER NOT NULL,
    "unit_price" DECIMAL(14,2) NOT NULL,
    "share" DECIMAL(14,2) NOT NULL,
    "returned_quantity" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "order_lines_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "order_lines_quantity" CHECK ("quantity" > 0),
    CONSTRAINT "order_lines_amounts" CHECK ("unit_price" >= 0 AND "share" >= 0),
    CONSTRAINT "order_lines_returned_in_range" CHECK ("returned_quantity" >= 0 AND "returned_quantity" <= "quantity")
);
CREATE UNIQUE INDEX "order_lines_order_id_position_key" ON "order_lines"("order_id", "position");
CREATE UNIQUE INDEX "order_lines_order_id_sku_key" ON "order_lines"("order_id", "sku");
ALTER TABLE "order_lines" ADD CONSTRAINT "order_lines_order_id_fkey"
    FOREIGN KEY ("order_id") REFERENCES "point_orders"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- One cancel or return of an order: what it gave back, with its entries.
CREATE TABLE "order_returns" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "order_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "amount" DECIMAL(14,2) NOT NULL,
    "points_reversed" INTEGER NOT NULL,
    "points_unrecovered" INTEGER NOT NULL,
    "points_restored" INTEGER NOT NULL,
    "reversal_entry_id" UUID,
    "restore_entry_id" UUID,
    "actor_type" "ActorType" NOT NULL,
    "actor_id" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "order_returns_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "order_returns_kind" CHECK ("kind" IN ('CANCEL', 'RETURN', 'REFUND')),
    CONSTRAINT "order_returns_amounts" CHECK (
        "amount" >= 0 AND "points_reversed" >= 0 AND "points_unrecovered" >= 0 AND "points_restored" >= 0)
);
CREATE UNIQUE INDEX "order_returns_order_id_idempotency_key_key" ON "order_returns"("order_id", "idempotency_key");
CREATE UNIQUE INDEX "order_returns_reversal_entry_id_key" ON "order_returns"("reversal_entry_id");
CREATE UNIQUE INDEX "order_returns_restore_entry_id_key" ON "order_returns"("restore_entry_id");
ALTER TABLE "order_returns" ADD CONSTRAINT "order_returns_order_id_fkey"
    FOREIGN KEY ("order_id") REFERENCES "point_orders"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "order_returns" ADD CONSTRAINT "order_returns_reversal_entry_id_fkey"
    FOREIGN KEY ("reversal_entry_id") REFERENCES "ledger_entries"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "order_returns" ADD CONSTRAINT "order_returns_restore_entry_id_fkey"
    FOREIGN KEY ("restore_entry_id") REFERENCES "ledger_entries"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- The items a return took back, per line.
CREATE TABLE "order_return_lines" (
    "return_id" UUID NOT NULL,
    "line_id" UUID NOT NULL,
    "quantity" INTEGER NOT NULL,

    CONSTRAINT "order_return_lines_pkey" PRIMARY KEY ("return_id", "line_id"),
    CONSTRAINT "order_return_lines_quantity" CHECK ("quantity" > 0)
);
ALTER TABLE "order_return_lines" ADD CONSTRAINT "order_return_lines_return_id_fkey"
    FOREIGN KEY ("return_id") REFERENCES "order_returns"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "order_return_lines" ADD CONSTRAINT "order_return_lines_line_id_fkey"
    FOREIGN KEY ("line_id") REFERENCES "order_lines"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Points redeemed on an order: its REDEEM entry, and the expiry of the first lot it spent (a restore
-- with the original expiry gives the points back with it).
CREATE TABLE "order_point_redemptions" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "order_id" UUID NOT NULL,
    "entry_id" UUID NOT NULL,
    "points" INTEGER NOT NULL,
    "original_expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "order_point_redemptions_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "order_point_redemptions_points" CHECK ("points" > 0)
);
CREATE UNIQUE INDEX "order_point_redemptions_entry_id_key" ON "order_point_redemptions"("entry_id");
CREATE INDEX "order_point_redemptions_order_id_idx" ON "order_point_redemptions"("order_id");
ALTER TABLE "order_point_redemptions" ADD CONSTRAINT "order_point_redemptions_order_id_fkey"
    FOREIGN KEY ("order_id") REFERENCES "point_orders"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "order_point_redemptions" ADD CONSTRAINT "order_point_redemptions_entry_id_fkey"
    FOREIGN KEY ("entry_id") REFERENCES "ledger_entries"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Existing redemptions with points on an order reference: nothing links them (the reference was free text).

-- Voucher redemptions belong to an order; a rolled-back redemption keeps its row, and the voucher may be
-- redeemed again: at most one live (not rolled back) redemption per voucher — NULLS NOT DISTINCT makes the
-- unique index say exactly that (Prisma's @@unique cannot spell the option; the drift test compares columns).
ALTER TABLE "voucher_redemptions"
    ADD COLUMN "order_id" UUID,
    ADD COLUMN "rolled_back_at" TIMESTAMPTZ(3),
    ADD COLUMN "rollback_return_id" UUID,
    ADD COLUMN "rollback_outcome" TEXT;
-- Every voucher redeemed so far gets its order: the one the member earned on with that reference, or a
-- new order without a total.
INSERT INTO "point_orders" ("member_id", "order_ref", "order_total", "currency", "points_earned", "placed_at", "created_at")
SELECT DISTINCT ON (v."member_id", r."order_ref") v."member_id", r."order_ref", NULL, v."currency", 0, r."created_at", r."created_at"
FROM "voucher_redemptions" r JOIN "vouchers" v ON v."id" = r."voucher_id"
ORDER BY v."member_id", r."order_ref", r."created_at"
ON CONFLICT ("member_id", "order_ref") DO NOTHING;
UPDATE "voucher_redemptions" r SET "order_id" = o."id"
FROM "vouchers" v, "point_orders" o
WHERE v."id" = r."voucher_id" AND o."member_id" = v."member_id" AND o."order_ref" = r."order_ref";
ALTER TABLE "voucher_redemptions" ALTER COLUMN "order_id" SET NOT NULL;
ALTER TABLE "voucher_redemptions"
    ADD CONSTRAINT "voucher_redemptions_rollback" CHECK (
        ("rolled_back_at" IS NULL) = ("rollback_return_id" IS NULL) AND ("rolled_back_at" IS NULL) = ("rollback_outcome" IS NULL)),
    -- RESTORED: the voucher is ISSUED again; EXPIRED: past its validity, it stays unusable (docs/orders.md).
    ADD CONSTRAINT "voucher_redemptions_rollback_outcome" CHECK ("rollback_outcome" IN ('RESTORED', 'EXPIRED'));
DROP INDEX "voucher_redemptions_voucher_id_key";
CREATE UNIQUE INDEX "voucher_redemptions_voucher_id_rolled_back_at_key"
    ON "voucher_redemptions"("voucher_id", "rolled_back_at") NULLS NOT DISTINCT;
CREATE INDEX "voucher_redemptions_order_id_idx" ON "voucher_redemptions"("order_id");
ALTER TABLE "voucher_redemptions" ADD CONSTRAINT "voucher_redemptions_order_id_fkey"
    FOREIGN KEY ("order_id") REFERENCES "point_orders"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "voucher_redemptions" ADD CONSTRAINT "voucher_redemptions_rollback_return_id_fkey"
    FOREIGN KEY ("rollback_return_id") REFERENCES "order_returns"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- New webhook event types (src/domain/webhooks/webhook-events.ts).
ALTER TABLE "webhook_endpoints" DROP CONSTRAINT "webhook_endpoints_event_types";
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_event_types" CHECK (
    "event_types" IS NOT NULL AND cardinality("event_types") >= 1 AND "event_types" <@ ARRAY[
        'member.enrolled', 'member.tier_changed', 'member.status_changed', 'points.earned', 'points.expiring',
        'voucher.issued', 'voucher.redeemed', 'voucher.expiring', 'goodwill.pending_approval',
        'service_failure.compensated', 'contract.renewal_bonus_granted', 'webhook_endpoint.disabled',
        'order.cancelled', 'order.returned'
    ]::text[]);
ALTER TABLE "webhook_events" DROP CONSTRAINT "webhook_events_type";
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_type" CHECK ("type" = ANY (ARRAY[
    'member.enrolled', 'member.tier_changed', 'member.status_changed', 'points.earned', 'points.expiring',
    'voucher.issued', 'voucher.redeemed', 'voucher.expiring', 'goodwill.pending_approval',
    'service_failure.compensated', 'contract.renewal_bonus_granted', 'webhook_endpoint.disabled',
    'order.cancelled', 'order.returned'
]::text[]));
