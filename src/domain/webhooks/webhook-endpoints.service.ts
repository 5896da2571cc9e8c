import { currentTraceparent } from '../../telemetry/trace-context.js';
import { randomBytes } from 'node:crypto';
import { callerText, type Caller } from '../../auth/principal.js';
import { sqlTransaction, type RawSql } from '../../db/sql.js';
import type { Prisma, WebhookDeliveryStatus, WebhookEndpoint } from '../../generated/prisma/client.js';
import { assertMayCall } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { once, optionalIdempotencyKey, scopeOf } from '../idempotency.js';
import * as check from '../validation.js';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES, WEBHOOK_JOB, WEBHOOK_QUEUE, type WebhookEventType } from './webhook-events.js';
import { blockedAddressReason, isIpLiteral } from './private-addresses.js';
import { refusedWebhookPort } from './receiver-ports.js';

/**
 * Where webhooks may be sent: https only, on its own port (443), and never to private, loopback or link-local
 * addresses, unless a setting allows it (WEBHOOK_ALLOW_HTTP: http on 80 too; WEBHOOK_ALLOWED_PORTS: more ports;
 * WEBHOOK_ALLOW_PRIVATE_ADDRESSES: any address and any port, for development and tests with a receiver on localhost).
 */
export interface WebhookUrlPolicy {
  allowHttp: boolean;
  allowPrivateAddresses: boolean;
  /** Ports besides the scheme's own (WEBHOOK_ALLOWED_PORTS); none when absent. */
  allowedPorts?: readonly number[];
}

export const STRICT_URL_POLICY: WebhookUrlPolicy = { allowHttp: false, allowPrivateAddresses: false };

/** The URL policy comes with the usual deps (`webhookUrls`); without one the services are strict. */
export type WebhookServiceDeps = ServiceDeps;

/** How long a rotated-out secret keeps signing by default, and at most. */
export const DEFAULT_ROTATION_OVERLAP_HOURS = 24;
const MAX_ROTATION_OVERLAP_HOURS = 7 * 24;

/** A new endpoint secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * A receiver URL as the policy allows it, or a ValidationError on `field`. The
 * host is checked here when it is an address (or `localhost`); a name is
 * resolved and its addresses checked on every delivery (they can change). The
 * port is checked here and again on every delivery (a URL stored before the rule).
 */
export function checkWebhookUrl(field: string, value: string, policy: WebhookUrlPolicy): string {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(field, 'must be an absolute URL');
  }
  // As stored and sent: percent-encoding makes a character up to 9 (é: %C3%A9).
  if (text.length > 2000 || url.toString().length > 2000) throw new ValidationError(field, 'must be at most 2000 characters');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw new ValidationError(field, policy.allowHttp ? 'must be an http or https URL' : 'must be an https URL');
  }
  if (url.username || url.password) throw new ValidationError(field, 'must not carry credentials');
  if (url.hash) throw new ValidationError(field, 'must not have a fragment');
  if (!policy.allowPrivateAddresses) {
    // A name with its root's dot (`localhost.`) is the same name.
    const host = url.hostname
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '')
      .toLowerCase();
    if (host === 'localhost' || host.endsWith('.localhost')) throw new ValidationError(field, 'must not point at a loopback address');
    if (isIpLiteral(host)) {
      const reason = blockedAddressReason(host);
      if (reason) throw new ValidationError(field, `must not point at a ${reason} address`);
    }
    const port = refusedWebhookPort(url, policy.allowedPorts);
    if (port !== null) {
      const allowed = [url.protocol === 'http:' ? 80 : 443, ...(policy.allowedPorts ?? [])];
      throw new ValidationError(field, `must use port ${allowed.join(' or ')}, not ${port}`);
    }
  }
  return url.toString();
}

