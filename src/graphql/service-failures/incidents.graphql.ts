import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import {
  decideServiceIncident,
  MAX_PAGE_ENTRIES,
  reportServiceIncident,
  serviceIncidentById,
  serviceIncidentListWhere,
  serviceIncidentsPage,
  type DecidedIncident,
  type ReportedIncidentPage,
  type UnresolvedEntry,
} from '../../domain/service-failures/incidents.service.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { amountOf, deprecatedFor, MoneyInput, namingSentFields, renamesWithCurrency } from '../money.type.js';

import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { ServiceFailureDecisionEnum, ServiceFailureTypeEnum, SeverityEnum } from './service-failure.type.js';
import { ServiceIncidentRef } from './service-incident.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const INCIDENT_BUDGET = { legacy: 'budget', money: 'budgetMoney' };

builder.queryField('serviceIncident', (t) =>
  t.prismaField({
    type: ServiceIncidentRef,
    nullable: true,
    description:
      'A service incident by id (global or raw UUID), with its progress; null when there is none. Staff read every incident; a key with failures:report only those it reported (another’s is null, as an unknown id).',
    authScopes: { caller: SERVICE_CALLERS.readServiceIncident },
    args: { id: t.arg.id({ required: true, description: 'Service incident id.' }) },
    resolve: (query, _root, args, ctx) =>
      serviceIncidentById(ctx.deps, decodeId('ServiceIncident', 'id', String(args.id)), callerOf(ctx.principal), query),
  }),
);

const ServiceIncidentFilter = builder.inputType('ServiceIncidentFilter', {
  description: 'Narrows a listing of service incidents; all given conditions must hold.',
  fields: (t) => ({
    type: t.field({ type: ServiceFailureTypeEnum, required: false, description: 'Only incidents of this type.' }),
    severity: t.field({ type: SeverityEnum, required: false, description: 'Only incidents of this severity.' }),
    from: t.field({ type: 'DateTime', required: false, description: 'Only incidents that occurred at or after this time.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Only incidents that occurred before this time.' }),
    open: t.boolean({
      required: false,
      description:
        'true: only incidents with work left (members still to expand, failures still being compensated, waiting for review or held); false: only finished ones.',
    }),
    overBudget: t.boolean({
      required: false,
      description: 'true: only incidents whose budget was reached (the rest waits for one decision); false: only the others.',
    }),
  }),
});

const incidentListWhere = (filter: typeof ServiceIncidentFilter.$inferInput | null | undefined, ctx: GraphQLContext) =>
  serviceIncidentListWhere(filter, callerOf(ctx.principal));

builder.queryField('serviceIncidents', (t) =>
  t.prismaConnection(
    {
      type: ServiceIncidentRef,
      cursor: 'id',
      description:
        'Service incidents, newest first, filtered, each with its progress. Staff list every incident; a key with failures:report only those it reported.',
      authScopes: { caller: SERVICE_CALLERS.readServiceIncident },
      args: { filter: t.arg({ type: ServiceIncidentFilter, required: false, description: 'Conditions to match.' }) },
      resolve: (query, _root, args, ctx) => serviceIncidentsPage(ctx.deps, args.filter, callerOf(ctx.principal), query),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.serviceIncident.count({ where: incidentListWhere(args.filter, ctx) }),
    },
    counted(COUNT_COST.scan),
  ),
);

const AffectedMemberInput = builder.inputType('AffectedMemberInput', {
  description:
    'One member an incident affected: by memberId or externalId (optionally with the order it concerns), or by orderRef alone (the member whose order earned points under that reference).',
  fields: (t) => ({
    memberId: t.id({ required: false, description: 'Member id (global or raw UUID; raw UUIDs keep a full page within the body limit).' }),
    externalId: t.string({ required: false, description: "The storefront's customer id." }),
    orderRef: t.string({
      required: false,
      description: 'The order it concerns. A failure already reported for the same member, type and order is not recorded again.',
    }),
  }),
});

