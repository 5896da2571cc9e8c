import { describe, expect, it } from 'vitest';
import { upcomingExpiriesSql } from '../../src/domain/points/expiring.service.js';
import { lotToRemind } from '../../src/domain/points/expiry-reminders.service.js';
import { lotIsDue, lotToExpire, lotToRelease, memberHasDueLotsSql } from '../../src/domain/points/ledger.js';
import { adjustPoints, earnPoints } from '../../src/domain/points/points.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { Prisma } from '../../src/generated/prisma/client.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * "This lot is due" is one SQL fragment (lotIsDue = lotToRelease OR lotToExpire,
 * src/domain/points/ledger.ts), used by the settle and the maintenance sweep, and
 * stated again for one member by the SQL function member_has_due_lots, which the
 * kernel's opening statement calls (a fresh snapshot after the member lock). The
 * sweep indexes (partial since migration 202612081000_point_lot_sweep_indexes_partial)
 * serve it only while it implies their conditions.
 */
const admin = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
const T0 = new Date('2026-01-10T10:00:00.000Z');
const { prisma, app } = useTestApp();
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

const dueLots = async (now: Date) =>
  (
    await prisma.$queryRaw<{ points: number }[]>`
    SELECT lot.points FROM point_lots lot WHERE ${lotIsDue('lot', now)} ORDER BY lot.points`
  ).map((lot) => lot.points);