function eventTypesOf(field: string, values: readonly string[]): WebhookEventType[] {
  if (values.length === 0) throw new ValidationError(field, 'subscribe to at least one event type');
  const unknown = values.filter((value) => !isWebhookEventType(value));
  if (unknown.length > 0) {
    throw new ValidationError(field, `unknown event types: ${unknown.join(', ')} (known: ${WEBHOOK_EVENT_TYPES.join(', ')})`);
  }
  return [...new Set(values)] as WebhookEventType[];
}

/** A description is free text (`check.text`: line breaks and tabs, no other control character, no override), 0–500. */
function description(value: string | null | undefined): string | null {
  if (value == null) return null;
  return check.text('description', value, { min: 0, max: 500 }) || null;
}

export interface CreateWebhookEndpointInput {
  url: string;
  eventTypes: string[];
  description?: string | null;
  /** Default true. */
  enabled?: boolean | null;
  /** Optional (clients of before keep working), but always send one: a retry with it registers no second endpoint. */
  idempotencyKey?: string | null;
}

/** An endpoint as its creation answers it: without the secrets it signs with (`secret`, `previousSecret`). */
export type WebhookEndpointView = Omit<WebhookEndpoint, 'secret' | 'previousSecret'>;

/** A new endpoint and its signing secret, shown in this answer only. */
export interface CreatedWebhookEndpoint {
  endpoint: WebhookEndpointView;
  secret: string;
  replayed: false;
}

/**
 * The endpoint a retry with the same idempotency key is answered: the secret was never kept for it (the stored
 * answer holds the endpoint's id only), so it is not shown again: whoever lost it rotates it.
 */
export interface ReplayedWebhookEndpoint {
  endpoint: WebhookEndpointView;
  secret: null;
  replayed: true;
}

/**
 * Creates an endpoint (admins). Its signing secret is generated here and
 * returned once; the API never shows it again. One endpoint per (caller,
 * idempotency key), by `once()`: a retry after a lost answer — the same fields
 * as sent — answers the endpoint its first call registered, as it is now,
 * without its secret (null: the record of the answer holds the endpoint's id,
 * never the secret), and writes nothing; the same key with another endpoint is
 * an IdempotencyConflictError. Without a key every call registers an endpoint.
 */
export async function createWebhookEndpoint(
  deps: WebhookServiceDeps,
  input: CreateWebhookEndpointInput & { idempotencyKey?: null },
  caller: Caller,
): Promise<CreatedWebhookEndpoint>;
export async function createWebhookEndpoint(
  deps: WebhookServiceDeps,
  input: CreateWebhookEndpointInput,
  caller: Caller,
): Promise<CreatedWebhookEndpoint | ReplayedWebhookEndpoint>;
export async function createWebhookEndpoint(
  deps: WebhookServiceDeps,
  input: CreateWebhookEndpointInput,
  caller: Caller,
): Promise<CreatedWebhookEndpoint | ReplayedWebhookEndpoint> {
  assertMayCall(caller, 'manageWebhooks');
  const url = checkWebhookUrl('url', input.url, deps.webhookUrls ?? STRICT_URL_POLICY);
  const eventTypes = eventTypesOf('eventTypes', input.eventTypes);
  const data = { url, eventTypes, description: description(input.description), enabled: input.enabled ?? true };
  const key = optionalIdempotencyKey(input.idempotencyKey);
  // The subscribed types are a set: a retry that lists them in another order is the same request.
  const request = { ...data, eventTypes: [...eventTypes].sort() };
  const secret = generateWebhookSecret();
  const now = nowOf(deps);
  return deps.prisma.$transaction(async (tx) => {
    const created = await once(tx, scopeOf('createWebhookEndpoint', caller), key, request, async () => {
      const { id } = await tx.webhookEndpoint.create({
        data: { ...data, secret, createdBy: callerText(caller), createdAt: now, updatedAt: now },
        select: { id: true },
      });
      // The answer a retry replays: the endpoint's id, never its secret.
      return { endpointId: id };
    });
    const endpoint = await tx.webhookEndpoint.findUniqueOrThrow({
      where: { id: created.endpointId },
      omit: { secret: true, previousSecret: true },
    });
    return created.replayed ? { endpoint, secret: null, replayed: true } : { endpoint, secret, replayed: false };
  });
}

