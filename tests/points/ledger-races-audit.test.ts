import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { cancelOrder, returnOrderItems } from '../../src/domain/orders/orders.service.js';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { adjustPoints, earnPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { createReward, redeemReward } from '../../src/domain/rewards/rewards.service.js';
import { compensateServiceFailure, reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { reviewTiers } from '../../src/domain/tiers/tiers.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { ADMIN, ledgerWrites, STOREFRONT } from '../support/ledger-writes.js';
import { holdMember, whileHolding } from '../support/holding.js';
import { untilWaitingForLocks } from '../support/until.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhooks/webhook-events.js';

/**
 * Races across areas on one member's points and vouchers: the ledger kernel, orders and returns, rewards, goodwill,
 * compensation, tier reviews and status changes, each audited alone before, here against each other. After each race
 * the ledger's invariants: cached balances equal the ledger and the lots (`findLedgerMismatches`, what
 * `npm run cli -- check-ledger` runs), no lot over-consumed, no negative balance, one effect per key, no event of a
 * change rolled back, every refusal typed.
 */

const admin = ADMIN;
const storefront = STOREFRONT;
const T0 = new Date('2026-03-10T10:00:00.000Z');

const { prisma, app } = useTestApp();
const { at, earn, grant } = ledgerWrites(prisma);

async function member(memberId: string) {
  return prisma.member.findUniqueOrThrow({ where: { id: memberId } });
}

/** The invariants after every race: caches equal the ledger, no lot below zero or above its points, no negative balance. */
async function expectInvariants() {
  expect(await findLedgerMismatches({ prisma })).toEqual([]);
  const [lots] = await prisma.$queryRaw<{ bad: number }[]>`
    SELECT count(*)::int AS bad FROM point_lots WHERE remaining < 0 OR remaining > points`;
  expect(lots!.bad).toBe(0);
  const [negative] = await prisma.$queryRaw<{ bad: number }[]>`
    SELECT count(*)::int AS bad FROM members WHERE available_points < 0 OR pending_points < 0`;
  expect(negative!.bad).toBe(0);
}

describe('tier decisions under the member lock count what committed before them, whatever clock each request read', () => {
  /** A SILVER member up for review, with `points` qualifying points earned a month before REVIEW. */
  async function silverUpForReview(REVIEW: Date, orderTotal: string) {
    const memberId = await app.enroll({ enrolledAt: addMonths(REVIEW, -14) });
    await earn(memberId, addMonths(REVIEW, -1), orderTotal, 'before');
    await prisma.$executeRaw`
      UPDATE members SET tier = 'SILVER', tier_since = ${addMonths(REVIEW, -13)}::timestamptz WHERE id = ${memberId}::uuid`;
    return memberId;
  }

  it('an earn that commits after the maintenance run read its clock still counts in the review: no downgrade below a tier reached', async () => {
    const REVIEW = addMonths(T0, 14);
    const memberId = await silverUpForReview(REVIEW, '900.00');
    // The run read its clock at REVIEW and settled other members; meanwhile the earn (its clock a second later)
    // committed: 900 + 200 = 1 100 qualifying points, SILVER's threshold is 1 000.
    await earnPoints(
      at(new Date(REVIEW.getTime() + 1000)),
      { memberId, orderRef: 'during', orderTotal: '160.00', idempotencyKey: 'during' },
      storefront,
    );
    const report = await reviewTiers(at(REVIEW));
    expect(report.membersReviewed).toBe(1);
    const change = await prisma.tierChange.findFirstOrThrow({ where: { memberId }, orderBy: { createdAt: 'desc' } });
    expect([change.reason, change.qualifyingPoints]).toEqual(['RETAINED', 1100n]);
    expect((await member(memberId)).tier).toBe('SILVER');
    await expectInvariants();
  });

  it('a return that commits after the maintenance run read its clock counts in the review: the tier it fell below is not retained', async () => {
    const REVIEW = addMonths(T0, 14);
    const memberId = await silverUpForReview(REVIEW, '1100.00');
    await cancelOrder(at(new Date(REVIEW.getTime() + 1000)), { memberId, orderReference: 'before', idempotencyKey: 'cancel' }, storefront);
    const report = await reviewTiers(at(REVIEW));
    expect(report.membersReviewed).toBe(1);
    const change = await prisma.tierChange.findFirstOrThrow({ where: { memberId }, orderBy: { createdAt: 'desc' } });
    expect([change.reason, change.toTier, change.qualifyingPoints]).toEqual(['DOWNGRADE', 'BRONZE', 0n]);
    await expectInvariants();
  });

  it('an earn whose clock was read before another earn committed still upgrades on both', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    const NOW = addDays(T0, 3);
    // B read its clock a second after A, but reached the member's lock first.
    await earn(memberId, new Date(NOW.getTime() + 1000), '600.00');
    await earn(memberId, NOW, '600.00');
    expect((await member(memberId)).tier).toBe('SILVER');
    await expectInvariants();
  });
});

/** What a race's request answered: its result's fields, or its refusal's typed code (an untyped refusal fails the test). */
type Outcome = string | Record<string, unknown>;

function outcomeOf(settled: PromiseSettledResult<unknown>): Outcome {
  if (settled.status === 'fulfilled') return settled.value as Record<string, unknown>;
  const error: unknown = settled.reason;
  if (!(error instanceof DomainError)) throw error;
  return error.code;
}

async function kinds(memberId: string) {
  const rows = await prisma.ledgerEntry.groupBy({ by: ['kind'], where: { memberId }, _sum: { amount: true } });
  return Object.fromEntries(rows.map((r) => [r.kind, r._sum.amount]));
}

const NOW = addMonths(T0, 30);

describe('a return racing what spends or settles the same points', () => {
  it('a cancel racing a redemption of the points the order earned: taken once, by one of them; the other pays or is unrecovered', async () => {
    for (let round = 0; round < 4; round += 1) {
      const memberId = await app.enroll({ enrolledAt: addDays(NOW, -40) });
      await earn(memberId, addDays(NOW, -20), '100.00', 'ORD'); // released by NOW
      const [cancelled, redeemed] = (
        await Promise.allSettled([
          cancelOrder(at(NOW), { memberId, orderReference: 'ORD', idempotencyKey: 'cancel' }, storefront),
          redeemPoints(at(NOW), { memberId, points: 100, idempotencyKey: 'redeem' }, storefront),
        ])
      ).map(outcomeOf);
      const cancel = cancelled as Record<string, unknown>;
      expect(typeof cancel).toBe('object');
      if (typeof redeemed === 'string') {
        // The cancel first: it took the order's points back, nothing left to redeem.
        expect(redeemed).toBe('INSUFFICIENT_POINTS');
        expect([cancel.pointsReversed, cancel.pointsUnrecovered]).toEqual([100, 0]);
      } else {
        // The redemption first: it spent them, the cancel finds nothing to take back.
        expect([cancel.pointsReversed, cancel.pointsUnrecovered]).toEqual([0, 100]);
      }
      expect(await member(memberId)).toMatchObject({ availablePoints: 0, pendingPoints: 0 });
      expect((await kinds(memberId)).EARN).toBe(100);
      await expectInvariants();
    }
  });

  it('a cancel racing two expiry sweeps of the order’s lot: the lot expires once and the cancel takes nothing of it again', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    await earn(memberId, T0, '80.00', 'ORD');
    await grant(memberId, addMonths(T0, 29), 50);
    const LATER = addDays(addMonths(T0, 24), 1);
    const results = (
      await Promise.allSettled([
        cancelOrder(at(LATER), { memberId, orderReference: 'ORD', idempotencyKey: 'cancel' }, storefront),
        runPointsMaintenance(at(LATER), { passive: false }),
        runPointsMaintenance(at(LATER), { passive: false }),
      ])
    ).map(outcomeOf);
    expect(results[0]).toMatchObject({ pointsReversed: 0, pointsUnrecovered: 0 });
    expect(await kinds(memberId)).toEqual({ EARN: 80, ADJUST: 50, EXPIRE: -80 });
    expect(await member(memberId)).toMatchObject({ availablePoints: 50, pendingPoints: 0 });
    await expectInvariants();
  });

  it('a cancel racing the release of the order’s pending lot: reversed from the lot once, released or not', async () => {
    for (let round = 0; round < 3; round += 1) {
      const memberId = await app.enroll({ enrolledAt: addDays(NOW, -40) });
      await earn(memberId, addDays(NOW, -15), '70.00', 'ORD'); // due for release at NOW
      const results = (
        await Promise.allSettled([
          runPointsMaintenance(at(NOW), { passive: false }),
          cancelOrder(at(NOW), { memberId, orderReference: 'ORD', idempotencyKey: 'cancel' }, storefront),
        ])
      ).map(outcomeOf);
      expect(results[1]).toMatchObject({ pointsReversed: 70, pointsUnrecovered: 0 });
      expect(await member(memberId)).toMatchObject({ availablePoints: 0, pendingPoints: 0 });
      const lot = await prisma.pointLot.findFirstOrThrow({ where: { memberId } });
      expect([lot.remaining, lot.releasedAt !== null]).toEqual([0, true]);
      await expectInvariants();
    }
  });

  it('a partial return held behind the member lock while the order’s lot expires: what expired is not taken twice', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    const order = {
      reference: 'ORD',
      total: { amount: '100.00', currency: 'EUR' },
      lines: [{ sku: 'A', quantity: 2, unitPrice: '50.00' }],
    };
    await earnPoints(at(T0), { memberId, order, idempotencyKey: 'earn' }, storefront);
    await redeemPoints(at(addMonths(T0, 1)), { memberId, points: 30, idempotencyKey: 'spend' }, storefront); // 70 left in the lot
    await grant(memberId, addMonths(T0, 23), 200);
    const LATER = addDays(addMonths(T0, 24), 1);
    // The sweep expires the order's lot (70) while the return waits; the return then takes half the order: 50,
    // of which 30 were spent and 20 of the 70 expired already — the member owes 50 - 70 expired → nothing more.
    const [returned, swept] = await whileHolding(prisma, holdMember(memberId), () =>
      Promise.allSettled([
        returnOrderItems(
          at(LATER),
          { memberId, orderReference: 'ORD', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: 'ret' },
          storefront,
        ),
        runPointsMaintenance(at(LATER), { passive: false }),
      ]),
    );
    expect(outcomeOf(swept!)).toMatchObject({ membersSettled: 1 });
    expect(outcomeOf(returned!)).toMatchObject({ pointsReversed: 0, pointsUnrecovered: 0 });
    const rest = await returnOrderItems(
      at(LATER),
      { memberId, orderReference: 'ORD', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: 'ret-2' },
      storefront,
    );
    // All of it back: 100 earned = 70 expired + 30 spent, which the member pays now.
    expect(rest).toMatchObject({ pointsReversed: 30, pointsUnrecovered: 0 });
    expect(await kinds(memberId)).toEqual({ EARN: 100, REDEEM: -30, ADJUST: 200, EXPIRE: -70, REVERSAL: -30 });
    await expectInvariants();
  });
});

