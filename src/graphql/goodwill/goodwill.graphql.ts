import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { GoodwillNotPendingError, IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import {
  approveGoodwill,
  getAgentAuthority,
  goodwillGestureWhere,
  issueGoodwill,
  rejectGoodwill,
  setAgentAuthority,
  type GoodwillResult,
} from '../../domain/goodwill/goodwill.service.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import {
  amountOf,
  deprecatedFor,
  MoneyInput,
  namingSentFields,
  renamesWithCurrency,
  type AmountFields,
  type MoneyInputShape,
} from '../money.type.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import {
  AgentAuthorityRef,
  GoodwillGestureRef,
  GoodwillKindEnum,
  GoodwillReasonEnum,
  GoodwillStatusEnum,
} from './goodwill-gesture.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const GoodwillGestureFilter = builder.inputType('GoodwillGestureFilter', {
  description: 'Narrows a goodwill listing; all given conditions must hold.',
  fields: (t) => ({
    status: t.field({ type: GoodwillStatusEnum, required: false, description: 'Only gestures with this status.' }),
    agentId: t.string({ required: false, description: 'Only gestures issued by this agent.' }),
    memberId: t.id({ required: false, description: 'Only gestures for this member.' }),
    reason: t.field({ type: GoodwillReasonEnum, required: false, description: 'Only gestures with this reason.' }),
    from: t.field({ type: 'DateTime', required: false, description: 'Issued at or after this moment.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Issued before this moment.' }),
  }),
});

const gestureListWhere = (filter: typeof GoodwillGestureFilter.$inferInput | null | undefined, ctx: GraphQLContext) =>
  goodwillGestureWhere(
    filter && {
      ...filter,
      memberId: filter.memberId == null ? null : decodeId('Member', 'memberId', String(filter.memberId)),
    },
    callerOf(ctx.principal),
  );

builder.queryFields((t) => ({
  goodwillGestures: t.prismaConnection(
    {
      type: GoodwillGestureRef,
      cursor: 'id',
      description: 'Goodwill gestures, newest first, filtered (staff). Supervisors find pending ones with status PENDING_APPROVAL.',
      authScopes: { caller: SERVICE_CALLERS.readGoodwill },
      args: { filter: t.arg({ type: GoodwillGestureFilter, required: false, description: 'Conditions to match.' }) },
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.goodwillGesture.findMany({
          ...query,
          where: gestureListWhere(args.filter, ctx),
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        }),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.goodwillGesture.count({ where: gestureListWhere(args.filter, ctx) }),
    },
    counted(COUNT_COST.scan),
  ),
  agentAuthority: t.field({
    type: AgentAuthorityRef,
    description: 'An agent’s goodwill authority and what they granted this month. Agents read their own; supervisors anyone’s.',
    authScopes: { caller: SERVICE_CALLERS.readAgentAuthority },
    args: { agentId: t.arg.string({ required: false, description: 'The agent’s staff id; the caller when omitted.' }) },
    resolve: (_root, args, ctx) => getAgentAuthority(ctx.deps, args.agentId, callerOf(ctx.principal)),
  }),
}));

const gesturePayload = (name: string, description: string) =>
  builder.objectRef<GoodwillResult>(name).implement({
    description,
    fields: (t) => ({
      status: t.field({
        type: GoodwillStatusEnum,
        description: 'The gesture’s status after this step.',
        resolve: (result) => result.status,
      }),
      gesture: t.prismaField({
        type: GoodwillGestureRef,
        description: 'The gesture, as stored.',
        resolve: (query, result, _args, ctx) =>
          ctx.deps.prisma.goodwillGesture.findUniqueOrThrow({ ...query, where: { id: result.gestureId } }),
      }),
    }),
  });

const IssueGoodwillPayload = gesturePayload(
  'IssueGoodwillPayload',
  'A goodwill gesture: GRANTED at once within the agent’s authority, otherwise PENDING_APPROVAL.',
);
const ApproveGoodwillPayload = gesturePayload('ApproveGoodwillPayload', 'An approved gesture, now GRANTED.');
const RejectGoodwillPayload = gesturePayload('RejectGoodwillPayload', 'A rejected gesture; nothing was granted.');

