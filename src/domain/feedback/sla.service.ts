import { currentTraceparent } from '../../telemetry/trace-context.js';
import { SYSTEM_ACTOR } from '../../auth/principal.js';
import { sqlTransaction, type RawSql } from '../../db/sql.js';
import type { ServiceChannel } from '../../generated/prisma/client.js';
import { nowOf, type CommittedOutboxEvent, type ServiceDeps } from '../deps.js';
import { publishOutboxEvents } from '../outbox/outbox.service.js';
import { loadProgram } from '../program/program.service.js';
import type { SlaSettings } from '../program/program-settings.js';
import { COMPENSATION_JOB, COMPENSATION_QUEUE, compensationEvent } from '../service-failures/service-failures.service.js';

const MINUTE_MS = 60_000;

/** When a case opened at `openedAt` on `channel` must have had its first response and its resolution. */
export function slaDueTimes(
  sla: SlaSettings,
  channel: ServiceChannel,
  openedAt: Date,
): { firstResponseDueAt: Date; resolutionDueAt: Date } {
  const target = sla.targets[channel];
  return {
    firstResponseDueAt: new Date(openedAt.getTime() + target.firstResponseMinutes * MINUTE_MS),
    resolutionDueAt: new Date(openedAt.getTime() + target.resolutionMinutes * MINUTE_MS),
  };
}

/**
 * Judges the given cases against their due times at `now` and files one
 * failure for every target missed and not filed before: a late (or still
 * missing) first response files LONG_WAIT, a late (or still missing)
 * resolution UNRESOLVED_CONTACT, reported by the system, occurred at the due
 * time, with the case as its reference, and with its compensation job in the
 * outbox (event id = failure id), so it follows the path of any reported
 * failure. A resolution counts as the first response when none was recorded.
 * Then moves each case's `sla_check_at` to its next pending due time (null
 * when none is left), which is all the sweep looks at.
 *
 * `unreported: 'leave'` (recording a case) files only what a recorded time
 * missed and leaves a target that passed with nothing reported yet to the
 * maintenance pass (`sla_check_at` at its due time, so the next pass takes
 * it): a helpdesk that records a closed ticket and then its resolution, dated
 * when it happened, has the case judged by its dates, as any resolution
 * reported late is unless the maintenance pass saw the case open past its due
 * time first.
 *
 * Once per case and target: the breach row's primary key (case, target) is
 * reserved in the same statement that writes the failure, so a second check —
 * repeated, concurrent, or the sweep racing a late resolution — finds it and
 * files nothing. It locks the cases first, in id order (a no-op for a caller
 * that holds them, as the sweep and the case mutations do), so the case it
 * judges is the one that is committed, and two checks of the same case take
 * turns: without that, one could take a breach key and wait for a case row
 * while the other held the row and waited for the key — a deadlock, which
 * PostgreSQL ends by aborting one (tests/feedback/sla-breaches.test.ts). Runs
 * in the caller's transaction; returns the compensation events to hand over
 * after commit.
 */
