import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, NotFoundError, VoucherNotRedeemableError } from '../../domain/errors.js';
import {
  redeemVoucher,
  validateVoucher,
  visibleVoucherWhere,
  voidVoucher,
  type VoucherRedemptionOutcome,
  type VoucherValidation,
} from '../../domain/vouchers/vouchers.service.js';
import { builder } from '../builder.js';
import { amountOf, deprecatedFor, MoneyInput, namingSentFields, renamesFor, renamesWithCurrency } from '../money.type.js';

import { COMMON_ERRORS, VoucherProblemEnum } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { Money } from '../money.type.js';
import { VoucherRef } from './voucher.type.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const ORDER_TOTAL = { legacy: 'orderTotal', money: 'orderTotalMoney' };

const VoucherValidationRef = builder.objectRef<VoucherValidation>('VoucherValidation').implement({
  description: 'Whether a code can be redeemed against an order, and if not, why.',
  fields: (t) => ({
    valid: t.exposeBoolean('valid', { description: 'True when `redeemVoucher` would accept it for this order now.' }),
    reason: t.expose('reason', {
      type: VoucherProblemEnum,
      nullable: true,
      description: 'Why it cannot be used; null when valid.',
    }),
    discount: t.field({
      type: Money,
      description: 'What it would take off this order (0 when not valid).',
      resolve: (validation) => ({ amount: validation.discount, currency: validation.currency }),
    }),
    voucher: t.prismaField({
      type: VoucherRef,
      nullable: true,
      description: 'The voucher; null when there is none or it belongs to another member.',
      resolve: (query, validation, _args, ctx) =>
        validation.voucherId ? ctx.deps.prisma.voucher.findUnique({ ...query, where: { id: validation.voucherId } }) : null,
    }),
  }),
});

builder.queryFields((t) => ({
  voucher: t.prismaField({
    type: VoucherRef,
    nullable: true,
    description: 'A voucher by its code (case and dashes do not matter). Members find only their own.',
    authScopes: { caller: SERVICE_CALLERS.readVouchers },
    args: { code: t.arg.string({ required: true, description: 'The voucher code.' }) },
    resolve: (query, _root, args, ctx) =>
      ctx.deps.prisma.voucher.findUnique({ ...query, where: visibleVoucherWhere(args.code, callerOf(ctx.principal)) }),
  }),
  validateVoucher: t.field({
    type: VoucherValidationRef,
    description: 'Checks a code against an order before checkout. Changes nothing.',
    authScopes: { caller: SERVICE_CALLERS.validateVoucher },
    args: {
      code: t.arg.string({ required: true, description: 'The voucher code.' }),
      orderTotalMoney: t.arg({
        type: MoneyInput,
        required: false,
        description:
          'Order value, e.g. { amount: "49.90", currency: "EUR" } (program currency). Required unless the deprecated orderTotal is given.',
      }),
      orderTotal: t.arg.string({
        required: false,
        deprecationReason: deprecatedFor('orderTotalMoney'),
        description: 'Order value, decimal string, e.g. "49.90". Give this or orderTotalMoney, not both.',
      }),
      memberId: t.arg.id({ required: false, description: 'The member placing the order; another member’s voucher is WRONG_MEMBER.' }),
      orderRef: t.arg.string({
        required: false,
        description:
          'The storefront order reference it would be redeemed on: the vouchers already redeemed on that order count, as `redeemVoucher` counts them (the discount is at most what they left of the total; ORDER_FULLY_DISCOUNTED when they left nothing). Without it, the voucher is judged alone.',
      }),
    },
    resolve: async (_root, args, ctx) => {
      const orderTotal = await amountOf(ctx.deps, ORDER_TOTAL, args.orderTotal, args.orderTotalMoney, { required: true });
      return namingSentFields(renamesFor(ORDER_TOTAL, args.orderTotalMoney), () =>
        validateVoucher(
          ctx.deps,
          {
            code: args.code,
            orderTotal: orderTotal!,
            memberId: args.memberId == null ? null : decodeId('Member', 'memberId', String(args.memberId)),
            orderRef: args.orderRef ?? null,
          },
          callerOf(ctx.principal),
        ),
      );
    },
  }),
}));

