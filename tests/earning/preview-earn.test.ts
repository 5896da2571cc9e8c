import { describe, expect, it } from 'vitest';
import { createEarningRule, retireEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { cancelOrder } from '../../src/domain/orders/orders.service.js';
import { adjustPoints, earnPoints, previewEarn, redeemPoints, type EarnPointsInput } from '../../src/domain/points/points.service.js';
import type { OrderInput } from '../../src/domain/orders/order-lines.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { refusalOf } from '../support/refusals.js';

const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'preview-admin');
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const at = (iso: string) => ({ prisma, logger: testLogger, now: () => new Date(iso) });

const FRIDAY = '2026-12-04T12:00:00.000Z';
const SATURDAY = '2026-12-05T00:00:00.000Z';
const LAST_WEEKEND_MS = '2026-12-06T23:59:59.999Z';
const MONDAY = '2026-12-07T00:00:00.000Z';

/** The rules of docs/earning-rules.md's examples, created through the service. */
async function createRules() {
  const create = (input: Parameters<typeof createEarningRule>[1]) => createEarningRule(at('2026-11-01T00:00:00.000Z'), input, admin);
  await create({
    name: 'Double points weekend',
    startsAt: new Date(SATURDAY),
    endsAt: new Date(MONDAY),
    conditions: { excludeCategories: ['gift-card'] },
    effect: { lineMultiplier: { multiplier: '2' } },
  });
  await create({
    name: 'Gift cards earn nothing',
    conditions: { includeCategories: ['gift-card'] },
    effect: { lineMultiplier: { multiplier: '0' } },
  });
  await create({
    name: 'Gold shoes',
    conditions: { tierKeys: ['GOLD'], includeCategories: ['shoes'] },
    effect: { lineMultiplier: { multiplier: '3' } },
  });
  await create({
    name: 'Web bonus',
    conditions: { channels: ['web'], minOrderTotal: { amount: '50.00', currency: 'EUR' } },
    effect: { orderBonus: { points: 100 } },
  });
  await create({ name: 'Welcome', conditions: { firstOrderOnly: true }, effect: { orderBonus: { points: 250 } } });
  // Never applies: its window ended before any case.
  await create({
    name: 'Black Friday (over)',
    startsAt: new Date('2026-11-27T00:00:00.000Z'),
    endsAt: new Date('2026-11-28T00:00:00.000Z'),
    effect: { lineMultiplier: { multiplier: '5' } },
  });
}

const LINES = [
  { sku: 'SKU-SHOES', category: 'shoes', quantity: 2, unitPrice: '20.00' },
  { sku: 'SKU-GIFT', category: 'gift-card', quantity: 1, unitPrice: '25.00' },
  { sku: 'SKU-SOCKS', category: 'apparel', quantity: 1, unitPrice: '10.00' },
];
const order = (reference: string, total: string, channel: string | null): OrderInput => ({
  reference,
  total: { amount: total, currency: 'EUR' },
  channel,
  lines: LINES,
});

interface Case {
  name: string;
  tier: 'BRONZE' | 'SILVER' | 'GOLD';
  when: string;
  firstOrder: boolean;
  input: (reference: string) => Omit<EarnPointsInput, 'memberId' | 'idempotencyKey'>;
  /** Worked out by hand: points per order line, the bonuses, the total. */
  lines: number[];
  bonuses: string[];
  total: number;
}

