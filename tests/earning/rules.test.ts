// No useTestApp(): evaluateEarn is a pure function; these cases need no database.
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import {
  evaluateEarn,
  eventRules,
  limitPeriodKey,
  type EarnContext,
  type EarnLineInput,
  type EarningConditions,
  type EarningRule,
} from '../../src/domain/earning/rules.js';

const NO_CONDITIONS: EarningConditions = {
  channels: [],
  tierKeys: [],
  minOrderTotal: null,
  includeCategories: [],
  excludeCategories: [],
  includeSkus: [],
  excludeSkus: [],
  firstOrderOnly: false,
};

const YEAR_START = new Date('2026-01-01T00:00:00.000Z');

function rule(id: string, shape: Partial<Omit<EarningRule, 'conditions'>> & { conditions?: Partial<EarningConditions> }): EarningRule {
  return {
    id,
    name: id,
    version: 1,
    kind: 'LINE_MULTIPLIER',
    startsAt: YEAR_START,
    endsAt: null,
    multiplier: null,
    points: null,
    eventType: null,
    limit: null,
    ...shape,
    conditions: { ...NO_CONDITIONS, ...shape.conditions },
  };
}

const x = (multiplier: string) => new Decimal(multiplier);

// The rules of the table: a double-points weekend (Sat 5 Dec 00:00 to Mon 7 Dec 00:00, not on gift
// cards), gift cards earn nothing, GOLD members triple on shoes, a web bonus from 50.00, a welcome bonus.
const SATURDAY = new Date('2026-12-05T00:00:00.000Z');
const MONDAY = new Date('2026-12-07T00:00:00.000Z');
const FRIDAY_NOON = new Date('2026-12-04T12:00:00.000Z');
const weekend = rule('weekend', {
  multiplier: x('2'),
  startsAt: SATURDAY,
  endsAt: MONDAY,
  conditions: { excludeCategories: ['gift-card'] },
});
const weekendAll = rule('weekend-all', { multiplier: x('2'), startsAt: SATURDAY, endsAt: MONDAY });
const giftCards = rule('gift-cards', { multiplier: x('0'), conditions: { includeCategories: ['gift-card'] } });
const goldShoes = rule('gold-shoes', { multiplier: x('3'), conditions: { tierKeys: ['GOLD'], includeCategories: ['shoes'] } });
const socksSku = rule('socks-sku', { multiplier: x('2'), conditions: { includeSkus: ['SKU-SOCKS'] } });
const webBonus = rule('web-bonus', {
  kind: 'ORDER_BONUS',
  points: 100,
  conditions: { channels: ['web'], minOrderTotal: x('50') },
});
const welcome = rule('welcome', { kind: 'ORDER_BONUS', points: 250, conditions: { firstOrderOnly: true } });
const shoeBonus = rule('shoe-bonus', { kind: 'ORDER_BONUS', points: 30, conditions: { includeCategories: ['shoes'] } });
const birthday = rule('birthday', {
  kind: 'EVENT_POINTS',
  points: 500,
  eventType: 'birthday',
  limit: { count: 1, period: 'CALENDAR_YEAR' },
});

const line = (sku: string, category: string, amount: string, quantity = 1): EarnLineInput => ({
  sku,
  category,
  quantity,
  amount: x(amount),
});
// Shoes 2 × 20.00, a gift card 25.00, socks 10.00: 75.00.
const BASKET = [line('SKU-SHOES', 'shoes', '40.00', 2), line('SKU-GIFT', 'gift-card', '25.00'), line('SKU-SOCKS', 'apparel', '10.00')];
const MULTIPLIERS: Record<string, number> = { BRONZE: 1, SILVER: 1.25, GOLD: 1.5, PLATINUM: 2 };

function context(overrides: Partial<EarnContext> & { tier?: string } = {}): EarnContext {
  const lines = overrides.lines ?? BASKET;
  const tier = overrides.tier ?? 'BRONZE';
  return {
    lines,
    orderTotal: lines.reduce((sum, l) => sum.plus(l.amount), new Decimal(0)),
    channel: 'web',
    tierKey: tier,
    tierMultiplier: MULTIPLIERS[tier]!,
    pointsPerCurrencyUnit: 1,
    firstOrder: false,
    at: FRIDAY_NOON,
    ...overrides,
  };
}

interface Case {
  name: string;
  rules: EarningRule[];
  context: EarnContext;
  /** Points per line, in order, then the bonuses' rule ids and the total: worked out by hand. */
  lines: number[];
  bonuses?: string[];
  total: number;
}

