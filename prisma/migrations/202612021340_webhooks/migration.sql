-- Webhooks (docs/webhooks.md): admin-managed endpoints, events written in the transaction of the
-- change they announce, one delivery per event and endpoint (its id is the `webhook-id` header, the
-- same on every retry), and every attempt with its response code and timing.

CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('PENDING', 'FAILED', 'SUCCEEDED', 'DEAD');

CREATE TABLE "webhook_endpoints" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "url" TEXT NOT NULL,
    "description" TEXT,
    "event_types" TEXT[],
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "secret" TEXT NOT NULL,
    "previous_secret" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(3),
    "failing_since" TIMESTAMPTZ(3),
    "disabled_at" TIMESTAMPTZ(3),
    "disabled_reason" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id"),
    -- The fixed list of event types (src/domain/webhooks/webhook-events.ts); at least one.
    CONSTRAINT "webhook_endpoints_event_types" CHECK (
        "event_types" IS NOT NULL AND cardinality("event_types") >= 1 AND "event_types" <@ ARRAY[
            'member.enrolled', 'member.tier_changed', 'member.status_changed', 'points.earned', 'points.expiring',
            'voucher.issued', 'voucher.redeemed', 'voucher.expiring', 'goodwill.pending_approval',
            'service_failure.compensated', 'contract.renewal_bonus_granted', 'webhook_endpoint.disabled'
        ]::text[]),
    -- Standard Webhooks secrets: whsec_ + base64 of the key.
    CONSTRAINT "webhook_endpoints_secret" CHECK ("secret" ~ '^whsec_[A-Za-z0-9+/]+=*$'),
    CONSTRAINT "webhook_endpoints_previous_secret" CHECK (("previous_secret" IS NULL) = ("previous_secret_expires_at" IS NULL)),
    -- A deleted endpoint is never enabled again (rows stay for the deliveries' history).
    CONSTRAINT "webhook_endpoints_deleted_disabled" CHECK ("deleted_at" IS NULL OR NOT "enabled")
);

CREATE TABLE "webhook_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    -- What makes an event happen at most once when its cause can recur (an expiry reminder: the lot).
    "dedupe_key" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_events_type" CHECK ("type" = ANY (ARRAY[
        'member.enrolled', 'member.tier_changed', 'member.status_changed', 'points.earned', 'points.expiring',
        'voucher.issued', 'voucher.redeemed', 'voucher.expiring', 'goodwill.pending_approval',
        'service_failure.compensated', 'contract.renewal_bonus_granted', 'webhook_endpoint.disabled'
    ]::text[]))
);
CREATE UNIQUE INDEX "webhook_events_dedupe_key_key" ON "webhook_events"("dedupe_key");

CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "event_id" UUID NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "event_type" TEXT NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    -- Attempts made before the last replay: a replay gets a fresh retry budget.
    "attempts_at_replay" INTEGER NOT NULL DEFAULT 0,
    "replayed_at" TIMESTAMPTZ(3),
    "next_attempt_at" TIMESTAMPTZ(3),
    "last_attempt_at" TIMESTAMPTZ(3),
    "last_status_code" INTEGER,
    "last_error" TEXT,
    "last_duration_ms" INTEGER,
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_deliveries_attempts" CHECK ("attempts" >= "attempts_at_replay" AND "attempts_at_replay" >= 0),
    CONSTRAINT "webhook_deliveries_delivered" CHECK (("status" = 'SUCCEEDED') = ("delivered_at" IS NOT NULL))
);
CREATE UNIQUE INDEX "webhook_deliveries_event_id_endpoint_id_key" ON "webhook_deliveries"("event_id", "endpoint_id");
CREATE INDEX "webhook_deliveries_endpoint_id_created_at_idx" ON "webhook_deliveries"("endpoint_id", "created_at");
CREATE INDEX "webhook_deliveries_endpoint_id_status_created_at_idx" ON "webhook_deliveries"("endpoint_id", "status", "created_at");
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_id_fkey"
    FOREIGN KEY ("event_id") REFERENCES "webhook_events"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_id_fkey"
    FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE TABLE "webhook_delivery_attempts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "delivery_id" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "duration_ms" INTEGER NOT NULL,
    "status_code" INTEGER,
    "error" TEXT,

    CONSTRAINT "webhook_delivery_attempts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_delivery_attempts_number" CHECK ("number" >= 1)
);
CREATE UNIQUE INDEX "webhook_delivery_attempts_delivery_id_number_key" ON "webhook_delivery_attempts"("delivery_id", "number");
ALTER TABLE "webhook_delivery_attempts" ADD CONSTRAINT "webhook_delivery_attempts_delivery_id_fkey"
    FOREIGN KEY ("delivery_id") REFERENCES "webhook_deliveries"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Expiry reminders: set once, by a conditional update under the row's lock, so a lot or voucher is
-- announced at most once however often (or concurrently) maintenance runs.
ALTER TABLE "point_lots" ADD COLUMN "expiry_reminded_at" TIMESTAMPTZ(3);
ALTER TABLE "vouchers" ADD COLUMN "expiry_reminded_at" TIMESTAMPTZ(3);
CREATE INDEX "point_lots_expiry_reminded_at_expires_at_idx" ON "point_lots"("expiry_reminded_at", "expires_at");
CREATE INDEX "vouchers_status_expires_at_idx" ON "vouchers"("status", "expires_at");
