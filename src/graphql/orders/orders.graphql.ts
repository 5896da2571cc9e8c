import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import {
  cancelOrder,
  MEMBER_ORDERS_NEWEST_FIRST,
  orderByReference,
  readOrder,
  returnOrderItems,
  type OrderReturnOutcome,
  type OrderSelection,
} from '../../domain/orders/orders.service.js';
import { orderStatusOf } from '../../domain/orders/order-record.js';
import { builder } from '../builder.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { memberVisibility, MemberRef } from '../members/member.type.js';
import { loadThroughService } from '../node-loader.js';
import { money, Money, MoneyInput } from '../money.type.js';
import { positionCursors } from '../position-cursors.js';
import { COUNT_COST, counted } from '../total-count.js';
import { VoucherRef } from '../vouchers/voucher.type.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const OrderStatusEnum = builder.enumType('OrderStatus', {
  description: 'Where an order stands after cancels and returns.',
  values: {
    OPEN: { description: 'Nothing returned.' },
    PARTIALLY_RETURNED: { description: 'Some items or part of the amount returned.' },
    RETURNED: { description: 'Everything returned.' },
    CANCELLED: { description: 'Cancelled: final.' },
  } as const,
});

const OrderReturnKindEnum = builder.enumType('OrderReturnKind', {
  description: 'How (part of) an order came back.',
  values: {
    CANCEL: { description: '`cancelOrder`: all of it, final.' },
    RETURN: { description: '`returnOrderItems`: items or an amount.' },
    REFUND: { description: '`refundOrder`: an amount.' },
  } as const,
});

const VoucherRollbackEnum = builder.enumType('VoucherRollbackOutcome', {
  description: 'What became of a voucher redeemed on an order that was cancelled or fully returned.',
  values: {
    RESTORED: { description: 'ISSUED again: still within its validity, usable as before.' },
    EXPIRED: { description: 'Past its validity: not reissued, it stays unusable (EXPIRED).' },
  } as const,
});

const OrderLineRef = builder.prismaObject('OrderLine', {
  description: 'A line item of an order.',
  fields: (t) => ({
    sku: t.exposeString('sku', { description: 'The item’s SKU (one line per SKU).' }),
    category: t.exposeString('category', { nullable: true, description: 'The item’s category, if given.' }),
    quantity: t.exposeInt('quantity', { description: 'Units ordered.' }),
    returnedQuantity: t.exposeInt('returnedQuantity', { description: 'Units returned so far (never more than ordered).' }),
    unitPrice: t.field({
      type: Money,
      description: 'Price of one unit.',
      select: { order: { select: { currency: true } } },
      resolve: (line) => money(line.unitPrice.toFixed(2), line.order.currency),
    }),
    share: t.field({
      type: Money,
      description:
        'The line’s part of the order total (prorated by quantity × unit price, largest remainder to the cent): its earning base and what returning all of it gives back.',
      select: { order: { select: { currency: true } } },
      resolve: (line) => money(line.share.toFixed(2), line.order.currency),
    }),
  }),
});

