import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { loyaltyMetrics } from '../../domain/metrics/loyalty-metrics.service.js';
import { builder } from '../builder.js';
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
    errors: { types: [...COMMON_ERRORS], directResult: true, union: { name: 'LoyaltyMetricsResult' } },
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
        description: 'The series: NONE (one bucket), DAY (at most 366), WEEK or MONTH, in UTC.',
      }),
    },
    resolve: (_root, args, ctx) =>
      loyaltyMetrics(ctx.deps, { from: args.from, to: args.to, channel: args.channel, groupBy: args.groupBy }, callerOf(ctx.principal)),
  }),
);
