import { measure } from '../measures.js';
import { Webhook } from 'standardwebhooks';
import { rawSql, sqlTransaction, type RawSql } from '../../db/sql.js';
import type { WebhookDeliveryStatus } from '../../generated/prisma/client.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { PermanentJobError } from '../errors.js';
import * as check from '../validation.js';
import type { EndpointGate } from './endpoint-gate.js';
import { deadLetterWaiting } from './webhook-endpoints.service.js';
import { eventRows, WEBHOOK_QUEUE, webhookEventsCte } from './webhook-events.js';

/** One signed POST to a receiver. */
export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** What came of it: the receiver's status, or no answer at all (`statusCode` null, `error` says why). */
export interface WebhookResponse {
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

/** Sends a request (src/webhooks/webhook-sender.ts: no redirects, refused private addresses, a timeout). */
export type SendWebhook = (request: WebhookRequest) => Promise<WebhookResponse>;

/** The delivery rules; defaults in src/config/env.ts (WEBHOOK_*). */
export interface WebhookDeliverySettings {
  /** Per request: connecting and the whole answer. */
  timeoutMs: number;
  /** Attempts before a delivery is dead-lettered (a replay gets as many again). */
  maxAttempts: number;
  /** The first retry's delay; each later one is 3 times longer, up to `retryCapMs`. */
  retryBaseMs: number;
  retryCapMs: number;
  /** An endpoint with no successful delivery for this long while failing is disabled. */
  disableAfterMs: number;
}

export const DEFAULT_DELIVERY_SETTINGS: WebhookDeliverySettings = {
  timeoutMs: 10_000,
  maxAttempts: 11,
  retryBaseMs: 5_000,
  retryCapMs: 10 * 3_600_000,
  disableAfterMs: 24 * 3_600_000,
};

export interface WebhookDeliveryDeps extends ServiceDeps {
  send: SendWebhook;
  settings: WebhookDeliverySettings;
  /** The worker process's endpoint gate; none: every delivery goes out at once. */
  gate?: EndpointGate;
  /** Jitter (tests pass a fixed one). */
  random?: () => number;
  /** The clock of the `webhook-timestamp` header, which receivers check against theirs: the real one by default. */
  signingClock?: () => Date;
}

/**
 * The delay before retry `attempt` + 1 after `attempt` failed attempts:
 * `retryBaseMs` × 3^(attempt − 1), at most `retryCapMs`, ± 20 % jitter. With the
 * defaults: 5 s, 15 s, 45 s, 2¼ min, 6¾ min, 20 min, 1 h, 3 h, 9 h, 10 h — the
 * 11th attempt about 24 hours after the first.
 */
export function retryDelayMs(settings: Pick<WebhookDeliverySettings, 'retryBaseMs' | 'retryCapMs'>, attempt: number, random = Math.random) {
  const base = Math.min(settings.retryBaseMs * 3 ** Math.max(0, attempt - 1), settings.retryCapMs);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The Standard Webhooks `webhook-signature` value: `v1,<base64>` per secret, space-separated. */
export function signatureHeader(secrets: readonly string[], deliveryId: string, signedAt: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(deliveryId, signedAt, body)).join(' ');
}

/** What a delivery job did; `retryAt`: put the job back until then (a retry, or the gate said not now). */
export type DeliveryOutcome =
  | { outcome: 'DELIVERED'; attempt: number; statusCode: number }
  | { outcome: 'RETRY'; attempt: number; statusCode: number | null; error: string | null; retryAt: Date }
  | { outcome: 'DEAD'; attempt: number | null; reason: string }
  | { outcome: 'DEFERRED'; retryAt: Date }
  | { outcome: 'FINISHED'; status: WebhookDeliveryStatus };

interface DeliveryRow {
  id: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  attemptsAtReplay: number;
  nextAttemptAt: Date | null;
  endpointId: string;
  url: string;
  enabled: boolean;
  /** Whether the endpoint subscribes to the event's type now (an admin may have removed it since the event). */
  subscribed: boolean;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  type: string;
  payload: unknown;
  eventAt: Date;
}

/** How an attempt ended, as recorded. */
interface AttemptRecord {
  startedAt: Date;
  response: WebhookResponse;
}

const MAX_ERROR_LENGTH = 500;

/** How the reason of an endpoint disabled for failing begins (the metric tells these apart from an admin's). */
export const AUTO_DISABLED_REASON = 'no successful delivery';

/**
 * One delivery job: sends the event to the endpoint, signed, and records the
 * attempt. Idempotent per delivery: a finished delivery (SUCCEEDED, DEAD) is
 * left alone, and its outbox row is completed in the transaction that
 * finishes it. A 2xx answer delivers; anything else — another status, a
 * redirect (never followed), a timeout, a refused address — is a failed
 * attempt, retried with exponential back-off and jitter until `maxAttempts`,
 * then dead-lettered. An endpoint failing without a success for
 * `disableAfterMs` is disabled, its waiting deliveries dead-lettered, and a
 * `webhook_endpoint.disabled` event tells the admins' own endpoints.
 * Throws PermanentJobError when the delivery does not exist.
 */
export async function deliverWebhook(deps: WebhookDeliveryDeps, deliveryId: string): Promise<DeliveryOutcome> {
  if (!check.isUuid(deliveryId)) throw new PermanentJobError(`delivery id ${JSON.stringify(deliveryId)} is malformed`);
  const id = deliveryId.toLowerCase();
  const now = nowOf(deps);
  const [delivery] = await rawSql(deps.prisma).$queryRaw<DeliveryRow[]>`
    SELECT d.id::text, d.status::text, d.attempts, d.attempts_at_replay AS "attemptsAtReplay", d.next_attempt_at AS "nextAttemptAt",
           e.id::text AS "endpointId", e.url, e.enabled, ev.type = ANY (e.event_types) AS subscribed, e.secret, e.previous_secret AS "previousSecret",
           e.previous_secret_expires_at AS "previousSecretExpiresAt",
           ev.type, ev.payload, ev.created_at AS "eventAt"
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events ev ON ev.id = d.event_id
    WHERE d.id = ${id}::uuid`;
  if (!delivery) throw new PermanentJobError(`webhook delivery ${id} does not exist`);
  if (delivery.status === 'SUCCEEDED' || delivery.status === 'DEAD') {
    await rawSql(deps.prisma).$executeRaw`
      UPDATE outbox_events SET completed_at = ${now}::timestamptz WHERE id = ${id}::uuid AND completed_at IS NULL`;
    return { outcome: 'FINISHED', status: delivery.status };
  }
  if (!delivery.enabled) {
    await finishDead(deps, id, 'the endpoint is disabled', now);
    return { outcome: 'DEAD', attempt: null, reason: 'the endpoint is disabled' };
  }
  // Only what the endpoint subscribes to now goes out: a type removed from it (a receiver that may no longer hold
  // voucher codes, say) ends its waiting deliveries here, unsent.
  if (!delivery.subscribed) {
    const reason = `the endpoint no longer subscribes to ${delivery.type}`;
    await finishDead(deps, id, reason, now);
    return { outcome: 'DEAD', attempt: null, reason };
  }
  // A job re-driven or replayed before its retry is due waits for it.
  if (delivery.nextAttemptAt && delivery.nextAttemptAt > now) return { outcome: 'DEFERRED', retryAt: delivery.nextAttemptAt };

  const admission = await deps.gate?.admit(delivery.endpointId);
  if (admission && !admission.admitted) {
    const retryAt = new Date(now.getTime() + (admission.retryAt - Date.now()));
    await putBack(deps, id, retryAt);
    return { outcome: 'DEFERRED', retryAt };
  }

  const body = JSON.stringify({ type: delivery.type, timestamp: delivery.eventAt.toISOString(), data: delivery.payload });
  const signedAt = deps.signingClock?.() ?? new Date();
  const secrets = [delivery.secret];
  if (delivery.previousSecret && delivery.previousSecretExpiresAt && delivery.previousSecretExpiresAt > now) {
    secrets.push(delivery.previousSecret);
  }
  const startedAt = nowOf(deps);
  let response: WebhookResponse;
  try {
    response = await deps.send({
      url: delivery.url,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Treue-Webhooks/1',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)),
        'webhook-signature': signatureHeader(secrets, id, signedAt, body),
      },
      body,
      timeoutMs: deps.settings.timeoutMs,
    });
  } catch (error) {
    response = { statusCode: null, durationMs: 0, error: error instanceof Error ? error.message : String(error) };
  }
  const succeeded = response.statusCode !== null && response.statusCode >= 200 && response.statusCode < 300;
  if (admission?.admitted) admission.release(succeeded);
  return recordAttempt(deps, delivery, { startedAt, response }, succeeded);
}

