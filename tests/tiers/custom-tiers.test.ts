import { describe, expect, it } from 'vitest';
import { createEarningRule, retireEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { ValidationError } from '../../src/domain/errors.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { updateProgram, type TierPatch } from '../../src/domain/program/program.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { reviewTiers } from '../../src/domain/tiers/tiers.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * Tiers are program data: the same rules (upgrade at once, possibly several
 * levels; anniversary review one level down; protection after a service
 * failure) hold for a program of 3 and one of 6 tiers with keys of their own.
 */
const { prisma, app } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const admin = staffCaller('ADMIN');
const T0 = new Date('2026-01-10T10:00:00.000Z');
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });
let orders = 0;

const THREE: TierPatch[] = [
  { key: 'STANDARD', name: 'Standard', threshold: 0, multiplier: 1, compensationFactor: 1 },
  { key: 'PLUS', name: 'Plus', threshold: 500, multiplier: 1.5, compensationFactor: 1.25 },
  { key: 'PREMIUM', name: 'Premium', threshold: 2000, multiplier: 2, compensationFactor: 2, benefits: 'Free shipping.' },
];
const SIX: TierPatch[] = ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'].map((key, i) => ({
  key,
  name: `Level ${i + 1}`,
  threshold: [0, 100, 500, 1000, 2000, 5000][i]!,
  multiplier: 1 + i * 0.1,
  compensationFactor: 1,
}));

async function useTiers(tiers: TierPatch[]): Promise<void> {
  await updateProgram(app.deps, { patch: { tiers } }, admin);
}
async function earn(memberId: string, when: Date, orderTotal: string) {
  orders += 1;
  return earnPoints(at(when), { memberId, orderRef: `c-${orders}`, orderTotal, idempotencyKey: `c-${orders}` }, storefront);
}
const tierOf = async (memberId: string) => (await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).tier;
const history = (memberId: string) =>
  prisma.tierChange.findMany({
    where: { memberId },
    orderBy: { createdAt: 'asc' },
    select: { fromTier: true, toTier: true, reason: true },
  });

