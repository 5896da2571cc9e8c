import { prismaConnectionHelpers } from '@pothos/plugin-prisma';
import { callerOf } from '../../auth/principal.js';
import {
  serviceIncidentFailureCounts,
  serviceIncidentFailures,
  type IncidentFailureFilter,
  type IncidentFailurePage,
} from '../../domain/service-failures/incident-failures.service.js';
import {
  mayReadServiceIncident,
  SERVICE_INCIDENT_READERS,
  serviceIncidentById,
  serviceIncidentsProgress,
  type IncidentProgress,
  type ServiceIncidentOwner,
  type ServiceIncidentSelection,
} from '../../domain/service-failures/incidents.service.js';
import { groupedBatches } from '../batches.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { ActorTypeEnum } from '../enums.js';
import { loadThroughService } from '../node-loader.js';
import { Money } from '../money.type.js';
import {
  INCIDENT_READERS,
  ServiceFailureRef,
  ServiceFailureStatusEnum,
  ServiceFailureTypeEnum,
  SeverityEnum,
} from './service-failure.type.js';
import { COUNT_COST, counted } from '../total-count.js';

/**
 * An incident's progress, counted once per turn however many of its fields are asked for; the incidents of one list
 * page are counted together in one statement (asked for in the same turn). Nothing is kept after a batch: a mutation
 * that adds a page to an incident answers the counts after it, also when an earlier mutation of the same request
 * answered that incident's counts before it (until 2026-12-07 the first count was kept for the request).
 */
const progressOf = groupedBatches(
  () => '',
  (ctx, incidentIds) => serviceIncidentsProgress(ctx.deps, incidentIds, callerOf(ctx.principal)),
);
const progress = async (ctx: GraphQLContext, incidentId: string) => (await progressOf(ctx, incidentId, undefined))!;

type CountField = Exclude<keyof IncidentProgress, 'spent'>;

/**
 * An incident's page of failures and their count, loaded for all the incidents of a turn that ask for the same page
 * (the same arguments and status) or the same count in one call (`groupedBatches`).
 */
type FailurePageArgs = { status: IncidentFailureFilter['status']; query: IncidentFailurePage };
const failurePages = groupedBatches(
  ({ status, query }: FailurePageArgs) => JSON.stringify([status ?? null, query]),
  (ctx, incidentIds, { status, query }: FailurePageArgs) =>
    serviceIncidentFailures(ctx.deps, incidentIds, { status }, callerOf(ctx.principal), query),
);
const failureCounts = groupedBatches(
  (status: IncidentFailureFilter['status']) => status ?? '',
  (ctx, incidentIds, status: IncidentFailureFilter['status']) =>
    serviceIncidentFailureCounts(ctx.deps, incidentIds, { status }, callerOf(ctx.principal)),
);

/** plugin-prisma's reading of a failures page's arguments (`first`/`last`, `after`/`before`), as for every connection. */
const failurePageArgs = prismaConnectionHelpers(builder, 'ServiceFailure', { cursor: 'id' });

/**
 * What `failures` needs of its incident's row (its id), planned with the incident's own read: the page's arguments are
 * read there, as when the page was part of that read, so that arguments plugin-prisma refuses (a negative `first`,
 * `after` with `last`, …) fail the incident's field with the message they always had, before anything is read.
 */
function planFailurePage(args: PothosSchemaTypes.DefaultConnectionArguments, ctx: GraphQLContext) {
  failurePageArgs.getQuery(args, ctx, () => ({}));
  return { id: true } as const;
}

/**
 * Who may see one incident: staff every one, a key with failures:report the incidents it reported itself
 * (`mayReadServiceIncident`, the rule of the service's read by id). Another reporter's incident is refused to such a
 * key wherever it is reached (FORBIDDEN); the reads by id and the listing do not find it at all.
 */
export function incidentVisibility(incident: ServiceIncidentOwner, ctx: GraphQLContext) {
  return mayReadServiceIncident(callerOf(ctx.principal), incident) ? INCIDENT_READERS : { caller: SERVICE_INCIDENT_READERS };
}