const CASES: Case[] = [
  {
    // 40 + 0 (gift card) + 10, web bonus (75 ≥ 50), welcome.
    name: 'a first web order on a Friday, BRONZE',
    tier: 'BRONZE',
    when: FRIDAY,
    firstOrder: true,
    input: (ref) => ({ order: order(ref, '75.00', 'web') }),
    lines: [40, 0, 10],
    bonuses: ['Web bonus', 'Welcome'],
    total: 400,
  },
  {
    // GOLD × 1.5: shoes 60 × 3 (highest wins), gift 0, socks 15 × 2; web bonus.
    name: 'a GOLD web order as the weekend starts',
    tier: 'GOLD',
    when: SATURDAY,
    firstOrder: false,
    input: (ref) => ({ order: order(ref, '75.00', 'web') }),
    lines: [180, 0, 30],
    bonuses: ['Web bonus'],
    total: 310,
  },
  {
    // SILVER × 1.25: shoes 50 × 2, gift 0, socks 12.5 × 2 = 25; no bonus in the store.
    name: 'a SILVER store order on the weekend',
    tier: 'SILVER',
    when: SATURDAY,
    firstOrder: false,
    input: (ref) => ({ order: order(ref, '75.00', 'store') }),
    lines: [100, 0, 25],
    bonuses: [],
    total: 125,
  },
  {
    // 60.00 paid for 75.00 of goods: shares 32.00 / 20.00 / 8.00; web bonus (60 ≥ 50).
    name: 'a discounted order earns on the prorated shares',
    tier: 'BRONZE',
    when: FRIDAY,
    firstOrder: false,
    input: (ref) => ({ order: order(ref, '60.00', 'web') }),
    lines: [32, 0, 8],
    bonuses: ['Web bonus'],
    total: 140,
  },
  {
    name: 'the last millisecond of the weekend still doubles',
    tier: 'BRONZE',
    when: LAST_WEEKEND_MS,
    firstOrder: false,
    input: (ref) => ({ order: order(ref, '75.00', 'app') }),
    lines: [80, 0, 20],
    bonuses: [],
    total: 100,
  },
  {
    // The weekend ended at Monday 00:00 (exclusive).
    name: 'Monday: the weekend is over',
    tier: 'BRONZE',
    when: MONDAY,
    firstOrder: false,
    input: (ref) => ({ order: order(ref, '75.00', 'app') }),
    lines: [40, 0, 10],
    bonuses: [],
    total: 50,
  },
  {
    // The deprecated total-only form: one line, floor(49.99 × 1.5) = 74; no channel, no bonus.
    name: 'the total-only form earns as before',
    tier: 'GOLD',
    when: MONDAY,
    firstOrder: false,
    input: (ref) => ({ orderRef: ref, orderTotal: '49.99' }),
    lines: [74.985],
    bonuses: [],
    total: 74,
  },
  {
    // An order without lines is one line; first order: the welcome bonus.
    name: 'a first order without lines',
    tier: 'BRONZE',
    when: FRIDAY,
    firstOrder: true,
    input: (ref) => ({ order: { reference: ref, total: { amount: '12.34', currency: 'EUR' } } }),
    lines: [12.34],
    bonuses: ['Welcome'],
    total: 262,
  },
];