export async function fileSlaBreaches(
  tx: RawSql,
  caseIds: readonly string[],
  now: Date,
  sla: SlaSettings,
  { unreported = 'file' }: { unreported?: 'file' | 'leave' } = {},
): Promise<CommittedOutboxEvent[]> {
  if (caseIds.length === 0) return [];
  const fileUnreported = unreported === 'file';
  await tx.$queryRaw`SELECT id FROM service_cases WHERE id = ANY(${caseIds}::uuid[]) ORDER BY id FOR NO KEY UPDATE`;
  const rows = await tx.$queryRaw<{ failureId: string }[]>`
    WITH judged AS (
      SELECT c.id AS case_id, c.member_id, c.channel, t.target, t.due_at
      FROM service_cases c
      CROSS JOIN LATERAL (VALUES
        ('FIRST_RESPONSE'::"SlaTarget", c.first_response_due_at, coalesce(c.first_response_at, c.resolved_at)),
        ('RESOLUTION'::"SlaTarget", c.resolution_due_at, c.resolved_at)
      ) AS t(target, due_at, met_at)
      WHERE c.id = ANY(${caseIds}::uuid[])
        AND t.due_at IS NOT NULL
        AND coalesce(t.met_at, CASE WHEN ${fileUnreported}::boolean THEN ${now}::timestamptz END) > t.due_at),
    breach AS (
      INSERT INTO sla_breaches (case_id, target, due_at, failure_id, created_at)
      SELECT case_id, target, due_at, uuid_v7(), ${now}::timestamptz FROM judged
      ON CONFLICT (case_id, target) DO NOTHING
      RETURNING case_id, target, due_at, failure_id),
    failure AS (
      INSERT INTO service_failures
        (id, member_id, type, severity, occurred_at, case_ref, description, reporter_type, reporter_id, created_at)
      SELECT b.failure_id, j.member_id,
             (CASE b.target WHEN 'FIRST_RESPONSE' THEN 'LONG_WAIT' ELSE 'UNRESOLVED_CONTACT' END)::"ServiceFailureType",
             (CASE b.target WHEN 'FIRST_RESPONSE' THEN ${sla.firstResponseBreachSeverity}::text
                            ELSE ${sla.resolutionBreachSeverity}::text END)::"Severity",
             b.due_at, b.case_id::text,
             format('%s case %s: %s target missed (due %s)', j.channel, b.case_id,
                    CASE b.target WHEN 'FIRST_RESPONSE' THEN 'first-response' ELSE 'resolution' END,
                    to_char(b.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
             ${SYSTEM_ACTOR.type}::"ActorType", ${SYSTEM_ACTOR.id}::text, ${now}::timestamptz
      FROM breach b JOIN judged j ON j.case_id = b.case_id AND j.target = b.target
      RETURNING id),
    outbox AS (
      INSERT INTO outbox_events (id, queue, job_name, payload, trace_context)
      SELECT id, ${COMPENSATION_QUEUE}::text, ${COMPENSATION_JOB}::text, jsonb_build_object('failureId', id::text),
             ${currentTraceparent()}::text
      FROM failure),
    next_check AS (
      UPDATE service_cases SET sla_check_at = LEAST(
        CASE WHEN first_response_at IS NULL AND resolved_at IS NULL
                  AND (first_response_due_at >= ${now}::timestamptz OR NOT ${fileUnreported}::boolean)
             THEN first_response_due_at END,
        CASE WHEN resolved_at IS NULL AND (resolution_due_at >= ${now}::timestamptz OR NOT ${fileUnreported}::boolean)
             THEN resolution_due_at END)
      WHERE id = ANY(${caseIds}::uuid[]))
    SELECT failure_id::text AS "failureId" FROM breach`;
  return rows.map((row) => compensationEvent(row.failureId));
}

export interface SlaSweepReport {
  casesChecked: number;
  failuresFiled: number;
}

/**
 * The maintenance pass: finds cases past their next due time through the
 * `sla_check_at` index, in batches, each batch in its own short transaction
 * (its cases locked, `SKIP LOCKED` so concurrent passes share the work instead
 * of waiting), and files their breaches (`fileSlaBreaches`). A judged case's
 * check time moves past now, so the pass ends and a second one finds nothing.
 */
export async function fileOverdueSlaBreaches(deps: ServiceDeps, batchSize = 200): Promise<SlaSweepReport> {
  const now = nowOf(deps);
  const { settings } = await loadProgram(deps.prisma);
  const report: SlaSweepReport = { casesChecked: 0, failuresFiled: 0 };
  for (;;) {
    const batch = await sqlTransaction(deps.prisma, async (tx) => {
      const due = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM service_cases WHERE sla_check_at < ${now}::timestamptz
        ORDER BY sla_check_at, id LIMIT ${batchSize}::int
        FOR NO KEY UPDATE SKIP LOCKED`;
      const events = await fileSlaBreaches(
        tx,
        due.map((row) => row.id),
        now,
        settings.sla,
      );
      return { checked: due.length, events };
    });
    report.casesChecked += batch.checked;
    report.failuresFiled += batch.events.length;
    await publishOutboxEvents(deps, batch.events);
    if (batch.checked < batchSize) return report;
  }
}
