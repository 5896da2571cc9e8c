import { Prisma, type TierChangeReason } from '../../generated/prisma/client.js';
import type { Caller } from '../../auth/principal.js';
import { rawSql, sqlTransaction, type RawSql } from '../../db/sql.js';
import { assertMayCall } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { ForbiddenError } from '../errors.js';
import { memberChange, reportMemberChanges } from '../members/member-changes.js';
import type { LockedMember } from '../points/ledger.js';
import { pointsFromBigint } from '../points/lifetime-points.js';
import { loadProgram, settingsForHash, type ProgramView } from '../program/program.service.js';
import type { ProgramSettings, TierSettings } from '../program/program-settings.js';
import { addDays, addMonths } from '../time.js';
import { namesRemovedTier, type ClosedHoldersMove } from './tier-rows.js';
import { eventRows, webhookEventsCte } from '../webhooks/webhook-events.js';

/** A tier's key (`TierSettings.key`): what members' rows, tier history and webhooks hold. */
export type TierKey = string;

/** A tier is up for review this many months after it was reached (or last reviewed). */
export const TIER_REVIEW_MONTHS = 12;

/**
 * Ledger entry kinds that count towards a tier. Simplification, on purpose: a
 * refund's REVERSAL counts in the window it was written, even when the order
 * it reverses earned before the window began.
 */
export const QUALIFYING_KINDS = ['EARN', 'REVERSAL', 'RENEWAL_BONUS'] as const;

type Db = Tx | ServiceDeps['prisma'];

/** One tier of the program with its place: position 1 is the lowest. */
export interface TierView extends TierSettings {
  position: number;
}

/** The tiers of the program, lowest first. */
export function tierRules(settings: ProgramSettings): TierView[] {
  return settings.tiers.map((tier, index) => ({ ...tier, position: index + 1 }));
}

/**
 * The program's tiers for a caller (`tiers`), lowest first: SERVICE_CALLERS.readTiers
 * (every caller with credentials: staff, any API key, members); anyone else is
 * refused before anything is read.
 */
export async function readTiers(deps: ServiceDeps, caller: Caller): Promise<TierView[]> {
  assertMayCall(caller, 'readTiers');
  return tierRules((await loadProgram(deps.prisma)).settings);
}

/** The tier with this key and its place, or null when the program has no such tier (any more). */
export function tierOf(settings: ProgramSettings, key: TierKey): TierView | null {
  const index = settings.tiers.findIndex((tier) => tier.key === key);
  return index < 0 ? null : { ...settings.tiers[index]!, position: index + 1 };
}

/**
 * The rule of a member's tier. A member's tier is always one of the program's
 * (a foreign key to `tiers`, which updateProgram keeps in step with the
 * settings, refuses anything else), so a miss is a bug, not an input error.
 */
export function tierRule(settings: ProgramSettings, key: TierKey): TierSettings {
  const tier = settings.tiers.find((candidate) => candidate.key === key);
  if (!tier) throw new Error(`the program has no tier ${key}`);
  return tier;
}

/** Place of a tier in the program, 0 the lowest; -1 when there is no such tier. */
const rank = (settings: ProgramSettings, key: TierKey): number => settings.tiers.findIndex((tier) => tier.key === key);

/** The highest tier whose threshold the points reach (the lowest tier starts at 0). */
export function tierFor(settings: ProgramSettings, qualifyingPoints: number): TierKey {
  let reached = settings.tiers[0]!.key;
  for (const tier of settings.tiers) if (qualifyingPoints >= tier.threshold) reached = tier.key;
  return reached;
}

/**
 * The qualifying entries of a member at `now`: kinds EARN, REVERSAL and
 * RENEWAL_BONUS written in the `months` calendar months before `now`
 * (UTC calendar, like `addMonths`). In SQL so that the hot read can take the
 * months from the program row in the same statement (`loadTierStandings`).
 */
function inQualifyingWindow(months: Prisma.Sql, now: Date, { datedAfterNow = false } = {}): Prisma.Sql {
  const upTo = datedAfterNow ? Prisma.empty : Prisma.sql`AND created_at <= ${now}`;
  return Prisma.sql`kind::text = ANY(${[...QUALIFYING_KINDS]}::text[])
    AND created_at > ((${now}::timestamptz AT TIME ZONE 'UTC') - make_interval(months => ${months})) AT TIME ZONE 'UTC'
    ${upTo}`;
}