const SetAgentAuthorityPayload = builder
  .objectRef<{ authority: typeof AgentAuthorityRef.$inferType }>('SetAgentAuthorityPayload')
  .implement({
    description: 'An agent’s goodwill authority after the change.',
    fields: (t) => ({
      authority: t.field({ type: AgentAuthorityRef, description: 'The authority now.', resolve: (p) => p.authority }),
    }),
  });

const IssueGoodwillInput = builder.inputType('IssueGoodwillInput', {
  description: 'A goodwill gesture: points or a voucher, with a reason code and a note.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    kind: t.field({ type: GoodwillKindEnum, required: true, description: 'POINTS or VOUCHER.' }),
    points: t.field({ type: 'Points', required: false, description: 'Points to give (POINTS gestures only).' }),
    amountMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Voucher value in the program currency, as `GoodwillGesture.amount` reads (VOUCHER gestures only).',
    }),
    amount: t.string({
      required: false,
      deprecationReason: deprecatedFor('amountMoney'),
      description: 'Voucher value in the program currency, decimal string (VOUCHER gestures only). Give this or amountMoney, not both.',
    }),
    reason: t.field({ type: GoodwillReasonEnum, required: true, description: 'Reason code.' }),
    note: t.string({ required: true, description: 'What happened, for the audit trail.' }),
    caseRef: t.string({ required: false, description: 'The service case it belongs to.' }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'caller' },
        { repeat: 'Unique per request: repeating it returns the first result without a second gesture.' },
      ),
    ),
  }),
});

const ApproveGoodwillInput = builder.inputType('ApproveGoodwillInput', {
  description: 'A supervisor’s approval of a gesture waiting for it.',
  fields: (t) => ({
    gestureId: t.id({ required: true, description: 'The gesture.' }),
    note: t.string({ required: false, description: 'Why, for the audit trail.' }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'decider', object: 'gesture' },
        { repeat: 'Unique per request: repeating it returns the first result; the points or voucher are granted once.' },
      ),
    ),
  }),
});

const RejectGoodwillInput = builder.inputType('RejectGoodwillInput', {
  description: 'A supervisor’s rejection of a gesture waiting for approval.',
  fields: (t) => ({
    gestureId: t.id({ required: true, description: 'The gesture.' }),
    note: t.string({ required: true, description: 'Why, for the audit trail and the agent.' }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'decider', object: 'gesture' },
        {
          required: false,
          repeat:
            'Unique per request: repeating it with the same note returns the first result (the gesture as rejected), with another note it is an IdempotencyConflictError. Without it, a second reject is a GoodwillNotPendingError.',
        },
      ),
    ),
  }),
});

const SetAgentAuthorityInput = builder.inputType('SetAgentAuthorityInput', {
  description: 'An agent’s own goodwill limits. An omitted field stays as it is; null returns it to the program default.',
  fields: (t) => ({
    agentId: t.string({ required: true, description: 'The agent’s staff id.' }),
    perGestureLimitMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Highest value of one gesture granted at once, as `AgentAuthority.perGestureLimit` reads; null: the program default.',
    }),
    perGestureLimit: t.string({
      required: false,
      deprecationReason: deprecatedFor('perGestureLimitMoney'),
      description: 'Highest value of one gesture granted at once, decimal string. Give this or perGestureLimitMoney, not both.',
    }),
    perGesturePointsLimit: t.field({
      type: 'Points',
      required: false,
      description: 'Most points one gesture may give to be granted at once (0 or more).',
    }),
    monthlyBudgetMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Most value granted per calendar month (UTC), as `AgentAuthority.monthlyBudget` reads; null: the program default.',
    }),
    monthlyBudget: t.string({
      required: false,
      deprecationReason: deprecatedFor('monthlyBudgetMoney'),
      description: 'Most value granted per calendar month (UTC), decimal string. Give this or monthlyBudgetMoney, not both.',
    }),
  }),
});

const GESTURE_AMOUNT = { legacy: 'amount', money: 'amountMoney' };
const AGENT_PER_GESTURE = { legacy: 'perGestureLimit', money: 'perGestureLimitMoney' };
const AGENT_MONTHLY = { legacy: 'monthlyBudget', money: 'monthlyBudgetMoney' };

/** An optional limit where null means "back to the program default", given through either field. */
async function limitOf(
  ctx: GraphQLContext,
  fields: AmountFields,
  legacy: string | null | undefined,
  given: MoneyInputShape | null | undefined,
): Promise<string | null | undefined> {
  if ((legacy === null && given === undefined) || (legacy === undefined && given === null)) return null;
  return amountOf(ctx.deps, fields, legacy, given, { required: false });
}

