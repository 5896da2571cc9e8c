import { describe, expect, it } from 'vitest';
import {
  createEarningRule,
  retireEarningRule,
  updateEarningRule,
  type CreateEarningRuleInput,
} from '../../src/domain/earning/earning-rules.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'rules-admin');
const T0 = new Date('2026-12-01T09:00:00.000Z');
const deps = () => ({ prisma, logger: testLogger, now: () => T0 });

const DOUBLE_WEEKEND: CreateEarningRuleInput = {
  name: 'Double points weekend',
  startsAt: new Date('2026-12-05T00:00:00.000Z'),
  endsAt: new Date('2026-12-07T00:00:00.000Z'),
  conditions: { excludeCategories: ['gift-card'] },
  effect: { lineMultiplier: { multiplier: '2' } },
};
const BIRTHDAY: CreateEarningRuleInput = {
  name: 'Birthday',
  effect: { eventPoints: { eventType: 'birthday', points: 500, limit: { count: 1, period: 'CALENDAR_YEAR' } } },
};

const tableSnapshot = async () =>
  JSON.stringify([await prisma.earningRule.findMany({ orderBy: { id: 'asc' } }), await prisma.earningRuleVersion.count()]);

describe('earning rules are validated as a whole, naming the field', () => {
  const bad: Array<[string, Partial<CreateEarningRuleInput>, string]> = [
    ['an end before the start', { endsAt: new Date('2026-12-04T00:00:00.000Z') }, 'endsAt'],
    ['an empty window', { endsAt: DOUBLE_WEEKEND.startsAt! }, 'endsAt'],
    // RFC 3339 and the DateTime scalar have the year 0000; PostgreSQL refuses it (it was an unexpected error).
    ['a start in the year 0000', { startsAt: new Date('0000-06-01T00:00:00.000Z') }, 'startsAt'],
    ['no effect', { effect: {} }, 'effect'],
    ['two effects', { effect: { lineMultiplier: { multiplier: '2' }, orderBonus: { points: 5 } } }, 'effect'],
    ['a multiplier above 10', { effect: { lineMultiplier: { multiplier: '10.5' } } }, 'effect.lineMultiplier.multiplier'],
    ['a negative multiplier', { effect: { lineMultiplier: { multiplier: '-1' } } }, 'effect.lineMultiplier.multiplier'],
    ['a bonus of 0 points', { effect: { orderBonus: { points: 0 } } }, 'effect.orderBonus.points'],
    ['an unknown tier', { conditions: { tierKeys: ['DIAMOND'] } }, 'conditions.tierKeys.0'],
    ['a category both in and out', { conditions: { includeCategories: ['a'], excludeCategories: ['a'] } }, 'conditions.excludeCategories'],
    ['a list entry given twice', { conditions: { channels: ['web', 'web'] } }, 'conditions.channels.1'],
    [
      'a minimum order in another currency',
      { conditions: { minOrderTotal: { amount: '50', currency: 'USD' } } },
      'conditions.minOrderTotal.currency',
    ],
    [
      'a minimum order that is no amount',
      { conditions: { minOrderTotal: { amount: '5.001', currency: 'EUR' } } },
      'conditions.minOrderTotal.amount',
    ],
    ['an empty name', { name: '  ' }, 'name'],
    // Names and the categories and SKUs rules match on: no control characters, as on orders.
    ['a name with a control character', { name: 'Double\u0007points' }, 'name'],
    ['a category with a line break', { conditions: { excludeCategories: ['gift\ncard'] } }, 'conditions.excludeCategories.0'],
  ];
  it.each(bad)('refuses %s, writing nothing', async (_label, change, field) => {
    const before = await tableSnapshot();
    await expect(createEarningRule(deps(), { ...DOUBLE_WEEKEND, ...change }, admin)).rejects.toMatchObject({ code: 'VALIDATION', field });
    expect(await tableSnapshot()).toBe(before);
  });

  const badEvents: Array<[string, CreateEarningRuleInput, string]> = [
    [
      'an event type with capitals',
      { ...BIRTHDAY, effect: { eventPoints: { ...BIRTHDAY.effect.eventPoints!, eventType: 'Birthday' } } },
      'effect.eventPoints.eventType',
    ],
    [
      'a limit of 0',
      { ...BIRTHDAY, effect: { eventPoints: { ...BIRTHDAY.effect.eventPoints!, limit: { count: 0, period: 'LIFETIME' } } } },
      'effect.eventPoints.limit.count',
    ],
    ['an order condition on an event', { ...BIRTHDAY, conditions: { channels: ['web'] } }, 'conditions.channels'],
    ['a first-order condition on an event', { ...BIRTHDAY, conditions: { firstOrderOnly: true } }, 'conditions.firstOrderOnly'],
  ];
  it.each(badEvents)('refuses %s', async (_label, input, field) => {
    await expect(createEarningRule(deps(), input, admin)).rejects.toMatchObject({ code: 'VALIDATION', field });
  });

  it('normalises tier keys to upper case and accepts a tier condition on an event', async () => {
    const rule = await createEarningRule(deps(), { ...BIRTHDAY, conditions: { tierKeys: ['gold'] } }, admin);
    expect(rule).toMatchObject({
      kind: 'EVENT_POINTS',
      tierKeys: ['GOLD'],
      points: 500,
      limitCount: 1,
      limitPeriod: 'CALENDAR_YEAR',
      startsAt: T0,
    });
  });
});