async function recordAttempt(
  deps: WebhookDeliveryDeps,
  delivery: DeliveryRow,
  attempt: AttemptRecord,
  succeeded: boolean,
): Promise<DeliveryOutcome> {
  const now = nowOf(deps);
  const { response } = attempt;
  const error = response.error?.slice(0, MAX_ERROR_LENGTH) ?? (succeeded ? null : `HTTP ${response.statusCode}`);
  const outcome = await sqlTransaction(deps.prisma, async (tx): Promise<DeliveryOutcome> => {
    const [locked] = await tx.$queryRaw<{ status: WebhookDeliveryStatus; attempts: number; attemptsAtReplay: number }[]>`
      SELECT status::text, attempts, attempts_at_replay AS "attemptsAtReplay" FROM webhook_deliveries
      WHERE id = ${delivery.id}::uuid FOR UPDATE`;
    const number = locked!.attempts + 1;
    // A duplicate job finished it meanwhile: keep the attempt for the record, not its verdict.
    const finishedMeanwhile = locked!.status === 'SUCCEEDED' || locked!.status === 'DEAD';
    const spent = number - locked!.attemptsAtReplay >= deps.settings.maxAttempts;
    const status: WebhookDeliveryStatus = finishedMeanwhile ? locked!.status : succeeded ? 'SUCCEEDED' : spent ? 'DEAD' : 'FAILED';
    const retryAt =
      status === 'FAILED' ? new Date(now.getTime() + retryDelayMs(deps.settings, number - locked!.attemptsAtReplay, deps.random)) : null;
    const finished = status !== 'FAILED';
    const [endpoint] = await tx.$queryRaw<{ failingSince: Date | null }[]>`
      WITH attempt AS (
        INSERT INTO webhook_delivery_attempts (delivery_id, number, started_at, duration_ms, status_code, error)
        VALUES (${delivery.id}::uuid, ${number}::int, ${attempt.startedAt}::timestamptz, ${response.durationMs}::int,
                ${response.statusCode}::int, ${error}::text)),
      delivery AS (
        UPDATE webhook_deliveries SET status = ${status}::"WebhookDeliveryStatus", attempts = ${number}::int,
               next_attempt_at = ${retryAt}::timestamptz, last_attempt_at = ${attempt.startedAt}::timestamptz,
               last_status_code = ${response.statusCode}::int, last_error = ${error}::text,
               last_duration_ms = ${response.durationMs}::int,
               delivered_at = CASE WHEN ${status}::text = 'SUCCEEDED' THEN COALESCE(delivered_at, ${now}::timestamptz) END,
               updated_at = ${now}::timestamptz
        WHERE id = ${delivery.id}::uuid),
      -- Finished: the outbox row is done. Put back for a retry: the relay counts it stale only from its due time.
      outbox AS (
        UPDATE outbox_events SET completed_at = CASE WHEN ${finished}::boolean THEN ${now}::timestamptz END,
               enqueued_at = CASE WHEN ${finished}::boolean THEN enqueued_at ELSE ${retryAt}::timestamptz END
        WHERE id = ${delivery.id}::uuid AND completed_at IS NULL),
      -- Only rows whose state changes are written (and locked): the endpoint row is no hot spot.
      healthy AS (
        UPDATE webhook_endpoints SET failing_since = NULL
        WHERE id = ${delivery.endpointId}::uuid AND ${succeeded}::boolean AND failing_since IS NOT NULL),
      failing AS (
        UPDATE webhook_endpoints SET failing_since = ${now}::timestamptz
        WHERE id = ${delivery.endpointId}::uuid AND NOT ${succeeded}::boolean AND failing_since IS NULL)
      SELECT failing_since AS "failingSince" FROM webhook_endpoints WHERE id = ${delivery.endpointId}::uuid`;
    const failingSince = endpoint?.failingSince ?? (succeeded ? null : now);
    if (!succeeded && failingSince && now.getTime() - failingSince.getTime() >= deps.settings.disableAfterMs) {
      // Its waiting deliveries end DEAD, this one with them: its job ends here, not put back for a retry
      // (a delayed job would keep a replay of the delivery waiting until that retry's time).
      if (await disableFailingEndpoint(deps, tx, delivery, failingSince, now)) {
        return { outcome: 'DEAD', attempt: number, reason: `the endpoint was disabled: ${AUTO_DISABLED_REASON}` };
      }
    } else if (status === 'DEAD' && !finishedMeanwhile) {
      await endFailingRunIfIdle(tx, delivery.endpointId);
    }
    if (finishedMeanwhile) return { outcome: 'FINISHED', status };
    if (status === 'SUCCEEDED') return { outcome: 'DELIVERED', attempt: number, statusCode: response.statusCode! };
    if (status === 'DEAD') return { outcome: 'DEAD', attempt: number, reason: `${number - locked!.attemptsAtReplay} attempts failed` };
    return { outcome: 'RETRY', attempt: number, statusCode: response.statusCode, error, retryAt: retryAt! };
  });
  // Counted once committed; an attempt dead-lettered without a try (endpoint disabled) is not a delivery failure.
  if (outcome.outcome === 'RETRY') measure(deps, (measures) => measures.webhookDeliveryFailed('retry'));
  if (outcome.outcome === 'DEAD' && outcome.attempt !== null) measure(deps, (measures) => measures.webhookDeliveryFailed('dead'));
  return outcome;
}

