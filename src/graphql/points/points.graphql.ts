import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, InsufficientPointsError, NotFoundError } from '../../domain/errors.js';
import { adjustPoints, earnPoints, redeemPoints, refundOrder } from '../../domain/points/points.service.js';
import type { ProgramSettings } from '../../domain/program/program-settings.js';
import type { Member } from '../../generated/prisma/client.js';
import { MemberRef } from '../members/member.type.js';
import { rowOrPlanned } from '../members/member-read.js';
import { rememberSettings } from '../tiers/known-settings.js';
import { builder } from '../builder.js';
import { deprecatedFor, moneyGiven, MoneyInput, namingSentFields, renamesFor } from '../money.type.js';

import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { OrderInput } from '../orders/order-input.type.js';
import type { EarnBreakdownLine } from '../../domain/earning/order-earning.js';
import { EarnLineRef } from '../earning/earn-line.type.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const REFUND_AMOUNT = { legacy: 'amount', money: 'amountMoney' };

interface PointsPayloadShape {
  memberId: string;
  entryId: string | null;
  points: number;
  replayed: boolean;
  pointsUnrecovered?: number;
  /** An earn's explanation, line by line (answers stored before earning rules have none). */
  breakdown?: EarnBreakdownLine[];
  /** The member's row as the operation left it (earn, redeem); absent on a replay. */
  member?: Member;
  /** The settings the operation ran under, with `member`: its tier without another read. */
  settings?: ProgramSettings;
}

/** Payload of a point operation: the member after it and the entry it wrote. */
function pointsPayload(name: string, description: string, pointsDescription: string) {
  const ref = builder.objectRef<PointsPayloadShape>(name);
  ref.implement({
    description,
    fields: (t) => ({
      points: t.expose('points', { type: 'Points', description: pointsDescription }),
      member: t.field({
        type: MemberRef,
        description: 'The member after the operation.',
        // The row the operation returned saves a query through Prisma's engine (see rowOrPlanned).
        resolve: (parent, _args, ctx, info) => {
          if (parent.member && parent.settings) rememberSettings(parent.member, parent.settings);
          return rowOrPlanned(parent.member, parent.memberId, ctx, info);
        },
      }),
      entry: t.prismaField({
        type: 'LedgerEntry',
        nullable: true,
        description: 'The ledger entry written; null when no points moved.',
        resolve: (query, parent, _args, ctx) =>
          parent.entryId ? ctx.deps.prisma.ledgerEntry.findUnique({ ...query, where: { id: parent.entryId } }) : null,
      }),
    }),
  });
  return ref;
}

const EarnPointsPayload = pointsPayload('EarnPointsPayload', 'Points earned for an order.', 'Points earned.');
builder.objectField(EarnPointsPayload, 'breakdown', (t) =>
  t.field({
    type: [EarnLineRef],
    description:
      'Why these points, line by line: each order line (base, the rule applied or the exclusion), then each order bonus; ' +
      'the lines add up to `points`. Empty for an explicit amount.',
    resolve: (parent) => parent.breakdown ?? [],
  }),
);
const RedeemPointsPayload = pointsPayload('RedeemPointsPayload', 'Points spent.', 'Signed change (negative).');
const AdjustPointsPayload = pointsPayload('AdjustPointsPayload', 'An admin correction.', 'Signed change.');
const RefundOrderPayload = pointsPayload('RefundOrderPayload', 'Points reversed for a refund.', 'Signed change (negative or 0).');
builder.objectField(RefundOrderPayload, 'pointsUnrecovered', (t) =>
  t.field({
    type: 'Points',
    description: 'Points the refund should have reversed but the member had already spent.',
    resolve: (parent) => parent.pointsUnrecovered ?? 0,
  }),
);

/** When the deprecated total-only fields of `earnPoints` go. */
const TOTAL_ONLY_REMOVAL = 'Use `order` (OrderInput). Removed after 2027-06-30.';

