-- CreateEnum
CREATE TYPE "TierChangeReason" AS ENUM ('UPGRADE', 'DOWNGRADE', 'PROTECTED', 'RETAINED');

-- CreateEnum
CREATE TYPE "VoucherKind" AS ENUM ('COMPENSATION', 'GOODWILL', 'RENEWAL', 'REWARD');

-- CreateEnum
CREATE TYPE "VoucherValueType" AS ENUM ('FIXED', 'PERCENT');

-- CreateEnum
CREATE TYPE "VoucherStatus" AS ENUM ('ISSUED', 'REDEEMED', 'EXPIRED', 'VOIDED');

-- CreateTable
CREATE TABLE "tier_changes" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "from_tier" "Tier" NOT NULL,
    "to_tier" "Tier" NOT NULL,
    "reason" "TierChangeReason" NOT NULL,
    "qualifying_points" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tier_changes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "vouchers" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "code" TEXT NOT NULL,
    "member_id" UUID NOT NULL,
    "kind" "VoucherKind" NOT NULL,
    "value_type" "VoucherValueType" NOT NULL,
    "amount" DECIMAL(12,2),
    "percent" INTEGER,
    "currency" TEXT NOT NULL,
    "minimum_order_value" DECIMAL(12,2),
    "status" "VoucherStatus" NOT NULL DEFAULT 'ISSUED',
    "cause_type" "CauseType" NOT NULL,
    "cause_ref" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "redeemed_at" TIMESTAMPTZ(3),
    "voided_at" TIMESTAMPTZ(3),
    "void_reason" TEXT,

    CONSTRAINT "vouchers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "voucher_redemptions" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "voucher_id" UUID NOT NULL,
    "order_ref" TEXT NOT NULL,
    "order_total" DECIMAL(14,2) NOT NULL,
    "discount" DECIMAL(14,2) NOT NULL,
    "actor_type" "ActorType" NOT NULL,
    "actor_id" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "voucher_redemptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rewards" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "description" TEXT,
    "points_cost" INTEGER NOT NULL,
    "voucher_value" DECIMAL(12,2) NOT NULL,
    "currency" TEXT NOT NULL,
    "stock" INTEGER,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "retired_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rewards_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reward_redemptions" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "reward_id" UUID NOT NULL,
    "member_id" UUID NOT NULL,
    "voucher_id" UUID NOT NULL,
    "ledger_entry_id" UUID NOT NULL,
    "points_cost" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "reward_redemptions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "tier_changes_member_id_created_at_idx" ON "tier_changes"("member_id", "created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "vouchers_code_key" ON "vouchers"("code");

-- CreateIndex
CREATE INDEX "vouchers_member_id_status_expires_at_idx" ON "vouchers"("member_id", "status", "expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "vouchers_kind_cause_type_cause_ref_key" ON "vouchers"("kind", "cause_type", "cause_ref");

-- CreateIndex
CREATE UNIQUE INDEX "voucher_redemptions_voucher_id_key" ON "voucher_redemptions"("voucher_id");

-- CreateIndex
CREATE UNIQUE INDEX "reward_redemptions_voucher_id_key" ON "reward_redemptions"("voucher_id");

-- CreateIndex
CREATE UNIQUE INDEX "reward_redemptions_ledger_entry_id_key" ON "reward_redemptions"("ledger_entry_id");

-- CreateIndex
CREATE INDEX "reward_redemptions_member_id_created_at_idx" ON "reward_redemptions"("member_id", "created_at" DESC);

-- AddForeignKey
ALTER TABLE "tier_changes" ADD CONSTRAINT "tier_changes_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "voucher_redemptions" ADD CONSTRAINT "voucher_redemptions_voucher_id_fkey" FOREIGN KEY ("voucher_id") REFERENCES "vouchers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reward_redemptions" ADD CONSTRAINT "reward_redemptions_reward_id_fkey" FOREIGN KEY ("reward_id") REFERENCES "rewards"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reward_redemptions" ADD CONSTRAINT "reward_redemptions_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reward_redemptions" ADD CONSTRAINT "reward_redemptions_voucher_id_fkey" FOREIGN KEY ("voucher_id") REFERENCES "vouchers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- Guards beyond Prisma's schema language.
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_value_shape" CHECK (
  ("value_type" = 'FIXED' AND "amount" > 0 AND "percent" IS NULL) OR
  ("value_type" = 'PERCENT' AND "percent" BETWEEN 1 AND 100 AND "amount" IS NULL));
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_minimum_nonnegative" CHECK ("minimum_order_value" IS NULL OR "minimum_order_value" >= 0);
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_code_length" CHECK (length("code") >= 13);
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_redeemed_consistent" CHECK (("status" = 'REDEEMED') = ("redeemed_at" IS NOT NULL));
ALTER TABLE "voucher_redemptions" ADD CONSTRAINT "voucher_redemptions_amounts" CHECK ("order_total" >= 0 AND "discount" >= 0);
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_points_cost_positive" CHECK ("points_cost" > 0);
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_voucher_value_positive" CHECK ("voucher_value" > 0);
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_stock_nonnegative" CHECK ("stock" IS NULL OR "stock" >= 0);
ALTER TABLE "reward_redemptions" ADD CONSTRAINT "reward_redemptions_points_positive" CHECK ("points_cost" > 0);
