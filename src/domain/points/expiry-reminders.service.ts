import { Prisma } from '../../generated/prisma/client.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { loadProgram } from '../program/program.service.js';
import { addDays } from '../time.js';
import { isoTimeSql, webhookEventsCte } from '../webhooks/webhook-events.js';

/**
 * An open lot not reminded yet whose expiry date falls in (now, horizon], on the point_lots row aliased `lot`.
 * Served by the index point_lots_unreminded_expires_at_idx: keep them in step (tests/points/due-lots.test.ts).
 */
export function lotToRemind(lot: string, now: Date, horizon: Date): Prisma.Sql {
  const l = Prisma.raw(lot);
  return Prisma.sql`(${l}.expiry_reminded_at IS NULL AND ${l}.expired_at IS NULL
    AND ${l}.expires_at > ${now}::timestamptz AND ${l}.expires_at <= ${horizon}::timestamptz)`;
}

/**
 * Announces lots of points about to expire (`points.expiring`), once per lot,
 * `pointExpiryReminderDays` (default 30) before they do: each lot in the window
 * not reminded yet gets `expiry_reminded_at` by a conditional update under its
 * row lock, in the statement that writes its event (keyed by the lot, unique),
 * so a second or concurrent run finds nothing to announce. Lots another
 * transaction holds are skipped (SKIP LOCKED) and taken by the next run. Lots
 * with nothing left are marked without an event. Returns the lots announced.
 */
export async function remindExpiringPoints(deps: ServiceDeps, batchSize = 1000): Promise<number> {
  const now = nowOf(deps);
  const { settings } = await loadProgram(deps.prisma);
  const horizon = addDays(now, settings.pointExpiryReminderDays);
  let announced = 0;
  for (;;) {
    const [row] = await deps.prisma.$queryRaw<{ marked: number; announced: number }[]>`
      WITH due AS (
        SELECT id FROM point_lots lot
        WHERE ${lotToRemind('lot', now, horizon)}
        ORDER BY expires_at
        LIMIT ${batchSize}::int
        FOR UPDATE SKIP LOCKED),
      reminded AS (
        UPDATE point_lots l SET expiry_reminded_at = ${now}::timestamptz
        FROM due WHERE l.id = due.id AND l.expiry_reminded_at IS NULL
        RETURNING l.id, l.member_id, l.remaining, l.expires_at, l.expired_at),
      ${webhookEventsCte(
        Prisma.sql`SELECT 'points.expiring' AS type,
          jsonb_build_object('memberId', r.member_id::text, 'lotId', r.id::text, 'points', r.remaining,
                             'expiresAt', ${isoTimeSql(Prisma.sql`r.expires_at`)}) AS data,
          'points.expiring:' || r.id::text AS dedupe_key
          FROM reminded r WHERE r.remaining > 0 AND r.expired_at IS NULL`,
        now,
      )}
      SELECT count(*)::int AS marked, count(*) FILTER (WHERE remaining > 0 AND expired_at IS NULL)::int AS announced FROM reminded`;
    announced += row?.announced ?? 0;
    if ((row?.marked ?? 0) < batchSize) return announced;
  }
}
