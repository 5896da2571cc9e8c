import { currentTraceparent } from '../../telemetry/trace-context.js';
import { rawSql, type RawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import { nowOf, type CommittedOutboxEvent, type ServiceDeps, type Tx } from '../deps.js';
import { isUuid } from '../validation.js';
import { WEBHOOK_QUEUE } from '../webhooks/webhook-events.js';

/** Queues that jobs are re-driven into; the worker process consumes them. */
export type OutboxQueue = 'compensation' | 'renewal-bonus' | 'incidents' | 'webhooks';

/**
 * Queues whose events the API never hands over itself: webhook deliveries are
 * fanned out in SQL, inside the statement of the change, so no service knows
 * their ids after commit. The relay takes them at once, without the grace it
 * leaves the API's immediate enqueue.
 */
export const RELAY_ONLY_QUEUES: readonly OutboxQueue[] = ['webhooks'];

export interface OutboxEventInput {
  /** Defaults to a new uuid; pass the subject's id (failure id, renewal id) so job id = subject id. */
  id?: string;
  queue: OutboxQueue;
  jobName: string;
  payload: Prisma.InputJsonObject;
}

export interface PendingOutboxEvent {
  id: string;
  queue: OutboxQueue;
  jobName: string;
  payload: Prisma.JsonObject;
  /** How often the relay had handed it to BullMQ before this claim: 0 for a fresh event. */
  enqueues: number;
  /** The W3C traceparent of the request that wrote it, if it was traced. */
  traceContext: string | null;
}

/**
 * Records an event in the caller's transaction. The event exists exactly when
 * the change it announces was committed, so a crash or a Redis outage after
 * commit cannot lose it: the relay (and the re-drive) enqueue it later, with the
 * event id as the BullMQ job id.
 */
export async function recordOutboxEvent(tx: Tx, event: OutboxEventInput): Promise<string> {
  const row = await tx.outboxEvent.create({
    data: { id: event.id, queue: event.queue, jobName: event.jobName, payload: event.payload, traceContext: currentTraceparent() },
    select: { id: true },
  });
  return row.id;
}

/** A queue job of a subject (a failure, a renewal) whose first job is done: how its payload names the subject. */
export interface RequeuedJob {
  queue: OutboxQueue;
  jobName: string;
  /** The payload key of the subject's id (`failureId`, `renewalId`). */
  subjectKey: string;
}

/**
 * Runs `released` — an UPDATE that returns the `id` of each subject it
 * released (held grants going back to their job) — and, in the same
 * statement, records one new job per subject: a new event id (the subject's
 * first event, id = subject id, is completed), carried in the payload as
 * `eventId` so the job completes this event. Returns the events as committed,
 * for `publishOutboxEvents` after commit.
 */
export async function requeueReleased(tx: Tx | RawSql, released: Prisma.Sql, job: RequeuedJob): Promise<CommittedOutboxEvent[]> {
  return tx.$queryRaw<CommittedOutboxEvent[]>`
    WITH released AS (${released}),
    jobs AS (SELECT uuid_v7() AS id, id AS subject_id FROM released),
    recorded AS (
      INSERT INTO outbox_events (id, queue, job_name, payload, trace_context)
      SELECT id, ${job.queue}::text, ${job.jobName}::text,
             jsonb_build_object(${job.subjectKey}::text, subject_id::text, 'eventId', id::text), ${currentTraceparent()}::text
      FROM jobs
      RETURNING id::text, queue, job_name AS "jobName", payload)
    SELECT * FROM recorded`;
}

/**
 * After commit: hands events to the API's immediate enqueue, if there is one.
 * Never throws; an event it cannot enqueue waits in the outbox for the relay.
 */
export async function publishOutboxEvents(deps: ServiceDeps, events: readonly CommittedOutboxEvent[]): Promise<void> {
  if (!deps.outbox || events.length === 0) return;
  try {
    await deps.outbox.publish(events);
  } catch (error) {
    deps.logger.warn({ err: error, eventIds: events.map((event) => event.id) }, 'immediate enqueue failed; the relay will retry');
  }
}

/**
 * Marks an event done, in the transaction of the job's effect. Returns false if
 * it was already done (a retried or duplicated job), so the caller can skip.
 */
export async function completeOutboxEvent(tx: Tx | RawSql, eventId: string, now: Date): Promise<boolean> {
  const updated = await tx.$executeRaw`
    UPDATE outbox_events SET completed_at = ${now}::timestamptz WHERE id = ${eventId}::uuid AND completed_at IS NULL`;
  return updated === 1;
}

/**
 * How long, in seconds, the oldest outbox event that is due and not yet completed by its job has waited since it
 * became due (0 when none waits): the outbox's lag — the relay's, Redis's and the workers'. An event is due from its
 * creation; a webhook delivery put back — for a retry, or by its endpoint's gate while the endpoint is busy or its
 * circuit open (its row's `enqueued_at` set to that time, see `deliverWebhook`) — is not due before then, and then
 * from that time (its delivery's `next_attempt_at`), or from its replay, for one replayed. So one customer's
 * endpoint, slow or down, is no lag here (`oldestPendingDeliveryAges` measures its wait), and a stall of the relay
 * or the workers is not hidden behind it. The relay rewrites `enqueued_at` of the stale events it claims again, so
 * that column does not date them. One query on the (completed_at, enqueued_at) index: rows put back for later are
 * left out there, before the join that dates the due.
 */
export async function oldestDueOutboxEventAge(db: RawSql): Promise<number> {
  const [row] = await db.$queryRaw<{ age: number }[]>`
    SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(GREATEST(e.created_at, d.next_attempt_at, d.replayed_at))), 0)::float8 AS age
    FROM outbox_events e
    LEFT JOIN webhook_deliveries d ON e.queue = ${WEBHOOK_QUEUE}::text AND d.id = e.id
    WHERE e.completed_at IS NULL AND (e.enqueued_at IS NULL OR e.enqueued_at <= now())`;
  return Math.max(0, row?.age ?? 0);
}

/**
 * Closes the event of a job refused for good (PermanentJobError: its subject
 * does not exist, its payload is malformed): retrying cannot help, so the
 * relay must never hand it over again, and it no longer counts as pending.
 * Closed as completed — as a compensation whose failure is missing completes
 * its own — with no effect; the caller logs and counts the refusal. Idempotent:
 * an event already completed (or none with that id) is left as it is. Returns
 * whether this call closed it.
 */
export async function closeRefusedOutboxEvent(deps: ServiceDeps, eventId: string): Promise<boolean> {
  if (!isUuid(eventId)) return false;
  return completeOutboxEvent(rawSql(deps.prisma), eventId, nowOf(deps));
}

/**
 * Events to hand to BullMQ: never enqueued, or enqueued more than `staleAfterMs`
 * ago and still not completed (the job was lost with Redis, or used up its
 * attempts before its effect; a job refused for good has closed its event, see
 * `closeRefusedOutboxEvent`). `SKIP LOCKED` lets several relays run side by side.
 * Never-enqueued events younger than `freshGraceMs` are left to the API's
 * immediate enqueue, so the relay does not add every job a second time.
 */
export async function claimOutboxEvents(
  deps: ServiceDeps,
  { limit = 200, staleAfterMs = 60_000, freshGraceMs = 0 }: { limit?: number; staleAfterMs?: number; freshGraceMs?: number } = {},
): Promise<PendingOutboxEvent[]> {
  const now = nowOf(deps);
  const staleBefore = new Date(now.getTime() - staleAfterMs);
  const freshBefore = new Date(now.getTime() - freshGraceMs);
  return deps.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<PendingOutboxEvent[]>`
      SELECT id::text, queue, job_name AS "jobName", payload, enqueues, trace_context AS "traceContext" FROM outbox_events
      WHERE completed_at IS NULL
        AND ((enqueued_at IS NULL AND (created_at <= ${freshBefore} OR queue = ANY (${[...RELAY_ONLY_QUEUES]}::text[])))
             OR enqueued_at < ${staleBefore})
      ORDER BY created_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED`;
    if (rows.length > 0) {
      await tx.$executeRaw`
        UPDATE outbox_events SET enqueued_at = ${now}, enqueues = enqueues + 1
        WHERE id = ANY(${rows.map((row) => row.id)}::uuid[])`;
    }
    return rows;
  });
}

/** Undoes a claim whose enqueue failed (Redis down), so the next relay pass retries at once. */
export async function releaseOutboxEvents(deps: ServiceDeps, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await deps.prisma.$executeRaw`
    UPDATE outbox_events SET enqueued_at = NULL WHERE id = ANY(${ids}::uuid[]) AND completed_at IS NULL`;
}
