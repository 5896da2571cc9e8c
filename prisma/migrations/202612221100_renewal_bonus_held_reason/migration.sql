-- Why a renewal bonus is held for a supervisor's decision (`bonus_held_at`): the member is suspended (as every held
-- bonus was until now), or granting it would take the member's points past 2 147 483 647, the most a balance holds.
-- Before, a bonus past the limit failed its job and the outbox relay handed it over again every minute, for ever
-- (docs/domain-rules.md, "Held grants"). Set exactly while `bonus_held_at` is; a release clears both, a decision
-- keeps both (why the bonus had waited).
--
-- contract_renewals and webhook_events are written by every extension, bonus job and event: wait 5 s at most for
-- their locks (the script is then rolled back and tried again at the next start).
SET LOCAL lock_timeout = '5s';

CREATE TYPE "RenewalBonusHoldReason" AS ENUM ('MEMBER_SUSPENDED', 'BALANCE_LIMIT');

-- No default: the table is not rewritten.
ALTER TABLE "contract_renewals" ADD COLUMN "bonus_held_reason" "RenewalBonusHoldReason";

-- Every bonus held so far was held because its member was suspended.
UPDATE "contract_renewals" SET "bonus_held_reason" = 'MEMBER_SUSPENDED' WHERE "bonus_held_at" IS NOT NULL;

ALTER TABLE "contract_renewals" ADD CONSTRAINT "contract_renewals_bonus_held_reason"
  CHECK (("bonus_held_at" IS NULL) = ("bonus_held_reason" IS NULL));

-- A new webhook event type, contract.renewal_bonus_held (src/domain/webhooks/webhook-events.ts): the lists grow by
-- one. webhook_events' check is added NOT VALID, so that the table (one row per event ever written) is not read
-- under the ACCESS EXCLUSIVE lock: every row in it passed the check it replaces, whose list this one contains.
ALTER TABLE "webhook_endpoints" DROP CONSTRAINT "webhook_endpoints_event_types";
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_event_types" CHECK (
    "event_types" IS NOT NULL AND cardinality("event_types") >= 1 AND "event_types" <@ ARRAY[
        'member.enrolled', 'member.tier_changed', 'member.status_changed', 'points.earned', 'points.expiring',
        'voucher.issued', 'voucher.redeemed', 'voucher.expiring', 'goodwill.pending_approval',
        'service_failure.compensated', 'contract.renewal_bonus_granted', 'contract.renewal_bonus_held',
        'webhook_endpoint.disabled', 'order.cancelled', 'order.returned'
    ]::text[]);
ALTER TABLE "webhook_events" DROP CONSTRAINT "webhook_events_type";
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_type" CHECK ("type" = ANY (ARRAY[
    'member.enrolled', 'member.tier_changed', 'member.status_changed', 'points.earned', 'points.expiring',
    'voucher.issued', 'voucher.redeemed', 'voucher.expiring', 'goodwill.pending_approval',
    'service_failure.compensated', 'contract.renewal_bonus_granted', 'contract.renewal_bonus_held',
    'webhook_endpoint.disabled', 'order.cancelled', 'order.returned'
]::text[])) NOT VALID;