/**
 * What dates a change of qualifying points with the clock alone, read with them: `MIN(created_at) AS
 * qualifying_oldest` beside their sum, over the same entries (the ledger index holds the column, so the read stays
 * index-only: tests/tiers/qualifying-window-clock.test.ts), for `qualifyingPointsChangeAt`.
 */
const OLDEST = Prisma.sql`MIN(created_at) AS qualifying_oldest`;

/**
 * When an entry written at `createdAt` leaves a window of `months` calendar months (`inQualifyingWindow`): the first
 * instant whose window start — that instant less the months, clamped to the month's last day as PostgreSQL clamps
 * it — is not before the entry. That is `createdAt` plus the months (`addMonths`) when the month it lands in has its
 * day; when `addMonths` had to clamp (Jan 31 + 1 month = Feb 28), every start in that month is still before the entry
 * (Feb 28 less a month is Jan 28), and it leaves on the 1st of the next month, 00:00 UTC.
 */
export function leavesQualifyingWindowAt(createdAt: Date, months: number): Date {
  const landed = addMonths(createdAt, months);
  if (landed.getUTCDate() === createdAt.getUTCDate()) return landed;
  return new Date(Date.UTC(landed.getUTCFullYear(), landed.getUTCMonth() + 1, 1));
}

/**
 * When qualifying points read with `qualifying_oldest` (`OLDEST`; null: no entry in the window) next change with the
 * clock alone, no entry written and no event: when that oldest entry leaves the window. Null: not before an event.
 */
export function qualifyingPointsChangeAt(oldest: Date | null, months: number): Date | null {
  return oldest && leavesQualifyingWindowAt(oldest, months);
}

/**
 * Qualifying points of several members in one query: the sum of their
 * qualifying entries in the rolling `tierQualifyingMonths` window before `now`
 * (served by the ledger's (member_id, created_at desc) index), never below 0.
 * Members without such entries are absent from the map (read them as 0).
 * `datedAfterNow`: entries dated after `now` count too (`lockedQualifyingPoints`).
 */
export async function qualifyingPointsOf(
  db: RawSql,
  memberIds: readonly string[],
  settings: ProgramSettings,
  now: Date,
  window: { datedAfterNow?: boolean } = {},
): Promise<Map<string, number>> {
  if (memberIds.length === 0) return new Map();
  const rows = await db.$queryRaw<{ member_id: string; points: bigint }[]>`
    SELECT member_id::text, GREATEST(SUM(amount), 0)::bigint AS points
    FROM ledger_entries
    WHERE member_id = ANY(${memberIds}::uuid[])
      AND ${inQualifyingWindow(Prisma.sql`${settings.tierQualifyingMonths}::int`, now, window)}
    GROUP BY member_id`;
  return new Map(rows.map((row) => [row.member_id, pointsFromBigint(row.points)]));
}

/** The window's months as the program row says them, for a statement that reads the row in a subquery. */
const PROGRAM_MONTHS = Prisma.sql`(SELECT (p.settings->>'tierQualifyingMonths')::int FROM program p WHERE p.id = 1)`;

/**
 * One member's qualifying points (see `qualifyingPointsOf`) and the oldest entry counted (`qualifying_oldest`, see
 * `OLDEST`) as a subquery of one row, with the window's months taken from the program row in the same statement:
 * for reads that build a member's whole status in one statement (`CROSS JOIN LATERAL <this> q`).
 */
export function qualifyingStandingSql(memberId: Prisma.Sql, now: Date): Prisma.Sql {
  return Prisma.sql`(SELECT GREATEST(COALESCE(SUM(amount), 0), 0)::bigint AS qualifying_points, ${OLDEST} FROM ledger_entries
    WHERE member_id = ${memberId} AND ${inQualifyingWindow(PROGRAM_MONTHS, now)})`;
}

/** `qualifyingStandingSql`'s columns when no standing is read. */
export const NO_QUALIFYING_STANDING = Prisma.sql`(SELECT NULL::bigint AS qualifying_points, NULL::timestamptz AS qualifying_oldest)`;