describe('one effect per key across the race', () => {
  it('the same cancel sent five times with one key, racing a return with another key and a sweep: one take-back, one answer', async () => {
    const memberId = await app.enroll({ enrolledAt: addDays(NOW, -40) });
    const order = { reference: 'ORD', total: { amount: '90.00', currency: 'EUR' }, lines: [{ sku: 'A', quantity: 3, unitPrice: '30.00' }] };
    await earnPoints(at(addDays(NOW, -15)), { memberId, order, idempotencyKey: 'earn' }, storefront);
    const results = await Promise.allSettled([
      ...Array.from({ length: 5 }, () => cancelOrder(at(NOW), { memberId, orderReference: 'ORD', idempotencyKey: 'cancel' }, storefront)),
      returnOrderItems(at(NOW), { memberId, orderReference: 'ORD', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: 'ret' }, storefront),
      runPointsMaintenance(at(NOW), { passive: false }),
    ]);
    const cancels = results.slice(0, 5).map(outcomeOf) as { returnId: string; replayed: boolean }[];
    expect(new Set(cancels.map((c) => c.returnId)).size).toBe(1);
    expect(cancels.filter((c) => !c.replayed)).toHaveLength(1);
    // The return went first (30 back) or found the order cancelled (a typed refusal).
    const returned = outcomeOf(results[5]!);
    expect(typeof returned === 'string' ? returned : 'RETURNED').toMatch(/^(VALIDATION|RETURNED)$/);
    expect(await prisma.orderReturn.count()).toBe(typeof returned === 'string' ? 1 : 2);
    expect(await kinds(memberId)).toEqual({ EARN: 90, REVERSAL: -90 });
    await expectInvariants();
  });
});