const ReportServiceIncidentInput = builder.inputType('ReportServiceIncidentInput', {
  description: `One page of a service incident: the first page creates it (type and severity required), later pages add members to it (incidentId, and no incident fields). At most ${MAX_PAGE_ENTRIES} entries per page.`,
  fields: (t) => ({
    incidentId: t.id({ required: false, description: 'Later pages: the incident the first page created.' }),
    type: t.field({ type: ServiceFailureTypeEnum, required: false, description: 'What went wrong (first page).' }),
    severity: t.field({ type: SeverityEnum, required: false, description: 'How bad it was (first page).' }),
    occurredAt: t.field({ type: 'DateTime', required: false, description: 'When it happened; now when omitted (first page).' }),
    description: t.string({ required: false, description: 'What happened, in words (first page).' }),
    budgetMoney: t.field({
      type: MoneyInput,
      required: false,
      description:
        'What its compensations may cost in all, in the program currency (first page), as `ServiceIncident.budget` reads. The compensation that would exceed it, and all after it, wait for one decideServiceIncident.',
    }),
    budget: t.string({
      required: false,
      deprecationReason: deprecatedFor('budgetMoney'),
      description:
        'What its compensations may cost in all, a decimal in the program currency (first page). The compensation that would exceed it, and all after it, wait for one decideServiceIncident.',
    }),
    affected: t.field({
      type: [AffectedMemberInput],
      required: true,
      description: `The members it affected, 1 to ${MAX_PAGE_ENTRIES}. A member named twice (in this page or an earlier one) counts once.`,
    }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'callerAndIncident' })),
  }),
});

const UnresolvedReasonEnum = builder.enumType('UnresolvedAffectedReason', {
  description: 'Why an entry of an incident page names no member.',
  values: {
    UNKNOWN_MEMBER: { description: 'No member has this id or external id.' },
    UNKNOWN_ORDER: { description: 'No member’s order has this reference.' },
    AMBIGUOUS_ORDER: { description: 'Orders of several members have this reference: name the member too.' },
  } as const,
});

const UnresolvedAffectedMember = builder.objectRef<UnresolvedEntry>('UnresolvedAffectedMember').implement({
  description: 'An entry of an incident page that names no member, as it was sent; the rest of the page was recorded.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Its index in `affected`.' }),
    reason: t.expose('reason', { type: UnresolvedReasonEnum, description: 'Why it names no member.' }),
    memberId: t.exposeID('memberId', { nullable: true, description: 'The member id sent.' }),
    externalId: t.exposeString('externalId', { nullable: true, description: 'The external id sent.' }),
    orderRef: t.exposeString('orderRef', { nullable: true, description: 'The order reference sent.' }),
  }),
});

const ReportServiceIncidentPayload = builder.objectRef<ReportedIncidentPage>('ReportServiceIncidentPayload').implement({
  description: 'The recorded page. The worker expands its members into failures and compensations within seconds: follow `incident`.',
  fields: (t) => ({
    incident: t.prismaField({
      type: ServiceIncidentRef,
      nullable: true,
      description:
        'The incident, as it stands now; null only when the caller may not read it (a key with failures:report reads the incidents it reported itself). An idempotency key is the caller’s own: a retry answers the caller’s incident, and another caller’s same key does not reach it.',
      // The incidents' read decides: a replay is always of this caller's own page (its key is its own).
      resolve: (query, page, _args, ctx) => serviceIncidentById(ctx.deps, page.incidentId, callerOf(ctx.principal), query),
    }),
    entries: t.exposeInt('entries', { description: 'Entries in this page.' }),
    named: t.exposeInt('named', { description: 'Members this page added to the incident.' }),
    alreadyNamed: t.exposeInt('alreadyNamed', { description: 'Entries naming a member the incident had already: not counted twice.' }),
    unresolved: t.field({
      type: [UnresolvedAffectedMember],
      description: 'Entries that named no member, one by one.',
      resolve: (page) => page.unresolved,
    }),
  }),
});

