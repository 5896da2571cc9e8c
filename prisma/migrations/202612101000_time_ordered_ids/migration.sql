-- Time-ordered ids (UUID version 7, RFC 9562) for the rows written per event.
--
-- A random (version 4) primary key sends every insert to a random leaf of its index: at a million
-- members the ledger's, the lots' and the orders' keys are tens of thousands of pages each, so nearly
-- every earn dirties three leaves no other recent insert touched, and after each checkpoint writes
-- each of them whole into the WAL (a full-page image, 8 kB) and keeps them in shared buffers. A
-- version 7 id starts with its millisecond timestamp: new keys land on the right edge of the index,
-- where the last insert already was. The tables below are the ones written per earn, redemption,
-- voucher, failure, event or delivery; the application makes most of their ids itself
-- (src/db/ids.ts), this default is for the rows the statements leave to the database.
--
-- Ids that outsiders hold and that should not tell when they were made (members, API keys,
-- contracts, rewards, rules, cases, incidents, webhook endpoints) keep random version 4 ids.
--
-- PostgreSQL 15 has no uuidv7() (18 has): the 48-bit Unix time in milliseconds over the first six
-- bytes of a random UUID, the version nibble set from 4 to 7 (bits 52 and 53); the variant bits and
-- the 74 random bits are gen_random_uuid()'s.
CREATE FUNCTION "uuid_v7"() RETURNS UUID
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

ALTER TABLE "ledger_entries" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "point_lots" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "point_orders" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "order_lines" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "order_returns" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "order_point_redemptions" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "member_status_changes" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "tier_changes" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "vouchers" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "voucher_redemptions" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "reward_redemptions" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "event_grants" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "contract_renewals" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "program_changes" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "goodwill_gestures" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "goodwill_audit_entries" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "feedback" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "service_failures" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "outbox_events" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "webhook_events" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "webhook_deliveries" ALTER COLUMN "id" SET DEFAULT uuid_v7();
ALTER TABLE "webhook_delivery_attempts" ALTER COLUMN "id" SET DEFAULT uuid_v7();
