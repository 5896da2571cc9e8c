-- Earning rules (docs/earning-rules.md): admin-managed rules evaluated inside the earn transaction,
-- every version kept for audit, and the custom-event grants whose per-member limit a unique index holds.

-- Points a custom event grants by rule: available at once, not an order's earning.
ALTER TYPE "LedgerEntryKind" ADD VALUE 'BONUS';
ALTER TYPE "CauseType" ADD VALUE 'EVENT';

CREATE TYPE "EarningRuleKind" AS ENUM ('LINE_MULTIPLIER', 'ORDER_BONUS', 'EVENT_POINTS');
CREATE TYPE "EventLimitPeriod" AS ENUM ('CALENDAR_YEAR', 'CALENDAR_MONTH', 'LIFETIME');

-- A fresh random stamp with every change to earning_rules, in the same transaction: the earn
-- transaction reads it with the member lock and serves the parsed rules from memory per stamp
-- (random, not a counter: a recreated program row can never meet an old stamp in a cache).
ALTER TABLE "program" ADD COLUMN "earning_rules_stamp" UUID NOT NULL DEFAULT gen_random_uuid();

CREATE TABLE "earning_rules" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "kind" "EarningRuleKind" NOT NULL,
    "starts_at" TIMESTAMPTZ(3) NOT NULL,
    "ends_at" TIMESTAMPTZ(3),
    "channels" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "tier_keys" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "min_order_total" DECIMAL(14,2),
    "include_categories" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "exclude_categories" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "include_skus" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "exclude_skus" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "first_order_only" BOOLEAN NOT NULL DEFAULT false,
    "multiplier" DECIMAL(6,3),
    "points" INTEGER,
    "event_type" TEXT,
    "limit_count" INTEGER,
    "limit_period" "EventLimitPeriod",
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_by" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retired_at" TIMESTAMPTZ(3),
    "retired_by" TEXT,

    CONSTRAINT "earning_rules_pkey" PRIMARY KEY ("id"),
    -- Prisma maps lists to nullable columns; an absent condition is an empty list, never NULL.
    CONSTRAINT "earning_rules_lists" CHECK ("channels" IS NOT NULL AND "tier_keys" IS NOT NULL
        AND "include_categories" IS NOT NULL AND "exclude_categories" IS NOT NULL
        AND "include_skus" IS NOT NULL AND "exclude_skus" IS NOT NULL),
    CONSTRAINT "earning_rules_name" CHECK (length(btrim("name")) BETWEEN 1 AND 120),
    -- Start inclusive, end exclusive: an empty window is no window.
    CONSTRAINT "earning_rules_window" CHECK ("ends_at" IS NULL OR "ends_at" > "starts_at"),
    CONSTRAINT "earning_rules_min_order_total" CHECK ("min_order_total" IS NULL OR "min_order_total" >= 0),
    CONSTRAINT "earning_rules_version_positive" CHECK ("version" >= 1),
    CONSTRAINT "earning_rules_retired" CHECK (("retired_at" IS NULL) = ("retired_by" IS NULL)),
    -- Each kind has exactly its own effect columns.
    CONSTRAINT "earning_rules_effect" CHECK (
        ("kind" = 'LINE_MULTIPLIER' AND "multiplier" IS NOT NULL AND "multiplier" >= 0 AND "multiplier" <= 10
            AND "points" IS NULL AND "event_type" IS NULL AND "limit_count" IS NULL AND "limit_period" IS NULL)
     OR ("kind" = 'ORDER_BONUS' AND "points" IS NOT NULL AND "points" BETWEEN 1 AND 1000000
            AND "multiplier" IS NULL AND "event_type" IS NULL AND "limit_count" IS NULL AND "limit_period" IS NULL)
     OR ("kind" = 'EVENT_POINTS' AND "points" IS NOT NULL AND "points" BETWEEN 1 AND 1000000
            AND "multiplier" IS NULL AND "event_type" ~ '^[a-z][a-z0-9_.-]{0,63}$'
            AND "limit_count" BETWEEN 1 AND 1000 AND "limit_period" IS NOT NULL)),
    -- An event has no order: order conditions make no sense on it.
    CONSTRAINT "earning_rules_event_conditions" CHECK (
        "kind" <> 'EVENT_POINTS' OR ("min_order_total" IS NULL AND NOT "first_order_only" AND cardinality("channels") = 0
            AND cardinality("include_categories") = 0 AND cardinality("exclude_categories") = 0
            AND cardinality("include_skus") = 0 AND cardinality("exclude_skus") = 0))
);
CREATE INDEX "earning_rules_event_type_idx" ON "earning_rules"("event_type");

-- Every version of every rule as it was saved (who, when, what): retiring or editing keeps history.
CREATE TABLE "earning_rule_versions" (
    "rule_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "snapshot" JSONB NOT NULL,
    "changed_by" TEXT NOT NULL,
    "changed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "earning_rule_versions_pkey" PRIMARY KEY ("rule_id", "version"),
    CONSTRAINT "earning_rule_versions_action" CHECK ("action" IN ('CREATED', 'UPDATED', 'RETIRED')),
    CONSTRAINT "earning_rule_versions_rule_id_fkey" FOREIGN KEY ("rule_id") REFERENCES "earning_rules"("id")
        ON DELETE RESTRICT ON UPDATE CASCADE
);

-- One row per rule a custom event granted points by (one BONUS entry may carry several). The limit is the unique index: slot n of n allowed in a
-- period exists at most once, whatever races (the CHECK keeps slots within the rule's limit).
CREATE TABLE "event_grants" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "rule_id" UUID NOT NULL,
    "event_type" TEXT NOT NULL,
    "period_key" TEXT NOT NULL,
    "slot" INTEGER NOT NULL,
    "limit_count" INTEGER NOT NULL,
    "points" INTEGER NOT NULL,
    "entry_id" UUID NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "event_grants_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "event_grants_slot" CHECK ("slot" >= 1 AND "slot" <= "limit_count"),
    CONSTRAINT "event_grants_points" CHECK ("points" > 0),
    CONSTRAINT "event_grants_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id")
        ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "event_grants_rule_id_fkey" FOREIGN KEY ("rule_id") REFERENCES "earning_rules"("id")
        ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "event_grants_entry_id_fkey" FOREIGN KEY ("entry_id") REFERENCES "ledger_entries"("id")
        ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "event_grants_member_id_rule_id_period_key_slot_key" ON "event_grants"("member_id", "rule_id", "period_key", "slot");
CREATE INDEX "event_grants_entry_id_idx" ON "event_grants"("entry_id");