const OrderReturnRef = builder.prismaObject('OrderReturn', {
  description: 'One cancel, return or refund of an order and what it gave back.',
  fields: (t) => ({
    kind: t.field({ type: OrderReturnKindEnum, description: 'Cancel, return or refund.', resolve: (r) => r.kind as 'CANCEL' }),
    amount: t.field({
      type: Money,
      description: 'The value returned: what it added to the order’s returned amount.',
      select: { order: { select: { currency: true } } },
      resolve: (r) => money(r.amount.toFixed(2), r.order.currency),
    }),
    pointsReversed: t.expose('pointsReversed', {
      type: 'Points',
      description: 'Earned points taken back.',
    }),
    pointsUnrecovered: t.expose('pointsUnrecovered', {
      type: 'Points',
      description: 'Earned points it should have taken back but the member had spent.',
    }),
    pointsRestored: t.expose('pointsRestored', {
      type: 'Points',
      description: 'Redeemed points given back (a new lot).',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it happened.' }),
    items: t.field({
      type: [OrderReturnItem],
      description: 'The items it took back (none for an amount).',
      select: { lines: { select: { quantity: true, line: { select: { sku: true } } } } },
      resolve: (r) => r.lines.map((l) => ({ sku: l.line.sku, quantity: l.quantity })),
    }),
  }),
});

const OrderReturnItem = builder.objectRef<{ sku: string; quantity: number }>('OrderReturnItem').implement({
  description: 'Units of one SKU a return took back.',
  fields: (t) => ({
    sku: t.exposeString('sku', { description: 'The SKU.' }),
    quantity: t.exposeInt('quantity', { description: 'Units returned.' }),
  }),
});

const OrderVoucherRedemptionRef = builder.prismaObject('VoucherRedemption', {
  name: 'OrderVoucherRedemption',
  description: 'A voucher redeemed on an order, and whether a cancel or return rolled it back.',
  fields: (t) => ({
    voucher: t.relation('voucher', { type: VoucherRef, description: 'The voucher.' }),
    discount: t.field({
      type: Money,
      description: 'What it took off the order.',
      select: { voucher: { select: { currency: true } } },
      resolve: (r) => money(r.discount.toFixed(2), r.voucher.currency),
    }),
    redeemedAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was redeemed on the order.' }),
    rolledBackAt: t.expose('rolledBackAt', { type: 'DateTime', nullable: true, description: 'When a cancel or return rolled it back.' }),
    rollbackOutcome: t.field({
      type: VoucherRollbackEnum,
      nullable: true,
      description: 'What became of the voucher; null while the redemption stands.',
      resolve: (r) => r.rollbackOutcome as 'RESTORED' | null,
    }),
  }),
});

export const OrderRef = builder.prismaNode('PointOrder', {
  name: 'Order',
  id: { field: 'id' },
  nullable: true,
  // The orders service's read (`readOrder`): refused before reading, a member token's read only of their own orders
  // (tests/members/member-rows-node-read.test.ts). Visibility still guards an order reached through other fields.
  ...loadThroughService<OrderSelection>('Order', readOrder),
  description: 'An order of a member (docs/orders.md): what it earned, what was redeemed on it, and what cancels and returns gave back.',
  visibleTo: (order) => memberVisibility(order.memberId),
  fields: (t) => ({
    reference: t.exposeString('orderRef', { description: 'The storefront’s order reference (unique per member).' }),
    member: t.relation('member', { type: MemberRef, description: 'The member who placed it.' }),
    total: t.field({
      type: Money,
      nullable: true,
      description: 'The amount paid that earns points; null until the order earned.',
      resolve: (order) => (order.orderTotal === null ? null : money(order.orderTotal.toFixed(2), order.currency)),
    }),
    channel: t.exposeString('channel', { nullable: true, description: 'Where it was placed ("web", "app", "store"), if given.' }),
    placedAt: t.expose('placedAt', { type: 'DateTime', description: 'When it was placed.' }),
    cancelledAt: t.expose('cancelledAt', { type: 'DateTime', nullable: true, description: 'When it was cancelled.' }),
    status: t.field({
      type: OrderStatusEnum,
      description: 'Open, partially returned, returned or cancelled.',
      select: { lines: { select: { quantity: true, returnedQuantity: true } } },
      resolve: (order) => orderStatusOf(order, order.lines),
    }),
    amountReturned: t.field({
      type: Money,
      description: 'The value returned so far (cancels, returns, refunds).',
      resolve: (order) => money(order.amountRefunded.toFixed(2), order.currency),
    }),
    pointsEarned: t.expose('pointsEarned', {
      type: 'Points',
      description: 'Points the order earned.',
    }),
    pointsReversed: t.expose('pointsReversed', {
      type: 'Points',
      description: 'Earned points taken back (or due but already spent) by returns.',
    }),
    pointsRedeemed: t.expose('pointsRedeemed', {
      type: 'Points',
      description: 'Points redeemed on the order.',
    }),
    pointsRestored: t.expose('pointsRestored', {
      type: 'Points',
      description: 'Redeemed points given back by returns.',
    }),
    lines: t.relation('lines', { description: 'Line items, in the order given.', query: { orderBy: { position: 'asc' } } }),
    vouchersRedeemed: t.relation('voucherRedemptions', {
      type: OrderVoucherRedemptionRef,
      description: 'Vouchers redeemed on the order, rolled back or not.',
      query: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
    }),
    returns: t.relation('returns', {
      type: OrderReturnRef,
      description: 'Cancels, returns and refunds, oldest first.',
      query: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
    }),
  }),
});
void OrderLineRef;

builder.prismaObjectField(MemberRef, 'orders', (t) =>
  t.relatedConnection(
    'orders',
    {
      type: OrderRef,
      cursor: 'id',
      description: 'The member’s orders, newest first.',
      totalCount: true,
      ...positionCursors(MEMBER_ORDERS_NEWEST_FIRST),
      query: () => ({ orderBy: MEMBER_ORDERS_NEWEST_FIRST.orderBy }),
    },
    counted(COUNT_COST.indexed),
  ),
);

builder.queryFields((t) => ({
  order: t.prismaField({
    type: OrderRef,
    nullable: true,
    description: 'A member’s order by its reference. Null when there is none; for a member token, null for anyone but themselves.',
    authScopes: { caller: SERVICE_CALLERS.readMembers },
    args: {
      memberId: t.arg.id({ required: true, description: 'Member id.' }),
      reference: t.arg.string({ required: true, description: 'The storefront’s order reference.' }),
    },
    resolve: (query, _root, args, ctx) =>
      orderByReference(
        ctx.deps,
        { memberId: decodeId('Member', 'memberId', String(args.memberId)), reference: args.reference },
        callerOf(ctx.principal),
        query,
      ),
  }),
}));

/** Payload of a cancel or return: what it gave back, with the order and the member after it. */
function orderReturnPayload(name: string, description: string) {
  return builder.objectRef<OrderReturnOutcome>(name).implement({
    description,
    fields: (t) => ({
      order: t.prismaField({
        type: OrderRef,
        description: 'The order after it.',
        resolve: (query, r, _args, ctx) => ctx.deps.prisma.pointOrder.findUniqueOrThrow({ ...query, where: { id: r.orderId } }),
      }),
      member: t.prismaField({
        type: 'Member',
        description: 'The member after it.',
        resolve: (query, r, _args, ctx) => ctx.deps.prisma.member.findUniqueOrThrow({ ...query, where: { id: r.memberId } }),
      }),
      pointsReversed: t.expose('pointsReversed', {
        type: 'Points',
        description: 'Earned points taken back.',
      }),
      pointsUnrecovered: t.expose('pointsUnrecovered', {
        type: 'Points',
        description: 'Earned points it should have taken back but the member had already spent.',
      }),
      pointsRestored: t.expose('pointsRestored', {
        type: 'Points',
        description: 'Points redeemed on the order given back (a new available lot).',
      }),
      vouchersRestored: t.prismaField({
        type: [VoucherRef],
        description: 'Vouchers redeemed on the order that are ISSUED again.',
        resolve: (query, r, _args, ctx) => ctx.deps.prisma.voucher.findMany({ ...query, where: { id: { in: r.vouchersRestored } } }),
      }),
      vouchersExpired: t.prismaField({
        type: [VoucherRef],
        description: 'Vouchers redeemed on the order that were past their validity: not reissued.',
        resolve: (query, r, _args, ctx) => ctx.deps.prisma.voucher.findMany({ ...query, where: { id: { in: r.vouchersExpired } } }),
      }),
    }),
  });
}

const CancelOrderPayload = orderReturnPayload('CancelOrderPayload', 'A cancelled order: everything that happened on it undone, once.');
const ReturnOrderItemsPayload = orderReturnPayload('ReturnOrderItemsPayload', 'Items or an amount of an order returned.');

const CancelOrderInput = builder.inputType('CancelOrderInput', {
  description: 'Cancel an order.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    orderReference: t.string({ required: true, description: 'The storefront’s order reference.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const ReturnedItemInput = builder.inputType('ReturnedItemInput', {
  description: 'Units of one SKU of the order returned.',
  fields: (t) => ({
    sku: t.string({ required: true, description: 'The SKU, as on the order’s line.' }),
    quantity: t.int({ required: true, description: 'Units returned, at least 1 and at most what is left of the line.' }),
  }),
});

const ReturnOrderItemsInput = builder.inputType('ReturnOrderItemsInput', {
  description: 'Return items of an order, or an amount of it: give `items` or `amount`.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    orderReference: t.string({ required: true, description: 'The storefront’s order reference.' }),
    items: t.field({ type: [ReturnedItemInput], required: false, description: 'The items returned, by SKU.' }),
    amount: t.field({
      type: MoneyInput,
      required: false,
      description: 'An amount returned, in the order’s currency, at most what is left of the order total.',
    }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const ORDER_ERRORS = [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError] as const;

builder.mutationFields((t) => ({
  cancelOrder: t.field({
    type: CancelOrderPayload,
    description:
      'Cancels an order, once: reverses the points it earned, restores the points redeemed on it, puts its vouchers back to ISSUED while valid.',
    authScopes: { caller: SERVICE_CALLERS.cancelOrder },
    errors: { types: [...ORDER_ERRORS], directResult: true, union: { name: 'CancelOrderResult' } },
    args: { input: t.arg({ type: CancelOrderInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      cancelOrder(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
  returnOrderItems: t.field({
    type: ReturnOrderItemsPayload,
    description:
      'Returns items or an amount of an order: reverses earned points and restores redeemed points in proportion; vouchers come back once all of it is returned.',
    authScopes: { caller: SERVICE_CALLERS.returnOrderItems },
    errors: { types: [...ORDER_ERRORS], directResult: true, union: { name: 'ReturnOrderItemsResult' } },
    args: { input: t.arg({ type: ReturnOrderItemsInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      returnOrderItems(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
}));