export interface UpdateWebhookEndpointInput {
  id: string;
  url?: string | null;
  eventTypes?: string[] | null;
  description?: string | null;
  enabled?: boolean | null;
  /** A new secret, returned once; the old one keeps signing for `rotationOverlapHours` (default 24, 0–168). */
  rotateSecret?: boolean | null;
  rotationOverlapHours?: number | null;
}

/**
 * Changes an endpoint (admins). Re-enabling clears its failure streak (the
 * deliveries it dead-lettered stay DEAD until replayed). Rotating the secret
 * returns the new one once; during the overlap every delivery carries both
 * signatures (Standard Webhooks allows several), so a receiver can switch
 * without losing a delivery.
 */
export async function updateWebhookEndpoint(deps: WebhookServiceDeps, input: UpdateWebhookEndpointInput, caller: Caller) {
  assertMayCall(caller, 'manageWebhooks');
  const id = check.uuid('id', input.id);
  const data: Prisma.WebhookEndpointUpdateInput = {};
  if (input.url != null) data.url = checkWebhookUrl('url', input.url, deps.webhookUrls ?? STRICT_URL_POLICY);
  if (input.eventTypes != null) data.eventTypes = eventTypesOf('eventTypes', input.eventTypes);
  if (input.description !== undefined) data.description = description(input.description);
  const overlapHours = input.rotationOverlapHours ?? DEFAULT_ROTATION_OVERLAP_HOURS;
  if (!Number.isInteger(overlapHours) || overlapHours < 0 || overlapHours > MAX_ROTATION_OVERLAP_HOURS) {
    throw new ValidationError('rotationOverlapHours', `must be a whole number of hours between 0 and ${MAX_ROTATION_OVERLAP_HOURS}`);
  }
  const now = nowOf(deps);
  return deps.prisma.$transaction(async (tx) => {
    const [current] = await tx.$queryRaw<{ secret: string; deleted: boolean }[]>`
      SELECT secret, deleted_at IS NOT NULL AS deleted FROM webhook_endpoints WHERE id = ${id}::uuid FOR UPDATE`;
    if (!current || current.deleted) throw new NotFoundError('WebhookEndpoint', id);
    if (input.enabled === true) Object.assign(data, { enabled: true, disabledAt: null, disabledReason: null, failingSince: null });
    if (input.enabled === false)
      Object.assign(data, { enabled: false, disabledAt: now, disabledReason: `disabled by ${callerText(caller)}` });
    let secret: string | null = null;
    if (input.rotateSecret) {
      secret = generateWebhookSecret();
      data.secret = secret;
      data.previousSecret = overlapHours > 0 ? current.secret : null;
      data.previousSecretExpiresAt = overlapHours > 0 ? new Date(now.getTime() + overlapHours * 3_600_000) : null;
    }
    data.updatedAt = now;
    const endpoint = await tx.webhookEndpoint.update({ where: { id }, data });
    return { endpoint, secret };
  });
}

/**
 * Deletes an endpoint (admins): it stops receiving at once, its deliveries
 * still waiting end DEAD, and the row stays (disabled) for their history.
 * Deleting it again is a NotFoundError.
 */