/** Whether the member has a due lot, by lotIsDue and by member_has_due_lots; the two must agree. */
async function memberDue(memberId: string, now: Date): Promise<boolean> {
  const [row] = await prisma.$queryRaw<{ fragment: boolean; fn: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM point_lots l WHERE l.member_id = ${memberId}::uuid AND ${lotIsDue('l', now)}) AS fragment,
           ${memberHasDueLotsSql(Prisma.sql`${memberId}::uuid`, now)} AS fn`;
  expect(row!.fn).toBe(row!.fragment);
  return row!.fn;
}

/** The plan of `query` with sequential scans priced out, as text. */
async function planOf(query: Prisma.Sql): Promise<string> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
    const rows = await tx.$queryRaw<{ 'QUERY PLAN': string }[]>`EXPLAIN ${query}`;
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  });
}

/**
 * Gives `memberId` `count` lots of 1 point granted and released at `at`, balances consistent with them: `open`,
 * available and none due; or `settled`, expired two years later and all spent by one EXPIRE entry, every other
 * one reminded before (a lot expires unreminded when the maintenance worker was away for longer than the
 * reminder window).
 */
async function bulkLots(memberId: string, count: number, at: Date, state: 'open' | 'settled' = 'open'): Promise<void> {
  const expires = addMonths(at, 24);
  const settled = state === 'settled';
  await prisma.$executeRaw`
    WITH entry AS (
      INSERT INTO ledger_entries
        (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key, created_at)
      SELECT ${memberId}::uuid, 'ADJUST', 1, i, 'ADJUSTMENT', 'bulk', 'SYSTEM', 'test', 'bulk-' || i, ${at}::timestamptz
      FROM generate_series(1, ${count}::int) AS i
      RETURNING id, balance_after AS i)
    INSERT INTO point_lots
      (member_id, entry_id, points, remaining, available_at, released_at, expires_at, expired_at, expiry_reminded_at, created_at)
    SELECT ${memberId}::uuid, entry.id, 1, ${settled ? 0 : 1}::int, ${at}::timestamptz, ${at}::timestamptz, ${expires}::timestamptz,
           ${settled ? expires : null}::timestamptz, CASE WHEN entry.i % 2 = 0 THEN ${settled ? addMonths(at, 23) : null}::timestamptz END, ${at}::timestamptz
    FROM entry`;
  if (settled) {
    await prisma.$executeRaw`
      INSERT INTO ledger_entries
        (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key, created_at)
      VALUES (${memberId}::uuid, 'EXPIRE', ${-count}::int, 0, 'EXPIRY', 'bulk', 'SYSTEM', 'test', 'bulk-expiry', ${expires}::timestamptz)`;
  }
  await prisma.$executeRaw`
    UPDATE members SET available_points = ${settled ? 0 : count}::int, lifetime_points = ${count}::int WHERE id = ${memberId}::uuid`;
}

/** The point_lots rows `query` reads (returned or filtered out, in every loop), from EXPLAIN ANALYZE: a count, not a time. */
async function lotsReadBy(query: Prisma.Sql): Promise<number> {
  type PlanNode = { 'Relation Name'?: string; 'Actual Rows': number; 'Actual Loops': number; Plans?: PlanNode[] } & Record<string, unknown>;
  const [row] = await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
    return tx.$queryRaw<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>`EXPLAIN (ANALYZE, FORMAT JSON) ${query}`;
  });
  const removed = (node: PlanNode) => Number(node['Rows Removed by Filter'] ?? 0) + Number(node['Rows Removed by Index Recheck'] ?? 0);
  const read = (node: PlanNode): number =>
    (node['Relation Name'] === 'point_lots' ? (node['Actual Rows'] + removed(node)) * node['Actual Loops'] : 0) +
    (node.Plans ?? []).reduce((sum, child) => sum + read(child), 0);
  return read(row!['QUERY PLAN'][0].Plan);
}

/**
 * member_has_due_lots as the ledger kernel's opening statement asks it, on the member, and how many lots it read. The
 * function's own query is not in the caller's plan: the rows it fetched are what the transaction's table statistics
 * count meanwhile. Planned for this member and its clock by default; `force_generic_plan` as a connection of the service
 * runs it once PL/pgSQL keeps the generic plan (after five calls), whose estimates know neither.
 */
async function dueCheckOf(
  memberId: string,
  now: Date,
  plan: 'force_custom_plan' | 'force_generic_plan' = 'force_custom_plan',
): Promise<{ due: boolean; lotsRead: number }> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
    await tx.$executeRawUnsafe(`SET LOCAL plan_cache_mode = ${plan}`);
    const lotsRead = async () =>
      (
        await tx.$queryRaw<{ rows: number }[]>`
        SELECT (seq_tup_read + COALESCE(idx_tup_fetch, 0))::int AS rows FROM pg_stat_xact_user_tables WHERE relname = 'point_lots'`
      )[0]!.rows;
    const before = await lotsRead();
    const [row] = await tx.$queryRaw<{ due: boolean }[]>`
      SELECT ${memberHasDueLotsSql(Prisma.sql`m.id`, now)} AS due FROM members m WHERE m.id = ${memberId}::uuid`;
    return { due: row!.due, lotsRead: (await lotsRead()) - before };
  });
}

describe('the due-lot predicate', () => {
  it('a pending lot is due after its return window, an available one after its expiry, neither before', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '30.00', idempotencyKey: 'e-1' }, admin);
    await adjustPoints(at(T0), { memberId, points: 7, reason: 'welcome', idempotencyKey: 'a-1' }, admin);

    expect(await dueLots(addDays(T0, 1))).toEqual([]);
    expect(await dueLots(addDays(T0, 15))).toEqual([30]);
    expect(await dueLots(addMonths(T0, 25))).toEqual([7, 30]);
  });

  it('member_has_due_lots agrees with it for pending, released, expired and settled lots', async () => {
    const pending = await app.enroll();
    const available = await app.enroll();
    await earnPoints(at(T0), { memberId: pending, orderRef: 'o-1', orderTotal: '30.00', idempotencyKey: 'e-1' }, admin);
    await adjustPoints(at(T0), { memberId: available, points: 7, reason: 'welcome', idempotencyKey: 'a-1' }, admin);

    const instants = [T0, addDays(T0, 1), addDays(T0, 14), addDays(T0, 15), addMonths(T0, 24), addMonths(T0, 25)];
    const before = [];
    for (const now of instants) before.push([await memberDue(pending, now), await memberDue(available, now)]);
    expect(before).toEqual([
      [false, false],
      [false, false],
      [true, false],
      [true, false],
      [true, true],
      [true, true],
    ]);

    // Released (an operation after the return window), then settled as expired (one after the expiry).
    await adjustPoints(at(addDays(T0, 15)), { memberId: pending, points: 1, reason: 'release', idempotencyKey: 'a-2' }, admin);
    expect(await memberDue(pending, addDays(T0, 15))).toBe(false);
    expect(await memberDue(pending, addMonths(T0, 25))).toBe(true);
    await adjustPoints(at(addMonths(T0, 25)), { memberId: pending, points: 1, reason: 'expire', idempotencyKey: 'a-3' }, admin);
    await adjustPoints(at(addMonths(T0, 25)), { memberId: available, points: 1, reason: 'expire', idempotencyKey: 'a-2' }, admin);
    expect(await memberDue(pending, addMonths(T0, 25))).toBe(false);
    expect(await memberDue(available, addMonths(T0, 25))).toBe(false);
    // The lots granted since expire in turn.
    expect(await memberDue(available, addMonths(T0, 50))).toBe(true);
  });

  it('the maintenance sweep, releasing, expiring and reminding are each served by their own index', async () => {
    // Enough lots that are not due for an index to matter; half of them in their return window, as a member's recent
    // orders' lots are: the indexes of pending lots are not empty.
    const memberId = await app.enroll();
    await bulkLots(memberId, 3000, T0);
    await prisma.$executeRaw`
      UPDATE point_lots SET released_at = NULL, available_at = ${addDays(T0, 14)}::timestamptz
      WHERE id IN (SELECT id FROM point_lots WHERE member_id = ${memberId}::uuid ORDER BY id LIMIT 1500)`;
    await prisma.$executeRaw`
      UPDATE members SET available_points = available_points - 1500, pending_points = 1500 WHERE id = ${memberId}::uuid`;
    await prisma.$executeRaw`ANALYZE point_lots`;
    const now = addDays(T0, 1);

    // Each index must be searched on its date (an Index Cond), not merely walked; its condition is the sweep's own.
    const release = /point_lots_pending_available_at_idx[^\n]*\n\s*Index Cond: \(available_at <= /;
    const expire = /point_lots_open_expires_at_idx[^\n]*\n\s*Index Cond: \(expires_at <= /;
    const sweep = await planOf(Prisma.sql`SELECT DISTINCT lot.member_id FROM point_lots lot WHERE ${lotIsDue('lot', now)}`);
    expect(sweep).toMatch(release);
    expect(sweep).toMatch(expire);
    expect(await planOf(Prisma.sql`SELECT 1 FROM point_lots lot WHERE ${lotToRelease('lot', now)}`)).toMatch(release);
    expect(await planOf(Prisma.sql`SELECT 1 FROM point_lots lot WHERE ${lotToExpire('lot', now)}`)).toMatch(expire);
    // The expiry reminders' batch, with remindExpiringPoints' own condition.
    const remind = /point_lots_unreminded_expires_at_idx[^\n]*\n\s*Index Cond: \(\(expires_at > [^)]*\) AND \(expires_at <= /;
    const reminding = await planOf(
      Prisma.sql`SELECT lot.id FROM point_lots lot WHERE ${lotToRemind('lot', now, addDays(now, 30))} ORDER BY lot.expires_at LIMIT 1000`,
    );
    expect(reminding).toMatch(remind);
  });

  it("the sweep indexes and the due check's pending one hold only the lots still to settle: settled lots are not in them", async () => {
    const pages = async () =>
      prisma.$queryRaw<{ name: string; pages: number }[]>`
        SELECT c.relname AS name, (pg_relation_size(c.oid) / current_setting('block_size')::int)::int AS pages
        FROM pg_class c
        WHERE c.relname IN ('point_lots_pending_available_at_idx', 'point_lots_open_expires_at_idx', 'point_lots_unreminded_expires_at_idx',
                            'point_lots_member_id_available_at_idx')
        ORDER BY c.relname`;
    const before = await pages();
    expect(before.map((index) => index.name)).toEqual([
      'point_lots_member_id_available_at_idx',
      'point_lots_open_expires_at_idx',
      'point_lots_pending_available_at_idx',
      'point_lots_unreminded_expires_at_idx',
    ]);
    // 3 000 lots released and expired, half of them reminded: nothing a sweep still has to do. An index over every lot grows
    // by their 3 000 entries (one date each: deduplicated, still two pages more); these do not grow at all.
    await bulkLots(await app.enroll(), 3000, T0, 'settled');
    expect(await pages()).toEqual(before);
  });

  it("a member's expired lots are not read again: the due check and the status's expiries read the open lots only", async () => {
    const memberId = await app.enroll();
    for (let order = 1; order <= 30; order++) {
      await earnPoints(at(T0), { memberId, orderRef: `o-${order}`, orderTotal: '10.00', idempotencyKey: `e-${order}` }, admin);
    }
    // Two and a half years later: the first operation settles the 30 lots as expired, then an order earns.
    const later = addMonths(T0, 30);
    await adjustPoints(at(later), { memberId, points: 7, reason: 'welcome back', idempotencyKey: 'a-1' }, admin);
    await earnPoints(at(later), { memberId, orderRef: 'o-new', orderTotal: '30.00', idempotencyKey: 'e-new' }, admin);
    expect(await prisma.pointLot.count({ where: { memberId, expiredAt: { not: null } } })).toBe(30);
    await bulkLots(await app.enroll(), 3000, later);
    await prisma.$executeRaw`ANALYZE point_lots`;
    const now = addDays(later, 1);

    const dueCheck = await dueCheckOf(memberId, now);
    expect(dueCheck.due).toBe(false);
    expect(dueCheck.lotsRead).toBeLessThanOrEqual(2);
    expect(await lotsReadBy(Prisma.sql`SELECT ${upcomingExpiriesSql(Prisma.sql`${memberId}::uuid`)} AS expiries`)).toBe(2);
  });

  it("the due check reads the lots it may find due, not each of the member's open lots", async () => {
    const memberId = await app.enroll();
    // Half a year of orders, released and open, then three orders still in their return window.
    await bulkLots(memberId, 60, T0);
    const ordered = addMonths(T0, 6);
    for (let order = 1; order <= 3; order++) {
      await earnPoints(at(ordered), { memberId, orderRef: `o-${order}`, orderTotal: '10.00', idempotencyKey: `e-${order}` }, admin);
    }
    await bulkLots(await app.enroll(), 3000, T0);
    await prisma.$executeRaw`ANALYZE point_lots`;

    // As a connection of the service asks it after its first five calls: one plan for any member and clock.
    const inWindow = await dueCheckOf(memberId, addDays(ordered, 1), 'force_generic_plan');
    expect(inWindow.due).toBe(false);
    expect(inWindow.lotsRead).toBeLessThanOrEqual(2);
    const windowPassed = await dueCheckOf(memberId, addDays(ordered, 15), 'force_generic_plan');
    expect(windowPassed.due).toBe(true);
    expect(windowPassed.lotsRead).toBeLessThanOrEqual(2);
  });
});
