import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { cancelContract, extendContract, grantRenewalBonus, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { createEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { approveGoodwill, issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { lotIsDue } from '../../src/domain/points/ledger.js';
import { inLedgerTransaction } from '../../src/domain/points/ledger-kernel.js';
import { adjustPoints, earnPoints, redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { createReward, redeemReward } from '../../src/domain/rewards/rewards.service.js';
import { compensateServiceFailure, reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays } from '../../src/domain/time.js';
import { testLogger, useTestApp } from '../support/app.js';
import { holdMember, whileHolding } from '../support/holding.js';
import { statementsDuring } from '../support/statements.js';

const admin = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
const agent = { actor: { type: 'STAFF' as const, id: 'agent-1' }, role: 'AGENT' as const };
const supervisor = { actor: { type: 'STAFF' as const, id: 'supervisor-1' }, role: 'SUPERVISOR' as const };
const T0 = new Date('2026-01-10T10:00:00.000Z');

const { prisma, app } = useTestApp();
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

const sent: string[] = [];

async function count<T>(run: () => Promise<T>): Promise<number> {
  const { statements } = await statementsDuring(run);
  sent.push(...statements);
  return statements.length;
}

/**
 * Every operation that moves value runs in one frame (src/domain/points/ledger-kernel.ts):
 * one statement locks the member, reserves the key, finds due lots and the
 * settings' version. Statements each sends, BEGIN and COMMIT included, in a
 * fixed scenario (due lots settled by the first operation after the return window).
 * Before the kernel they were: adjust +11 / −10, refund 13, reward 14, goodwill 16,
 * approval 17, renewal bonus 13, cancellation with claw-back 17, compensation 6, redeem 5.
 * Taking points from lots is one statement (or a CTE of the entry's) since 2026-12-04: the
 * spending operations sent one more each (adjust −6, refund 9, reward 10, cancellation 12, redeem 5).
 */
describe('statements per value-moving operation', () => {
  it('each operation sends no more statements than its frame and its effect need', async () => {
    const memberId = await app.enroll();
    const deps = at(T0);
    const later = at(addDays(T0, 20));
    await earnPoints(deps, { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' }, admin);
    const counts: Record<string, number> = {};
    counts.adjustPlus = await count(() => adjustPoints(later, { memberId, points: 50, reason: 'fix', idempotencyKey: 'a-1' }, admin));
    counts.adjustMinus = await count(() => adjustPoints(later, { memberId, points: -5, reason: 'fix', idempotencyKey: 'a-2' }, admin));
    counts.refund = await count(() => refundOrder(later, { memberId, orderRef: 'o-1', amount: '10.00', idempotencyKey: 'r-1' }, admin));
    const reward = await createReward(later, { name: 'five', pointsCost: 10, voucherValue: '5.00' }, admin);
    counts.redeemReward = await count(() => redeemReward(later, { memberId, rewardId: reward.id, idempotencyKey: 'rw-1' }, admin));
    const gesture = { memberId, kind: 'POINTS' as const, points: 10, reason: 'OTHER' as const, note: 'sorry' };
    counts.issueGoodwill = await count(() => issueGoodwill(later, { ...gesture, idempotencyKey: 'g-1' }, agent));
    const held = await issueGoodwill(later, { ...gesture, points: 5000, idempotencyKey: 'g-2' }, agent);
    counts.approveGoodwill = await count(() => approveGoodwill(later, { gestureId: held.gestureId, idempotencyKey: 'ap-1' }, supervisor));
    const { contractId } = await registerContract(later, { memberId, externalRef: 'C-1', plan: 'p', startsAt: T0, termMonths: 12 }, admin);
    const { renewalId } = await extendContract(at(addDays(T0, 300)), { contractId, termMonths: 12, idempotencyKey: 'x-1' }, admin);
    counts.renewalBonus = await count(() => grantRenewalBonus(at(addDays(T0, 300)), renewalId));
    counts.cancelContract = await count(() => cancelContract(at(addDays(T0, 301)), { contractId, idempotencyKey: 'c-1' }, admin));
    const { failureId } = await reportServiceFailure(
      later,
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', idempotencyKey: 'f-1' },
      admin,
    );
    counts.compensation = await count(() => compensateServiceFailure(later, failureId));
    counts.redeem = await count(() => redeemPoints(later, { memberId, points: 1, idempotencyKey: 'rd-1' }, admin));
    expect(counts).toEqual({
      adjustPlus: 8,
      adjustMinus: 5,
      refund: 8,
      redeemReward: 9,
      issueGoodwill: 11,
      approveGoodwill: 11,
      renewalBonus: 9,
      cancelContract: 11,
      compensation: 6,
      redeem: 4,
    });
    // Each request's key is written once, with its answer: never reserved empty and then updated.
    // (Eight of the ten carry a key: a renewal bonus and a compensation are made idempotent by rows of their own.)
    expect(sent.filter((statement) => /INSERT INTO idempotency_records/.test(statement))).toHaveLength(8);
    expect(sent.filter((statement) => /UPDATE idempotency_records/.test(statement))).toEqual([]);
  });
});

describe("a request's idempotency key", () => {
  it('taken meanwhile by a request under another lock: the effect is rolled back and the first answer replayed', async () => {
    // Two members, one scope: the member lock does not serialise them, the key's primary key does.
    const members = [await app.enroll(), await app.enroll()];
    // The program's row is written by the first transaction that needs it: before, so that the two wait on nothing else.
    await adjustPoints(at(T0), { memberId: members[0]!, points: 1, reason: 'program row', idempotencyKey: 'p-1' }, admin);
    let inEffect = 0;
    let bothIn!: () => void;
    const bothInEffect = new Promise<void>((resolve) => (bothIn = resolve));
    const run = (memberId: string) =>
      inLedgerTransaction(
        at(T0),
        { memberId, request: { scope: 'test:shared', key: 'k-1', body: { same: true } } },
        async ({ tx, member }) => {
          if (++inEffect === 2) bothIn();
          await bothInEffect;
          await tx.$executeRaw`UPDATE members SET name = name || ' (touched)' WHERE id = ${member.id}::uuid`;
          return { result: { touched: member.id } };
        },
      );

    const outcomes = await Promise.all(members.map(run));

    expect(outcomes.map((outcome) => outcome.replayed).sort()).toEqual([false, true]);
    expect(outcomes[0]!.touched).toBe(outcomes[1]!.touched);
    const touched = await prisma.member.count({ where: { id: { in: members }, name: { endsWith: ' (touched)' } } });
    expect(touched).toBe(1);
    expect(await prisma.idempotencyRecord.count({ where: { operation: 'test:shared' } })).toBe(1);
  });

  it('sent again while the first holds the member lock is replayed, not refused by what the first changed', async () => {
    const memberId = await app.enroll();
    const deps = at(T0);
    await adjustPoints(deps, { memberId, points: 10, reason: 'grant', idempotencyKey: 'g-1' }, admin);

    // The first spends all ten points; the others wait for its lock and must answer as it did, not InsufficientPoints.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => redeemPoints(deps, { memberId, points: 10, idempotencyKey: 'rd-all' }, admin)),
    );

    const answers = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value.entryId : String(outcome.reason)));
    expect(new Set(answers).size).toBe(1);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled' && !outcome.value.replayed)).toHaveLength(1);
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'REDEEM' } })).toBe(1);
  });
});