const gestureId = (value: string | number) => decodeId('GoodwillGesture', 'gestureId', String(value));

builder.mutationFields((t) => ({
  issueGoodwill: t.field({
    type: IssueGoodwillPayload,
    description:
      'An agent gives a member points or a voucher. Within the agent’s authority it is GRANTED at once; above it, it succeeds as PENDING_APPROVAL for a supervisor.',
    authScopes: { caller: SERVICE_CALLERS.issueGoodwill },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError],
      directResult: true,
      union: { name: 'IssueGoodwillResult' },
    },
    args: { input: t.arg({ type: IssueGoodwillInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { amountMoney, ...rest } = input;
      const amount = await amountOf(ctx.deps, GESTURE_AMOUNT, input.amount, amountMoney, { required: false });
      // The currency goes to the service too, which holds it against the program's under the gesture's locks.
      const currency = amountMoney?.currency ?? null;
      return namingSentFields(renamesWithCurrency(GESTURE_AMOUNT, amountMoney), () =>
        issueGoodwill(
          ctx.deps,
          { ...rest, amount, currency, memberId: decodeId('Member', 'memberId', String(input.memberId)) },
          callerOf(ctx.principal),
        ),
      );
    },
  }),
  approveGoodwill: t.field({
    type: ApproveGoodwillPayload,
    description:
      'A supervisor approves a PENDING_APPROVAL gesture of another agent; the points or voucher are granted in the same step. A VOUCHER gesture issued in another currency than the program’s (it changed since) is a ValidationError: reject it and issue a new one.',
    authScopes: { caller: SERVICE_CALLERS.decideGoodwill },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError, GoodwillNotPendingError],
      directResult: true,
      union: { name: 'ApproveGoodwillResult' },
    },
    args: { input: t.arg({ type: ApproveGoodwillInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      approveGoodwill(ctx.deps, { ...input, gestureId: gestureId(input.gestureId) }, callerOf(ctx.principal)),
  }),
  rejectGoodwill: t.field({
    type: RejectGoodwillPayload,
    description: 'A supervisor rejects a PENDING_APPROVAL gesture of another agent; nothing is granted.',
    authScopes: { caller: SERVICE_CALLERS.decideGoodwill },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError, GoodwillNotPendingError],
      directResult: true,
      union: { name: 'RejectGoodwillResult' },
    },
    args: { input: t.arg({ type: RejectGoodwillInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      rejectGoodwill(ctx.deps, { ...input, gestureId: gestureId(input.gestureId) }, callerOf(ctx.principal)),
  }),
  setAgentAuthority: t.field({
    type: SetAgentAuthorityPayload,
    description: 'Sets an agent’s goodwill limits (supervisors and admins; supervisors not their own).',
    authScopes: { caller: SERVICE_CALLERS.setAgentAuthority },
    errors: { types: [...COMMON_ERRORS], directResult: true, union: { name: 'SetAgentAuthorityResult' } },
    args: { input: t.arg({ type: SetAgentAuthorityInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { perGestureLimitMoney, monthlyBudgetMoney, ...rest } = input;
      const perGestureLimit = await limitOf(ctx, AGENT_PER_GESTURE, input.perGestureLimit, perGestureLimitMoney);
      const monthlyBudget = await limitOf(ctx, AGENT_MONTHLY, input.monthlyBudget, monthlyBudgetMoney);
      // The currencies go to the service too, which holds them against the program's once the agent's row is locked.
      const renames = {
        ...renamesWithCurrency(AGENT_PER_GESTURE, perGestureLimitMoney, 'perGestureLimitCurrency'),
        ...renamesWithCurrency(AGENT_MONTHLY, monthlyBudgetMoney, 'monthlyBudgetCurrency'),
      };
      const authority = await namingSentFields(renames, () =>
        setAgentAuthority(
          ctx.deps,
          {
            ...rest,
            ...(perGestureLimit === undefined ? {} : { perGestureLimit }),
            ...(monthlyBudget === undefined ? {} : { monthlyBudget }),
            perGestureLimitCurrency: perGestureLimitMoney?.currency ?? null,
            monthlyBudgetCurrency: monthlyBudgetMoney?.currency ?? null,
          },
          callerOf(ctx.principal),
        ),
      );
      return { authority };
    },
  }),
}));