const EarnPointsInput = builder.inputType('EarnPointsInput', {
  description:
    'Points for an order: order total × earn rate × tier multiplier, or an explicit amount (admins). Give `order`; the ' +
    'deprecated `orderRef` + `orderTotal` (+ `currency`) still work.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    order: t.field({
      type: OrderInput,
      required: false,
      description: 'The order with its total, channel and line items (one earn per order).',
    }),
    orderRef: t.string({
      required: false,
      description: 'The storefront order reference (one earn per order).',
      deprecationReason: TOTAL_ONLY_REMOVAL,
    }),
    orderTotal: t.string({
      required: false,
      description: 'Order value, decimal string, e.g. "49.90".',
      deprecationReason: TOTAL_ONLY_REMOVAL,
    }),
    currency: t.string({
      required: false,
      description: 'ISO 4217; must be the program currency when given.',
      deprecationReason: TOTAL_ONLY_REMOVAL,
    }),
    points: t.field({ type: 'Points', required: false, description: 'Explicit points instead of the earn rule (admins only).' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const RedeemPointsInput = builder.inputType('RedeemPointsInput', {
  description: 'Spend available points.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    points: t.field({ type: 'Points', required: true, description: 'Points to spend (positive).' }),
    orderReference: t.string({
      required: false,
      description:
        'The order the points pay for: the redemption is linked to it, and a cancel or return of the order gives the points back.',
    }),
    reference: t.string({
      required: false,
      description: 'What the points pay for (order or basket id), kept as text on the entry; not linked to an order.',
      deprecationReason: 'Use `orderReference`. Removed after 2027-06-30.',
    }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const AdjustPointsInput = builder.inputType('AdjustPointsInput', {
  description: 'An admin correction of a balance.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    points: t.field({ type: 'Points', required: true, description: 'Signed change: positive grants, negative removes.' }),
    reason: t.string({ required: true, description: 'Why, for the audit trail.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const RefundOrderInput = builder.inputType('RefundOrderInput', {
  description: 'A whole or partial refund of an order that earned points.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    orderRef: t.string({ required: true, description: 'The order reference used when earning.' }),
    amountMoney: t.field({
      type: MoneyInput,
      required: false,
      description:
        'Refunded money, in the order’s currency (the program’s, unless it changed since the order earned); the rest of the order when omitted (and no amount given).',
    }),
    amount: t.string({
      required: false,
      deprecationReason: deprecatedFor('amountMoney'),
      description: 'Refunded money, decimal string; the rest of the order when omitted. Give this or amountMoney, not both.',
    }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const POINT_ERRORS = [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError] as const;

builder.mutationFields((t) => ({
  earnPoints: t.field({
    type: EarnPointsPayload,
    description: 'Earns points for an order; pending for the return window, then available.',
    authScopes: { caller: SERVICE_CALLERS.earnPoints },
    errors: { types: [...POINT_ERRORS], directResult: true, union: { name: 'EarnPointsResult' } },
    args: { input: t.arg({ type: EarnPointsInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      earnPoints(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
  redeemPoints: t.field({
    type: RedeemPointsPayload,
    description: 'Spends available points, oldest-expiring first. Never below zero.',
    authScopes: { caller: SERVICE_CALLERS.redeemPoints },
    errors: {
      types: [...POINT_ERRORS, InsufficientPointsError],
      directResult: true,
      union: { name: 'RedeemPointsResult' },
    },
    args: { input: t.arg({ type: RedeemPointsInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      redeemPoints(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
  adjustPoints: t.field({
    type: AdjustPointsPayload,
    description: 'An admin correction: a new signed ledger entry with a reason.',
    authScopes: { caller: SERVICE_CALLERS.adjustPoints },
    errors: {
      types: [...POINT_ERRORS, InsufficientPointsError],
      directResult: true,
      union: { name: 'AdjustPointsResult' },
    },
    args: { input: t.arg({ type: AdjustPointsInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      adjustPoints(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
  refundOrder: t.field({
    type: RefundOrderPayload,
    description: 'Reverses the points an order earned, in proportion to the refund; never twice.',
    authScopes: { caller: SERVICE_CALLERS.refundOrder },
    errors: { types: [...POINT_ERRORS], directResult: true, union: { name: 'RefundOrderResult' } },
    args: { input: t.arg({ type: RefundOrderInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { amountMoney, ...rest } = input;
      // The order's currency decides (one earned before the program's currency changed keeps its own): the service checks it.
      const money = moneyGiven(REFUND_AMOUNT, input.amount, amountMoney, { required: false });
      const renames = { ...renamesFor(REFUND_AMOUNT, amountMoney), currency: `${REFUND_AMOUNT.money}.currency` };
      return namingSentFields(renames, () =>
        refundOrder(
          ctx.deps,
          { ...rest, amount: money?.amount, currency: money?.currency, memberId: decodeId('Member', 'memberId', String(input.memberId)) },
          callerOf(ctx.principal),
        ),
      );
    },
  }),
}));