describe('spends racing each other and the sweep', () => {
  it('a redemption racing the expiry sweep: expired points are never spent', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    await grant(memberId, T0, 100);
    await grant(memberId, addMonths(T0, 24), 30);
    const LATER = addDays(addMonths(T0, 24), 1);
    const [redeemed] = (
      await Promise.allSettled([
        redeemPoints(at(LATER), { memberId, points: 100, idempotencyKey: 'redeem' }, storefront),
        runPointsMaintenance(at(LATER), { passive: false }),
      ])
    ).map(outcomeOf);
    expect(redeemed).toBe('INSUFFICIENT_POINTS');
    expect(await kinds(memberId)).toEqual({ ADJUST: 130, EXPIRE: -100 });
    await expectInvariants();
  });

  it('a negative adjustment racing a redemption of the last points: one takes them, the other is InsufficientPointsError', async () => {
    for (let round = 0; round < 4; round += 1) {
      const memberId = await app.enroll({ enrolledAt: addDays(NOW, -2) });
      await grant(memberId, addDays(NOW, -1), 100);
      const results = (
        await Promise.allSettled([
          adjustPoints(at(NOW), { memberId, points: -100, reason: 'correction', idempotencyKey: 'debit' }, admin),
          redeemPoints(at(NOW), { memberId, points: 100, idempotencyKey: 'redeem' }, storefront),
        ])
      ).map(outcomeOf);
      expect(results.filter((r) => r === 'INSUFFICIENT_POINTS')).toHaveLength(1);
      expect(await member(memberId)).toMatchObject({ availablePoints: 0, pendingPoints: 0 });
      await expectInvariants();
    }
  });

  it('a reward purchase racing a redemption of the last points: one spends them; a refused purchase takes no stock and issues no voucher', async () => {
    const reward = await createReward(at(NOW), { name: 'Five off', pointsCost: 500, voucherValue: '5.00', stock: 3 }, admin);
    let stockTaken = 0;
    for (let round = 0; round < 4; round += 1) {
      const memberId = await app.enroll({ enrolledAt: addDays(NOW, -2) });
      await grant(memberId, addDays(NOW, -1), 500);
      const [bought, redeemed] = (
        await Promise.allSettled([
          redeemReward(at(NOW), { memberId, rewardId: reward.id, idempotencyKey: 'buy' }, storefront),
          redeemPoints(at(NOW), { memberId, points: 500, idempotencyKey: 'redeem' }, storefront),
        ])
      ).map(outcomeOf);
      const refused = [bought, redeemed].filter((r) => typeof r === 'string');
      expect(refused).toHaveLength(1);
      // Out of stock after three purchases: the refusal is typed all the same.
      expect(['INSUFFICIENT_POINTS', 'REWARD_UNAVAILABLE']).toContain(refused[0]);
      if (typeof bought !== 'string') stockTaken += 1;
      const vouchers = await prisma.voucher.count({ where: { memberId } });
      expect(vouchers).toBe(typeof bought === 'string' ? 0 : 1);
      await expectInvariants();
    }
    expect((await prisma.reward.findUniqueOrThrow({ where: { id: reward.id } })).stock).toBe(3 - stockTaken);
    expect(await prisma.rewardRedemption.count()).toBe(stockTaken);
  });
});

