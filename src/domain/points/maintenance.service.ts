import { Prisma } from '../../generated/prisma/client.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { webhookEventsCte } from '../webhooks/webhook-events.js';
import { addMonths } from '../time.js';
import { memberChange, reportMemberChanges } from '../members/member-changes.js';
import { loadProgram } from '../program/program.service.js';
import { reviewTiers, type TierReviewReport } from '../tiers/tiers.service.js';
import { lotIsDue } from './ledger.js';
import { inLedgerTransaction } from './ledger-kernel.js';

export interface MaintenanceReport {
  membersSettled: number;
  membersMarkedPassive: number;
  /** Tier anniversaries handled (downgrades, retained and protected tiers). */
  tierReview: TierReviewReport;
}

export interface MaintenanceOptions {
  batchSize?: number;
  /**
   * Mark members without activity PASSIVE (default true). It reads every member
   * (last activity is not indexed: every earn changes it, and an index on it would
   * end the members row's HOT updates), ~0.6 s at 1 M members, so the worker runs
   * it hourly (`markPassiveMembers`) and leaves it out of its five-minute run.
   */
  passive?: boolean;
}

/**
 * Releases points whose return window has passed and expires lots past their
 * date, member by member (each in its own short transaction, so the job never
 * holds many locks), reviews tiers whose anniversary has passed, then marks
 * members without activity as PASSIVE.
 * Idempotent: a second run right after finds nothing to do.
 */
export async function runPointsMaintenance(
  deps: ServiceDeps,
  { batchSize = 500, passive = true }: MaintenanceOptions = {},
): Promise<MaintenanceReport> {
  const now = nowOf(deps);
  let membersSettled = 0;
  for (;;) {
    const due = await deps.prisma.$queryRaw<{ member_id: string }[]>`
      SELECT DISTINCT lot.member_id::text FROM point_lots lot WHERE ${lotIsDue('lot', now)} LIMIT ${batchSize}`;
    if (due.length === 0) break;
    for (const { member_id: memberId } of due) {
      // The kernel settles the member's due lots before any effect: this one has none of its own.
      await inLedgerTransaction({ ...deps, now: () => now }, { memberId }, async () => ({ result: {} }));
      membersSettled += 1;
    }
    if (due.length < batchSize) break;
  }
  const tierReview = await reviewTiers(deps, now, batchSize);
  const membersMarkedPassive = passive ? await markPassiveMembers(deps, now) : 0;
  return { membersSettled, membersMarkedPassive, tierReview };
}

/**
 * Marks members without activity for the program's `passiveAfterMonths` PASSIVE
 * and announces each (member.status_changed) in the same statement. Returns how
 * many it marked.
 */
export async function markPassiveMembers(deps: ServiceDeps, now = nowOf(deps)): Promise<number> {
  const { settings } = await loadProgram(deps.prisma);
  const cutoff = addMonths(now, -settings.passiveAfterMonths);
  // Each member marked passive is announced (member.status_changed) in the same statement.
  const marked = await deps.prisma.$queryRaw<{ id: string }[]>`
    WITH marked AS (
      UPDATE members SET status = 'PASSIVE', updated_at = ${now}
      WHERE status = 'ACTIVE' AND last_activity_at < ${cutoff}
      RETURNING id),
    ${webhookEventsCte(
      Prisma.sql`SELECT 'member.status_changed' AS type,
        jsonb_build_object('memberId', m.id::text, 'fromStatus', 'ACTIVE', 'toStatus', 'PASSIVE', 'cause', 'INACTIVITY') AS data,
        NULL::text AS dedupe_key FROM marked m`,
      now,
    )}
    SELECT id::text FROM marked`;
  reportMemberChanges(
    deps,
    marked.map(({ id }) => memberChange(id, 'STATUS_CHANGED', 'PASSIVE')),
  );
  return marked.length;
}
