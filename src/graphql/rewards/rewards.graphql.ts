import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, InsufficientPointsError, NotFoundError, RewardUnavailableError } from '../../domain/errors.js';
import {
  createReward,
  redeemReward,
  retireReward,
  REWARD_CATALOGUE_ORDER,
  rewardListWhere,
  updateReward,
  type RewardRedemptionResult,
} from '../../domain/rewards/rewards.service.js';
import { builder } from '../builder.js';
import { amountOf, deprecatedFor, MoneyInput, namingSentFields, renamesWithCurrency } from '../money.type.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { VoucherRef } from '../vouchers/voucher.type.js';
import { REWARD_READERS, RewardRef } from './reward.type.js';
import { positionCursors } from '../position-cursors.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

builder.queryField('rewards', (t) =>
  t.prismaConnection(
    {
      type: RewardRef,
      cursor: 'id',
      description: 'The rewards catalogue, cheapest first. Only active rewards, unless an admin asks for retired ones too.',
      authScopes: REWARD_READERS,
      args: {
        includeRetired: t.arg.boolean({ required: false, description: 'Include retired rewards (admins only).' }),
      },
      ...positionCursors(REWARD_CATALOGUE_ORDER),
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.reward.findMany({
          ...query,
          where: rewardListWhere(callerOf(ctx.principal), args.includeRetired),
          orderBy: REWARD_CATALOGUE_ORDER.orderBy,
        }),
      totalCount: (_root, args, ctx) =>
        ctx.deps.prisma.reward.count({ where: rewardListWhere(callerOf(ctx.principal), args.includeRetired) }),
    },
    counted(COUNT_COST.small),
  ),
);

const RewardPayload = (name: string, description: string) =>
  builder.objectRef<{ rewardId: string }>(name).implement({
    description,
    fields: (t) => ({
      reward: t.prismaField({
        type: RewardRef,
        description: 'The reward, as stored.',
        resolve: (query, parent, _args, ctx) => ctx.deps.prisma.reward.findUniqueOrThrow({ ...query, where: { id: parent.rewardId } }),
      }),
    }),
  });

const CreateRewardPayload = RewardPayload('CreateRewardPayload', 'The new reward.');
const UpdateRewardPayload = RewardPayload('UpdateRewardPayload', 'The changed reward.');
const RetireRewardPayload = RewardPayload('RetireRewardPayload', 'The retired reward.');

const RedeemRewardPayload = builder.objectRef<RewardRedemptionResult>('RedeemRewardPayload').implement({
  description: 'A reward bought with points: the points debit and the voucher it issued.',
  fields: (t) => ({
    pointsSpent: t.field({ type: 'Points', description: 'Points the reward cost.', resolve: (result) => -result.points }),
    voucher: t.prismaField({
      type: VoucherRef,
      description: 'The REWARD voucher issued.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.voucher.findUniqueOrThrow({ ...query, where: { id: result.voucherId } }),
    }),
    member: t.prismaField({
      type: 'Member',
      description: 'The member after the purchase.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.member.findUniqueOrThrow({ ...query, where: { id: result.memberId } }),
    }),
    entry: t.prismaField({
      type: 'LedgerEntry',
      description: 'The REDEEM ledger entry for the points.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.ledgerEntry.findUniqueOrThrow({ ...query, where: { id: result.entryId } }),
    }),
    reward: t.prismaField({
      type: RewardRef,
      description: 'The reward bought.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.reward.findUniqueOrThrow({ ...query, where: { id: result.rewardId } }),
    }),
  }),
});

const VOUCHER_VALUE = { legacy: 'voucherValue', money: 'voucherValueMoney' };
/** The services' name for the MoneyInput's currency (createReward's own `currency` is a field of its input). */
const VOUCHER_VALUE_CURRENCY = 'voucherValueCurrency';

const CreateRewardInput = builder.inputType('CreateRewardInput', {
  description: 'A new reward in the catalogue.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Name shown to members.' }),
    description: t.string({ required: false, description: 'Longer text shown to members.' }),
    pointsCost: t.field({ type: 'Points', required: true, description: 'Points it costs (positive).' }),
    voucherValueMoney: t.field({
      type: MoneyInput,
      required: false,
      description:
        'Value of the voucher it issues, as `Reward.voucherValue` reads (program currency). Required unless the deprecated voucherValue is given.',
    }),
    voucherValue: t.string({
      required: false,
      deprecationReason: deprecatedFor('voucherValueMoney'),
      description: 'Value of the voucher it issues, decimal string, e.g. "5.00". Give this or voucherValueMoney, not both.',
    }),
    currency: t.string({ required: false, description: 'ISO 4217; must be the program currency when given.' }),
    stock: t.int({ required: false, description: 'Units available; unlimited when omitted.' }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'caller' },
        {
          required: false,
          repeat:
            'Unique per request: a retry with the same key and the same fields answers the reward its first call created (as it is now), without a second one; with other fields it is an IdempotencyConflictError. Optional so that existing clients keep working; without it every call adds a reward.',
        },
      ),
    ),
  }),
});

