import { Decimal } from 'decimal.js';
import type { RawSql } from '../../db/sql.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { tierRule } from '../tiers/tiers.service.js';
import { earningRulesAt } from './earning-rules.service.js';
import { activeRules, evaluateEarn, needsFirstOrder, type EarnEvaluation, type EarnLineInput } from './rules.js';

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
 * member's first order (none earned before) is read only when an active rule asks for it. The earn transaction and previewEarn both call this,
 * so a preview is the earning's own computation.
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
      SELECT NOT EXISTS (SELECT 1 FROM point_orders WHERE member_id = ${member.id}::uuid AND earned_at IS NOT NULL) AS first`;
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

/** The evaluation as the payload and the stored answer carry it: order lines first, then bonuses. */
export function breakdownOf(evaluation: EarnEvaluation, currency: string): EarnBreakdownLine[] {
  return [
    ...evaluation.lines.map((line): EarnBreakdownLine => ({
      kind: 'ORDER_LINE',
      lineIndex: line.index,
      sku: line.sku,
      category: line.category,
      quantity: line.quantity,
      amount: line.amount.toFixed(2),
      currency,
      basePoints: line.basePoints.toString(),
      multiplier: line.multiplier.toString(),
      excluded: line.excluded,
      ruleId: line.rule?.id ?? null,
      ruleName: line.rule?.name ?? null,
      ruleVersion: line.rule?.version ?? null,
      points: line.points.toString(),
    })),
    ...evaluation.bonuses.map((bonus): EarnBreakdownLine => ({
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
      ruleId: bonus.rule.id,
      ruleName: bonus.rule.name,
      ruleVersion: bonus.rule.version,
      points: String(bonus.points),
    })),
  ];
}