/**
 * Disables an endpoint that failed for `disableAfterMs` without a success
 * (once: only the transaction that flips `enabled` does the rest): its waiting
 * deliveries end DEAD, a `webhook_endpoint.disabled` event goes to the
 * endpoints that subscribe to it, and the log says so at error level; both
 * name the endpoint by id and origin, never its whole URL.
 */
async function disableFailingEndpoint(
  deps: WebhookDeliveryDeps,
  tx: RawSql,
  delivery: DeliveryRow,
  failingSince: Date,
  now: Date,
): Promise<boolean> {
  const hours = Math.round((now.getTime() - failingSince.getTime()) / 360_000) / 10;
  const reason = `${AUTO_DISABLED_REASON} for ${hours} hours`;
  // The endpoint by id and origin only, in the event as in the log: the event goes to other receivers, and a URL's
  // user part, path or query may hold the receiver's own credentials (its admins read the URL in webhookEndpoints).
  const data = {
    endpointId: delivery.endpointId,
    origin: originOf(delivery.url),
    reason,
    failingSince: failingSince.toISOString(),
    disabledAt: now.toISOString(),
  };
  const [disabled] = await tx.$queryRaw<{ id: string }[]>`
    WITH disabled AS (
      UPDATE webhook_endpoints SET enabled = false, disabled_at = ${now}::timestamptz, disabled_reason = ${reason},
             updated_at = ${now}::timestamptz
      WHERE id = ${delivery.endpointId}::uuid AND enabled
      RETURNING id),
    ${webhookEventsCte(eventRows([{ type: 'webhook_endpoint.disabled', data }]), now)}
    SELECT id::text FROM disabled`;
  if (!disabled) return false;
  await deadLetterWaiting(tx, delivery.endpointId, `the endpoint was disabled: ${reason}`, now);
  deps.logger.error({ endpointId: delivery.endpointId, origin: data.origin, failingSince }, `webhook endpoint disabled: ${reason}`);
  return true;
}