describe('due lots', () => {
  it('made due by the transaction the kernel waited for are settled before the effect', async () => {
    const memberId = await app.enroll();
    await adjustPoints(at(T0), { memberId, points: 40, reason: 'grant', idempotencyKey: 'g-1' }, admin);
    const now = addDays(T0, 1);

    // Another transaction holds the member lock and moves the lot's expiry before `now` (as a restore past its
    // original expiry did before d04f721); the operation starts meanwhile, waits for the lock, then runs.
    await whileHolding(
      prisma,
      async (other) => {
        await holdMember(memberId)(other);
        await other.query('UPDATE point_lots SET expires_at = $2 WHERE member_id = $1', [memberId, T0]);
      },
      () => adjustPoints(at(now), { memberId, points: 5, reason: 'after', idempotencyKey: 'g-2' }, admin),
    );

    const due = await prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM point_lots l WHERE l.member_id = ${memberId}::uuid AND ${lotIsDue('l', now)}`;
    expect(due).toEqual([{ n: 0 }]);
    const entries = await prisma.ledgerEntry.findMany({
      where: { memberId },
      orderBy: { createdAt: 'asc' },
      select: { kind: true, amount: true },
    });
    expect(entries).toEqual([
      { kind: 'ADJUST', amount: 40 },
      { kind: 'EXPIRE', amount: -40 },
      { kind: 'ADJUST', amount: 5 },
    ]);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId }, select: { availablePoints: true } })).toEqual({
      availablePoints: 5,
    });
  });
});

describe('settings changed while the operation waited for the member', () => {
  /**
   * Another operation (`holder`, a transaction of its own) holds the member; an earn of `orderTotal` waits for it
   * while `meanwhile` runs; then the holder commits. The earn's answer.
   */
  const whileEarnWaits = (memberId: string, orderTotal: string, meanwhile: (holder: pg.Client) => Promise<void>) =>
    whileHolding(
      prisma,
      holdMember(memberId),
      () => earnPoints(at(T0), { memberId, orderRef: 'o-2', orderTotal, idempotencyKey: 'e-2' }, admin),
      { meanwhile },
    );

  it('a tier removed meanwhile is not where the member moves: the operation runs on the settings of now', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '14000.00', idempotencyKey: 'e-1' }, admin);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).tier).toBe('GOLD');

    // An earn that takes the member past PLATINUM's 15 000 waits for the member; meanwhile an admin removes
    // PLATINUM, which no member holds, and commits.
    const earned = await whileEarnWaits(memberId, '1000.00', async () => {
      await updateProgram(at(T0), { patch: { tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }] } }, admin);
    });

    // Before: the settings of the earn's first snapshot still had PLATINUM; the tier's foreign key refused the move
    // into it, and the earn failed (INTERNAL to a client).
    expect(earned).toMatchObject({ replayed: false, points: 1500 }); // 1 000.00 at GOLD's 1.5
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId }, select: { tier: true, lifetimePoints: true } })).toEqual({
      tier: 'GOLD',
      lifetimePoints: 15500n,
    });
  });

  it('a tier added while the earn waited, and the member moved into it, is the tier the earn runs in', async () => {
    const memberId = await app.enroll();
    // This process has parsed the settings of four tiers (cached by their hash) before the earn waits.
    await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' }, admin);

    const earned = await whileEarnWaits(memberId, '100.00', async (holder) => {
      const diamond = { key: 'DIAMOND', name: 'Diamond', threshold: 50000, multiplier: 3, compensationFactor: 3 };
      await updateProgram(
        at(T0),
        { patch: { tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }, { key: 'PLATINUM' }, diamond] } },
        admin,
      );
      // The holder moves the member into the new tier as an upgrade writes it (tiers.service.ts recordTierChange).
      await holder.query("UPDATE members SET tier = 'DIAMOND', tier_since = $2, updated_at = $2 WHERE id = $1", [memberId, T0]);
      await holder.query(
        "INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points, created_at) VALUES ($1, 'BRONZE', 'DIAMOND', 'UPGRADE', 100, $2)",
        [memberId, T0],
      );
    });

    // Before: the settings of the earn's first snapshot had no DIAMOND ("the program has no tier DIAMOND").
    expect(earned).toMatchObject({ replayed: false, points: 300 }); // 100.00 at DIAMOND's 3
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId }, select: { tier: true, lifetimePoints: true } })).toEqual({
      tier: 'DIAMOND',
      lifetimePoints: 400n,
    });
  });

  it('an earning rule created while the earn waited applies to it', async () => {
    const memberId = await app.enroll();
    // This process has the rules of the current stamp (none) cached before the earn waits.
    await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' }, admin);

    const earned = await whileEarnWaits(memberId, '100.00', async () => {
      await createEarningRule(at(addDays(T0, -1)), { name: 'Triple points', effect: { lineMultiplier: { multiplier: '3' } } }, admin);
    });

    // Before: the rules of the earn's first snapshot (none) applied, 100 points.
    expect(earned).toMatchObject({ replayed: false, points: 300 });
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId }, select: { lifetimePoints: true } })).toEqual({
      lifetimePoints: 400n,
    });
  });
});

describe('a tier removed after the settings were read', () => {
  it('fails the move into it on its foreign key: the operation runs once more, on the settings of now', async () => {
    const memberId = await app.enroll();
    // The program's row exists before: else the kernel's transaction writes it, and the admin's change waits for it.
    await loadProgram(prisma);
    // The settings read after the member lock still have PLATINUM; the admin removes it (no member holds it, and
    // updateProgram does not wait for members) before the effect moves the member into the program's top tier.
    const tiersSeen: string[] = [];
    const outcome = await inLedgerTransaction(at(T0), { memberId }, async ({ tx, member, settings }) => {
      const top = settings.tiers.at(-1)!.key;
      tiersSeen.push(top);
      if (tiersSeen.length === 1) {
        await updateProgram(at(T0), { patch: { tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }] } }, admin);
      }
      await tx.$executeRaw`UPDATE members SET tier = ${top} WHERE id = ${member.id}::uuid`;
      return { result: { tier: top } };
    });

    expect(tiersSeen).toEqual(['PLATINUM', 'GOLD']);
    expect(outcome).toMatchObject({ replayed: false, tier: 'GOLD' });
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId }, select: { tier: true } })).toEqual({ tier: 'GOLD' });
  });
});

describe('taking points from lots', () => {
  it('refuses a redeem whose lots hold less than the cached balance says, and writes nothing', async () => {
    const memberId = await app.enroll();
    const deps = at(T0);
    await adjustPoints(deps, { memberId, points: 100, reason: 'grant', idempotencyKey: 'g-1' }, admin);
    // The cached balance says 100 available; the lots, changed behind the ledger's back, hold 40.
    await prisma.$executeRaw`UPDATE point_lots SET remaining = 40 WHERE member_id = ${memberId}::uuid`;
    const state = () => prisma.$queryRaw<{ available: number; remaining: number; entries: number; keys: number }[]>`
      SELECT m.available_points AS available,
             (SELECT sum(remaining)::int FROM point_lots WHERE member_id = m.id) AS remaining,
             (SELECT count(*)::int FROM ledger_entries WHERE member_id = m.id) AS entries,
             (SELECT count(*)::int FROM idempotency_records WHERE key LIKE '%rd-short%') AS keys
      FROM members m WHERE m.id = ${memberId}::uuid`;
    const before = await state();

    await expect(redeemPoints(deps, { memberId, points: 50, idempotencyKey: 'rd-short' }, admin)).rejects.toThrow(
      /hold 40 of 50 points to take/,
    );
    expect(await state()).toEqual(before);
    // Repaired, the same request goes through: its key was not kept by the refused one.
    await prisma.$executeRaw`UPDATE point_lots SET remaining = points WHERE member_id = ${memberId}::uuid`;
    const redeemed = await redeemPoints(deps, { memberId, points: 50, idempotencyKey: 'rd-short' }, admin);
    expect(redeemed.replayed).toBe(false);
    expect((await state())[0]).toMatchObject({ available: 50, remaining: 50, entries: 2, keys: 1 });
  });
});
