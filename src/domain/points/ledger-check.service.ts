import type { ServiceDeps } from '../deps.js';

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

/**
 * Rebuilds every member's balances from the ledger and the lots and lists the
 * members whose stored (cached) balances differ. Read-only; an empty list means
 * the caches are exactly what the entries say.
 */
export async function findLedgerMismatches(deps: Pick<ServiceDeps, 'prisma'>): Promise<LedgerMismatch[]> {
  return deps.prisma.$queryRaw<LedgerMismatch[]>`
    WITH ledger AS (
      SELECT member_id, SUM(amount)::int AS balance, COALESCE(SUM(amount) FILTER (WHERE amount > 0), 0)::int AS lifetime
      FROM ledger_entries GROUP BY member_id),
    lots AS (
      SELECT member_id,
             COALESCE(SUM(remaining) FILTER (WHERE released_at IS NOT NULL), 0)::int AS available,
             COALESCE(SUM(remaining) FILTER (WHERE released_at IS NULL), 0)::int AS pending
      FROM point_lots WHERE expired_at IS NULL GROUP BY member_id)
    SELECT m.id::text AS "memberId",
           COALESCE(l.balance, 0) AS "ledgerBalance", m.available_points + m.pending_points AS "storedBalance",
           COALESCE(p.available, 0) AS "lotsAvailable", m.available_points AS "storedAvailable",
           COALESCE(p.pending, 0) AS "lotsPending", m.pending_points AS "storedPending",
           COALESCE(l.lifetime, 0) AS "ledgerLifetime", m.lifetime_points AS "storedLifetime"
    FROM members m
    LEFT JOIN ledger l ON l.member_id = m.id
    LEFT JOIN lots p ON p.member_id = m.id
    WHERE COALESCE(l.balance, 0) <> m.available_points + m.pending_points
       OR COALESCE(p.available, 0) <> m.available_points
       OR COALESCE(p.pending, 0) <> m.pending_points
       OR COALESCE(l.lifetime, 0) <> m.lifetime_points
    ORDER BY m.id`;
}