export interface TierStandings {
  program: ProgramView;
  /** Qualifying points by member id; absent means 0. */
  qualifyingPoints: Map<string, number>;
  /**
   * When a member's qualifying points next change with the clock alone: the oldest entry in the window leaves it,
   * which no event marks (`qualifyingPointsChangeAt`). Absent: not before an event.
   */
  changesAt: Map<string, Date>;
}

/**
 * The program settings and the qualifying points of several members, read in
 * one statement: the member status screen and member listings ask for
 * `tierProgress` on every read. Same window and kinds as `qualifyingPointsOf`,
 * and when each member's points change with the clock alone (`qualifyingPointsChangeAt`).
 * The settings come as the md5 of their JSON and are parsed once per version
 * (`settingsForHash`), not on every read. Internal: checks no caller (the member
 * status read, which its own caller's check precedes); for a caller, `readTierStandings`.
 */
export async function loadTierStandings(db: RawSql, memberIds: readonly string[], now: Date): Promise<TierStandings> {
  const rows = await db.$queryRaw<
    {
      settings_hash: string;
      version: number;
      updated_at: Date;
      member_id: string | null;
      points: bigint | null;
      qualifying_oldest: Date | null;
    }[]
  >`
    SELECT p.settings_hash, p.version, p.updated_at, q.member_id::text, q.points, q.qualifying_oldest
    FROM program p
    LEFT JOIN LATERAL (
      SELECT member_id, GREATEST(SUM(amount), 0)::bigint AS points, ${OLDEST}
      FROM ledger_entries
      WHERE member_id = ANY(${memberIds}::uuid[])
        AND ${inQualifyingWindow(Prisma.sql`(p.settings->>'tierQualifyingMonths')::int`, now)}
      GROUP BY member_id
    ) q ON true
    WHERE p.id = 1`;
  const first = rows[0];
  if (!first) {
    await settingsForHash(db, null); // first use: creates the row with defaults
    return loadTierStandings(db, memberIds, now);
  }
  const program = {
    settings: await settingsForHash(db, first.settings_hash),
    version: first.version,
    updatedAt: first.updated_at,
  };
  const qualifyingPoints = new Map<string, number>();
  const changesAt = new Map<string, Date>();
  for (const row of rows) {
    if (row.member_id === null) continue;
    qualifyingPoints.set(row.member_id, row.points === null ? 0 : pointsFromBigint(row.points));
    const instant = qualifyingPointsChangeAt(row.qualifying_oldest, program.settings.tierQualifyingMonths);
    if (instant) changesAt.set(row.member_id, instant);
  }
  return { program, qualifyingPoints, changesAt };
}

/**
 * Members' tier standings for a caller (`Member.tier`, `Member.tierProgress`, a
 * tier change's tiers; see `loadTierStandings`): who may read them is who may
 * read the members, SERVICE_CALLERS.readMembers, and a member only their own
 * (another member's standing, even beside their own, is refused). Checked in
 * memory, before the one statement: the status screen's hot path pays nothing more.
 */
export async function readTierStandings(deps: ServiceDeps, memberIds: readonly string[], caller: Caller): Promise<TierStandings> {
  assertMayCall(caller, 'readMembers');
  if (caller.actor.type === 'MEMBER' && memberIds.some((memberId) => memberId !== caller.actor.id)) {
    throw new ForbiddenError('A member reads only their own tier standing');
  }
  return loadTierStandings(rawSql(deps.prisma), memberIds, nowOf(deps));
}

/** Qualifying points of one member (see `qualifyingPointsOf`). */
export async function qualifyingPoints(db: RawSql, memberId: string, settings: ProgramSettings, now: Date): Promise<number> {
  return (await qualifyingPointsOf(db, [memberId], settings, now)).get(memberId) ?? 0;
}

/**
 * Qualifying points of one member whose row the caller holds locked, for a decision on their tier (an upgrade, an
 * anniversary review): the window before `now` as `qualifyingPointsOf` counts it, and the entries dated after `now`
 * as well. Every writer reads its clock before it queues for the member's lock (a maintenance run, before it settles
 * thousands of members), so an entry committed under the lock by a writer that read its clock later is dated after
 * this `now`; it came before this decision all the same, and an earn or a return it missed would keep a tier the
 * member fell below, or downgrade one they reached (tests/points/ledger-races-audit.test.ts).
 */
