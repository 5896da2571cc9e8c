/**
 * The most lifetime points a member may hold: 2^53 − 1, the largest whole number a JSON number (the GraphQL
 * `Points` scalar) and a JS number carry exactly. Lifetime points only grow, so they are a PostgreSQL bigint
 * (members.lifetime_points; qualifying points, a sum of some of them, and the tier history that records those, too);
 * the ledger kernel refuses a grant past this (`roomRefusal`), and a CHECK on members is the last line of defence
 * (migration 202612221000). A member's balance keeps its own limit, an integer's (MAX_POINTS).
 */
export const MAX_LIFETIME_POINTS = Number.MAX_SAFE_INTEGER;

const EXACT = BigInt(MAX_LIFETIME_POINTS);

/**
 * A count of points read as a bigint (a bigint column or a sum, which both node-postgres and Prisma read as
 * bigint: src/db/sql.ts) as the number the domain and the Points scalar use: exact, never rounded. One past
 * ±(2^53 − 1) throws — no write of Treue's makes such a value (`MAX_LIFETIME_POINTS`), and a wrong number would
 * be worse than an error.
 */
export function pointsFromBigint(points: bigint): number {
  if (points > EXACT || points < -EXACT) {
    throw new RangeError(`${points} points are more than a number holds exactly`);
  }
  return Number(points);
}
