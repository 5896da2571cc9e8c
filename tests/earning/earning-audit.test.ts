import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { breakdownFrom, type StoredEarning } from '../../src/domain/earning/order-earning.js';
import { createEarningRule, retireEarningRule, updateEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { earnPoints, previewEarn } from '../../src/domain/points/points.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { tableRowCounts } from '../support/db.js';
import { holdMember, whileHolding } from '../support/holding.js';
import { testLogger, useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'earning-audit-admin');
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const at = (iso: string) => ({ prisma, logger: testLogger, now: () => new Date(iso) });
const FRIDAY = '2026-12-04T12:00:00.000Z';

const createRule = (input: Parameters<typeof createEarningRule>[1], when = '2026-11-01T00:00:00.000Z') =>
  createEarningRule(at(when), input, admin);

describe('firstOrderOnly under a race', () => {
  it('two first orders of one member at once: the welcome bonus once, whichever commits first', async () => {
    await createRule({ name: 'Welcome', conditions: { firstOrderOnly: true }, effect: { orderBonus: { points: 250 } } });
    for (let round = 0; round < 5; round += 1) {
      const memberId = await app.enroll();
      const deps = at(FRIDAY);
      const earn = (ref: string) =>
        earnPoints(deps, { memberId, order: { reference: ref, total: { amount: '10.00', currency: 'EUR' } }, idempotencyKey: ref }, shop);
      const answers = await Promise.all([earn('a'), earn('b'), earn('c')]);
      expect(answers.map((a) => a.points).sort((x, y) => x - y)).toEqual([10, 10, 260]);
      const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
      expect(member.pendingPoints + member.availablePoints).toBe(280);
    }
  });
});

describe('the rule window at its exact instants', () => {
  it('startsAt applies, endsAt does not, 1 ms before endsAt does; preview and earn agree on each', async () => {
    await createRule({
      name: 'Double',
      startsAt: new Date('2026-12-05T00:00:00.000Z'),
      endsAt: new Date('2026-12-07T00:00:00.000Z'),
      effect: { lineMultiplier: { multiplier: '2' } },
    });
    const memberId = await app.enroll();
    const cases: [string, number][] = [
      ['2026-12-04T23:59:59.999Z', 10],
      ['2026-12-05T00:00:00.000Z', 20],
      ['2026-12-06T23:59:59.999Z', 20],
      ['2026-12-07T00:00:00.000Z', 10],
    ];
    for (const [placedAt, points] of cases) {
      const order = { reference: `w-${placedAt}`, total: { amount: '10.00', currency: 'EUR' }, placedAt: new Date(placedAt) };
      const deps = at('2026-12-08T00:00:00.000Z');
      expect((await previewEarn(deps, { memberId, order }, shop)).points).toBe(points);
      expect((await earnPoints(deps, { memberId, order, idempotencyKey: order.reference }, shop)).points).toBe(points);
    }
  });
});

describe('an earn racing a rule change', () => {
  it('an earn waiting for the member applies a retirement committed meanwhile', async () => {
    const rule = await createRule({ name: 'Triple', effect: { lineMultiplier: { multiplier: '3' } } });
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    const order = { reference: 'r1', total: { amount: '10.00', currency: 'EUR' } };
    expect((await previewEarn(deps, { memberId, order }, shop)).points).toBe(30);
    const earned = await whileHolding(
      prisma,
      holdMember(memberId),
      () => earnPoints(deps, { memberId, order, idempotencyKey: 'r1' }, shop),
      {
        meanwhile: () => retireEarningRule(deps, { id: rule.id }, admin),
      },
    );
    expect(earned.points).toBe(10);
  });

  it('an earn waiting for the member applies an update committed meanwhile, with the new version', async () => {
    const rule = await createRule({ name: 'Triple', effect: { lineMultiplier: { multiplier: '3' } } });
    const memberId = await app.enroll();
    const deps = at(FRIDAY);
    const order = { reference: 'u1', total: { amount: '10.00', currency: 'EUR' } };
    expect((await previewEarn(deps, { memberId, order }, shop)).points).toBe(30);
    const earned = await whileHolding(
      prisma,
      holdMember(memberId),
      () => earnPoints(deps, { memberId, order, idempotencyKey: 'u1' }, shop),
      {
        meanwhile: () => updateEarningRule(deps, { id: rule.id, effect: { lineMultiplier: { multiplier: '5' } } }, admin),
      },
    );
    expect(earned.points).toBe(50);
    expect(earned.breakdown[0]).toMatchObject({ ruleVersion: 2, multiplier: '5' });
  });
});

describe('the explanation is in Decimal notation', () => {
  it('a tiny earn rate: basePoints and points are plain decimal numerals, never "1e-7"', async () => {
    await updateProgram(at(FRIDAY), { patch: { pointsPerCurrencyUnit: 0.00001 } }, admin);
    const memberId = await app.enroll();
    const token = await app.apiKeyToken(['points:earn']);
    const o = {
      reference: 'tiny',
      total: { amount: '100.01', currency: 'EUR' },
      lines: [
        { sku: 'BIG', quantity: 1, unitPrice: '100.00' },
        { sku: 'SMALL', quantity: 1, unitPrice: '0.01' },
      ],
    };
    const earned = await app.gql(
      `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points breakdown { basePoints points explanation } } } }`,
      { i: { memberId, order: o, idempotencyKey: 'tiny' } },
      token,
    );
    expect(earned.errors).toBeUndefined();
    expect(earned.data!.earnPoints.breakdown[1]).toEqual({
      basePoints: '0.0000001',
      points: '0.0000001',
      explanation: '0.01 EUR → 0.0000001 base = 0.0000001 points',
    });
    // The replay and previewEarn explain it alike.
    const replayed = await app.gql(
      `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points breakdown { basePoints points explanation } } } }`,
      { i: { memberId, order: o, idempotencyKey: 'tiny' } },
      token,
    );
    expect(replayed.data!.earnPoints).toEqual(earned.data!.earnPoints);
    const preview = await app.gql(
      `query($i: PreviewEarnInput!) { previewEarn(input: $i) { __typename ... on EarnPreview { breakdown { basePoints points explanation } } } }`,
      { i: { memberId, order: { ...o, reference: 'tiny-2' } } },
      token,
    );
    expect(preview.data!.previewEarn.breakdown).toEqual(earned.data!.earnPoints.breakdown);
  });

  it('an answer stored before with an exponent ("1e-7") replays as a plain numeral', () => {
    const stored = { currency: 'EUR', rules: [], lines: [['1e-7', '1', '1e-7', -1, 0]], bonuses: [] } satisfies StoredEarning;
    const [line] = breakdownFrom(stored, [{ sku: 'S', category: null, quantity: 1, amount: new Decimal('0.01') }]);
    expect([line!.basePoints, line!.multiplier, line!.points]).toEqual(['0.0000001', '1', '0.0000001']);
  });
});

describe('hostile lines through GraphQL', () => {
  const mutation = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on ValidationError { field message } } }`;
  const linesOf = (n: number) => Array.from({ length: n }, (_, i) => ({ sku: `S${i}`, quantity: 1, unitPrice: '1.00' }));

  it('201 lines: a ValidationError on order.lines; 10 000 lines: refused as too large before execution; nothing written', async () => {
    const memberId = await app.enroll();
    const token = await app.apiKeyToken(['points:earn']);
    const before = await tableRowCounts(prisma);
    const many = { reference: 'many', total: { amount: '201.00', currency: 'EUR' }, lines: linesOf(201) };
    const refused = await app.gql(mutation, { i: { memberId, order: many, idempotencyKey: 'many' } }, token);
    expect(refused.data!.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'order.lines' });
    const huge = { reference: 'huge', total: { amount: '10000.00', currency: 'EUR' }, lines: linesOf(10_000) };
    const res = await app.request(mutation, { i: { memberId, order: huge, idempotencyKey: 'huge' } }, { token });
    expect({ status: res.status, code: res.body.errors?.[0]?.extensions?.code }).toEqual({ status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('a rule condition no order can meet is refused, not saved to never match', () => {
  const tableSnapshot = async () =>
    JSON.stringify([await prisma.earningRule.findMany({ orderBy: { id: 'asc' } }), await prisma.earningRuleVersion.count()]);
  const bad: Array<[string, Parameters<typeof createEarningRule>[1]['conditions'], string]> = [
    // Orders name their channel as a lower-case key ("web"): "Web" or "web shop" would never match one.
    ['a channel in capitals', { channels: ['web', 'Web'] }, 'conditions.channels.1'],
    ['a channel with a space', { channels: ['web shop'] }, 'conditions.channels.0'],
    // An order line's SKU and category are at most 64 characters.
    ['a SKU longer than any line’s', { includeSkus: ['S'.repeat(65)] }, 'conditions.includeSkus.0'],
    ['a category longer than any line’s', { excludeCategories: ['c'.repeat(65)] }, 'conditions.excludeCategories.0'],
  ];
  it.each(bad)('%s: a ValidationError naming the entry, nothing written', async (_label, conditions, field) => {
    const before = await tableSnapshot();
    await expect(createRule({ name: 'Never', conditions, effect: { lineMultiplier: { multiplier: '2' } } })).rejects.toMatchObject({
      code: 'VALIDATION',
      field,
    });
    expect(await tableSnapshot()).toBe(before);
  });

  it('the channel and the longest SKU an order takes are accepted, and match the order', async () => {
    const sku = 'S'.repeat(64);
    await createRule({
      name: 'App SKU',
      conditions: { channels: ['app_2-x'], includeSkus: [sku] },
      effect: { lineMultiplier: { multiplier: '2' } },
    });
    const memberId = await app.enroll();
    const order = {
      reference: 'm1',
      total: { amount: '10.00', currency: 'EUR' },
      channel: 'app_2-x',
      lines: [{ sku, quantity: 1, unitPrice: '10.00' }],
    };
    expect((await earnPoints(at(FRIDAY), { memberId, order, idempotencyKey: 'm1' }, shop)).points).toBe(20);
  });
});

describe('earns racing rule changes, unheld', () => {
  it('earns, updates and a retirement at once: every earn applies one whole version of the rules, none fails', async () => {
    const deps = at(FRIDAY);
    for (let round = 0; round < 4; round += 1) {
      const rule = await createRule({ name: `Triple ${round}`, effect: { lineMultiplier: { multiplier: '3' } } });
      const memberIds = await Promise.all([app.enroll(), app.enroll(), app.enroll()]);
      const earns = memberIds.flatMap((memberId) =>
        ['a', 'b'].map((ref) =>
          earnPoints(deps, { memberId, order: { reference: ref, total: { amount: '10.00', currency: 'EUR' } }, idempotencyKey: ref }, shop),
        ),
      );
      const changes = [
        updateEarningRule(deps, { id: rule.id, effect: { lineMultiplier: { multiplier: '5' } } }, admin),
        updateEarningRule(deps, { id: rule.id, name: `Quintuple ${round}` }, admin),
        retireEarningRule(deps, { id: rule.id }, admin),
      ];
      const settled = await Promise.allSettled([...earns, ...changes]);
      const failures = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason as { code?: string });
      // An update after the retirement is refused as such; nothing else may fail.
      expect(failures.every((f) => f.code === 'VALIDATION')).toBe(true);
      const earned = settled.slice(0, earns.length).map((s) => (s as PromiseFulfilledResult<{ points: number }>).value.points);
      for (const points of earned) expect([10, 30, 50]).toContain(points);
    }
  });
});
