import { Decimal } from 'decimal.js';

/**
 * Earning rules as values, and what they earn: pure functions, no database
 * (docs/earning-rules.md states the same model and stacking order).
 */

export type EarningRuleKind = 'LINE_MULTIPLIER' | 'ORDER_BONUS' | 'EVENT_POINTS';
export type EventLimitPeriod = 'CALENDAR_YEAR' | 'CALENDAR_MONTH' | 'LIFETIME';

/** When a rule applies. Empty lists impose nothing; every condition given must hold. */
export interface EarningConditions {
  /** The order's channel must be one of these (exact match). */
  channels: readonly string[];
  /** The member's tier key must be one of these (e.g. "GOLD"). */
  tierKeys: readonly string[];
  /** The order's total must be at least this. */
  minOrderTotal: Decimal | null;
  /** A line qualifies when its category or its SKU is listed here (when either list is non-empty). */
  includeCategories: readonly string[];
  includeSkus: readonly string[];
  /** A line whose category or SKU is listed here never qualifies. */
  excludeCategories: readonly string[];
  excludeSkus: readonly string[];
  /** Only the member's first order: no earlier order earned points (one that earned 0 does not count). */
  firstOrderOnly: boolean;
}

export interface EventLimit {
  count: number;
  period: EventLimitPeriod;
}

/** One rule, as stored (a validated `earning_rules` row). */
export interface EarningRule {
  id: string;
  name: string;
  version: number;
  kind: EarningRuleKind;
  /** Inclusive. */
  startsAt: Date;
  /** Exclusive; null: open-ended. */
  endsAt: Date | null;
  conditions: EarningConditions;
  /** LINE_MULTIPLIER: the factor on each qualifying line (0 excludes the line from earning). */
  multiplier: Decimal | null;
  /** ORDER_BONUS, EVENT_POINTS: the fixed points granted. */
  points: number | null;
  /** EVENT_POINTS: the custom event's type (e.g. "birthday"). */
  eventType: string | null;
  /** EVENT_POINTS: how often one member may receive it. */
  limit: EventLimit | null;
}

/** An order line as earning sees it. */
export interface EarnLineInput {
  sku: string | null;
  category: string | null;
  quantity: number;
  /** The line's share of what the member paid (prorated to the order total): what it earns on. */
  amount: Decimal;
}

/** Everything an order's earning depends on. */
export interface EarnContext {
  lines: readonly EarnLineInput[];
  orderTotal: Decimal;
  channel: string | null;
  tierKey: string;
  tierMultiplier: number;
  pointsPerCurrencyUnit: number;
  /** Whether no earlier order earned points; only read when a rule asks for first orders. */
  firstOrder: boolean;
  at: Date;
}

/** Which rule did something, as the explanation names it. */
export interface AppliedRule {
  id: string;
  name: string;
  version: number;
}

/** One order line's points and why. */
export interface EarnedLine {
  index: number;
  sku: string | null;
  category: string | null;
  quantity: number;
  amount: Decimal;
  /** amount × earn rate × tier multiplier, exact (before any rule and before rounding). */
  basePoints: Decimal;
  /** The factor a rule applied: 1 when none, 0 when an exclusion zeroed the line. */
  multiplier: Decimal;
  /** The multiplier rule that applied (the highest), or the exclusion that zeroed the line. */
  rule: AppliedRule | null;
  excluded: boolean;
  /** basePoints × multiplier, exact (`ExactDecimal`): the order's total is rounded down once, not each line. */
  points: Decimal;
}

/** A fixed bonus an order earned by a rule. */
export interface EarnedBonus {
  rule: AppliedRule;
  points: number;
}

export interface EarnEvaluation {
  lines: EarnedLine[];
  bonuses: EarnedBonus[];
  /** The lines' points added up, rounded down once. */
  linePoints: number;
  total: number;
}

const ONE = new Decimal(1);

/**
 * Decimal arithmetic exact for line points: decimal.js rounds every result to
 * its `precision` in significant digits (20 by default), which could round a
 * sum like 234499098.99999999999983 up to the next whole point before the one
 * floor. A line's amount (≤ 10^10 to the cent: 12 digits), the earn rate and
 * the tier multiplier (JS numbers: ≤ 17 digits each) and a rule's multiplier
 * (≤ 5) make products, and sums of them, of under 60 digits: 100 holds them exactly.
 */
const ExactDecimal = Decimal.clone({ precision: 100 });

/** Whether the rule's window holds `at`: from `startsAt` (inclusive) to `endsAt` (exclusive). */
export function inWindow(rule: Pick<EarningRule, 'startsAt' | 'endsAt'>, at: Date): boolean {
  return rule.startsAt.getTime() <= at.getTime() && (rule.endsAt === null || at.getTime() < rule.endsAt.getTime());
}

