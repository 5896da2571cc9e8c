import { rawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import type { ServiceDeps } from '../deps.js';

export interface UpcomingExpiry {
  expiresAt: Date;
  points: number;
}

/**
 * Every upcoming expiry of a member's points (pending included), grouped by
 * expiry date. On the member status screen of every app: a prepared statement
 * on node-postgres (db/sql.ts), not a query through Prisma's engine.
 */
export async function upcomingExpiries(deps: Pick<ServiceDeps, 'prisma'>, memberId: string): Promise<UpcomingExpiry[]> {
  const [row] = await rawSql(deps.prisma).$queryRaw<{ expiries: { expiresAt: string; points: number }[] }[]>`
    SELECT ${upcomingExpiriesSql(Prisma.sql`${memberId}::uuid`)} AS expiries`;
  return expiriesFromJson(row!.expiries);
}

/**
 * The same expiries as a JSON array (`[{ "expiresAt": …, "points": … }]`) in a
 * scalar subquery, for reads that build a member's whole status in one
 * statement; `expiriesFromJson` turns it back into `UpcomingExpiry` values.
 */
export function upcomingExpiriesSql(memberId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(SELECT COALESCE(json_agg(json_build_object('expiresAt', x.expires_on, 'points', x.points) ORDER BY x.expires_on), '[]')
    FROM (SELECT MIN(expires_at) AS expires_on, SUM(remaining)::int AS points
          FROM point_lots
          WHERE member_id = ${memberId} AND expired_at IS NULL AND remaining > 0
          GROUP BY date_trunc('day', expires_at AT TIME ZONE 'UTC')) x)`;
}

export function expiriesFromJson(rows: { expiresAt: string; points: number }[]): UpcomingExpiry[] {
  return rows.map((row) => ({ expiresAt: new Date(row.expiresAt), points: row.points }));
}
