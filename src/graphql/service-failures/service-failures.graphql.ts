import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import {
  mayReadServiceFailure,
  reportServiceFailure,
  reviewServiceFailure,
  serviceFailureListWhere,
  type ReportedServiceFailure,
} from '../../domain/service-failures/service-failures.service.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import {
  ServiceFailureDecisionEnum,
  ServiceFailureRef,
  ServiceFailureStatusEnum,
  ServiceFailureTypeEnum,
  SeverityEnum,
} from './service-failure.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const ServiceFailureFilter = builder.inputType('ServiceFailureFilter', {
  description: 'Narrows a listing of service failures; all given conditions must hold.',
  fields: (t) => ({
    status: t.field({ type: ServiceFailureStatusEnum, required: false, description: 'Only failures with this status.' }),
    memberId: t.id({ required: false, description: 'Only failures of this member.' }),
    incidentId: t.id({ required: false, description: 'Only failures this service incident recorded.' }),
    type: t.field({ type: ServiceFailureTypeEnum, required: false, description: 'Only failures of this type.' }),
    severity: t.field({ type: SeverityEnum, required: false, description: 'Only failures of this severity.' }),
    from: t.field({ type: 'DateTime', required: false, description: 'Only failures that occurred at or after this time.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Only failures that occurred before this time.' }),
  }),
});

const failureListWhere = (filter: typeof ServiceFailureFilter.$inferInput | null | undefined, ctx: GraphQLContext) =>
  serviceFailureListWhere(
    filter
      ? {
          ...filter,
          memberId: filter.memberId == null ? null : decodeId('Member', 'filter.memberId', String(filter.memberId)),
          incidentId: filter.incidentId == null ? null : decodeId('ServiceIncident', 'filter.incidentId', String(filter.incidentId)),
        }
      : null,
    callerOf(ctx.principal),
  );

builder.queryFields((t) => ({
  serviceFailures: t.prismaConnection(
    {
      type: ServiceFailureRef,
      cursor: 'id',
      description: 'Service failures, most recent first, filtered; staff only.',
      authScopes: { caller: SERVICE_CALLERS.readServiceFailures },
      args: { filter: t.arg({ type: ServiceFailureFilter, required: false, description: 'Conditions to match.' }) },
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.serviceFailure.findMany({
          ...query,
          where: failureListWhere(args.filter, ctx),
          orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
        }),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.serviceFailure.count({ where: failureListWhere(args.filter, ctx) }),
    },
    counted(COUNT_COST.scan),
  ),
}));

const ReportServiceFailureInput = builder.inputType('ReportServiceFailureInput', {
  description: 'A service failure a member suffered; it is compensated by the policy, once.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    type: t.field({ type: ServiceFailureTypeEnum, required: true, description: 'What went wrong.' }),
    severity: t.field({ type: SeverityEnum, required: true, description: 'How bad it was.' }),
    occurredAt: t.field({ type: 'DateTime', required: false, description: 'When it happened; now when omitted.' }),
    orderRef: t.string({
      required: false,
      description: 'The order it concerns. The same member, type and order reported again is the same failure.',
    }),
    caseRef: t.string({ required: false, description: 'The service case it concerns.' }),
    description: t.string({ required: false, description: 'What happened, in words.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'member' })),
  }),
});

const ReviewServiceFailureInput = builder.inputType('ReviewServiceFailureInput', {
  description: "A supervisor's decision on a failure waiting for one: NEEDS_REVIEW (over the cap) or HELD (the member is suspended).",
  fields: (t) => ({
    failureId: t.id({ required: true, description: 'Service failure id.' }),
    decision: t.field({ type: ServiceFailureDecisionEnum, required: true, description: 'Grant or decline.' }),
    note: t.string({ required: true, description: 'Why, for the audit trail.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'decider', object: 'failure' })),
  }),
});

const ReportServiceFailurePayload = builder.objectRef<ReportedServiceFailure>('ReportServiceFailurePayload').implement({
  description: 'The recorded failure. Its compensation voucher follows within seconds (status COMPENSATED).',
  fields: (t) => ({
    duplicate: t.exposeBoolean('duplicate', {
      description: 'True when this failure (member, type, order) had been reported before: nothing more is compensated.',
    }),
    failure: t.prismaField({
      type: ServiceFailureRef,
      nullable: true,
      description:
        'The failure, as stored now. Null for a key with failures:report when it is a duplicate of a failure another caller reported: a reporting key reads only the failures it reported itself.',
      resolve: async (query, result, _args, ctx) => {
        const failure = await ctx.deps.prisma.serviceFailure.findUniqueOrThrow({ ...query, where: { id: result.failureId } });
        // Another reporter's failure (a duplicate) is not this key's to read: its words stay its reporter's.
        return mayReadServiceFailure(callerOf(ctx.principal), failure) ? failure : null;
      },
    }),
  }),
});

const ReviewServiceFailurePayload = builder.objectRef<{ failureId: string }>('ReviewServiceFailurePayload').implement({
  description: 'The reviewed failure: COMPENSATED with its voucher, or NOT_ELIGIBLE.',
  fields: (t) => ({
    failure: t.prismaField({
      type: ServiceFailureRef,
      description: 'The failure after the decision.',
      resolve: (query, result, _args, ctx) =>
        ctx.deps.prisma.serviceFailure.findUniqueOrThrow({ ...query, where: { id: result.failureId } }),
    }),
  }),
});

const FAILURE_ERRORS = [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError] as const;

builder.mutationFields((t) => ({
  reportServiceFailure: t.field({
    type: ReportServiceFailurePayload,
    description:
      'Records a service failure and queues its compensation (storefront keys with failures:report, agents and above). A duplicate report compensates nothing more.',
    authScopes: { caller: SERVICE_CALLERS.reportServiceFailure },
    errors: { types: [...FAILURE_ERRORS], directResult: true, union: { name: 'ReportServiceFailureResult' } },
    args: { input: t.arg({ type: ReportServiceFailureInput, required: true, description: 'The failure.' }) },
    resolve: (_root, { input }, ctx) =>
      reportServiceFailure(
        ctx.deps,
        { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) },
        callerOf(ctx.principal),
      ),
  }),
  reviewServiceFailure: t.field({
    type: ReviewServiceFailurePayload,
    description:
      'Grants or declines the compensation of a failure waiting for a decision: NEEDS_REVIEW (over the cap) or HELD (the member is suspended; granting issues it now). A compensation computed in another currency than the program’s (it changed since) cannot be granted: ValidationError, decline it. Supervisors and admins.',
    authScopes: { caller: SERVICE_CALLERS.reviewServiceFailure },
    errors: { types: [...FAILURE_ERRORS], directResult: true, union: { name: 'ReviewServiceFailureResult' } },
    args: { input: t.arg({ type: ReviewServiceFailureInput, required: true, description: 'The decision.' }) },
    resolve: (_root, { input }, ctx) =>
      reviewServiceFailure(
        ctx.deps,
        { ...input, failureId: decodeId('ServiceFailure', 'failureId', String(input.failureId)) },
        callerOf(ctx.principal),
      ),
  }),
}));
