import type { ServiceDeps } from '../deps.js';
import { pointsFromBigint } from './lifetime-points.js';

export interface LedgerMismatch {
  memberId: string;
  ledgerBalance: number;
  storedBalance: number;
  lotsAvailable: number;
  storedAvailable: number;
  lotsPending: number;
  storedPending: number;
  ledgerLifetime: number;
  storedLifetime: number;
}

type Sums = Exclude<keyof LedgerMismatch, 'memberId'>;

/**
 * Rebuilds every member's balances from the ledger and the lots and lists the
 * members whose stored (cached) balances differ. Read-only; an empty list means
 * the caches are exactly what the entries say. Summed as bigint and read
 * exactly (`pointsFromBigint`): lifetime points pass 2^31 − 1, and a cache that
 * disagrees with its entries is reported, whatever the sums come to.
 */
export async function findLedgerMismatches(deps: Pick<ServiceDeps, 'prisma'>): Promise<LedgerMismatch[]> {
  const rows = await deps.prisma.$queryRaw<({ memberId: string } & Record<Sums, bigint>)[]>`
    WITH ledger AS (
      SELECT member_id, SUM(amount)::bigint AS balance, COALESCE(SUM(amount) FILTER (WHERE amount > 0), 0)::bigint AS lifetime
      FROM ledger_entries GROUP BY member_id),
    lots AS (
      SELECT member_id,
             COALESCE(SUM(remaining) FILTER (WHERE released_at IS NOT NULL), 0)::bigint AS available,
             COALESCE(SUM(remaining) FILTER (WHERE released_at IS NULL), 0)::bigint AS pending
      FROM point_lots WHERE expired_at IS NULL GROUP BY member_id)
    SELECT m.id::text AS "memberId",
           COALESCE(l.balance, 0) AS "ledgerBalance", m.available_points::bigint + m.pending_points AS "storedBalance",
           COALESCE(p.available, 0) AS "lotsAvailable", m.available_points::bigint AS "storedAvailable",
           COALESCE(p.pending, 0) AS "lotsPending", m.pending_points::bigint AS "storedPending",
           COALESCE(l.lifetime, 0) AS "ledgerLifetime", m.lifetime_points AS "storedLifetime"
    FROM members m
    LEFT JOIN ledger l ON l.member_id = m.id
    LEFT JOIN lots p ON p.member_id = m.id
    WHERE COALESCE(l.balance, 0) <> m.available_points::bigint + m.pending_points
       OR COALESCE(p.available, 0) <> m.available_points
       OR COALESCE(p.pending, 0) <> m.pending_points
       OR COALESCE(l.lifetime, 0) <> m.lifetime_points
    ORDER BY m.id`;
  return rows.map((row) => ({
    memberId: row.memberId,
    ledgerBalance: pointsFromBigint(row.ledgerBalance),
    storedBalance: pointsFromBigint(row.storedBalance),
    lotsAvailable: pointsFromBigint(row.lotsAvailable),
    storedAvailable: pointsFromBigint(row.storedAvailable),
    lotsPending: pointsFromBigint(row.lotsPending),
    storedPending: pointsFromBigint(row.storedPending),
    ledgerLifetime: pointsFromBigint(row.ledgerLifetime),
    storedLifetime: pointsFromBigint(row.storedLifetime),
  }));
}