describe('earning rules are managed by admins, versioned and audited', () => {
  it('only admins change rules; storefront keys and agents are refused', async () => {
    await expect(createEarningRule(deps(), DOUBLE_WEEKEND, staffCaller('AGENT'))).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(createEarningRule(deps(), DOUBLE_WEEKEND, apiKeyCaller('shop', STOREFRONT_SCOPES))).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(await prisma.earningRule.count()).toBe(0);
  });

  it('keeps every version with who and when; retiring keeps the rule and stops it; a retired rule cannot change', async () => {
    const created = await createEarningRule(deps(), DOUBLE_WEEKEND, admin);
    const later = { prisma, logger: testLogger, now: () => new Date('2026-12-02T09:00:00.000Z') };
    const other = staffCaller('ADMIN', 'second-admin');
    const updated = await updateEarningRule(
      later,
      { id: created.id, effect: { lineMultiplier: { multiplier: '3' } }, expectedVersion: 1 },
      other,
    );
    expect(updated).toMatchObject({
      version: 2,
      name: 'Double points weekend',
      excludeCategories: ['gift-card'],
      updatedBy: 'STAFF:second-admin',
    });
    expect(updated.multiplier!.toFixed(3)).toBe('3.000');
    await expect(updateEarningRule(later, { id: created.id, name: 'x', expectedVersion: 1 }, admin)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'expectedVersion',
    });
    // Validated as a whole after the merge: an end moved before the kept start is refused.
    await expect(updateEarningRule(later, { id: created.id, endsAt: new Date('2026-12-01T00:00:00.000Z') }, admin)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'endsAt',
    });
    const opened = await updateEarningRule(later, { id: created.id, endsAt: null }, admin);
    expect(opened.endsAt).toBeNull();
    const retired = await retireEarningRule(later, { id: created.id }, admin);
    expect(retired).toMatchObject({ version: 4, retiredBy: 'STAFF:rules-admin' });
    expect((await retireEarningRule(later, { id: created.id }, admin)).version).toBe(4);
    await expect(updateEarningRule(later, { id: created.id, name: 'again' }, admin)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'id',
    });

    const history = await prisma.earningRuleVersion.findMany({ where: { ruleId: created.id }, orderBy: { version: 'asc' } });
    expect(history.map((v) => [v.version, v.action, v.changedBy])).toEqual([
      [1, 'CREATED', 'STAFF:rules-admin'],
      [2, 'UPDATED', 'STAFF:second-admin'],
      [3, 'UPDATED', 'STAFF:rules-admin'],
      [4, 'RETIRED', 'STAFF:rules-admin'],
    ]);
    expect((history[0]!.snapshot as { multiplier: string }).multiplier).toBe('2');
    // Each change renewed the stamp the earn path caches the rules by.
    const stampNow = async () => (await prisma.program.findUniqueOrThrow({ where: { id: 1 } })).earningRulesStamp;
    const before = await stampNow();
    await createEarningRule(later, DOUBLE_WEEKEND, admin);
    expect(await stampNow()).not.toBe(before);
  });

  it('a missing rule is NotFound', async () => {
    await expect(retireEarningRule(deps(), { id: '00000000-0000-4000-8000-000000000000' }, admin)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('PostgreSQL refuses a malformed rule even past the service', () => {
  const insert = (kind: string, effect: string, window = "now(), now() + interval '1 day'") =>
    prisma.$executeRawUnsafe(
      `INSERT INTO earning_rules (name, kind, starts_at, ends_at, multiplier, points, event_type, limit_count, limit_period, created_by, updated_by)
       VALUES ('x', '${kind}', ${window}, ${effect}, 'test', 'test')`,
    );
  it.each([
    ['a multiplier rule with points', 'LINE_MULTIPLIER', '2, 5, NULL, NULL, NULL'],
    ['a bonus without points', 'ORDER_BONUS', 'NULL, NULL, NULL, NULL, NULL'],
    ['an event rule without a limit', 'EVENT_POINTS', "NULL, 5, 'birthday', NULL, NULL"],
    ['an event rule with a bad type', 'EVENT_POINTS', "NULL, 5, 'Birth Day', 1, 'LIFETIME'"],
  ])('%s', async (_label, kind, effect) => {
    await expect(insert(kind, effect)).rejects.toThrow(/earning_rules_effect/);
  });
  it('an inverted window', async () => {
    await expect(insert('ORDER_BONUS', 'NULL, 5, NULL, NULL, NULL', "now(), now() - interval '1 day'")).rejects.toThrow(
      /earning_rules_window/,
    );
  });
});

describe('earningRules through GraphQL', () => {
  it('an admin creates, lists and retires a rule; an agent reads; retired ones only when asked', async () => {
    const adminToken = await app.staffToken('ADMIN');
    const created = await app.gql(
      `mutation($i: CreateEarningRuleInput!) { createEarningRule(input: $i) {
        __typename ... on CreateEarningRulePayload { earningRule { id kind multiplier version conditions { excludeCategories minOrderTotal { amount currency } } } }
        ... on ValidationError { field } } }`,
      {
        i: {
          name: 'Double points weekend',
          startsAt: '2026-12-05T00:00:00.000Z',
          endsAt: '2026-12-07T00:00:00.000Z',
          conditions: { excludeCategories: ['gift-card'], minOrderTotal: { amount: '20.00', currency: 'EUR' } },
          effect: { lineMultiplier: { multiplier: '2' } },
        },
      },
      adminToken,
    );
    const rule = created.data!.createEarningRule.earningRule;
    expect(rule).toMatchObject({
      kind: 'LINE_MULTIPLIER',
      multiplier: '2.000',
      version: 1,
      conditions: { excludeCategories: ['gift-card'], minOrderTotal: { amount: '20.00', currency: 'EUR' } },
    });
    const invalid = await app.gql(
      `mutation { createEarningRule(input: { name: "x", effect: { orderBonus: { points: 5 }, lineMultiplier: { multiplier: "2" } } }) {
        __typename ... on ValidationError { field } } }`,
      {},
      adminToken,
    );
    expect(invalid.data!.createEarningRule).toEqual({ __typename: 'ValidationError', field: 'effect' });

    const retired = await app.gql(
      `mutation($i: RetireEarningRuleInput!) { retireEarningRule(input: $i) { ... on RetireEarningRulePayload { earningRule { retired history { version action } } } } }`,
      { i: { id: rule.id } },
      adminToken,
    );
    expect(retired.data!.retireEarningRule.earningRule).toEqual({
      retired: true,
      history: [
        { version: 1, action: 'CREATED' },
        { version: 2, action: 'RETIRED' },
      ],
    });
    const agentToken = await app.staffToken('AGENT');
    const list = `query($r: Boolean) { earningRules(first: 10, includeRetired: $r) { edges { node { id retired } } } }`;
    expect((await app.gql(list, {}, agentToken)).data!.earningRules.edges).toEqual([]);
    expect((await app.gql(list, { r: true }, agentToken)).data!.earningRules.edges).toEqual([{ node: { id: rule.id, retired: true } }]);
  });
});