export async function deleteWebhookEndpoint(deps: WebhookServiceDeps, input: { id: string }, caller: Caller): Promise<WebhookEndpoint> {
  assertMayCall(caller, 'manageWebhooks');
  const id = check.uuid('id', input.id);
  const now = nowOf(deps);
  return sqlTransaction(deps.prisma, async (tx) => {
    const [deleted] = await tx.$queryRaw<{ id: string }[]>`
      UPDATE webhook_endpoints SET enabled = false, deleted_at = ${now}::timestamptz, disabled_at = ${now}::timestamptz,
             disabled_reason = ${`deleted by ${callerText(caller)}`}, updated_at = ${now}::timestamptz
      WHERE id = ${id}::uuid AND deleted_at IS NULL
      RETURNING id::text`;
    if (!deleted) throw new NotFoundError('WebhookEndpoint', id);
    await deadLetterWaiting(tx, id, 'the endpoint was deleted', now);
    const [endpoint] = await tx.$queryRaw<WebhookEndpoint[]>`
      SELECT id::text, url, description, event_types AS "eventTypes", enabled, secret, previous_secret AS "previousSecret",
             previous_secret_expires_at AS "previousSecretExpiresAt", failing_since AS "failingSince",
             disabled_at AS "disabledAt", disabled_reason AS "disabledReason", created_by AS "createdBy",
             created_at AS "createdAt", updated_at AS "updatedAt", deleted_at AS "deletedAt"
      FROM webhook_endpoints WHERE id = ${id}::uuid`;
    return endpoint!;
  });
}

/**
 * Ends every delivery of an endpoint that is still waiting (PENDING, FAILED)
 * as DEAD and completes its outbox row, in the caller's transaction: a
 * disabled or deleted endpoint's jobs then find nothing to do.
 */
export async function deadLetterWaiting(tx: RawSql | Tx, endpointId: string, reason: string, now: Date): Promise<number> {
  return tx.$executeRaw`
    WITH dead AS (
      UPDATE webhook_deliveries SET status = 'DEAD', next_attempt_at = NULL, last_error = ${reason},
             updated_at = ${now}::timestamptz
      WHERE endpoint_id = ${endpointId}::uuid AND status IN ('PENDING', 'FAILED')
      RETURNING id)
    UPDATE outbox_events SET completed_at = ${now}::timestamptz
    WHERE id IN (SELECT id FROM dead) AND completed_at IS NULL`;
}

export interface WebhookEndpointFilter {
  enabled?: boolean | null;
}

/** The `findMany` arguments of the endpoint list, newest first (admins); deleted endpoints are left out. */
export function webhookEndpointListArgs(caller: Caller, filter?: WebhookEndpointFilter | null) {
  assertMayCall(caller, 'manageWebhooks');
  const where: Prisma.WebhookEndpointWhereInput = { deletedAt: null };
  if (filter?.enabled != null) where.enabled = filter.enabled;
  return { where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] satisfies Prisma.WebhookEndpointOrderByWithRelationInput[] };
}

export interface WebhookDeliveryFilter {
  endpointId?: string | null;
  status?: WebhookDeliveryStatus | null;
  eventType?: string | null;
}

/** The `findMany` arguments of the delivery list, newest first (admins). */
export function webhookDeliveryListArgs(caller: Caller, filter?: WebhookDeliveryFilter | null) {
  assertMayCall(caller, 'manageWebhooks');
  const where: Prisma.WebhookDeliveryWhereInput = {};
  if (filter?.endpointId != null) where.endpointId = check.uuid('endpoint', filter.endpointId);
  if (filter?.status != null) where.status = filter.status;
  if (filter?.eventType != null) {
    if (!isWebhookEventType(filter.eventType)) throw new ValidationError('event', `unknown event type ${filter.eventType}`);
    where.eventType = filter.eventType;
  }
  return { where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] satisfies Prisma.WebhookDeliveryOrderByWithRelationInput[] };
}

/**
 * Sends a finished delivery again (admins): a DEAD one after the receiver was
 * fixed, or a SUCCEEDED one the receiver lost. Same delivery id (`webhook-id`),
 * so a receiver that had processed it can tell; a fresh retry budget. The
 * endpoint must be enabled. A delivery still being retried is a ValidationError
 * (it will be sent anyway).
 */
