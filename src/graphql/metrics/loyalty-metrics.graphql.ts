import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { ForbiddenError, UnauthenticatedError } from '../../domain/errors.js';
import { loyaltyMetrics } from '../../domain/metrics/loyalty-metrics.service.js';
import { builder } from '../builder.js';
import { ReadRefusal } from '../error-masking.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { ServiceChannelEnum } from '../feedback/feedback.type.js';
import { LoyaltyMetricsRef, MetricsGroupByEnum } from './loyalty-metrics.type.js';

builder.queryField('loyaltyMetrics', (t) =>
  t.field({
    type: LoyaltyMetricsRef,
    description:
      'Service quality and loyalty for a period (at most 3 years): NPS, CSAT, first-contact resolution, response and ' +
      'resolution times, renewal rate, members by status, compensation and goodwill spend, voucher redemption, churn ' +
      'after failure, recovery and detractor conversion, as totals and as a UTC series. Supervisors, admins and admin keys.',
    authScopes: { caller: SERVICE_CALLERS.loyaltyMetrics },
    // A refusal is the read rule's null with FORBIDDEN / UNAUTHENTICATED, not a typed result.
    unauthorizedError: (_parent, _args, context) =>
      new ReadRefusal(context.principal.kind === 'anonymous' ? new UnauthenticatedError() : new ForbiddenError()),
    errors: {
      types: [...COMMON_ERRORS],
      directResult: true,
      union: {
        name: 'LoyaltyMetricsResult',
        description:
          'The figures, or a ValidationError for a period or grouping it cannot answer. A caller who may not read them gets null with a top-level FORBIDDEN or UNAUTHENTICATED error, as on every read (docs/errors.md): ForbiddenError and UnauthenticatedError stay members only so that documents spreading them keep validating, are no longer returned, and leave the union after 2027-06-30.',
      },
    },
    args: {
      from: t.arg({ type: 'DateTime', required: true, description: 'Start of the period, inclusive.' }),
      to: t.arg({ type: 'DateTime', required: true, description: 'End of the period, exclusive; after `from`, at most 3 years later.' }),
      channel: t.arg({
        type: ServiceChannelEnum,
        required: false,
        description: 'Only cases and feedback of this channel; the other figures are not per channel (docs/metrics.md).',
      }),
      groupBy: t.arg({
        type: MetricsGroupByEnum,
        required: false,
        defaultValue: 'NONE',
        description: 'The series: NONE (one bucket), DAY (a period of at most 366 days), WEEK or MONTH, in UTC.',
      }),
    },
    resolve: (_root, args, ctx) =>
      loyaltyMetrics(ctx.deps, { from: args.from, to: args.to, channel: args.channel, groupBy: args.groupBy }, callerOf(ctx.principal)),
  }),
);