describe('a program of 3 tiers of its own', () => {
  it('lists them lowest first, starts members in the lowest, upgrades at once with the new multiplier next', async () => {
    await useTiers(THREE);
    expect(await prisma.programTier.findMany({ orderBy: { position: 'asc' }, select: { key: true, position: true } })).toEqual([
      { key: 'STANDARD', position: 1 },
      { key: 'PLUS', position: 2 },
      { key: 'PREMIUM', position: 3 },
    ]);
    const memberId = await app.enroll();
    const token = await app.memberToken(memberId);
    expect(await tierOf(memberId)).toBe('STANDARD');

    expect((await earn(memberId, T0, '499.00')).points).toBe(499);
    expect((await earn(memberId, T0, '1.00')).points).toBe(1);
    expect(await tierOf(memberId)).toBe('PLUS');
    expect((await earn(memberId, addDays(T0, 1), '100.00')).points).toBe(150);

    const me = await app.gql(
      `{ tiers { key name position benefits } me { tier { key name position }
         tierProgress { current { key } next { key name threshold } pointsToNext } } }`,
      {},
      token,
    );
    expect(me.errors).toBeUndefined();
    expect(me.data?.tiers.map((t: any) => `${t.position}:${t.key}`)).toEqual(['1:STANDARD', '2:PLUS', '3:PREMIUM']);
    expect(me.data?.tiers[2].benefits).toBe('Free shipping.');
    expect(me.data?.me).toEqual({
      tier: { key: 'PLUS', name: 'Plus', position: 2 },
      tierProgress: { current: { key: 'PLUS' }, next: { key: 'PREMIUM', name: 'Premium', threshold: 2000 }, pointsToNext: 1350 },
    });
  });

  it('reviews one level down at the anniversary, keeps a tier that is reached, and protects after a failure', async () => {
    await useTiers(THREE);
    const falling = await app.enroll();
    const kept = await app.enroll();
    const shielded = await app.enroll();
    for (const memberId of [falling, kept, shielded]) await earn(memberId, T0, '2000.00');
    expect(await tierOf(falling)).toBe('PREMIUM');
    await earn(kept, addMonths(T0, 6), '1000.00'); // × 2 = 2000 in the window of the review
    const review = addDays(addMonths(T0, 12), 1);
    await prisma.serviceFailure.create({
      data: {
        memberId: shielded,
        type: 'LATE_DELIVERY',
        severity: 'LOW',
        occurredAt: addDays(review, -10),
        reporterType: 'API_KEY',
        reporterId: 'shop',
      },
    });

    expect(await reviewTiers(at(review))).toEqual({ membersReviewed: 3, membersDowngraded: 1, membersRetained: 1, membersProtected: 1 });
    expect([await tierOf(falling), await tierOf(kept), await tierOf(shielded)]).toEqual(['PLUS', 'PREMIUM', 'PREMIUM']);
    const second = addDays(addMonths(review, 12), 1);
    await reviewTiers(at(second));
    expect(await tierOf(falling)).toBe('STANDARD');
    // The lowest tier is never reviewed.
    expect((await reviewTiers(at(addMonths(second, 13)))).membersDowngraded).toBe(2);
    expect(await history(falling)).toEqual([
      { fromTier: 'STANDARD', toTier: 'PREMIUM', reason: 'UPGRADE' },
      { fromTier: 'PREMIUM', toTier: 'PLUS', reason: 'DOWNGRADE' },
      { fromTier: 'PLUS', toTier: 'STANDARD', reason: 'DOWNGRADE' },
    ]);
  });

  it('refuses to remove a tier members hold, saying how many; the database refuses it too', async () => {
    await useTiers(THREE);
    const a = await app.enroll();
    const b = await app.enroll();
    await earn(a, T0, '600.00');
    await earn(b, T0, '700.00');
    const without = updateProgram(app.deps, { patch: { tiers: [THREE[0]!, THREE[2]!] } }, admin);
    await expect(without).rejects.toBeInstanceOf(ValidationError);
    await expect(without).rejects.toMatchObject({ field: 'tiers', message: expect.stringContaining('PLUS by 2 members') });
    expect((await prisma.programTier.findMany()).map((t) => t.key).sort()).toEqual(['PLUS', 'PREMIUM', 'STANDARD']);
    await expect(prisma.programTier.delete({ where: { key: 'PLUS' } })).rejects.toThrow();
    await expect(prisma.member.update({ where: { id: a }, data: { tier: 'GOLD' } })).rejects.toThrow();
    // Renaming and re-ordering thresholds of the tiers they hold is fine.
    await updateProgram(app.deps, { patch: { tiers: [{ key: 'STANDARD' }, { key: 'PLUS', name: 'Plus+' }, { key: 'PREMIUM' }] } }, admin);
    expect((await prisma.programTier.findUniqueOrThrow({ where: { key: 'PLUS' } })).name).toBe('Plus+');
  });

  it('refuses to remove a tier an earning rule in force names, until the rule is retired', async () => {
    await useTiers(THREE);
    const bonus = { effect: { orderBonus: { points: 50 } }, conditions: { tierKeys: ['PLUS'] } };
    const rule = await createEarningRule(app.deps, { name: 'Plus bonus', ...bonus }, admin);
    const without = updateProgram(app.deps, { patch: { tiers: [THREE[0]!, THREE[2]!] } }, admin);
    await expect(without).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'tiers',
      message: expect.stringContaining('PLUS by "Plus bonus"'),
    });
    expect((await prisma.programTier.findMany()).map((t) => t.key).sort()).toEqual(['PLUS', 'PREMIUM', 'STANDARD']);
    await retireEarningRule(app.deps, { id: rule.id }, admin);
    await updateProgram(app.deps, { patch: { tiers: [THREE[0]!, THREE[2]!] } }, admin);
    expect((await prisma.programTier.findMany()).map((t) => t.key).sort()).toEqual(['PREMIUM', 'STANDARD']);
  });

  it('a rule naming a tier and the removal of that tier, raced, never leave a rule in force naming no tier', async () => {
    for (let round = 0; round < 6; round++) {
      await useTiers(THREE);
      const outcomes = await Promise.allSettled([
        createEarningRule(
          app.deps,
          { name: `Plus ${round}`, effect: { orderBonus: { points: 5 } }, conditions: { tierKeys: ['PLUS'] } },
          admin,
        ),
        updateProgram(app.deps, { patch: { tiers: [THREE[0]!, THREE[2]!] } }, admin),
      ]);
      // Exactly one of the two wins: the rule (and PLUS stays) or the removal (and the rule is refused).
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const tiers = (await prisma.programTier.findMany()).map((t) => t.key);
      const live = await prisma.earningRule.findMany({ where: { retiredAt: null } });
      for (const r of live) for (const key of r.tierKeys) expect(tiers).toContain(key);
      for (const r of live) await retireEarningRule(app.deps, { id: r.id }, admin);
    }
  });
});