/**
 * A run of failures ends when its last waiting delivery is dead-lettered: nothing is tried any more, so
 * whatever the endpoint does meanwhile is unknown, and its next failure — days later, say — starts a new
 * day's count rather than disabling it at once. While other deliveries still wait, the run goes on.
 */
async function endFailingRunIfIdle(tx: RawSql, endpointId: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE webhook_endpoints SET failing_since = NULL
    WHERE id = ${endpointId}::uuid AND failing_since IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries
                      WHERE endpoint_id = ${endpointId}::uuid AND status IN ('PENDING', 'FAILED'))`;
}

/**
 * A delivery its endpoint's gate put back (the endpoint busy, or its circuit open) waits as a retry does: its
 * `next_attempt_at` says when it is tried next, and its outbox row is not due before then. So the outbox lag
 * (`oldestDueOutboxEventAge`) counts it from that time, not from its event — the wait is the endpoint's, shown by
 * `treue_webhook_oldest_pending_age_seconds` — and the relay does not re-drive its job meanwhile. A delivery
 * finished meanwhile (dead-lettered with its endpoint) is left as it is. No attempt of its budget is spent.
 */
async function putBack(deps: ServiceDeps, id: string, retryAt: Date): Promise<void> {
  await rawSql(deps.prisma).$executeRaw`
    WITH waiting AS (
      UPDATE webhook_deliveries SET next_attempt_at = ${retryAt}::timestamptz
      WHERE id = ${id}::uuid AND status IN ('PENDING', 'FAILED')
      RETURNING id)
    UPDATE outbox_events SET enqueued_at = ${retryAt}::timestamptz
    WHERE id IN (SELECT id FROM waiting) AND completed_at IS NULL`;
}

/** Dead-letters one delivery without an attempt (its endpoint is disabled) and completes its outbox row. */
async function finishDead(deps: ServiceDeps, id: string, reason: string, now: Date): Promise<void> {
  await rawSql(deps.prisma).$executeRaw`
    WITH dead AS (
      UPDATE webhook_deliveries SET status = 'DEAD', next_attempt_at = NULL, last_error = ${reason}, updated_at = ${now}::timestamptz
      WHERE id = ${id}::uuid AND status IN ('PENDING', 'FAILED')
      RETURNING id)
    UPDATE outbox_events SET completed_at = ${now}::timestamptz WHERE id = ${id}::uuid AND completed_at IS NULL`;
}

/** The endpoint states `oldestPendingDeliveryAges` tells apart (as `treue_webhook_endpoints` names them). */
export const PENDING_DELIVERY_ENDPOINT_STATES = ['healthy', 'failing'] as const;
export type PendingDeliveryEndpointState = (typeof PENDING_DELIVERY_ENDPOINT_STATES)[number];

/**
 * How long, in seconds, the oldest delivery still waiting for its first attempt (PENDING: new, or replayed) has
 * waited since its event was written or it was replayed, by its endpoint's state: `healthy` (no failure since its
 * last success) or `failing` (0 when none waits). The endpoints' own lag, which the outbox lag leaves out: a
 * delivery whose endpoint's gate puts it back (the endpoint busy: slower than its traffic; its circuit open:
 * failing) waits here, not on the relay. Enabled endpoints only (a disabled one's deliveries are dead-lettered).
 * One query from the outbox's pending rows (the `(completed_at, enqueued_at)` index), as the outbox lag's.
 */
export async function oldestPendingDeliveryAges(db: RawSql): Promise<Record<PendingDeliveryEndpointState, number>> {
  const rows = await db.$queryRaw<{ state: PendingDeliveryEndpointState; age: number }[]>`
    SELECT CASE WHEN en.failing_since IS NULL THEN 'healthy' ELSE 'failing' END AS state,
           EXTRACT(EPOCH FROM now() - min(GREATEST(d.created_at, d.replayed_at)))::float8 AS age
    FROM outbox_events e
    JOIN webhook_deliveries d ON d.id = e.id
    JOIN webhook_endpoints en ON en.id = d.endpoint_id
    WHERE e.completed_at IS NULL AND e.queue = ${WEBHOOK_QUEUE}::text AND d.status = 'PENDING' AND en.enabled
    GROUP BY 1`;
  const ages = { healthy: 0, failing: 0 };
  for (const row of rows) ages[row.state] = Math.max(0, row.age);
  return ages;
}

/**
 * A URL's scheme, host and port (no user part, path, query or fragment), for what travels further than the
 * endpoint's row: logs and the `webhook_endpoint.disabled` event. Never the text of something that is no URL.
 */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}