const RedeemVoucherPayload = builder.objectRef<VoucherRedemptionOutcome>('RedeemVoucherPayload').implement({
  description: 'A redeemed voucher and the discount it granted on the order.',
  fields: (t) => ({
    orderRef: t.exposeString('orderRef', { description: 'The order the voucher was redeemed on.' }),
    discount: t.field({
      type: Money,
      description: 'What the voucher takes off the order: at most what the vouchers redeemed on it before left of its total.',
      resolve: (result) => ({ amount: result.discount, currency: result.currency }),
    }),
    voucher: t.prismaField({
      type: VoucherRef,
      description: 'The voucher, now REDEEMED.',
      // As the points payloads' member: the redemption's row when it has one (not on a replay).
      resolve: (query, result, _args, ctx) =>
        result.voucher ?? ctx.deps.prisma.voucher.findUniqueOrThrow({ ...query, where: { id: result.voucherId } }),
    }),
  }),
});

const VoidVoucherPayload = builder.objectRef<{ voucherId: string }>('VoidVoucherPayload').implement({
  description: 'A voucher taken out of use.',
  fields: (t) => ({
    voucher: t.prismaField({
      type: VoucherRef,
      description: 'The voucher, now VOIDED.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.voucher.findUniqueOrThrow({ ...query, where: { id: result.voucherId } }),
    }),
  }),
});

const RedeemVoucherInput = builder.inputType('RedeemVoucherInput', {
  description: 'Redeem a voucher on an order, once.',
  fields: (t) => ({
    code: t.string({ required: true, description: 'The voucher code (case and dashes do not matter).' }),
    orderRef: t.string({ required: true, description: 'The storefront order reference.' }),
    orderTotalMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Order value before the discount (program currency). Required unless the deprecated orderTotal is given.',
    }),
    orderTotal: t.string({
      required: false,
      deprecationReason: deprecatedFor('orderTotalMoney'),
      description: 'Order value before the discount, decimal string. Give this or orderTotalMoney, not both.',
    }),
    memberId: t.id({ required: false, description: 'The member placing the order; another member’s voucher is refused.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'voucher' })),
  }),
});

const VoidVoucherInput = builder.inputType('VoidVoucherInput', {
  description: 'Take a voucher out of use.',
  fields: (t) => ({
    code: t.string({ required: true, description: 'The voucher code.' }),
    reason: t.string({ required: true, description: 'Why, for the audit trail.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'voucher' })),
  }),
});

const VOUCHER_ERRORS = [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError] as const;

builder.mutationFields((t) => ({
  redeemVoucher: t.field({
    type: RedeemVoucherPayload,
    description:
      'Redeems a voucher on an order. A second redemption fails (REDEEMED); a repeated request replays. The vouchers redeemed on one order take off at most its total together: ORDER_FULLY_DISCOUNTED when the others left nothing (the voucher stays ISSUED).',
    authScopes: { caller: SERVICE_CALLERS.redeemVoucher },
    errors: {
      types: [...VOUCHER_ERRORS, VoucherNotRedeemableError],
      directResult: true,
      union: { name: 'RedeemVoucherResult' },
    },
    args: { input: t.arg({ type: RedeemVoucherInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { orderTotalMoney, ...rest } = input;
      const orderTotal = await amountOf(ctx.deps, ORDER_TOTAL, input.orderTotal, orderTotalMoney, { required: true });
      // The currency goes to the service too, which holds it against the program's under the redemption's locks.
      const currency = orderTotalMoney?.currency ?? null;
      return namingSentFields(renamesWithCurrency(ORDER_TOTAL, orderTotalMoney), () =>
        redeemVoucher(
          ctx.deps,
          {
            ...rest,
            orderTotal: orderTotal!,
            currency,
            memberId: input.memberId == null ? null : decodeId('Member', 'memberId', String(input.memberId)),
          },
          callerOf(ctx.principal),
        ),
      );
    },
  }),
  voidVoucher: t.field({
    type: VoidVoucherPayload,
    description: 'Takes an unredeemed voucher out of use (staff).',
    authScopes: { caller: SERVICE_CALLERS.voidVoucher },
    errors: { types: [...VOUCHER_ERRORS], directResult: true, union: { name: 'VoidVoucherResult' } },
    args: { input: t.arg({ type: VoidVoucherInput, required: true }) },
    resolve: (_root, { input }, ctx) => voidVoucher(ctx.deps, input, callerOf(ctx.principal)),
  }),
}));