describe('a status change racing what moves value for the member', () => {
  const agent = staffCaller('AGENT', 'agent-7');
  // Another agent: one agent's gestures take turns on the agent's authority row before the member's.
  const colleague = staffCaller('AGENT', 'agent-8');
  const supervisor = staffCaller('SUPERVISOR', 'supervisor-1');

  /** A member with 300 available points, an order ORD paid with 100 of them, and a failure waiting for its job. */
  async function busyMember() {
    const memberId = await app.enroll({ enrolledAt: addDays(NOW, -30) });
    await grant(memberId, addDays(NOW, -20), 300);
    await redeemPoints(at(addDays(NOW, -10)), { memberId, points: 100, orderReference: 'ORD', idempotencyKey: 'pay' }, storefront);
    const { failureId } = await reportServiceFailure(
      at(addDays(NOW, -1)),
      { memberId, type: 'LATE_DELIVERY', severity: 'MEDIUM', orderRef: 'ORD', idempotencyKey: 'fail' },
      storefront,
    );
    return { memberId, failureId };
  }

  /** Every way value moves to or from the member, each with its own key. */
  function everything(memberId: string, failureId: string) {
    return [
      earnPoints(at(NOW), { memberId, orderRef: 'NEW', orderTotal: '40.00', idempotencyKey: 'earn' }, storefront),
      redeemPoints(at(NOW), { memberId, points: 10, idempotencyKey: 'redeem' }, storefront),
      issueGoodwill(at(NOW), { memberId, kind: 'POINTS', points: 50, reason: 'LONG_WAIT', note: 'sorry', idempotencyKey: 'gw-p' }, agent),
      issueGoodwill(
        at(NOW),
        { memberId, kind: 'VOUCHER', amount: '5.00', reason: 'LONG_WAIT', note: 'sorry', idempotencyKey: 'gw-v' },
        colleague,
      ),
      adjustPoints(at(NOW), { memberId, points: 25, reason: 'credit', idempotencyKey: 'credit' }, admin),
      adjustPoints(at(NOW), { memberId, points: -5, reason: 'debit', idempotencyKey: 'debit' }, admin),
      cancelOrder(at(NOW), { memberId, orderReference: 'ORD', idempotencyKey: 'cancel' }, storefront),
      compensateServiceFailure(at(NOW), failureId),
    ] as Promise<unknown>[];
  }

  /** The status change queued first behind a held member row, then everything else behind it: the change commits first. */
  async function changeThenEverything(memberId: string, failureId: string, status: 'CLOSED' | 'SUSPENDED') {
    let rest: Promise<PromiseSettledResult<unknown>[]> | undefined;
    await whileHolding(prisma, holdMember(memberId), () => updateMember(at(NOW), { id: memberId, status }, supervisor), {
      meanwhile: async () => {
        rest = Promise.allSettled(everything(memberId, failureId));
        await untilWaitingForLocks(prisma, 9);
      },
    });
    return (await rest!).map(outcomeOf);
  }

  it('closed first: nothing reaches the member — no points, no voucher, no restore — and the debits still post', async () => {
    await createWebhookEndpoint(at(NOW), { url: 'https://crm.example.com/races', eventTypes: [...WEBHOOK_EVENT_TYPES] }, admin);
    const { memberId, failureId } = await busyMember();
    const eventsBefore = await prisma.webhookEvent.count();
    const [earned, redeemed, gesturePoints, gestureVoucher, credit, debit, cancelled, compensated] = await changeThenEverything(
      memberId,
      failureId,
      'CLOSED',
    );
    expect([earned, redeemed, gesturePoints, gestureVoucher, credit]).toEqual(Array(5).fill('VALIDATION'));
    expect(debit).toMatchObject({ points: -5 });
    expect(cancelled).toMatchObject({ pointsRestored: 0 });
    expect(compensated).toMatchObject({ outcome: 'NOT_ELIGIBLE' });
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(0);
    expect(await kinds(memberId)).toEqual({ ADJUST: 295, REDEEM: -100 });
    expect(await member(memberId)).toMatchObject({ status: 'CLOSED', availablePoints: 195, pendingPoints: 0 });
    // Events only of what committed: the status change and the cancel.
    const events = await prisma.webhookEvent.findMany({ where: { createdAt: { gte: NOW } }, select: { type: true } });
    expect(events.map((e) => e.type).sort()).toEqual(['member.status_changed', 'order.cancelled']);
    expect(await prisma.webhookEvent.count()).toBe(eventsBefore + 2);
    await expectInvariants();
  });

  it('suspended first: earn, spend and goodwill refused, the compensation held, an admin credit and the restore go ahead', async () => {
    const { memberId, failureId } = await busyMember();
    const [earned, redeemed, gesturePoints, gestureVoucher, credit, debit, cancelled, compensated] = await changeThenEverything(
      memberId,
      failureId,
      'SUSPENDED',
    );
    expect([earned, redeemed, gesturePoints, gestureVoucher]).toEqual(Array(4).fill('VALIDATION'));
    expect(credit).toMatchObject({ points: 25 });
    expect(debit).toMatchObject({ points: -5 });
    expect(cancelled).toMatchObject({ pointsRestored: 100 });
    expect(compensated).toMatchObject({ outcome: 'HELD' });
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(0);
    expect(await member(memberId)).toMatchObject({ status: 'SUSPENDED', availablePoints: 320 });
    await expectInvariants();
  });

  it('everything queued before the close, in whatever order the lock grants them: each grant lands before the close or is refused, typed', async () => {
    const { memberId, failureId } = await busyMember();
    // Everything queues behind a held member row, the close last; PostgreSQL does not grant a row lock first come,
    // first served (each write makes a new row version the waiters race for), so any of them may follow the close.
    let closing: Promise<unknown> | undefined;
    const settled = await whileHolding(prisma, holdMember(memberId), () => Promise.allSettled(everything(memberId, failureId)), {
      meanwhile: async () => {
        await untilWaitingForLocks(prisma, 8);
        closing = updateMember(at(NOW), { id: memberId, status: 'CLOSED' }, supervisor);
        await untilWaitingForLocks(prisma, 9);
      },
    });
    expect(((await closing) as { status: string }).status).toBe('CLOSED');
    const [earned, redeemed, gesturePoints, gestureVoucher, credit, debit, cancelled, compensated] = settled.map(outcomeOf);
    // Refused only as a closed member is: VALIDATION; the debit and the cancel always go ahead.
    for (const grant of [earned, redeemed, gesturePoints, gestureVoucher, credit])
      expect(['VALIDATION', 'object']).toContain(typeof grant === 'string' ? grant : 'object');
    expect(debit).toMatchObject({ points: -5 });
    expect(typeof cancelled).toBe('object');
    expect(['COMPENSATED', 'NOT_ELIGIBLE']).toContain((compensated as { outcome: string }).outcome);
    // Vouchers: exactly those of the grants that went ahead.
    const vouchersGranted =
      Number(typeof gestureVoucher !== 'string') + Number((compensated as { outcome: string }).outcome === 'COMPENSATED');
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(vouchersGranted);
    // Nothing is left waiting for a grant to a closed member.
    expect(await prisma.serviceFailure.count({ where: { memberId, status: { in: ['RECORDED', 'HELD', 'NEEDS_REVIEW'] } } })).toBe(0);
    await expectInvariants();
  });
});