async function lockedQualifyingPoints(tx: RawSql, memberId: string, settings: ProgramSettings, now: Date): Promise<number> {
  return (await qualifyingPointsOf(tx, [memberId], settings, now, { datedAfterNow: true })).get(memberId) ?? 0;
}

export interface TierChangeResult {
  fromTier: TierKey;
  toTier: TierKey;
  reason: TierChangeReason;
  qualifyingPoints: number;
}

/**
 * Raw SQL, so that it also runs in the hot paths' transactions (db/sql.ts).
 * The `member.tier_changed` event carries the keys and, for receivers that show
 * them, the tiers' names at that moment.
 */
async function recordTierChange(
  tx: RawSql,
  memberId: string,
  change: TierChangeResult,
  settings: ProgramSettings,
  now: Date,
): Promise<void> {
  await tx.$executeRaw`
    UPDATE members SET tier = ${change.toTier}, tier_since = ${now}::timestamptz, updated_at = ${now}::timestamptz
    WHERE id = ${memberId}::uuid`;
  // A move up or down is announced (member.tier_changed) in the history row's statement; a kept tier is not.
  const moved = change.fromTier !== change.toTier;
  const data = {
    memberId,
    ...change,
    fromTierName: tierOf(settings, change.fromTier)?.name ?? change.fromTier,
    toTierName: tierOf(settings, change.toTier)?.name ?? change.toTier,
  };
  await tx.$executeRaw`
    WITH history AS (
      INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points, created_at)
      VALUES (${memberId}::uuid, ${change.fromTier}, ${change.toTier},
              ${change.reason}::"TierChangeReason", ${change.qualifyingPoints}::bigint, ${now}::timestamptz)),
    ${webhookEventsCte(eventRows(moved ? [{ type: 'member.tier_changed', data }] : []), now)}
    SELECT 1`;
}

/**
 * How `updateProgram` moves CLOSED members off a tier it removes (`writeTierRows`, which locks them first): each to the
 * tier their qualifying points of `now` reach in the new list (`after`), as an upgrade would place them, with
 * `tierSince` now and a tier history row (TIER_REMOVED). No points move and no `member.tier_changed` is announced: a closed member receives nothing and no
 * one acts on their tier (their status reads change with the program's, which `updateProgram` reports). Should they
 * be reopened, they go on from that tier, as any member does.
 */
export function closedHoldersMove(after: ProgramSettings, now: Date): ClosedHoldersMove {
  return async (tx, memberIds) => {
    const held = await tx.$queryRaw<{ id: string; tier: TierKey }[]>`
      SELECT id::text, tier FROM members WHERE id = ANY(${memberIds}::uuid[])`;
    // Under their locks: what committed before, dated after `now` or not (`lockedQualifyingPoints`).
    const points = await qualifyingPointsOf(tx, memberIds, after, now, { datedAfterNow: true });
    const moves = held.map((member) => {
      const qualifying = points.get(member.id) ?? 0;
      const toTier = tierFor(after, qualifying);
      return { memberId: member.id, fromTier: member.tier, toTier, reason: 'TIER_REMOVED', qualifyingPoints: qualifying };
    });
    const rows = JSON.stringify(moves);
    await tx.$executeRaw`
      WITH moved AS (
        UPDATE members m SET tier = v."toTier", tier_since = ${now}::timestamptz, updated_at = ${now}::timestamptz
        FROM jsonb_to_recordset(${rows}::jsonb) AS v("memberId" uuid, "toTier" text)
        WHERE m.id = v."memberId")
      INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points, created_at)
      SELECT v."memberId", v."fromTier", v."toTier", v.reason::"TierChangeReason", v."qualifyingPoints", ${now}::timestamptz
      FROM jsonb_to_recordset(${rows}::jsonb)
        AS v("memberId" uuid, "fromTier" text, "toTier" text, reason text, "qualifyingPoints" bigint)`;
  };
}

/**
 * Whether lifetime points of `lifetime` reach the threshold of a tier above `tier`. Qualifying points never exceed
 * lifetime points: while this is false no upgrade is possible and `applyTierUpgrade` runs no statement — so an earn
 * of `points` whose `lifetime + points` stays below it knows beforehand that its entry's statement is its last.
 */
export function lifetimeReachesHigherTier(settings: ProgramSettings, tier: string, lifetime: number): boolean {
  return rank(settings, tierFor(settings, lifetime)) > rank(settings, tier);
}

