import { Decimal } from 'decimal.js';
import type { RawSql } from '../../db/sql.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { tierRule } from '../tiers/tiers.service.js';
import { earningRulesAt } from './earning-rules.service.js';
import { activeRules, evaluateEarn, needsFirstOrder, type AppliedRule, type EarnEvaluation, type EarnLineInput } from './rules.js';

/** An order as earning reads it: the lines carry their prorated amounts. */
export interface EarningOrder {
  total: Decimal;
  channel: string | null;
  lines: readonly EarnLineInput[];
}

/** The total-only form of earnPoints: one line without SKU or category, worth the whole total. */
export const totalOnlyOrder = (total: Decimal): EarningOrder => ({
  total,
  channel: null,
  lines: [{ sku: null, category: null, quantity: 1, amount: total }],
});

/** The earn multiplier of the member's tier key. */
export function tierMultiplierOf(settings: ProgramSettings, tierKey: string): number {
  return tierRule(settings, tierKey).multiplier;
}

/**
 * What an order earns the member now, with the explanation: the rules of
 * `rulesStamp` (cached per stamp, see `earningRulesAt`) evaluated by
 * `evaluateEarn` at `at` (when the order was placed). Whether it is the
 * member's first order (no earlier order earned points: one that earned 0, a
 * gift card say, does not count) is read only when an active rule asks for it.
 * The earn transaction and previewEarn both call this, so a preview is the
 * earning's own computation.
 */
export async function evaluateOrderEarning(
  tx: RawSql,
  member: { id: string; tier: string },
  settings: ProgramSettings,
  rulesStamp: string | null,
  order: EarningOrder,
  at: Date,
): Promise<EarnEvaluation> {
  const rules = activeRules(await earningRulesAt(tx, rulesStamp), at);
  let firstOrder = false;
  if (needsFirstOrder(rules)) {
    const [row] = await tx.$queryRaw<{ first: boolean }[]>`
      SELECT NOT EXISTS (SELECT 1 FROM point_orders WHERE member_id = ${member.id}::uuid AND points_earned > 0) AS first`;
    firstOrder = row?.first ?? false;
  }
  return evaluateEarn(rules, {
    lines: order.lines,
    orderTotal: order.total,
    channel: order.channel,
    tierKey: member.tier,
    tierMultiplier: tierMultiplierOf(settings, member.tier),
    pointsPerCurrencyUnit: settings.pointsPerCurrencyUnit,
    firstOrder,
    at,
  });
}

/** One line of the stored explanation (JSON: the idempotent answer replays it). */
export interface EarnBreakdownLine {
  kind: 'ORDER_LINE' | 'ORDER_BONUS';
  lineIndex: number | null;
  sku: string | null;
  category: string | null;
  quantity: number | null;
  /** Decimal string: the line's earning amount (its share of the total). */
  amount: string | null;
  /** The program currency, of `amount`. */
  currency: string;
  /** Decimal string: amount × rate × tier multiplier. */
  basePoints: string | null;
  /** Decimal string. */
  multiplier: string | null;
  excluded: boolean;
  ruleId: string | null;
  ruleName: string | null;
  ruleVersion: number | null;
  /** Decimal string: an order line's exact points (the order's line points are rounded down once), a bonus's points. */
  points: string;
}

/**
 * An earning's explanation as its idempotent answer stores it: only what the
 * request does not say itself. The lines' SKU, category, quantity and share
 * come from the order in the request, which a replay repeats exactly (its
 * fingerprint is checked first), so `breakdownFrom` rebuilds the same
 * breakdown from this and the request. Stored whole, a 5-line breakdown with
 * its 14 named fields a line was over 2 kB of jsonb — past PostgreSQL's TOAST
 * threshold, so every earn compressed it —, this is a fifth of that.
 */
export interface StoredEarning {
  /** The program currency of the lines' amounts. */
  currency: string;
  /** The rules that did something: [id, name, version]. */
  rules: [string, string, number][];
  /** Per evaluated line, in order: [basePoints, multiplier, points, index in `rules` or -1, excluded ? 1 : 0]. */
  lines: [string, string, string, number, number][];
  /** Per order bonus: [index in `rules`, points]. */
  bonuses: [number, number][];
}

/** The evaluation as the idempotent answer stores it (see `StoredEarning`). */
export function storedEarningOf(evaluation: EarnEvaluation, currency: string): StoredEarning {
  const rules: [string, string, number][] = [];
  const indexOf = (rule: AppliedRule | null): number => {
    if (rule === null) return -1;
    const known = rules.findIndex(([id, , version]) => id === rule.id && version === rule.version);
    if (known >= 0) return known;
    return rules.push([rule.id, rule.name, rule.version]) - 1;
  };
  return {
    currency,
    rules,
    lines: evaluation.lines.map((line) => [
      line.basePoints.toFixed(),
      line.multiplier.toFixed(),
      line.points.toFixed(),
      indexOf(line.rule),
      line.excluded ? 1 : 0,
    ]),
    bonuses: evaluation.bonuses.map((bonus) => [indexOf(bonus.rule), bonus.points]),
  };
}

/** A figure as the Decimal scalar writes it: plain digits ("0.0000001"), never decimal.js's exponent form ("1e-7"). */
const decimalNumeral = (figure: string): string => (/e/i.test(figure) ? new Decimal(figure).toFixed() : figure);

/**
 * The breakdown of a stored earning, with the lines it was evaluated on (the
 * request's order as `evaluateOrderEarning` got it): order lines first, then
 * bonuses. The payload of a first earn and of its replays, and previewEarn's,
 * all come from here.
 */
export function breakdownFrom(stored: StoredEarning, lines: readonly EarnLineInput[]): EarnBreakdownLine[] {
  if (stored.lines.length !== lines.length) {
    throw new Error(`a stored earning of ${stored.lines.length} lines replayed with ${lines.length}`);
  }
  const { currency, rules } = stored;
  const rule = (index: number) => (index < 0 ? null : rules[index]!);
  return [
    ...stored.lines.map(([base, factor, exact, ruleIndex, excluded], index): EarnBreakdownLine => {
      // Answers stored before 2026-12-06 may hold a small figure in exponent form ("1e-7"), which no Decimal is.
      const [basePoints, multiplier, points] = [base, factor, exact].map(decimalNumeral) as [string, string, string];
      const line = lines[index]!;
      const applied = rule(ruleIndex);
      return {
        kind: 'ORDER_LINE',
        lineIndex: index,
        sku: line.sku,
        category: line.category,
        quantity: line.quantity,
        amount: line.amount.toFixed(2),
        currency,
        basePoints,
        multiplier,
        excluded: excluded === 1,
        ruleId: applied?.[0] ?? null,
        ruleName: applied?.[1] ?? null,
        ruleVersion: applied?.[2] ?? null,
        points,
      };
    }),
    ...stored.bonuses.map(([ruleIndex, points]): EarnBreakdownLine => {
      const [id, name, version] = rule(ruleIndex)!;
      return {
        kind: 'ORDER_BONUS',
        lineIndex: null,
        sku: null,
        category: null,
        quantity: null,
        amount: null,
        currency,
        basePoints: null,
        multiplier: null,
        excluded: false,
        ruleId: id,
        ruleName: name,
        ruleVersion: version,
        points: String(points),
      };
    }),
  ];
}
