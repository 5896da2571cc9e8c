import { describe, expect, it } from 'vitest';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { earnPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { hadRecentServiceFailure, qualifyingPoints, reviewTiers, tierProgress } from '../../src/domain/tiers/tiers.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** Service deps whose clock we can move. */
function at(date: Date) {
  return { prisma, logger: testLogger, now: () => date };
}

const { prisma, app } = useTestApp();

const T0 = new Date('2026-01-10T10:00:00.000Z');
let orders = 0;

async function earn(memberId: string, when: Date, orderTotal: string) {
  orders += 1;
  return earnPoints(at(when), { memberId, orderRef: `o-${orders}`, orderTotal, idempotencyKey: `e-${orders}` }, storefront);
}

async function memberRow(memberId: string) {
  return prisma.member.findUniqueOrThrow({ where: { id: memberId } });
}

async function history(memberId: string) {
  const changes = await prisma.tierChange.findMany({ where: { memberId }, orderBy: { createdAt: 'asc' } });
  // A bigint column (qualifying points pass 2^31 − 1 with lifetime points): as the number the domain uses.
  return changes.map((change) => ({ ...change, qualifyingPoints: Number(change.qualifyingPoints) }));
}

const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename
  ... on EarnPointsPayload {
    points
    member {
      tier { key name }
      tierProgress { current { key } next { key threshold } qualifyingPoints pointsToNext reviewAt }
      tierHistory(first: 5) { edges { node { fromTierKey toTier { key name } reason qualifyingPoints } } }
    }
  }
} }`;

describe('upgrades', () => {
  it('crossing a threshold upgrades in the same request, and the next earn uses the new multiplier', async () => {
    const key = await app.apiKeyToken(['points:earn', 'members:read']);
    const memberId = await app.enroll();
    const earnOver = (orderRef: string, orderTotal: string) =>
      app.gql(EARN, { i: { memberId, orderRef, orderTotal, idempotencyKey: orderRef } }, key);

    const below = await earnOver('o-1', '999.00');
    expect(below.data?.earnPoints).toMatchObject({
      points: 999,
      member: {
        tier: { key: 'BRONZE', name: 'Bronze' },
        tierProgress: { qualifyingPoints: 999, pointsToNext: 1, next: { key: 'SILVER' } },
      },
    });

    const crossing = await earnOver('o-2', '1.00');
    expect(crossing.errors).toBeUndefined();
    const member = crossing.data?.earnPoints.member;
    expect(crossing.data?.earnPoints.points).toBe(1);
    expect(member.tier).toEqual({ key: 'SILVER', name: 'Silver' });
    expect(member.tierProgress).toMatchObject({
      current: { key: 'SILVER' },
      next: { key: 'GOLD', threshold: 5000 },
      qualifyingPoints: 1000,
      pointsToNext: 4000,
    });
    const since = (await memberRow(memberId)).tierSince;
    expect(member.tierProgress.reviewAt).toBe(addMonths(since, 12).toISOString());
    expect(member.tierHistory.edges.map((e: any) => e.node)).toEqual([
      { fromTierKey: 'BRONZE', toTier: { key: 'SILVER', name: 'Silver' }, reason: 'UPGRADE', qualifyingPoints: 1000 },
    ]);

    const next = await earnOver('o-3', '100.00');
    expect(next.data?.earnPoints).toMatchObject({ points: 125, member: { tier: { key: 'SILVER' } } });
  });

  it('jumps several levels at once, with one history row', async () => {
    const memberId = await app.enroll();
    const first = await earn(memberId, T0, '15000.00');
    expect(first.points).toBe(15000);
    expect((await memberRow(memberId)).tier).toBe('PLATINUM');
    expect(await history(memberId)).toMatchObject([{ fromTier: 'BRONZE', toTier: 'PLATINUM', reason: 'UPGRADE', qualifyingPoints: 15000 }]);
    expect((await earn(memberId, addDays(T0, 1), '100.00')).points).toBe(200);
    expect(await history(memberId)).toHaveLength(1);
  });

  it('racing earns that cross a threshold together upgrade exactly once', async () => {
    const memberId = await app.enroll();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        earnPoints(at(T0), { memberId, orderRef: `race-${i}`, orderTotal: '100.00', idempotencyKey: `race-${i}` }, storefront),
      ),
    );
    // Serialised on the member lock: the earns after the upgrade get ×1.25.
    const total = results.reduce((sum, r) => sum + r.points, 0);
    expect(total).toBe(1000 + 2 * 125);
    expect((await memberRow(memberId)).tier).toBe('SILVER');
    expect(await history(memberId)).toMatchObject([{ fromTier: 'BRONZE', toTier: 'SILVER', reason: 'UPGRADE' }]);
  });

  it('a replayed earn does not upgrade twice', async () => {
    const memberId = await app.enroll();
    const input = { memberId, orderRef: 'big', orderTotal: '1000.00', idempotencyKey: 'big-1' };
    await earnPoints(at(T0), input, storefront);
    const replay = await earnPoints(at(T0), input, storefront);
    expect(replay.replayed).toBe(true);
    expect(await history(memberId)).toHaveLength(1);
  });

  it('qualifying points count only the rolling window', async () => {
    const memberId = await app.enroll();
    await earn(memberId, T0, '600.00');
    // 13 months later the first 600 no longer count: 600 + 600 is not SILVER.
    await earn(memberId, addMonths(T0, 13), '600.00');
    expect((await memberRow(memberId)).tier).toBe('BRONZE');
    expect(await qualifyingPoints(prisma, memberId, DEFAULT_PROGRAM_SETTINGS, addMonths(T0, 13))).toBe(600);
    await earn(memberId, addMonths(T0, 14), '400.00');
    expect((await memberRow(memberId)).tier).toBe('SILVER');
  });

  it('a refund lowers qualifying points but never downgrades before the anniversary', async () => {
    const memberId = await app.enroll();
    await earn(memberId, T0, '1000.00');
    await refundOrder(at(addDays(T0, 2)), { memberId, orderRef: `o-${orders}`, idempotencyKey: 'rf' }, storefront);
    expect((await memberRow(memberId)).tier).toBe('SILVER');
    expect(await qualifyingPoints(prisma, memberId, DEFAULT_PROGRAM_SETTINGS, addDays(T0, 2))).toBe(0);
    expect((await reviewTiers(at(addMonths(T0, 6)))).membersReviewed).toBe(0);
    expect((await memberRow(memberId)).tier).toBe('SILVER');
  });
});

describe('anniversary review', () => {
  it('downgrades only at the anniversary, one level at a time', async () => {
    const memberId = await app.enroll();
    await earn(memberId, T0, '5000.00');
    expect((await memberRow(memberId)).tier).toBe('GOLD');

    expect(await reviewTiers(at(addMonths(T0, 11)))).toMatchObject({ membersReviewed: 0 });
    expect((await memberRow(memberId)).tier).toBe('GOLD');

    const firstReview = addDays(addMonths(T0, 12), 1);
    const report = await runPointsMaintenance(at(firstReview));
    expect(report.tierReview).toEqual({
      membersReviewed: 1,
      membersDowngraded: 1,
      membersRetained: 0,
      membersProtected: 0,
    });
    let member = await memberRow(memberId);
    expect(member.tier).toBe('SILVER');
    expect(member.tierSince.toISOString()).toBe(firstReview.toISOString());
    expect((await reviewTiers(at(firstReview))).membersReviewed).toBe(0);
    expect((await reviewTiers(at(addMonths(firstReview, 6)))).membersReviewed).toBe(0);

    const secondReview = addDays(addMonths(firstReview, 12), 1);
    expect((await reviewTiers(at(secondReview))).membersDowngraded).toBe(1);
    member = await memberRow(memberId);
    expect(member.tier).toBe('BRONZE');
    expect((await reviewTiers(at(addMonths(secondReview, 24)))).membersReviewed).toBe(0);

    expect(await history(memberId)).toMatchObject([
      { fromTier: 'BRONZE', toTier: 'GOLD', reason: 'UPGRADE' },
      { fromTier: 'GOLD', toTier: 'SILVER', reason: 'DOWNGRADE', qualifyingPoints: 0 },
      { fromTier: 'SILVER', toTier: 'BRONZE', reason: 'DOWNGRADE', qualifyingPoints: 0 },
    ]);
  });

  it('keeps the tier (RETAINED) when the qualifying points still reach it, and reviews again in 12 months', async () => {
    const memberId = await app.enroll();
    await earn(memberId, T0, '5000.00');
    // At GOLD ×1.5: 4000.00 → 6000 points, inside the window of the first review.
    expect((await earn(memberId, addMonths(T0, 6), '4000.00')).points).toBe(6000);

    const review = addDays(addMonths(T0, 12), 1);
    expect(await reviewTiers(at(review))).toMatchObject({ membersReviewed: 1, membersRetained: 1 });
    const member = await memberRow(memberId);
    expect(member.tier).toBe('GOLD');
    expect(member.tierSince.toISOString()).toBe(review.toISOString());
    expect((await history(memberId)).at(-1)).toMatchObject({
      fromTier: 'GOLD',
      toTier: 'GOLD',
      reason: 'RETAINED',
      qualifyingPoints: 6000,
    });
    expect(tierProgress(member, DEFAULT_PROGRAM_SETTINGS, 6000).reviewAt?.toISOString()).toBe(addMonths(review, 12).toISOString());
  });

  it('tier protection: a service failure in the 90 days before the review keeps the tier (PROTECTED)', async () => {
    const protectedId = await app.enroll();
    const unluckyId = await app.enroll();
    await earn(protectedId, T0, '5000.00');
    await earn(unluckyId, T0, '5000.00');
    const review = addDays(addMonths(T0, 12), 1);
    const failure = (memberId: string, occurredAt: Date, orderRef: string) =>
      prisma.serviceFailure.create({
        data: {
          memberId,
          type: 'LATE_DELIVERY',
          severity: 'MEDIUM',
          occurredAt,
          orderRef,
          reporterType: 'API_KEY',
          reporterId: 'shop',
        },
      });
    await failure(protectedId, addDays(review, -30), 'late-1');
    await failure(unluckyId, addDays(review, -91), 'late-2'); // outside the protection window

    expect(await reviewTiers(at(review))).toMatchObject({
      membersReviewed: 2,
      membersProtected: 1,
      membersDowngraded: 1,
    });
    expect((await memberRow(protectedId)).tier).toBe('GOLD');
    expect((await history(protectedId)).at(-1)).toMatchObject({ toTier: 'GOLD', reason: 'PROTECTED' });
    expect((await memberRow(unluckyId)).tier).toBe('SILVER');
  });

  it('counts a failure inside the window, whatever its status, and not one after `until`', async () => {
    const memberId = await app.enroll();
    await prisma.serviceFailure.create({
      data: {
        memberId,
        type: 'OUTAGE',
        severity: 'HIGH',
        occurredAt: T0,
        reporterType: 'SYSTEM',
        reporterId: 'monitor',
        status: 'NOT_ELIGIBLE',
      },
    });
    expect(await hadRecentServiceFailure(prisma, memberId, addDays(T0, -1))).toBe(true);
    expect(await hadRecentServiceFailure(prisma, memberId, addDays(T0, 1))).toBe(false);
    expect(await hadRecentServiceFailure(prisma, memberId, addDays(T0, -2), addDays(T0, -1))).toBe(false);
  });
});

describe('tierProgress', () => {
  it('shows the next tier, the points to go, and no review for the lowest tier', () => {
    const since = new Date('2026-03-31T00:00:00.000Z');
    expect(tierProgress({ tier: 'BRONZE', tierSince: since }, DEFAULT_PROGRAM_SETTINGS, 250)).toMatchObject({
      current: { key: 'BRONZE', position: 1, threshold: 0 },
      next: { key: 'SILVER', position: 2, threshold: 1000 },
      pointsToNext: 750,
      reviewAt: null,
    });
    expect(tierProgress({ tier: 'PLATINUM', tierSince: since }, DEFAULT_PROGRAM_SETTINGS, 20000)).toMatchObject({
      current: { key: 'PLATINUM', position: 4, multiplier: 2 },
      next: null,
      pointsToNext: null,
      reviewAt: new Date('2027-03-31T00:00:00.000Z'),
    });
  });
});