export const ServiceIncidentRef = builder.prismaNode('ServiceIncident', {
  id: { field: 'id' },
  nullable: true,
  // The incidents' read (`serviceIncidentById`, as `serviceIncident(id)`'s), by INCIDENT_READERS' rule: refused before
  // reading (tests/graphql/unowned-node-read.test.ts), and a reporting key finds only its own incidents
  // (tests/service-failures/incident-permissions-audit.test.ts). Visibility still guards an incident reached through
  // other fields.
  ...loadThroughService<ServiceIncidentSelection>('ServiceIncident', (deps, id, selection, caller) =>
    serviceIncidentById(deps, id, caller, selection),
  ),
  description:
    'One outage or carrier delay affecting many members: one service failure per affected member, compensated by the policy within an optional budget. Its counts show how far it is.',
  visibleTo: incidentVisibility,
  fields: (t) => {
    const count = (field: CountField, description: string) =>
      t.int({
        description,
        select: { id: true },
        resolve: async (incident, _args, ctx) => (await progress(ctx, incident.id))[field],
      });
    return {
      type: t.expose('type', { type: ServiceFailureTypeEnum, description: 'What went wrong: the type of every failure it records.' }),
      severity: t.expose('severity', { type: SeverityEnum, description: 'How bad it was: the severity of every failure it records.' }),
      occurredAt: t.expose('occurredAt', { type: 'DateTime', description: 'When it happened.' }),
      description: t.exposeString('description', { nullable: true, description: 'What happened, in words.' }),
      budget: t.field({
        type: Money,
        nullable: true,
        description: 'What its compensations may cost in all, in the program currency when it was reported; null: no budget.',
        select: { budget: true, currency: true },
        resolve: (incident) => (incident.budget ? { amount: incident.budget.toFixed(2), currency: incident.currency } : null),
      }),
      budgetUsed: t.field({
        type: Money,
        description:
          'What the policy issued against the budget, less the vouchers of those voided since (a void gives its amount back; once overBudgetAt is set the rest still waits for one decision). A supervisor’s grants (the remainder over the budget, a failure over a member’s cap) are not counted.',
        select: { budgetUsed: true, currency: true },
        resolve: (incident) => ({ amount: incident.budgetUsed.toFixed(2), currency: incident.currency }),
      }),
      spent: t.field({
        type: Money,
        description:
          'The compensation vouchers issued for its failures and not voided since, in all, in the incident’s currency (those issued in another currency, after the program’s currency changed, are not converted and not counted).',
        select: { id: true, currency: true },
        resolve: async (incident, _args, ctx) => ({
          amount: (await progress(ctx, incident.id)).spent,
          currency: incident.currency,
        }),
      }),
      overBudgetAt: t.expose('overBudgetAt', {
        type: 'DateTime',
        nullable: true,
        description: 'When a compensation would first have exceeded the budget; from then on the rest waits for one decision.',
      }),
      affected: count('affected', 'Members it names, each once however often its pages name them.'),
      pending: count('pending', 'Affected members not yet expanded into a failure (the worker is on it).'),
      recorded: count('recorded', 'Service failures it recorded: one per affected member that had no such failure yet.'),
      duplicates: count(
        'duplicates',
        'Affected members whose failure of the same type and order had been reported before: not recorded, nor compensated, again.',
      ),
      compensated: count('compensated', 'Failures compensated with a voucher.'),
      needsReview: count('needsReview', 'Failures waiting for a supervisor: over the member’s 30-day cap, or over the incident’s budget.'),
      awaitingDecision: count(
        'awaitingDecision',
        'Of needsReview, those held over the incident’s budget: one decideServiceIncident decides them all.',
      ),
      held: count('held', 'Failures of suspended members, held until the suspension ends or a supervisor decides (reviewServiceFailure).'),
      notEligible: count('notEligible', 'Failures compensated with nothing (closed members, a declined remainder, …).'),
      inProgress: count('inProgress', 'Failures recorded or approved whose voucher is still being issued.'),
      pages: count('pages', 'Requests that named its members.'),
      unresolved: count('unresolved', 'Entries of its pages that named no member (each was answered to its request).'),
      reporterType: t.expose('reporterType', {
        type: ActorTypeEnum,
        nullable: true,
        authScopes: { staff: 'AGENT' },
        unauthorizedResolver: () => null,
        description: 'Kind of caller that reported it (staff only).',
      }),
      reporterId: t.exposeString('reporterId', {
        nullable: true,
        authScopes: { staff: 'AGENT' },
        unauthorizedResolver: () => null,
        description: 'Id of the agent or API key that reported it (staff only).',
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When its first page was recorded.' }),
      // Read by its own statement for every incident of the answer (`serviceIncidentFailures`: the page's rows and one
      // more, through the index of an incident's failures by id), not in the incident's statement, where PostgreSQL
      // read and sorted all of an incident's failures for each page. Its page's rows are what plugin-prisma's own
      // page would be (its query: what each failure's fields need, `take`, `cursor`), its cursors plugin-prisma's.
      failures: t.prismaConnection(
        {
          type: ServiceFailureRef,
          cursor: 'id',
          description: 'The failures it recorded, in the order of their ids; optionally only those of one status.',
          args: { status: t.arg({ type: ServiceFailureStatusEnum, required: false, description: 'Only failures with this status.' }) },
          // plugin-prisma types a connection's `select` as its parent's row (it plans none of its own) and reads one as
          // any field's.
          select: planFailurePage as never,
          resolve: async (query, incident, args, ctx) => {
            return (await failurePages(ctx, incident.id, { status: args.status, query })) ?? [];
          },
          totalCount: async (incident, args, ctx) => (await failureCounts(ctx, incident.id, args.status)) ?? 0,
        },
        counted(COUNT_COST.indexed),
      ),
    };
  },
});
