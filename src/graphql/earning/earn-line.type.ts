import { encodeGlobalID } from '@pothos/plugin-relay';
import type { EarnBreakdownLine } from '../../domain/earning/order-earning.js';
import { builder } from '../builder.js';
import { Money } from '../money.type.js';

export const EarnLineKindEnum = builder.enumType('EarnLineKind', {
  description: 'What a line of an earn’s explanation is.',
  values: {
    ORDER_LINE: { description: 'An order line: its base points and the multiplier rule or exclusion that applied.' },
    ORDER_BONUS: { description: 'A fixed bonus an order-bonus rule added once to the order.' },
  },
});

/** The explanation of one line in words, e.g. "40.00 EUR → 60 base × 3 (Gold shoes) = 180 points". */
function explain(line: EarnBreakdownLine): string {
  if (line.kind === 'ORDER_BONUS') return `+${line.points} points (${line.ruleName})`;
  const base = `${line.amount} ${line.currency} → ${line.basePoints} base`;
  if (line.excluded) return `${base}, excluded by ${line.ruleName}: 0 points`;
  if (line.ruleName === null) return `${base} = ${line.points} points`;
  return `${base} × ${line.multiplier} (${line.ruleName}) = ${line.points} points`;
}

export const EarnLineRef = builder.objectRef<EarnBreakdownLine>('EarnLine').implement({
  description:
    'One line of "why these points" (docs/earning-rules.md): base = the line’s share of the total × earn rate × tier multiplier; ' +
    'an exclusion zeroes it, else the highest multiplier applies; the lines’ sum is rounded down once; order bonuses follow.',
  fields: (t) => ({
    kind: t.field({ type: EarnLineKindEnum, description: 'An order line or an order bonus.', resolve: (l) => l.kind }),
    lineIndex: t.exposeInt('lineIndex', { nullable: true, description: 'ORDER_LINE: the line’s position in the order (0-based).' }),
    sku: t.exposeString('sku', { nullable: true, description: 'ORDER_LINE: the line’s SKU (null in a total-only order).' }),
    category: t.exposeString('category', { nullable: true, description: 'ORDER_LINE: the line’s category.' }),
    quantity: t.exposeInt('quantity', { nullable: true, description: 'ORDER_LINE: units.' }),
    amount: t.field({
      type: Money,
      nullable: true,
      description: 'ORDER_LINE: what the line earns on, its share of the order total.',
      resolve: (l) => (l.amount === null ? null : { amount: l.amount, currency: l.currency }),
    }),
    basePoints: t.field({
      type: 'Decimal',
      nullable: true,
      description: 'ORDER_LINE: amount × earn rate × tier multiplier, exact (before any rule and rounding).',
      resolve: (l) => l.basePoints,
    }),
    multiplier: t.field({
      type: 'Decimal',
      nullable: true,
      description: 'ORDER_LINE: the factor applied: "1" without a rule, "0" when excluded.',
      resolve: (l) => l.multiplier,
    }),
    excluded: t.exposeBoolean('excluded', { description: 'ORDER_LINE: an exclusion rule (multiplier 0) zeroed the line.' }),
    ruleId: t.id({
      nullable: true,
      description: 'The earning rule that applied (global id), if any.',
      resolve: (l) => (l.ruleId === null ? null : encodeGlobalID('EarningRule', l.ruleId)),
    }),
    ruleName: t.exposeString('ruleName', { nullable: true, description: 'Its name.' }),
    ruleVersion: t.exposeInt('ruleVersion', { nullable: true, description: 'Its version that applied.' }),
    points: t.field({
      type: 'Decimal',
      description: 'ORDER_LINE: its exact points (base × multiplier; the order lines’ sum is rounded down once). ORDER_BONUS: the bonus.',
      resolve: (l) => l.points,
    }),
    explanation: t.string({
      description: 'The same in words, e.g. "40.00 EUR → 60 base × 3 (Gold shoes) = 180 points".',
      resolve: explain,
    }),
  }),
});