/** Rules that can apply at `at`, in the one order ties are broken by: earliest start, then id. */
export function activeRules(rules: readonly EarningRule[], at: Date): EarningRule[] {
  return rules
    .filter((rule) => inWindow(rule, at))
    .sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Whether evaluating these rules needs to know if the order is the member's first (a query the earn path skips otherwise). */
export function needsFirstOrder(rules: readonly EarningRule[]): boolean {
  return rules.some((rule) => rule.kind !== 'EVENT_POINTS' && rule.conditions.firstOrderOnly);
}

function orderConditionsHold(rule: EarningRule, context: EarnContext): boolean {
  const c = rule.conditions;
  if (c.channels.length > 0 && (context.channel === null || !c.channels.includes(context.channel))) return false;
  if (c.tierKeys.length > 0 && !c.tierKeys.includes(context.tierKey)) return false;
  if (c.minOrderTotal !== null && context.orderTotal.lt(c.minOrderTotal)) return false;
  return !(c.firstOrderOnly && !context.firstOrder);
}

/** Whether a line qualifies for the rule: included (when the rule lists any), and not excluded. */
export function lineQualifies(conditions: EarningConditions, line: Pick<EarnLineInput, 'sku' | 'category'>): boolean {
  const listed = (list: readonly string[], value: string | null) => value !== null && list.includes(value);
  if (listed(conditions.excludeCategories, line.category) || listed(conditions.excludeSkus, line.sku)) return false;
  if (conditions.includeCategories.length === 0 && conditions.includeSkus.length === 0) return true;
  return listed(conditions.includeCategories, line.category) || listed(conditions.includeSkus, line.sku);
}

const applied = (rule: EarningRule): AppliedRule => ({ id: rule.id, name: rule.name, version: rule.version });

/**
 * What an order earns under the rules, line by line. The stacking order:
 * 1. each line's base = its amount × earn rate × the member's tier multiplier (exact);
 * 2. of the LINE_MULTIPLIER rules whose conditions hold for the order and the line,
 *    an exclusion (multiplier 0) wins outright and zeroes the line; otherwise the
 *    highest multiplier applies (they never multiply each other); none: × 1;
 * 3. the lines' exact points are added up and rounded down once, so that lines
 *    cost the member nothing: without rules an order earns floor(total × rate ×
 *    tier) whatever its lines (their shares add up to the total);
 * 4. every ORDER_BONUS rule whose conditions hold adds its points once, after the
 *    rounding (a bonus that lists categories or SKUs needs at least one qualifying
 *    line; tier multipliers do not apply to bonuses).
 * Rules outside their window at `context.at`, retired rules and event rules do nothing.
 */
export function evaluateEarn(rules: readonly EarningRule[], context: EarnContext): EarnEvaluation {
  const candidates = activeRules(rules, context.at).filter((rule) => rule.kind !== 'EVENT_POINTS' && orderConditionsHold(rule, context));
  const multipliers = candidates.filter((rule) => rule.kind === 'LINE_MULTIPLIER');
  const lines = context.lines.map((line, index): EarnedLine => {
    const basePoints = new ExactDecimal(line.amount).mul(context.pointsPerCurrencyUnit).mul(context.tierMultiplier);
    const matching = multipliers.filter((rule) => lineQualifies(rule.conditions, line));
    const exclusion = matching.find((rule) => rule.multiplier!.isZero());
    let best: EarningRule | null = exclusion ?? null;
    if (!exclusion) {
      for (const rule of matching) if (best === null || rule.multiplier!.gt(best.multiplier!)) best = rule;
    }
    const multiplier = best ? best.multiplier! : ONE;
    return {
      index,
      sku: line.sku,
      category: line.category,
      quantity: line.quantity,
      amount: line.amount,
      basePoints,
      multiplier,
      rule: best ? applied(best) : null,
      excluded: exclusion !== undefined,
      points: basePoints.mul(multiplier),
    };
  });
  const bonuses = candidates
    .filter((rule) => rule.kind === 'ORDER_BONUS')
    .filter((rule) => {
      const c = rule.conditions;
      const listsLines = c.includeCategories.length + c.includeSkus.length + c.excludeCategories.length + c.excludeSkus.length > 0;
      return !listsLines || context.lines.some((line) => lineQualifies(c, line));
    })
    .map((rule): EarnedBonus => ({ rule: applied(rule), points: rule.points! }));
  const linePoints = lines
    .reduce((sum, line) => sum.plus(line.points), new ExactDecimal(0))
    .floor()
    .toNumber();
  return { lines, bonuses, linePoints, total: linePoints + bonuses.reduce((sum, bonus) => sum + bonus.points, 0) };
}

/** The EVENT_POINTS rules an event of `eventType` triggers for a member of `tierKey` at `at`. */
export function eventRules(rules: readonly EarningRule[], eventType: string, tierKey: string, at: Date): EarningRule[] {
  return activeRules(rules, at).filter(
    (rule) =>
      rule.kind === 'EVENT_POINTS' &&
      rule.eventType === eventType &&
      (rule.conditions.tierKeys.length === 0 || rule.conditions.tierKeys.includes(tierKey)),
  );
}

/**
 * The period an event grant counts against, in UTC: "2026" for a calendar year,
 * "2026-12" for a month, "lifetime" for ever. With the grant's slot it is the
 * unique key that holds the per-member limit.
 */
export function limitPeriodKey(period: EventLimitPeriod, at: Date): string {
  const year = String(at.getUTCFullYear());
  if (period === 'CALENDAR_YEAR') return year;
  if (period === 'CALENDAR_MONTH') return `${year}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
  return 'lifetime';
}