describe('previewEarn equals the real earn', () => {
  it.each(CASES)('$name', async (c) => {
    await createRules();
    const memberId = await app.enroll();
    if (c.tier !== 'BRONZE') await prisma.member.update({ where: { id: memberId }, data: { tier: c.tier } });
    const deps = at(c.when);
    if (!c.firstOrder) await earnPoints(deps, { memberId, orderRef: 'earlier', orderTotal: '1.00', idempotencyKey: 'earlier' }, shop);

    const input = { memberId, ...c.input('case') };
    const preview = await previewEarn(deps, input, shop);
    const earned = await earnPoints(deps, { ...input, idempotencyKey: 'case' }, shop);

    expect(preview.points).toBe(c.total);
    expect(earned.points).toBe(c.total);
    expect(preview.breakdown).toEqual(earned.breakdown);
    expect(preview.alreadyEarned).toBe(false);
    const orderLines = earned.breakdown.filter((l) => l.kind === 'ORDER_LINE');
    expect(orderLines.map((l) => Number(l.points))).toEqual(c.lines);
    // Bonuses of rules that start at the same moment come in id order (random ids): compare them as a set.
    expect(
      earned.breakdown
        .filter((l) => l.kind === 'ORDER_BONUS')
        .map((l) => l.ruleName)
        .sort(),
    ).toEqual([...c.bonuses].sort());
    // Preview after the earn: the same points, and it says the order has earned.
    expect(await previewEarn(deps, input, shop)).toMatchObject({ alreadyEarned: true });
    // A replay answers the same explanation.
    expect((await earnPoints(deps, { ...input, idempotencyKey: 'case' }, shop)).breakdown).toEqual(earned.breakdown);
  });

  it('writes nothing, and applies a rule change at once', async () => {
    await createRules();
    const memberId = await app.enroll();
    const deps = at(SATURDAY);
    const input = { memberId, order: order('p1', '75.00', 'web') };
    const before = await prisma.ledgerEntry.count();
    expect((await previewEarn(deps, input, shop)).points).toBe(100 + 100 + 250);
    expect(await prisma.ledgerEntry.count()).toBe(before);
    expect(await prisma.pointOrder.count()).toBe(0);
    const weekend = await prisma.earningRule.findFirstOrThrow({ where: { name: 'Double points weekend' } });
    await retireEarningRule(deps, { id: weekend.id }, admin);
    expect((await previewEarn(deps, input, shop)).points).toBe(50 + 100 + 250);
    expect((await earnPoints(deps, { ...input, idempotencyKey: 'p1' }, shop)).points).toBe(400);
  });

  it('refuses what earnPoints refuses: bad input, an explicit amount from a storefront', async () => {
    const memberId = await app.enroll();
    await expect(
      previewEarn(at(FRIDAY), { memberId, order: { ...order('x', '75.00', 'web'), total: { amount: '75', currency: 'USD' } } }, shop),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'order.total.currency' });
    await expect(previewEarn(at(FRIDAY), { memberId, order: order('x', '75.00', 'web'), points: 5 }, shop)).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('through GraphQL: EarnPointsPayload.breakdown and previewEarn explain the same lines', async () => {
    await createRules();
    // The GraphQL app runs on the real clock: without the dated weekend the answer does not depend on it.
    const weekend = await prisma.earningRule.findFirstOrThrow({ where: { name: 'Double points weekend' } });
    await retireEarningRule(at(FRIDAY), { id: weekend.id }, admin);
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'GOLD' } });
    await earnPoints(at(FRIDAY), { memberId, orderRef: 'earlier', orderTotal: '1.00', idempotencyKey: 'earlier' }, shop);
    const token = await app.apiKeyToken(['points:earn']);
    const line = 'kind sku amount { amount currency } basePoints multiplier excluded ruleName points explanation';
    const o = { reference: 'g1', total: { amount: '75.00', currency: 'EUR' }, channel: 'web', lines: LINES };
    const preview = await app.gql(
      `query($i: PreviewEarnInput!) { previewEarn(input: $i) { __typename ... on EarnPreview { points breakdown { ${line} } } } }`,
      { i: { memberId, order: o } },
      token,
    );
    const earned = await app.gql(
      `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points breakdown { ${line} } } } }`,
      { i: { memberId, order: o, idempotencyKey: 'g1' } },
      token,
    );
    expect(preview.errors).toBeUndefined();
    expect(earned.data!.earnPoints).toEqual({ ...preview.data!.previewEarn, __typename: 'EarnPointsPayload' });
    // GOLD: shoes × 3, gift card excluded, socks as they are, web bonus.
    expect(earned.data!.earnPoints.breakdown).toEqual([
      {
        kind: 'ORDER_LINE',
        sku: 'SKU-SHOES',
        amount: { amount: '40.00', currency: 'EUR' },
        basePoints: '60',
        multiplier: '3',
        excluded: false,
        ruleName: 'Gold shoes',
        points: '180',
        explanation: '40.00 EUR → 60 base × 3 (Gold shoes) = 180 points',
      },
      {
        kind: 'ORDER_LINE',
        sku: 'SKU-GIFT',
        amount: { amount: '25.00', currency: 'EUR' },
        basePoints: '37.5',
        multiplier: '0',
        excluded: true,
        ruleName: 'Gift cards earn nothing',
        points: '0',
        explanation: '25.00 EUR → 37.5 base, excluded by Gift cards earn nothing: 0 points',
      },
      {
        kind: 'ORDER_LINE',
        sku: 'SKU-SOCKS',
        amount: { amount: '10.00', currency: 'EUR' },
        basePoints: '15',
        multiplier: '1',
        excluded: false,
        ruleName: null,
        points: '15',
        explanation: '10.00 EUR → 15 base = 15 points',
      },
      {
        kind: 'ORDER_BONUS',
        sku: null,
        amount: null,
        basePoints: null,
        multiplier: null,
        excluded: false,
        ruleName: 'Web bonus',
        points: '100',
        explanation: '+100 points (Web bonus)',
      },
    ]);
    expect(earned.data!.earnPoints.points).toBe(295);
  });
});

