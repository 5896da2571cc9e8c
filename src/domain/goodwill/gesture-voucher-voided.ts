import type { Caller } from '../../auth/principal.js';
import type { RawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import { goodwillStaffId, writeGoodwillAudit } from './goodwill-audit.js';

/**
 * Records that staff voided a goodwill gesture's voucher, in the void's transaction (which holds the voucher's row
 * lock and has just marked it VOIDED): one `VOUCHER_VOIDED` step in the gesture's audit trail, naming who voided it,
 * their role then and the reason — written by the audit's one INSERT (`writeGoodwillAudit`), in the statement that
 * finds the gesture, so the void costs no round trip more. Nothing for a voucher no gesture issued. Whether the void
 * gives the agent's monthly budget back is goodwill.service.ts's rule (`grantedThisMonth`), read from this step: the
 * role and the person are kept as they were at the void.
 */
export async function recordGestureVoucherVoided(tx: RawSql, voucherId: string, caller: Caller, reason: string, at: Date): Promise<void> {
  await writeGoodwillAudit(tx, Prisma.sql`SELECT id FROM goodwill_gestures WHERE voucher_id = ${voucherId}::uuid`, {
    action: 'VOUCHER_VOIDED',
    actorId: goodwillStaffId(caller),
    actorRole: caller.role ?? caller.actor.type,
    note: reason,
    at,
  });
}
