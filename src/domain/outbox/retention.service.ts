import { rawSql } from '../../db/sql.js';
import { measure } from '../measures.js';
import { nowOf, type RetentionTable, type ServiceDeps } from '../deps.js';
import { addDays } from '../time.js';

/** The tables retention prunes: the label values of `treue_retention_deleted_total{table}`. */
export const RETENTION_TABLES = [
  'outbox_events',
  'webhook_deliveries',
  'webhook_delivery_attempts',
  'webhook_events',
] as const satisfies readonly RetentionTable[];

export interface RetentionSettings {
  /** Days a completed outbox event is kept after its completion; 0: kept forever (OUTBOX_RETENTION_DAYS). */
  outboxDays: number;
  /** Days a SUCCEEDED webhook delivery is kept after its delivery; 0: kept forever (WEBHOOK_RETENTION_DAYS). */
  webhookDays: number;
}

export interface RetentionOptions {
  /** Rows one statement deletes at most (each its own short transaction). */
  batchSize?: number;
  /** Batches one run deletes at most, per kind; what is left waits for the next run. */
  maxBatches?: number;
}

export type RetentionReport = Record<RetentionTable, number>;

const BATCH_SIZE = 1_000;
const MAX_BATCHES = 100;

/**
 * Deletes what the two logs that grow forever no longer need: outbox events completed longer than
 * `outboxDays` ago, and webhook deliveries SUCCEEDED longer than `webhookDays` ago with their attempts and,
 * once an event has no delivery left, the event. Never a row still to be done: an outbox event whose job has
 * not completed (`completed_at IS NULL`), or a delivery waiting, failing or dead-lettered (an admin may
 * still replay it). Safe against a late duplicate of a pruned job: every job's effect is guarded by its
 * subject (a failure's status, a renewal's bonus columns, a delivery's status), not by its outbox row.
 *
 * Batches of `batchSize` rows, each one statement and its own transaction (locks held for milliseconds, rows
 * a concurrent replay holds skipped), at most `maxBatches` per kind: a backlog drains over several runs.
 * Idempotent: a second run right after deletes nothing.
 */
export async function pruneRetainedLogs(
  deps: ServiceDeps,
  settings: RetentionSettings,
  { batchSize = BATCH_SIZE, maxBatches = MAX_BATCHES }: RetentionOptions = {},
): Promise<RetentionReport> {
  const now = nowOf(deps);
  const db = rawSql(deps.prisma);
  const report: RetentionReport = { outbox_events: 0, webhook_deliveries: 0, webhook_delivery_attempts: 0, webhook_events: 0 };

  if (settings.outboxDays > 0) {
    const cutoff = addDays(now, -settings.outboxDays);
    for (let batch = 0; batch < maxBatches; batch += 1) {
      // On the (completed_at, enqueued_at) index; an uncompleted row (NULL) is never below the cutoff.
      const [row] = await db.$queryRaw<{ events: number }[]>`
        WITH pruned AS (
          DELETE FROM outbox_events WHERE id IN (
            SELECT id FROM outbox_events WHERE completed_at < ${cutoff}::timestamptz
            ORDER BY completed_at LIMIT ${batchSize}::int FOR UPDATE SKIP LOCKED)
          RETURNING 1)
        SELECT count(*)::int AS events FROM pruned`;
      report.outbox_events += row!.events;
      if (row!.events < batchSize) break;
    }
  }

  if (settings.webhookDays > 0) {
    const cutoff = addDays(now, -settings.webhookDays);
    for (let batch = 0; batch < maxBatches; batch += 1) {
      // On the partial index of SUCCEEDED deliveries by delivered_at. A replay (status back to PENDING) holds the
      // row it replays: skipped here. An event goes with its last delivery (every event is written with at least
      // one, webhookEventsCte): found from the batch, so webhook_events is never scanned. The sibling CTEs see
      // the statement's snapshot, where the batch's deliveries still exist: they are left out of the check.
      const [row] = await db.$queryRaw<{ deliveries: number; attempts: number; events: number }[]>`
        WITH batch AS MATERIALIZED (
          SELECT id, event_id FROM webhook_deliveries
          WHERE status = 'SUCCEEDED' AND delivered_at < ${cutoff}::timestamptz
          ORDER BY delivered_at LIMIT ${batchSize}::int FOR UPDATE SKIP LOCKED),
        attempts AS (
          DELETE FROM webhook_delivery_attempts a USING batch b WHERE a.delivery_id = b.id RETURNING 1),
        deliveries AS (
          DELETE FROM webhook_deliveries d USING batch b WHERE d.id = b.id RETURNING d.event_id),
        events AS (
          DELETE FROM webhook_events e
          WHERE e.id IN (SELECT event_id FROM batch) AND e.created_at < ${cutoff}::timestamptz
            AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries other
              WHERE other.event_id = e.id AND other.id NOT IN (SELECT id FROM batch))
          RETURNING 1)
        SELECT (SELECT count(*) FROM deliveries)::int AS deliveries, (SELECT count(*) FROM attempts)::int AS attempts,
               (SELECT count(*) FROM events)::int AS events`;
      report.webhook_deliveries += row!.deliveries;
      report.webhook_delivery_attempts += row!.attempts;
      report.webhook_events += row!.events;
      if (row!.deliveries < batchSize) break;
    }
  }

  for (const table of RETENTION_TABLES) {
    const deleted = report[table];
    if (deleted > 0) measure(deps, (measures) => measures.retentionDeleted?.(table, deleted));
  }
  return report;
}