const CASES: Case[] = [
  { name: 'no rules: each line × rate × tier', rules: [], context: context(), lines: [40, 25, 10], total: 75 },
  { name: 'gift cards earn nothing', rules: [giftCards], context: context(), lines: [40, 0, 10], total: 50 },
  {
    name: 'the weekend starts at its startsAt (inclusive)',
    rules: [weekend, giftCards],
    context: context({ at: SATURDAY }),
    lines: [80, 0, 20],
    total: 100,
  },
  {
    name: 'the weekend still holds a millisecond before its end',
    rules: [weekend, giftCards],
    context: context({ at: new Date(MONDAY.getTime() - 1) }),
    lines: [80, 0, 20],
    total: 100,
  },
  {
    name: 'the weekend is over at its endsAt (exclusive)',
    rules: [weekend, giftCards],
    context: context({ at: MONDAY }),
    lines: [40, 0, 10],
    total: 50,
  },
  {
    name: 'a millisecond before the weekend starts: no multiplier',
    rules: [weekend],
    context: context({ at: new Date(SATURDAY.getTime() - 1) }),
    lines: [40, 25, 10],
    total: 75,
  },
  {
    name: 'a rule’s own exclusion keeps its multiplier off the line',
    rules: [weekend],
    context: context({ at: SATURDAY }),
    lines: [80, 25, 20],
    total: 125,
  },
  {
    name: 'an exclusion (× 0) beats a higher multiplier on the same line',
    rules: [weekendAll, giftCards],
    context: context({ at: SATURDAY }),
    lines: [80, 0, 20],
    total: 100,
  },
  {
    // GOLD: base × 1.5; shoes 60 × 3 (highest wins, not 3 × 2), socks 15 × 2.
    name: 'GOLD on a weekend: the highest multiplier wins, they do not multiply',
    rules: [weekend, giftCards, goldShoes],
    context: context({ at: SATURDAY, tier: 'GOLD' }),
    lines: [180, 0, 30],
    total: 210,
  },
  {
    // SILVER: shoes 50, socks 12.5: 62.5 → 62; the GOLD rule does not apply.
    name: 'a tier condition leaves other tiers alone',
    rules: [giftCards, goldShoes],
    context: context({ tier: 'SILVER' }),
    lines: [50, 0, 12.5],
    total: 62,
  },
  {
    name: 'a tier condition applies to its tier',
    rules: [goldShoes],
    context: context({ tier: 'GOLD' }),
    lines: [180, 37.5, 15],
    total: 232,
  },
  { name: 'a SKU condition picks its line', rules: [socksSku], context: context(), lines: [40, 25, 20], total: 85 },
  {
    name: 'an order bonus is added after the lines',
    rules: [webBonus],
    context: context(),
    lines: [40, 25, 10],
    bonuses: ['web-bonus'],
    total: 175,
  },
  {
    name: 'a channel condition refuses another channel',
    rules: [webBonus],
    context: context({ channel: 'store' }),
    lines: [40, 25, 10],
    total: 75,
  },
  {
    name: 'a channel condition refuses an order without channel',
    rules: [webBonus],
    context: context({ channel: null }),
    lines: [40, 25, 10],
    total: 75,
  },
  {
    name: 'the minimum order is inclusive: 50.00 qualifies',
    rules: [webBonus],
    context: context({ lines: [line('A', 'apparel', '50.00')] }),
    lines: [50],
    bonuses: ['web-bonus'],
    total: 150,
  },
  {
    name: 'the minimum order: 49.99 does not qualify',
    rules: [webBonus],
    context: context({ lines: [line('A', 'apparel', '49.99')] }),
    lines: [49.99],
    total: 49,
  },
  {
    name: 'a first-order bonus on the first order',
    rules: [welcome],
    context: context({ firstOrder: true }),
    lines: [40, 25, 10],
    bonuses: ['welcome'],
    total: 325,
  },
  { name: 'no first-order bonus on a later order', rules: [welcome], context: context(), lines: [40, 25, 10], total: 75 },
  {
    name: 'bonuses add up, each once; the tier multiplier does not touch them',
    rules: [welcome, webBonus, giftCards],
    context: context({ firstOrder: true, tier: 'PLATINUM' }),
    lines: [80, 0, 20],
    bonuses: ['web-bonus', 'welcome'],
    total: 450,
  },
  {
    name: 'a bonus listing a category needs a qualifying line',
    rules: [shoeBonus],
    context: context(),
    lines: [40, 25, 10],
    bonuses: ['shoe-bonus'],
    total: 105,
  },
  {
    name: 'a bonus listing a category: none without such a line',
    rules: [shoeBonus],
    context: context({ lines: [line('SKU-SOCKS', 'apparel', '10.00')] }),
    lines: [10],
    total: 10,
  },
  {
    // 3 × 0.80 earns 0.8 per line; the sum 2.4 is rounded down once: 2 (per line it would be 0).
    name: 'the lines are rounded down once, not each',
    rules: [],
    context: context({ lines: [line('A', 'x', '0.80'), line('B', 'x', '0.80'), line('C', 'x', '0.80')] }),
    lines: [0.8, 0.8, 0.8],
    total: 2,
  },
  {
    // The total-only form is one line: floor(49.99 × 1.5) = floor(74.985) = 74, as before rules existed.
    name: 'a one-line order earns floor(total × rate × tier)',
    rules: [],
    context: context({ lines: [{ sku: null, category: null, quantity: 1, amount: x('49.99') }], tier: 'GOLD' }),
    lines: [74.985],
    total: 74,
  },
  {
    name: 'a line without category or SKU is outside category rules and inside unconditioned ones',
    rules: [giftCards, weekendAll],
    context: context({ lines: [{ sku: null, category: null, quantity: 1, amount: x('10.00') }], at: SATURDAY }),
    lines: [20],
    total: 20,
  },
  { name: 'event rules never touch an order', rules: [birthday], context: context(), lines: [40, 25, 10], total: 75 },
];

