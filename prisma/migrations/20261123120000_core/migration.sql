-- CreateSchema

-- CreateEnum
CREATE TYPE "MemberStatus" AS ENUM ('ACTIVE', 'PASSIVE', 'SUSPENDED', 'CLOSED');

-- CreateEnum
CREATE TYPE "Tier" AS ENUM ('BRONZE', 'SILVER', 'GOLD', 'PLATINUM');

-- CreateEnum
CREATE TYPE "LedgerEntryKind" AS ENUM ('EARN', 'REDEEM', 'EXPIRE', 'ADJUST', 'GOODWILL', 'COMPENSATION', 'RENEWAL_BONUS', 'REVERSAL');

-- CreateEnum
CREATE TYPE "CauseType" AS ENUM ('ORDER', 'REFUND', 'REDEMPTION', 'ADJUSTMENT', 'EXPIRY', 'CASE', 'FAILURE', 'CONTRACT', 'GESTURE', 'REWARD');

-- CreateEnum
CREATE TYPE "ActorType" AS ENUM ('API_KEY', 'STAFF', 'MEMBER', 'SYSTEM');

-- CreateTable
CREATE TABLE "program" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "settings" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_by" TEXT,

    CONSTRAINT "program_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "program_changes" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "version" INTEGER NOT NULL,
    "before" JSONB NOT NULL,
    "after" JSONB NOT NULL,
    "actor_type" "ActorType" NOT NULL,
    "actor_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "program_changes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "scopes" TEXT[],
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "members" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "external_id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "locale" TEXT NOT NULL DEFAULT 'en',
    "status" "MemberStatus" NOT NULL DEFAULT 'ACTIVE',
    "tier" "Tier" NOT NULL DEFAULT 'BRONZE',
    "tier_since" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "enrolled_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_activity_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "available_points" INTEGER NOT NULL DEFAULT 0,
    "pending_points" INTEGER NOT NULL DEFAULT 0,
    "lifetime_points" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "members_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ledger_entries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "kind" "LedgerEntryKind" NOT NULL,
    "amount" INTEGER NOT NULL,
    "balance_after" INTEGER NOT NULL,
    "cause_type" "CauseType" NOT NULL,
    "cause_ref" TEXT NOT NULL,
    "actor_type" "ActorType" NOT NULL,
    "actor_id" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "note" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ledger_entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "point_lots" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "entry_id" UUID NOT NULL,
    "points" INTEGER NOT NULL,
    "remaining" INTEGER NOT NULL,
    "available_at" TIMESTAMPTZ(3) NOT NULL,
    "released_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "expired_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "point_lots_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "point_orders" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "order_ref" TEXT NOT NULL,
    "order_total" DECIMAL(14,2) NOT NULL,
    "currency" TEXT NOT NULL,
    "points_earned" INTEGER NOT NULL,
    "amount_refunded" DECIMAL(14,2) NOT NULL DEFAULT 0,
    "points_reversed" INTEGER NOT NULL DEFAULT 0,
    "lot_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "point_orders_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_records" (
    "operation" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "result" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_records_pkey" PRIMARY KEY ("operation","key")
);

-- CreateIndex
CREATE UNIQUE INDEX "program_changes_version_key" ON "program_changes"("version");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_prefix_key" ON "api_keys"("prefix");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_secret_hash_key" ON "api_keys"("secret_hash");

-- CreateIndex
CREATE UNIQUE INDEX "members_external_id_key" ON "members"("external_id");

-- CreateIndex
CREATE UNIQUE INDEX "members_email_key" ON "members"("email");

-- CreateIndex
CREATE INDEX "members_status_idx" ON "members"("status");

-- CreateIndex
CREATE INDEX "members_tier_idx" ON "members"("tier");

-- CreateIndex
CREATE INDEX "ledger_entries_member_id_created_at_idx" ON "ledger_entries"("member_id", "created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "ledger_entries_member_id_idempotency_key_key" ON "ledger_entries"("member_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "point_lots_entry_id_key" ON "point_lots"("entry_id");

-- CreateIndex
CREATE INDEX "point_lots_member_id_expires_at_idx" ON "point_lots"("member_id", "expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "point_orders_lot_id_key" ON "point_orders"("lot_id");

-- CreateIndex
CREATE UNIQUE INDEX "point_orders_member_id_order_ref_key" ON "point_orders"("member_id", "order_ref");

-- AddForeignKey
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "point_lots" ADD CONSTRAINT "point_lots_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "point_lots" ADD CONSTRAINT "point_lots_entry_id_fkey" FOREIGN KEY ("entry_id") REFERENCES "ledger_entries"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "point_orders" ADD CONSTRAINT "point_orders_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "point_orders" ADD CONSTRAINT "point_orders_lot_id_fkey" FOREIGN KEY ("lot_id") REFERENCES "point_lots"("id") ON DELETE SET NULL ON UPDATE CASCADE;


-- Guards that Prisma's schema language cannot express: the last line of defence.
ALTER TABLE "program" ADD CONSTRAINT "program_singleton" CHECK ("id" = 1);
ALTER TABLE "members" ADD CONSTRAINT "members_available_points_nonnegative" CHECK ("available_points" >= 0);
ALTER TABLE "members" ADD CONSTRAINT "members_pending_points_nonnegative" CHECK ("pending_points" >= 0);
ALTER TABLE "members" ADD CONSTRAINT "members_lifetime_points_nonnegative" CHECK ("lifetime_points" >= 0);
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_amount_nonzero" CHECK ("amount" <> 0);
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_balance_after_nonnegative" CHECK ("balance_after" >= 0);
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_idempotency_key_nonempty" CHECK (length("idempotency_key") BETWEEN 1 AND 200);
ALTER TABLE "point_lots" ADD CONSTRAINT "point_lots_points_positive" CHECK ("points" > 0);
ALTER TABLE "point_lots" ADD CONSTRAINT "point_lots_remaining_in_range" CHECK ("remaining" >= 0 AND "remaining" <= "points");
ALTER TABLE "point_orders" ADD CONSTRAINT "point_orders_total_nonnegative" CHECK ("order_total" >= 0);
ALTER TABLE "point_orders" ADD CONSTRAINT "point_orders_refund_in_range" CHECK ("amount_refunded" >= 0 AND "amount_refunded" <= "order_total");
ALTER TABLE "point_orders" ADD CONSTRAINT "point_orders_reversal_in_range" CHECK ("points_reversed" >= 0 AND "points_reversed" <= "points_earned");

-- The ledger is append-only: a correction is a new reversing entry, never an edit.
CREATE FUNCTION "ledger_entries_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger entries are immutable (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER "ledger_entries_no_update_or_delete"
  BEFORE UPDATE OR DELETE ON "ledger_entries"
  FOR EACH ROW EXECUTE FUNCTION "ledger_entries_append_only"();