/**
 * Upgrades a member at once when their qualifying points reach a higher tier's
 * threshold, possibly by several levels (one UPGRADE row from the old to the
 * new tier). Runs inside the caller's transaction, which holds the member lock
 * (`inLedgerTransaction`), after the entry that earned the points was posted; the
 * locked member's `tier` is updated too. Points already computed in this
 * transaction keep the old multiplier: the new one applies from the next earn.
 * Idempotent by nature: a member already at or above the reached tier is left
 * alone, so a retried or replayed earn never upgrades twice. Never downgrades.
 * Qualifying points are a sum of some of the member's positive entries (minus
 * reversals) and never exceed their lifetime points, so while lifetime points
 * stay below the next tier's threshold the qualifying-points query is skipped.
 */
export async function applyTierUpgrade(
  tx: RawSql,
  member: LockedMember,
  settings: ProgramSettings,
  now: Date,
): Promise<TierChangeResult | null> {
  const current = rank(settings, member.tier);
  if (!lifetimeReachesHigherTier(settings, member.tier, member.lifetime)) return null;
  const points = await lockedQualifyingPoints(tx, member.id, settings, now);
  const reached = tierFor(settings, points);
  if (rank(settings, reached) <= current) return null;
  const change: TierChangeResult = { fromTier: member.tier, toTier: reached, reason: 'UPGRADE', qualifyingPoints: points };
  await recordTierChange(tx, member.id, change, settings, now);
  member.tier = reached;
  return change;
}

/**
 * Whether the member suffered a service failure at or after `since` (and not
 * after `until`).
 * Every recorded failure counts, whatever its compensation status: a failure
 * judged not eligible for a voucher was still a bad experience.
 */