export async function replayWebhookDelivery(deps: WebhookServiceDeps, input: { deliveryId: string }, caller: Caller) {
  assertMayCall(caller, 'manageWebhooks');
  const id = check.uuid('deliveryId', input.deliveryId);
  const now = nowOf(deps);
  return sqlTransaction(deps.prisma, async (tx) => {
    const [delivery] = await tx.$queryRaw<{ status: WebhookDeliveryStatus; enabled: boolean; type: string; subscribed: boolean }[]>`
      SELECT d.status::text, e.enabled, d.event_type AS type, d.event_type = ANY (e.event_types) AS subscribed
      FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.id = ${id}::uuid FOR UPDATE OF d`;
    if (!delivery) throw new NotFoundError('WebhookDelivery', id);
    if (delivery.status === 'PENDING' || delivery.status === 'FAILED') {
      throw new ValidationError('deliveryId', 'this delivery is still being retried');
    }
    if (!delivery.enabled) throw new ValidationError('deliveryId', 'its endpoint is disabled: enable it first');
    if (!delivery.subscribed) throw new ValidationError('deliveryId', `its endpoint no longer subscribes to ${delivery.type}`);
    await replayRows(tx, [id], now);
    return { deliveryId: id };
  });
}

/**
 * Replays every dead-lettered (DEAD) delivery of an endpoint created at or
 * after `since` (admins), as `replayWebhookDelivery` does one; returns how many.
 */
export async function replayWebhookDeliveries(deps: WebhookServiceDeps, input: { endpointId: string; since: Date }, caller: Caller) {
  assertMayCall(caller, 'manageWebhooks');
  const endpointId = check.uuid('endpointId', input.endpointId);
  // The year 0000 (the DateTime scalar reads it) is refused here: PostgreSQL refuses it on input.
  const since = check.dateTime('since', input.since);
  const now = nowOf(deps);
  return sqlTransaction(deps.prisma, async (tx) => {
    const [endpoint] = await tx.$queryRaw<{ enabled: boolean; deleted: boolean }[]>`
      SELECT enabled, deleted_at IS NOT NULL AS deleted FROM webhook_endpoints WHERE id = ${endpointId}::uuid FOR UPDATE`;
    if (!endpoint || endpoint.deleted) throw new NotFoundError('WebhookEndpoint', endpointId);
    if (!endpoint.enabled) throw new ValidationError('endpointId', 'the endpoint is disabled: enable it first');
    const ids = await tx.$queryRaw<{ id: string }[]>`
      SELECT d.id::text FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.endpoint_id = ${endpointId}::uuid AND d.status = 'DEAD' AND d.created_at >= ${since}::timestamptz
        AND d.event_type = ANY (e.event_types)
      FOR UPDATE OF d`;
    if (ids.length > 0)
      await replayRows(
        tx,
        ids.map((row) => row.id),
        now,
      );
    return { endpointId, replayed: ids.length };
  });
}

/**
 * Puts finished deliveries back to PENDING with a fresh retry budget and re-opens their outbox rows for the relay.
 * A row keeps its count of hand-overs: the relay re-drives it as an event handed over before, so a job of the
 * delivery's that still waits in BullMQ (put back for a retry before the delivery was dead-lettered) runs now.
 */
async function replayRows(tx: RawSql, ids: string[], now: Date) {
  await tx.$executeRaw`
    WITH replayed AS (
      UPDATE webhook_deliveries SET status = 'PENDING', attempts_at_replay = attempts, replayed_at = ${now}::timestamptz,
             next_attempt_at = NULL, delivered_at = NULL, updated_at = ${now}::timestamptz
      WHERE id = ANY (${ids}::uuid[])
      RETURNING id)
    INSERT INTO outbox_events (id, queue, job_name, payload, created_at, trace_context)
    SELECT r.id, ${WEBHOOK_QUEUE}, ${WEBHOOK_JOB}, jsonb_build_object('deliveryId', r.id::text), ${now}::timestamptz,
           ${currentTraceparent()}::text
    FROM replayed r
    ON CONFLICT (id) DO UPDATE SET completed_at = NULL, enqueued_at = NULL, trace_context = EXCLUDED.trace_context`;
}