describe('a program of 6 tiers', () => {
  it('upgrades several levels at once and reviews one level at a time, year by year', async () => {
    await useTiers(SIX);
    const memberId = await app.enroll();
    await earn(memberId, T0, '600.00');
    expect(await tierOf(memberId)).toBe('T3');
    expect((await earn(memberId, addDays(T0, 1), '100.00')).points).toBe(120); // T3 × 1.2
    await earn(memberId, addDays(T0, 2), '5000.00');
    expect(await tierOf(memberId)).toBe('T6');

    let when = addDays(T0, 2);
    const seen: string[] = [];
    for (let year = 1; year <= 5; year++) {
      when = addDays(addMonths(when, 12), 1);
      await reviewTiers(at(when));
      seen.push(await tierOf(memberId));
    }
    expect(seen).toEqual(['T5', 'T4', 'T3', 'T2', 'T1']);
    expect((await history(memberId)).map((h) => `${h.fromTier}>${h.toTier}:${h.reason}`)).toEqual([
      'T1>T3:UPGRADE',
      'T3>T6:UPGRADE',
      'T6>T5:DOWNGRADE',
      'T5>T4:DOWNGRADE',
      'T4>T3:DOWNGRADE',
      'T3>T2:DOWNGRADE',
      'T2>T1:DOWNGRADE',
    ]);
  });

  it('protects at any level: a failure before the review keeps T4', async () => {
    await useTiers(SIX);
    const memberId = await app.enroll();
    await earn(memberId, T0, '1000.00');
    expect(await tierOf(memberId)).toBe('T4');
    const review = addDays(addMonths(T0, 12), 1);
    await prisma.serviceFailure.create({
      data: { memberId, type: 'OUTAGE', severity: 'HIGH', occurredAt: addDays(review, -5), reporterType: 'SYSTEM', reporterId: 'monitor' },
    });
    expect(await reviewTiers(at(review))).toMatchObject({ membersProtected: 1, membersDowngraded: 0 });
    expect(await tierOf(memberId)).toBe('T4');
  });
});

describe('TierChange is a Node', () => {
  it('refetches through node(id) for its member and staff; another member gets null', async () => {
    const memberId = await app.enroll();
    await earn(memberId, T0, '1000.00');
    const own = await app.memberToken(memberId);
    const listed = await app.gql('{ me { tierHistory(first: 1) { edges { node { id fromTierKey toTier { key } } } } } }', {}, own);
    const change = listed.data?.me.tierHistory.edges[0].node;
    expect(change).toMatchObject({ fromTierKey: 'BRONZE', toTier: { key: 'SILVER' } });
    const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on TierChange { fromTierKey toTierKey reason } } }`;
    for (const token of [own, await app.staffToken('AGENT')]) {
      const refetched = await app.gql(NODE, { id: change.id }, token);
      expect(refetched.data?.node).toEqual({
        __typename: 'TierChange',
        id: change.id,
        fromTierKey: 'BRONZE',
        toTierKey: 'SILVER',
        reason: 'UPGRADE',
      });
    }
    const other = await app.gql(NODE, { id: change.id }, await app.memberToken(await app.enroll()));
    expect(other.data?.node ?? null).toBeNull();
  });
});