export async function hadRecentServiceFailure(tx: Db | RawSql, memberId: string, since: Date, until?: Date): Promise<boolean> {
  const [row] = await tx.$queryRaw<{ hit: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM service_failures
      WHERE member_id = ${memberId}::uuid AND occurred_at >= ${since}
        AND (${until ?? null}::timestamptz IS NULL OR occurred_at <= ${until ?? null}::timestamptz)
    ) AS hit`;
  return row?.hit ?? false;
}

export interface TierReviewReport {
  /** Members whose tier anniversary had passed. */
  membersReviewed: number;
  /** Moved down one level: qualifying points below their tier's threshold. */
  membersDowngraded: number;
  /** Kept their tier on their own qualifying points. */
  membersRetained: number;
  /** Kept their tier despite too few points: a service failure shortly before the review. */
  membersProtected: number;
}

/**
 * Reviews every member whose tier is up (`tierSince` + 12 months has passed,
 * the lowest tier excepted): below the tier's threshold → one level down (DOWNGRADE);
 * otherwise RETAINED; below the threshold but with a service failure in the
 * `tierProtectionDays` before the review → PROTECTED (tier kept). Every
 * outcome is a tier history row and sets `tierSince` to `now`, so the next
 * review is 12 months later. One short transaction per member under its row
 * lock, re-checking the anniversary there: a second or concurrent run finds
 * nothing to do.
 */
export async function reviewTiers(deps: ServiceDeps, now: Date = nowOf(deps), batchSize = 500): Promise<TierReviewReport> {
  const report: TierReviewReport = { membersReviewed: 0, membersDowngraded: 0, membersRetained: 0, membersProtected: 0 };
  // Loose in SQL (calendar months end on different days), exact per member below.
  const cutoff = addDays(addMonths(now, -TIER_REVIEW_MONTHS), 3);
  let after: { since: Date; id: string } = { since: new Date(0), id: '00000000-0000-0000-0000-000000000000' };
  for (;;) {
    const due = await deps.prisma.$queryRaw<{ id: string; tier_since: Date }[]>`
      SELECT id::text, tier_since FROM members
      -- The tiers above the lowest by name: one range each of the index on (tier, tier_since).
      WHERE tier IN (SELECT key FROM tiers WHERE key <> lowest_tier()) AND tier_since <= ${cutoff}
        AND (tier_since, id) > (${after.since}, ${after.id}::uuid)
      ORDER BY tier_since, id
      LIMIT ${batchSize}`;
    for (const candidate of due) {
      const change = await reviewMemberOnSettingsOfNow(deps, candidate.id, now);
      if (change === null) continue;
      const reason = change.reason;
      // Every outcome moved `tierSince` and the next review: a kept tier is a change of the member's status too.
      const kind = change.toTier !== change.fromTier ? 'TIER_CHANGED' : 'TIER_REVIEWED';
      reportMemberChanges(deps, [memberChange(candidate.id, kind, change.toTier)]);
      report.membersReviewed += 1;
      if (reason === 'DOWNGRADE') report.membersDowngraded += 1;
      else if (reason === 'RETAINED') report.membersRetained += 1;
      else if (reason === 'PROTECTED') report.membersProtected += 1;
    }
    const last = due.at(-1);
    if (!last || due.length < batchSize) break;
    after = { since: last.tier_since, id: last.id };
  }
  return report;
}

/**
 * One member's review in a transaction of its own (node-postgres, as the ledger kernel's). The settings are read
 * after the member lock, but an admin may still remove the tier below the member's (no member holds it, and
 * updateProgram does not wait for members) between that read and the downgrade's write: the move then fails on
 * the tier's foreign key and is rolled back. Once more, then, as the kernel does, on the settings committed now
 * (where the tier below is another); without it the whole maintenance run failed and the members after this one
 * waited for the next run.
 */
async function reviewMemberOnSettingsOfNow(deps: ServiceDeps, memberId: string, now: Date): Promise<TierChangeResult | null> {
  const run = () => sqlTransaction(deps.prisma, (tx) => reviewMember(tx, memberId, now));
  return run().catch((error: unknown) => {
    if (namesRemovedTier(error)) return run();
    throw error;
  });
}

async function reviewMember(tx: RawSql, memberId: string, now: Date): Promise<TierChangeResult | null> {
  const [member] = await tx.$queryRaw<{ tier: TierKey; tier_since: Date }[]>`
    SELECT tier, tier_since FROM members WHERE id = ${memberId}::uuid FOR UPDATE`;
  if (!member || addMonths(member.tier_since, TIER_REVIEW_MONTHS) > now) return null;
  // A statement of its own after the lock: the settings committed by then (READ COMMITTED), parsed once per version.
  const [program] = await tx.$queryRaw<{ settings_hash: string }[]>`SELECT settings_hash FROM program WHERE id = 1`;
  const settings = await settingsForHash(tx, program?.settings_hash ?? null);
  const index = rank(settings, member.tier);
  if (index <= 0) return null; // the lowest tier is never reviewed
  const points = await lockedQualifyingPoints(tx, memberId, settings, now);
  let change: TierChangeResult;
  if (points >= settings.tiers[index]!.threshold) {
    change = { fromTier: member.tier, toTier: member.tier, reason: 'RETAINED', qualifyingPoints: points };
  } else if (await hadRecentServiceFailure(tx, memberId, addDays(now, -settings.tierProtectionDays), now)) {
    change = { fromTier: member.tier, toTier: member.tier, reason: 'PROTECTED', qualifyingPoints: points };
  } else {
    const lower = settings.tiers[index - 1]!.key;
    change = { fromTier: member.tier, toTier: lower, reason: 'DOWNGRADE', qualifyingPoints: points };
  }
  await recordTierChange(tx, memberId, change, settings, now);
  return change;
}

export interface TierProgress {
  current: TierView;
  /** The tier directly above; null at the top. */
  next: TierView | null;
  qualifyingPoints: number;
  /** Points still needed for `next` (0 when reached: the upgrade follows with the next earn); null at the top. */
  pointsToNext: number | null;
  /** When the current tier is up for review; null for the lowest tier, which is never reviewed. */
  reviewAt: Date | null;
}

/** A member's standing: current and next tier, points to go, and the next review. Pure. */
export function tierProgress(
  member: { tier: TierKey; tierSince: Date },
  settings: ProgramSettings,
  qualifyingPoints: number,
): TierProgress {
  const rules = tierRules(settings);
  const index = rank(settings, member.tier);
  const current = rules[index];
  if (!current) throw new Error(`the program has no tier ${member.tier}`);
  const next = rules[index + 1] ?? null;
  return {
    current,
    next,
    qualifyingPoints,
    pointsToNext: next ? Math.max(next.threshold - qualifyingPoints, 0) : null,
    reviewAt: index === 0 ? null : addMonths(member.tierSince, TIER_REVIEW_MONTHS),
  };
}
