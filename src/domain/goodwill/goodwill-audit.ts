import type { Caller } from '../../auth/principal.js';
import type { RawSql } from '../../db/sql.js';
import type { Prisma } from '../../generated/prisma/client.js';
import type { GoodwillAuditAction } from './goodwill.service.js';

/**
 * The id a member of staff acts under on goodwill — a gesture's `agent_id`, a decision's `decided_by`, an audit
 * entry's `actor_id`: their staff id, or `api-key:<id>` for an admin-scoped API key, so that a key never shares an
 * id with a person.
 */
export const goodwillStaffId = (caller: Caller): string =>
  caller.actor.type === 'API_KEY' ? `api-key:${caller.actor.id}` : caller.actor.id;

/** One step of a gesture's audit trail: what happened, who did it (their goodwill id and role then), why, and when. */
export interface GoodwillAuditStep {
  action: GoodwillAuditAction;
  /** The staff id the actor acts under on goodwill (`goodwillStaffId`), or the system's for a step the rules took. */
  actorId: string;
  actorRole: string;
  note: string | null;
  at: Date;
}

/**
 * Writes `step` into the audit trail of each gesture `gestures` yields — a query with an `id` column: one gesture by
 * its id, or the gesture that issued a voucher (none when no gesture did) — in one statement, the caller's
 * transaction's. The one INSERT of `goodwill_audit_entries`: every writer records a step in this shape, so a step
 * reads the same whoever wrote it.
 */
export async function writeGoodwillAudit(tx: RawSql, gestures: Prisma.Sql, step: GoodwillAuditStep): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO goodwill_audit_entries (gesture_id, action, actor_id, actor_role, note, created_at)
    SELECT gesture.id, ${step.action}::text, ${step.actorId}::text, ${step.actorRole}::text, ${step.note}::text,
           ${step.at}::timestamptz
    FROM (${gestures}) gesture`;
}