const DecideServiceIncidentInput = builder.inputType('DecideServiceIncidentInput', {
  description: "A supervisor's one decision on everything of an incident held over its budget.",
  fields: (t) => ({
    incidentId: t.id({ required: true, description: 'Service incident id.' }),
    decision: t.field({
      type: ServiceFailureDecisionEnum,
      required: true,
      description: 'GRANT issues the computed compensations; DECLINE makes them NOT_ELIGIBLE.',
    }),
    note: t.string({ required: true, description: 'Why, for the audit trail (kept on every failure it decides).' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'decider', object: 'incident' })),
  }),
});

const DecideServiceIncidentPayload = builder.objectRef<DecidedIncident>('DecideServiceIncidentPayload').implement({
  description: 'The decision taken. Granted vouchers follow within seconds (compensated grows, awaitingDecision falls to 0).',
  fields: (t) => ({
    incident: t.prismaField({
      type: ServiceIncidentRef,
      description: 'The incident, as it stands now.',
      resolve: (query, result, _args, ctx) =>
        ctx.deps.prisma.serviceIncident.findUniqueOrThrow({ ...query, where: { id: result.incidentId } }),
    }),
    decision: t.expose('decision', { type: ServiceFailureDecisionEnum, description: 'The decision.' }),
    decided: t.exposeInt('decided', { description: 'Failures it covered: all that waited for it.' }),
  }),
});

const INCIDENT_ERRORS = [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError] as const;

builder.mutationFields((t) => ({
  reportServiceIncident: t.field({
    type: ReportServiceIncidentPayload,
    description:
      'Reports one page of a service incident: one failure per affected member, deduplicated, compensated by the policy within the incident budget (agents and above, keys with failures:report). A key adds pages only to the incidents it reported (another’s is NotFoundError).',
    authScopes: { caller: SERVICE_CALLERS.reportServiceIncident },
    errors: { types: [...INCIDENT_ERRORS], directResult: true, union: { name: 'ReportServiceIncidentResult' } },
    args: { input: t.arg({ type: ReportServiceIncidentInput, required: true, description: 'The page.' }) },
    resolve: async (_root, { input }, ctx) => {
      const { budgetMoney, ...rest } = input;
      const budget = await amountOf(ctx.deps, INCIDENT_BUDGET, input.budget, budgetMoney, { required: false });
      // The currency goes to the service too, which holds it against the program's once the page's key is its own.
      const currency = budgetMoney?.currency ?? null;
      return namingSentFields(renamesWithCurrency(INCIDENT_BUDGET, budgetMoney), () =>
        reportServiceIncident(
          ctx.deps,
          {
            ...rest,
            budget,
            currency,
            incidentId: input.incidentId == null ? null : decodeId('ServiceIncident', 'incidentId', String(input.incidentId)),
            affected: input.affected.map((entry, index) => ({
              ...entry,
              memberId: entry.memberId == null ? null : decodeId('Member', `affected[${index}].memberId`, String(entry.memberId)),
            })),
          },
          callerOf(ctx.principal),
        ),
      );
    },
  }),
  decideServiceIncident: t.field({
    type: DecideServiceIncidentPayload,
    description:
      'Grants or declines, at once, everything of an incident held over its budget (supervisors and admins). A remainder decided in another currency than the program’s (it changed since) cannot be granted: ValidationError, decline it.',
    authScopes: { caller: SERVICE_CALLERS.decideServiceIncident },
    errors: { types: [...INCIDENT_ERRORS], directResult: true, union: { name: 'DecideServiceIncidentResult' } },
    args: { input: t.arg({ type: DecideServiceIncidentInput, required: true, description: 'The decision.' }) },
    resolve: (_root, { input }, ctx) =>
      decideServiceIncident(
        ctx.deps,
        { ...input, incidentId: decodeId('ServiceIncident', 'incidentId', String(input.incidentId)) },
        callerOf(ctx.principal),
      ),
  }),
}));