describe('previewEarn refuses what earnPoints refuses, with the same error', () => {
  it('an order worth more points than one earn grants', async () => {
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    // 9 999 999 999.99 × 1 point × BRONZE 1.0: 9 999 999 999 points, past 2^31 − 1.
    const huge = { reference: 'huge', total: { amount: '9999999999.99', currency: 'EUR' } };
    const refused = await refusalOf(earnPoints(deps, { memberId, order: huge, idempotencyKey: 'huge' }, shop));
    expect(refused).toMatchObject({ code: 'VALIDATION', field: 'order.total.amount' });
    expect(await refusalOf(previewEarn(deps, { memberId, order: huge }, shop))).toEqual(refused);
  });

  it('an order that would take the member past the most a balance can hold', async () => {
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    await earnPoints(
      deps,
      { memberId, order: { reference: 'o-5', total: { amount: '5.00', currency: 'EUR' } }, idempotencyKey: 'o-5' },
      shop,
    );
    await adjustPoints(deps, { memberId, points: MAX_POINTS - 15, reason: 'near the limit', idempotencyKey: 'fill' }, admin);
    const o100 = { reference: 'o-100', total: { amount: '100.00', currency: 'EUR' } };
    const refused = await refusalOf(earnPoints(deps, { memberId, order: o100, idempotencyKey: 'o-100' }, shop));
    expect(refused).toMatchObject({ code: 'VALIDATION', field: 'order.total.amount' });
    expect(await refusalOf(previewEarn(deps, { memberId, order: o100 }, shop))).toEqual(refused);
    // An order that earned already is refused as such first, however many points it would earn now.
    const again = { reference: 'o-5', total: { amount: '100.00', currency: 'EUR' } };
    expect(await refusalOf(earnPoints(deps, { memberId, order: again, idempotencyKey: 'again' }, shop))).toMatchObject({
      field: 'order.reference',
      message: 'this order has already earned points',
    });
    expect(await previewEarn(deps, { memberId, order: again }, shop)).toMatchObject({ points: 100, alreadyEarned: true });
  });

  it('an order cancelled before it earned, or after', async () => {
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    await adjustPoints(deps, { memberId, points: 100, reason: 'starting balance', idempotencyKey: 'start' }, admin);
    // The redemption creates the order; the cancel makes it final (docs/orders.md: no further earn).
    await redeemPoints(deps, { memberId, points: 50, orderReference: 'o-c', idempotencyKey: 'r1' }, shop);
    await cancelOrder(deps, { memberId, orderReference: 'o-c', idempotencyKey: 'c1' }, shop);
    const unearned = { reference: 'o-c', total: { amount: '40.00', currency: 'EUR' } };
    const refused = await refusalOf(earnPoints(deps, { memberId, order: unearned, idempotencyKey: 'e1' }, shop));
    expect(refused).toEqual({ code: 'VALIDATION', field: 'order.reference', message: 'this order is cancelled' });
    expect(await refusalOf(previewEarn(deps, { memberId, order: unearned }, shop))).toEqual(refused);

    const earned = { reference: 'o-e', total: { amount: '40.00', currency: 'EUR' } };
    await earnPoints(deps, { memberId, order: earned, idempotencyKey: 'e2' }, shop);
    await cancelOrder(deps, { memberId, orderReference: 'o-e', idempotencyKey: 'c2' }, shop);
    expect(await refusalOf(earnPoints(deps, { memberId, order: earned, idempotencyKey: 'e3' }, shop))).toEqual(refused);
    expect(await refusalOf(previewEarn(deps, { memberId, order: earned }, shop))).toEqual(refused);
  });
});

describe('firstOrderOnly: no earlier order earned points', () => {
  it('an earlier order that earned 0 points (gift cards only) leaves the next order the first', async () => {
    const create = (input: Parameters<typeof createEarningRule>[1]) => createEarningRule(at('2026-11-01T00:00:00.000Z'), input, admin);
    await create({
      name: 'Gift cards earn nothing',
      conditions: { includeCategories: ['gift-card'] },
      effect: { lineMultiplier: { multiplier: '0' } },
    });
    await create({
      name: 'Welcome',
      conditions: { firstOrderOnly: true, excludeCategories: ['gift-card'] },
      effect: { orderBonus: { points: 250 } },
    });
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    const gift = { reference: 'gift', total: { amount: '25.00', currency: 'EUR' }, lines: [LINES[1]!] };
    // The gift card earns nothing, and the welcome bonus needs a line that is not one: the order earns 0 points.
    expect((await earnPoints(deps, { memberId, order: gift, idempotencyKey: 'gift' }, shop)).points).toBe(0);

    const shoes = { reference: 'shoes', total: { amount: '40.00', currency: 'EUR' }, lines: [LINES[0]!] };
    expect((await previewEarn(deps, { memberId, order: shoes }, shop)).points).toBe(40 + 250);
    const earned = await earnPoints(deps, { memberId, order: shoes, idempotencyKey: 'shoes' }, shop);
    expect(earned.breakdown.filter((l) => l.kind === 'ORDER_BONUS').map((l) => l.ruleName)).toEqual(['Welcome']);
    expect(earned.points).toBe(40 + 250);
    // Now an order has earned points: the next one is not the first.
    const socks = { reference: 'socks', total: { amount: '10.00', currency: 'EUR' }, lines: [LINES[2]!] };
    expect((await previewEarn(deps, { memberId, order: socks }, shop)).points).toBe(10);
  });
});

describe('the points are exact, rounded down once', () => {
  it('a large order with a many-decimal earn rate earns floor(total × rate × tier), never one point more', async () => {
    // A valid earn rate (0–1000). Exactly: 765041553.38 × 0.3065181204393 = 234499098.999999999999834.
    await updateProgram(at(FRIDAY), { patch: { pointsPerCurrencyUnit: 0.3065181204393 } }, admin);
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    const big = { reference: 'big', total: { amount: '765041553.38', currency: 'EUR' } };
    const preview = await previewEarn(deps, { memberId, order: big }, shop);
    const earned = await earnPoints(deps, { memberId, order: big, idempotencyKey: 'big' }, shop);
    expect({ preview: preview.points, earned: earned.points }).toEqual({ preview: 234499098, earned: 234499098 });
    expect(earned.breakdown.map((l) => l.points)).toEqual(['234499098.999999999999834']);
  });
});