describe('evaluateEarn: the table of rule combinations', () => {
  it.each(CASES)('$name', ({ rules, context: ctx, lines, bonuses = [], total }) => {
    const result = evaluateEarn(rules, ctx);
    expect(result.lines.map((l) => l.points.toNumber())).toEqual(lines);
    expect(result.bonuses.map((b) => b.rule.id).sort()).toEqual([...bonuses].sort());
    expect(result.total).toBe(total);
    // The explanation adds up to the total: the lines' sum rounded down once, then the bonuses.
    const lineSum = result.lines
      .reduce((s, l) => s.plus(l.points), new Decimal(0))
      .floor()
      .toNumber();
    expect(lineSum + result.bonuses.reduce((s, b) => s + b.points, 0)).toBe(total);
  });

  it('explains each line: base, the rule applied, exclusions', () => {
    const result = evaluateEarn([weekend, giftCards, goldShoes], context({ at: SATURDAY, tier: 'GOLD' }));
    expect(result.lines.map((l) => [l.basePoints.toString(), l.multiplier.toString(), l.rule?.id ?? null, l.excluded])).toEqual([
      ['60', '3', 'gold-shoes', false],
      ['37.5', '0', 'gift-cards', true],
      ['15', '2', 'weekend', false],
    ]);
  });

  it('does not depend on the order the rules come in', () => {
    const rules = [weekend, giftCards, goldShoes, webBonus, welcome];
    const ctx = context({ at: SATURDAY, tier: 'GOLD', firstOrder: true });
    expect(evaluateEarn([...rules].reverse(), ctx)).toEqual(evaluateEarn(rules, ctx));
  });
});

describe('evaluateEarn rounds the exact points down once', () => {
  // A valid earn rate (0–1000) with many places. 765041553.38 × it = 234499098.999999999999834 exactly: 27 significant
  // digits, where decimal.js rounds every product and sum to 20 by default (…099) before the one floor.
  const RATE = 0.3065181204393;

  it('an order earns floor(total × rate × tier), never one point more, in one line or split into lines', () => {
    const oneLine = evaluateEarn([], context({ lines: [line('A', 'x', '765041553.38')], pointsPerCurrencyUnit: RATE }));
    expect(oneLine.lines.map((l) => l.points.toString())).toEqual(['234499098.999999999999834']);
    expect(oneLine.total).toBe(234499098);
    const twoLines = evaluateEarn(
      [],
      context({ lines: [line('A', 'x', '382520776.69'), line('B', 'x', '382520776.69')], pointsPerCurrencyUnit: RATE }),
    );
    expect(twoLines.lines.map((l) => l.points.toString())).toEqual(['117249549.499999999999917', '117249549.499999999999917']);
    expect(twoLines.total).toBe(234499098);
  });
});

describe('event rules', () => {
  it('match their type, tier and window only', () => {
    const goldBirthday = rule('gold-birthday', { ...birthday, id: 'gold-birthday', conditions: { tierKeys: ['GOLD'] } });
    const ended = rule('old-review', {
      kind: 'EVENT_POINTS',
      points: 5,
      eventType: 'review',
      endsAt: FRIDAY_NOON,
      limit: { count: 3, period: 'LIFETIME' },
    });
    const all = [birthday, goldBirthday, ended, webBonus];
    expect(eventRules(all, 'birthday', 'BRONZE', FRIDAY_NOON).map((r) => r.id)).toEqual(['birthday']);
    expect(eventRules(all, 'birthday', 'GOLD', FRIDAY_NOON).map((r) => r.id)).toEqual(['birthday', 'gold-birthday']);
    expect(eventRules(all, 'review', 'GOLD', FRIDAY_NOON)).toEqual([]);
    expect(eventRules(all, 'review', 'GOLD', new Date(FRIDAY_NOON.getTime() - 1)).map((r) => r.id)).toEqual(['old-review']);
  });

  it('count their limit per UTC calendar year, month or lifetime', () => {
    const newYearsEve = new Date('2026-12-31T23:59:59.999Z');
    expect(limitPeriodKey('CALENDAR_YEAR', newYearsEve)).toBe('2026');
    expect(limitPeriodKey('CALENDAR_YEAR', new Date(newYearsEve.getTime() + 1))).toBe('2027');
    expect(limitPeriodKey('CALENDAR_MONTH', new Date('2026-02-01T00:00:00.000Z'))).toBe('2026-02');
    expect(limitPeriodKey('LIFETIME', newYearsEve)).toBe('lifetime');
  });
});
