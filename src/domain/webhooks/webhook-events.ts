import { currentTraceparent } from '../../telemetry/trace-context.js';
import type { RawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import type { Tx } from '../deps.js';

/**
 * The fixed list of event types an endpoint can subscribe to (docs/webhooks.md
 * describes each payload). The migration's CHECKs hold the same list.
 */
export const WEBHOOK_EVENT_TYPES = [
  'member.enrolled',
  'member.tier_changed',
  'member.status_changed',
  'points.earned',
  'points.expiring',
  'voucher.issued',
  'voucher.redeemed',
  'voucher.expiring',
  'goodwill.pending_approval',
  'service_failure.compensated',
  'contract.renewal_bonus_granted',
  'contract.renewal_bonus_held',
  'webhook_endpoint.disabled',
  'order.cancelled',
  'order.returned',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (value: string): value is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);

/** An event as the change that causes it knows it: its type and its `data`. */
export interface WebhookEventInput {
  type: WebhookEventType;
  data: Record<string, unknown>;
  /** Unique: an event whose cause can recur (an expiry reminder) is written once. */
  dedupeKey?: string;
}

/** The queue and job name of a delivery's job in the outbox (job id = delivery id). */
export const WEBHOOK_QUEUE = 'webhooks';
export const WEBHOOK_JOB = 'deliver';

/**
 * The rows `webhookEventsCte` writes, from events known in JavaScript: a
 * `SELECT type, data, dedupe_key` over one JSON parameter (one statement text
 * whatever the number of events).
 */
export function eventRows(events: readonly WebhookEventInput[]): Prisma.Sql {
  return eventRowsOfJson(eventRowsJson(events));
}

/** The one parameter of `eventRows`: the events as JSON text. */
export function eventRowsJson(events: readonly WebhookEventInput[]): string {
  return JSON.stringify(events.map((event) => ({ type: event.type, data: event.data, dedupe_key: event.dedupeKey ?? null })));
}

/** `eventRows` of events already serialised by `eventRowsJson` (a statement built once, `StatementTemplate`, takes the text). */
export function eventRowsOfJson(json: string): Prisma.Sql {
  return Prisma.sql`SELECT e.type, e.data, e.dedupe_key FROM jsonb_to_recordset(${json}::jsonb)
    AS e(type text, data jsonb, dedupe_key text)`;
}

/** A timestamptz expression as the ISO-8601 text JavaScript's `toISOString` writes, for payloads built in SQL. */
export function isoTimeSql(expression: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * Data-modifying CTEs that write events into the statement of the change they
 * announce — so an event exists exactly when its change committed, and the hot
 * paths pay no round trip for it. `rows` is a query of (type, data, dedupe_key):
 * `eventRows` for events known in JavaScript, or a SELECT over the statement's
 * own CTEs (a voucher's row as it was inserted). `label` names the CTEs
 * (`<label>_events`, …), unique within the statement.
 * `traceparent`, which each outbox row carries, is the active trace's by default.
 *
 * Only events that an enabled endpoint subscribes to are written (an event
 * nobody listens to costs an EXISTS on the small endpoints table, nothing
 * more); for each, one delivery per subscribed endpoint and one outbox row per
 * delivery (id = delivery id, queue `webhooks`), which the relay hands to
 * BullMQ. All of it reads one snapshot: an endpoint created or disabled
 * concurrently is either wholly in or wholly out. An event whose dedupe key
 * exists already is skipped (ON CONFLICT), with its deliveries.
 */
export function webhookEventsCte(rows: Prisma.Sql, now: Date, label = 'wh', traceparent = currentTraceparent()): Prisma.Sql {
  const events = Prisma.raw(`${label}_events`);
  const deliveries = Prisma.raw(`${label}_deliveries`);
  const jobs = Prisma.raw(`${label}_jobs`);
  return Prisma.sql`${events} AS (
      INSERT INTO webhook_events (type, payload, dedupe_key, created_at)
      SELECT r.type, r.data, r.dedupe_key, ${now}::timestamptz FROM (${rows}) r
      WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND r.type = ANY (e.event_types))
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING id, type),
    ${deliveries} AS (
      INSERT INTO webhook_deliveries (event_id, endpoint_id, event_type, created_at, updated_at)
      SELECT ev.id, e.id, ev.type, ${now}::timestamptz, ${now}::timestamptz
      FROM ${events} ev JOIN webhook_endpoints e ON e.enabled AND ev.type = ANY (e.event_types)
      RETURNING id),
    ${jobs} AS (
      INSERT INTO outbox_events (id, queue, job_name, payload, created_at, trace_context)
      SELECT d.id, ${WEBHOOK_QUEUE}, ${WEBHOOK_JOB}, jsonb_build_object('deliveryId', d.id::text), ${now}::timestamptz,
             ${traceparent}::text
      FROM ${deliveries} d
      RETURNING id)`;
}

/**
 * Writes events in a statement of their own, in the caller's transaction: for
 * changes that have no statement to fold them into. Returns how many events
 * were written (0 when no enabled endpoint subscribes to any of them).
 */
export async function recordWebhookEvents(tx: Tx | RawSql, events: readonly WebhookEventInput[], now: Date): Promise<number> {
  if (events.length === 0) return 0;
  const [row] = await tx.$queryRaw<{ written: number }[]>`
    WITH ${webhookEventsCte(eventRows(events), now)}
    SELECT (SELECT count(*) FROM wh_events)::int AS written`;
  return row?.written ?? 0;
}
