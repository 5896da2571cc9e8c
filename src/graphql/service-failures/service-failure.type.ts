import { callerOf } from '../../auth/principal.js';
import { mayCall, SERVICE_CALLERS } from '../../domain/authorization.js';
import {
  mayReadServiceFailure,
  readServiceFailure,
  SERVICE_FAILURE_READERS,
  SERVICE_FAILURE_REPORTERS,
  type ServiceFailureOwners,
  storedCompensation,
  type ServiceFailureReadShape,
} from '../../domain/service-failures/service-failures.service.js';
import type { ServiceFailureReviewReason, ServiceFailureStatus, ServiceFailureType, Severity } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { ActorTypeEnum } from '../enums.js';
import { loadThroughService } from '../node-loader.js';
import { Money } from '../money.type.js';
import { VoucherRef } from '../vouchers/voucher.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { REFUSED_AS_NULL, STAFF_ONLY } from '../staff-only.js';

// The GraphQL enums carry the stored strings of the Prisma enums of the same names, each value described.
export const ServiceFailureTypeEnum = builder.enumType('ServiceFailureType', {
  description: 'What went wrong for the member.',
  values: {
    LATE_DELIVERY: { description: 'An order arrived late.' },
    DEFECTIVE_PRODUCT: { description: 'A product was broken or did not work.' },
    WRONG_ITEM: { description: 'The wrong item was delivered.' },
    UNRESOLVED_CONTACT: { description: 'A contact with support did not solve the problem.' },
    LONG_WAIT: { description: 'The member waited too long (hotline, chat, store).' },
    BILLING_ERROR: { description: 'The member was billed wrongly.' },
    OUTAGE: { description: 'The service was unavailable.' },
    OTHER: { description: 'Anything else.' },
  } as const satisfies Record<ServiceFailureType, unknown>,
});
export const SeverityEnum = builder.enumType('Severity', {
  description:
    'How bad a service failure was; sets the base value of its compensation. From least to most severe: LOW < MEDIUM < HIGH < CRITICAL (schema.graphql lists values alphabetically).',
  values: {
    LOW: { description: 'A nuisance (base value 5 by default).' },
    MEDIUM: { description: 'A real inconvenience (base value 10 by default).' },
    HIGH: { description: 'A serious failure (base value 25 by default).' },
    CRITICAL: { description: 'A failure that may end the relationship (base value 50 by default).' },
  } as const satisfies Record<Severity, unknown>,
});
export const ServiceFailureStatusEnum = builder.enumType('ServiceFailureStatus', {
  description: 'Where the compensation of a service failure stands.',
  values: {
    RECORDED: { description: 'Accepted; the compensation worker has not decided yet (seconds).' },
    COMPENSATED: { description: 'A COMPENSATION voucher was issued.' },
    NEEDS_REVIEW: { description: 'The compensation would exceed the 30-day cap: waiting for a supervisor.' },
    NOT_ELIGIBLE: { description: 'No compensation: declined by a supervisor, or the member is closed.' },
    HELD: {
      description:
        'The member is suspended: the computed compensation is kept, issued when a supervisor reactivates the member (the policy and its cap measured again then) or decided by a supervisor before (reviewServiceFailure); declined if the member is closed.',
    },
  } as const satisfies Record<ServiceFailureStatus, unknown>,
});
export const ServiceFailureReviewReasonEnum = builder.enumType('ServiceFailureReviewReason', {
  description: 'Why a failure waits (or waited) for a supervisor.',
  values: {
    CAP: { description: "The member's compensation over the cap window would exceed the cap: decided one by one (reviewServiceFailure)." },
    INCIDENT_BUDGET: {
      description: "Its incident's budget was spent: one decision covers the whole remainder (decideServiceIncident).",
    },
  } as const satisfies Record<ServiceFailureReviewReason, unknown>,
});
export const ServiceFailureDecisionEnum = builder.enumType('ServiceFailureDecision', {
  description: "A supervisor's decision on a failure waiting for one (NEEDS_REVIEW or HELD).",
  values: {
    GRANT: { description: 'Issue the compensation voucher the policy computed.' },
    DECLINE: { description: 'No compensation: the failure becomes NOT_ELIGIBLE.' },
  } as const,
});

/**
 * Who may see a member's service failures: staff and the member they happened to (SERVICE_FAILURE_READERS, the rule
 * the service's read checks too). Keys that report failures are no readers (`failureVisibility`).
 */
export const serviceFailureVisibility = (memberId: string) => ({ ownRow: { rule: SERVICE_FAILURE_READERS, memberId } });

/**
 * Who may see one failure: the readers, and a reporting key the failures it reported itself — its report's answer,
 * by `node(id)` later, from its own incident (`mayReadServiceFailure`, the rule of the service's read by id). Another
 * reporter's failure is refused to such a key wherever it is reached (FORBIDDEN).
 */
function failureVisibility(failure: ServiceFailureOwners, ctx: GraphQLContext) {
  const caller = callerOf(ctx.principal);
  const ownReport = !mayCall(caller, SERVICE_FAILURE_READERS) && mayReadServiceFailure(caller, failure);
  return ownReport ? { caller: SERVICE_FAILURE_REPORTERS } : serviceFailureVisibility(failure.memberId);
}

/**
 * Who may ask for service incidents: the incidents service's rule (SERVICE_CALLERS.readServiceIncident: staff, and keys
 * that report failures), which its read (`serviceIncidentById`) checks itself. Of them, a reporting key sees only the
 * incidents it reported (`incidentVisibility`).
 */
