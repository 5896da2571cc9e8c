import { violates, type RawSql } from '../../db/sql.js';
import { ValidationError } from '../errors.js';
import type { TierSettings } from '../program/program-settings.js';

/**
 * Moves CLOSED members off tiers the program is about to lose (`writeTierRows`): `memberIds` are locked (FOR NO KEY
 * UPDATE) and CLOSED, the new tiers are written already; it sets each member's tier to one of them (and keeps the
 * tier history). Runs in the caller's transaction.
 */
export type ClosedHoldersMove = (tx: RawSql, memberIds: readonly string[]) => Promise<void>;

/**
 * Writes the program's tiers into the `tiers` table, which mirrors
 * `program.settings.tiers` so that PostgreSQL guards members' tiers (a foreign
 * key): call it in the transaction that stores the settings. A tier left out is
 * deleted; when members that are not CLOSED still hold it, that is a ValidationError
 * on `tiers` saying how many, and nothing is written (the foreign key refuses it too,
 * should a member reach the tier between the count and the delete). A tier only CLOSED
 * members hold is removed when `moveClosedHolders` is given: those members are locked
 * (a reopening waits for the change, or the change waits for it and then refuses) and
 * moved to one of the new tiers before the old one is deleted; without it they refuse
 * the removal as any holder does. Equally refused: a tier an earning rule that is not
 * retired names (earning rules lock the program row while they validate their tier keys,
 * so the two cannot cross). Every row first moves up by 100 so that the new order never
 * collides with the old one on the unique position; the rows of removed tiers are
 * deleted last, once nobody holds them.
 */
export async function writeTierRows(tx: RawSql, tiers: readonly TierSettings[], moveClosedHolders?: ClosedHoldersMove): Promise<void> {
  const keys = tiers.map((tier) => tier.key);
  const held = await tx.$queryRaw<{ tier: string; open: number; closed: number }[]>`
    SELECT t.key AS tier,
      (SELECT count(*)::int FROM members m WHERE m.tier = t.key AND m.status <> 'CLOSED') AS open,
      (SELECT count(*)::int FROM members m WHERE m.tier = t.key AND m.status = 'CLOSED') AS closed
    FROM tiers t WHERE t.key <> ALL(${keys}::text[])
    ORDER BY t.position`;
  const holders = (row: { open: number; closed: number }) => (moveClosedHolders ? row.open : row.open + row.closed);
  refuseHeldTiers(held.map((row) => ({ tier: row.tier, members: holders(row) })));
  // A rule in force naming a removed tier would silently never match again.
  const named = await tx.$queryRaw<{ tier: string; rule: string }[]>`
    SELECT k.key AS tier, r.name AS rule
    FROM earning_rules r CROSS JOIN LATERAL unnest(r.tier_keys) AS k(key)
    WHERE r.retired_at IS NULL AND k.key <> ALL(${keys}::text[])
    ORDER BY k.key, r.name`;
  if (named.length > 0) {
    const list = named.map((row) => `${row.tier} by "${row.rule}"`).join(', ');
    throw new ValidationError('tiers', `a tier an earning rule names cannot be removed until the rule is retired or changed: ${list}`);
  }
  let closedHolders: string[] = [];
  if (moveClosedHolders && held.some((row) => row.closed > 0)) {
    // Under the members' row locks: a reopening that committed meanwhile is seen here (its row re-read), one that
    // comes later waits for this transaction and reopens the member on the tier it moves them to.
    const locked = await tx.$queryRaw<{ id: string; tier: string; status: string }[]>`
      SELECT id::text, tier, status::text FROM members
      WHERE tier IN (SELECT key FROM tiers WHERE key <> ALL(${keys}::text[]))
      ORDER BY id FOR NO KEY UPDATE`;
    const open = locked.filter((row) => row.status !== 'CLOSED');
    refuseHeldTiers(held.map((row) => ({ tier: row.tier, members: open.filter((member) => member.tier === row.tier).length })));
    closedHolders = locked.map((row) => row.id);
  }
  try {
    await tx.$executeRaw`UPDATE tiers SET position = position + 100`;
    await tx.$executeRaw`
      INSERT INTO tiers (key, position, name, threshold, multiplier, compensation_factor, benefits)
      SELECT t.key, t.position, t.name, t.threshold, t.multiplier, t."compensationFactor", COALESCE(t.benefits, '')
      FROM jsonb_to_recordset(${JSON.stringify(tiers.map((tier, index) => ({ ...tier, position: index + 1 })))}::jsonb)
        AS t(key text, position int, name text, threshold int, multiplier float8, "compensationFactor" float8, benefits text)
      ON CONFLICT (key) DO UPDATE SET position = excluded.position, name = excluded.name, threshold = excluded.threshold,
        multiplier = excluded.multiplier, compensation_factor = excluded.compensation_factor, benefits = excluded.benefits`;
    if (closedHolders.length > 0) await moveClosedHolders!(tx, closedHolders);
    await tx.$executeRaw`DELETE FROM tiers WHERE key <> ALL(${keys}::text[])`;
  } catch (error) {
    if (isForeignKeyViolation(error)) {
      throw new ValidationError('tiers', 'a tier members still hold cannot be removed (a member reached it meanwhile)');
    }
    throw error;
  }
}

/** The ValidationError for tiers to be removed that members still hold (`members` > 0), naming how many. */
function refuseHeldTiers(held: readonly { tier: string; members: number }[]): void {
  const stillHeld = held.filter((row) => row.members > 0);
  if (stillHeld.length === 0) return;
  const list = stillHeld.map((row) => `${row.tier} by ${row.members} member${row.members === 1 ? '' : 's'}`).join(', ');
  throw new ValidationError('tiers', `a tier members still hold cannot be removed: ${list}`);
}

/**
 * Whether `error` is PostgreSQL's refusal of a member's row naming a tier the program no longer has (the foreign
 * key `members_tier_fkey`), as node-postgres or Prisma reports it: a write that read the tiers (a new member's
 * `lowest_tier()`, an earn's upgrade, a review's downgrade) before an admin's change removed that tier, and wrote after
 * it committed. Run once more (the ledger kernel, the tier review and enrolment do),
 * the write reads the tiers of now.
 */
export function namesRemovedTier(error: unknown): boolean {
  if (violates(error, '23503', 'members_tier_fkey')) return true;
  const { code, meta } = (error ?? {}) as { code?: unknown; meta?: unknown };
  return code === 'P2003' && JSON.stringify(meta ?? {}).includes('members_tier_fkey');
}

function isForeignKeyViolation(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${JSON.stringify((error as { meta?: unknown }).meta ?? {})}` : '';
  return (error as { code?: unknown })?.code === '23503' || /23503|foreign key/i.test(text);
}