const UpdateRewardInput = builder.inputType('UpdateRewardInput', {
  description: 'Changes to a reward; omitted fields stay as they are.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'Reward id.' }),
    name: t.string({ required: false, description: 'New name.' }),
    description: t.string({ required: false, description: 'New description.' }),
    pointsCost: t.field({ type: 'Points', required: false, description: 'New price in points.' }),
    voucherValueMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'New voucher value, as `Reward.voucherValue` reads (program currency).',
    }),
    voucherValue: t.string({
      required: false,
      deprecationReason: deprecatedFor('voucherValueMoney'),
      description: 'New voucher value, decimal string. Give this or voucherValueMoney, not both.',
    }),
    stock: t.int({ required: false, description: 'Units left from now on.' }),
    unlimitedStock: t.boolean({ required: false, description: 'True removes the stock limit.' }),
  }),
});

const RetireRewardInput = builder.inputType('RetireRewardInput', {
  description: 'A reward to take out of the catalogue.',
  fields: (t) => ({ id: t.id({ required: true, description: 'Reward id.' }) }),
});

const RedeemRewardInput = builder.inputType('RedeemRewardInput', {
  description: 'Buy a reward with points.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'The buying member (a member token: themself only).' }),
    rewardId: t.id({ required: true, description: 'Reward id.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

builder.mutationFields((t) => ({
  createReward: t.field({
    type: CreateRewardPayload,
    description: 'Adds a reward to the catalogue (admins); once per idempotencyKey.',
    authScopes: { caller: SERVICE_CALLERS.changeRewards },
    errors: { types: [...COMMON_ERRORS, IdempotencyConflictError], directResult: true, union: { name: 'CreateRewardResult' } },
    args: { input: t.arg({ type: CreateRewardInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { voucherValueMoney, ...rest } = input;
      const voucherValue = await amountOf(ctx.deps, VOUCHER_VALUE, input.voucherValue, voucherValueMoney, { required: true });
      // The currency goes to the service too, which holds it against the program's under its locks.
      const voucherValueCurrency = voucherValueMoney?.currency ?? null;
      const reward = await namingSentFields(renamesWithCurrency(VOUCHER_VALUE, voucherValueMoney, VOUCHER_VALUE_CURRENCY), () =>
        createReward(ctx.deps, { ...rest, voucherValue: voucherValue!, voucherValueCurrency }, callerOf(ctx.principal)),
      );
      return { rewardId: reward.id };
    },
  }),
  updateReward: t.field({
    type: UpdateRewardPayload,
    description: 'Changes a reward: name, price, voucher value or stock (admins).',
    authScopes: { caller: SERVICE_CALLERS.changeRewards },
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'UpdateRewardResult' } },
    args: { input: t.arg({ type: UpdateRewardInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeId('Reward', 'id', String(input.id));
      const { voucherValueMoney, ...rest } = input;
      const voucherValue = await amountOf(ctx.deps, VOUCHER_VALUE, input.voucherValue, voucherValueMoney, { required: false });
      const voucherValueCurrency = voucherValueMoney?.currency ?? null;
      const reward = await namingSentFields(renamesWithCurrency(VOUCHER_VALUE, voucherValueMoney, VOUCHER_VALUE_CURRENCY), () =>
        updateReward(ctx.deps, { ...rest, id, voucherValue, voucherValueCurrency }, callerOf(ctx.principal)),
      );
      return { rewardId: reward.id };
    },
  }),
  retireReward: t.field({
    type: RetireRewardPayload,
    description: 'Takes a reward out of the catalogue for good (admins). Vouchers already bought stay valid.',
    authScopes: { caller: SERVICE_CALLERS.changeRewards },
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'RetireRewardResult' } },
    args: { input: t.arg({ type: RetireRewardInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const reward = await retireReward(ctx.deps, { id: decodeId('Reward', 'id', String(input.id)) }, callerOf(ctx.principal));
      return { rewardId: reward.id };
    },
  }),
  redeemReward: t.field({
    type: RedeemRewardPayload,
    description: 'Buys a reward with points: debits the points and issues a REWARD voucher, in one transaction.',
    authScopes: { caller: SERVICE_CALLERS.redeemReward },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError, InsufficientPointsError, RewardUnavailableError],
      directResult: true,
      union: { name: 'RedeemRewardResult' },
    },
    args: { input: t.arg({ type: RedeemRewardInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      redeemReward(
        ctx.deps,
        {
          memberId: decodeId('Member', 'memberId', String(input.memberId)),
          rewardId: decodeId('Reward', 'rewardId', String(input.rewardId)),
          idempotencyKey: input.idempotencyKey,
        },
        callerOf(ctx.principal),
      ),
  }),
}));