export const INCIDENT_READERS = { caller: SERVICE_CALLERS.readServiceIncident };

export const ServiceFailureRef = builder.prismaNode('ServiceFailure', {
  id: { field: 'id' },
  nullable: true,
  // The service failures' read (`readServiceFailure`, this type's visibility rule): refused before reading, a member
  // token's read only of their own failures (tests/service-failures/failure-gesture-node-read.test.ts). Visibility
  // still guards a failure reached through other fields.
  ...loadThroughService<ServiceFailureReadShape>('ServiceFailure', readServiceFailure),
  description: 'A bad experience of a member (a late delivery, a billing error, …), compensated once by a voucher.',
  visibleTo: failureVisibility,
  fields: (t) => ({
    type: t.expose('type', { type: ServiceFailureTypeEnum, description: 'What went wrong.' }),
    severity: t.expose('severity', { type: SeverityEnum, description: 'How bad it was.' }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime', description: 'When it happened.' }),
    orderRef: t.exposeString('orderRef', {
      nullable: true,
      description: 'The order it concerns; a second report of the same member, type and order is this failure.',
    }),
    caseRef: t.exposeString('caseRef', { nullable: true, description: 'The service case it concerns.' }),
    description: t.exposeString('description', { nullable: true, description: 'What happened, in words.' }),
    status: t.expose('status', { type: ServiceFailureStatusEnum, description: 'Where its compensation stands.' }),
    reviewReason: t.expose('reviewReason', {
      type: ServiceFailureReviewReasonEnum,
      nullable: true,
      description: 'Why it waits (or waited) for a supervisor; null when it never did.',
    }),
    repeatIndex: t.exposeInt('repeatIndex', {
      nullable: true,
      description: "The member's how-many-th failure in the repeat window this was (1 = first); set when the compensation was decided.",
    }),
    compensation: t.field({
      type: Money,
      nullable: true,
      description:
        'The compensation the policy computed (issued, waiting for review, or held), in the currency it was computed in — the program currency of that time; null when the policy computed none.',
      select: { id: true, compensationAmount: true, compensationCurrency: true },
      resolve: (failure) =>
        storedCompensation({
          id: failure.id,
          amount: failure.compensationAmount?.toFixed(2) ?? null,
          currency: failure.compensationCurrency,
        }),
    }),
    voucher: t.prismaField({
      type: VoucherRef,
      nullable: true,
      description: 'The COMPENSATION voucher issued for it; null until it is COMPENSATED.',
      select: { voucherId: true },
      resolve: (query, failure, _args, ctx) =>
        failure.voucherId ? ctx.deps.prisma.voucher.findUnique({ ...query, where: { id: failure.voucherId } }) : null,
    }),
    decision: t.field({
      type: ServiceFailureDecisionEnum,
      nullable: true,
      description: "A supervisor's decision after review; null when the policy decided alone.",
      select: { decidedBy: true, status: true },
      // An approved incident remainder is RECORDED until its voucher is issued: still a GRANT.
      resolve: (failure) => (failure.decidedBy === null ? null : failure.status === 'NOT_ELIGIBLE' ? 'DECLINE' : 'GRANT'),
    }),
    decidedAt: t.expose('decidedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When a supervisor decided (or the policy found it not eligible).',
    }),
    decidedBy: t.exposeString('decidedBy', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'The supervisor who decided (staff only).',
    }),
    decisionNote: t.exposeString('decisionNote', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'Why it was granted, declined or not eligible (staff only).',
    }),
    reporterType: t.expose('reporterType', {
      type: ActorTypeEnum,
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'Kind of caller that reported it (staff only).',
    }),
    reporterId: t.exposeString('reporterId', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'Id of the agent or API key that reported it (staff only).',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was reported.' }),
    member: t.relation('member', { description: 'The member it happened to.' }),
    incident: t.relation('incident', {
      nullable: true,
      authScopes: INCIDENT_READERS,
      unauthorizedResolver: () => null,
      description: 'The incident that reported it; null when it was reported on its own (and for members).',
    }),
  }),
});

builder.prismaObjectField('Member', 'serviceFailures', (t) =>
  t.relatedConnection(
    'serviceFailures',
    {
      cursor: 'id',
      description: "The member's service failures, most recent first.",
      authScopes: (member) => serviceFailureVisibility(member.id),
      totalCount: true,
      query: () => ({ orderBy: [{ occurredAt: 'desc' as const }, { id: 'desc' as const }] }),
    },
    counted(COUNT_COST.indexed),
  ),
);

builder.prismaObjectField('Member', 'atRisk', (t) =>
  t.exposeBoolean('atRisk', {
    nullable: true,
    authScopes: { staff: 'AGENT', apiKey: 'members:read' },
    unauthorizedResolver: () => null,
    description:
      'Flagged after a repeat service failure within the repeat window: a member likely to leave. Staff and storefront keys only (null otherwise).',
  }),
);

builder.prismaObjectField('Member', 'atRiskSince', (t) =>
  t.expose('atRiskSince', {
    type: 'DateTime',
    nullable: true,
    authScopes: { staff: 'AGENT', apiKey: 'members:read' },
    unauthorizedResolver: () => null,
    description: 'When the member was flagged at risk; null when not at risk. Staff and storefront keys only.',
  }),
);
