import { callerOf } from '../../auth/principal.js';
import { feedbackRule, isSatisfied, npsCategory, readFeedback, type FeedbackReadShape } from '../../domain/feedback/feedback.service.js';
import {
  mayReadServiceCaseField,
  readServiceCase,
  RECOVERY_READERS,
  serviceCaseRule,
  type ServiceCaseField,
  type ServiceCaseReadShape,
} from '../../domain/feedback/service-cases.service.js';
import { ServiceChannel } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { loadThroughService } from '../node-loader.js';
import { COUNT_COST, counted } from '../total-count.js';

export const ServiceChannelEnum = builder.enumType(ServiceChannel, {
  name: 'ServiceChannel',
  description: 'Where a customer contacted service.',
  values: {
    CHAT: { description: 'Live chat.' },
    EMAIL: { description: 'Email.' },
    PHONE: { description: 'A phone call.' },
    SELF_SERVICE: { description: 'The website or app without an agent (help pages, forms).' },
    SOCIAL: { description: 'Social media.' },
    STORE: { description: 'In a store, in person.' },
  },
});

export const NpsCategoryEnum = builder.enumType('NpsCategory', {
  description: 'NPS answer grouped: promoters 9–10, passives 7–8, detractors 0–6.',
  values: {
    PROMOTER: { description: 'Answered 9 or 10.' },
    PASSIVE: { description: 'Answered 7 or 8.' },
    DETRACTOR: { description: 'Answered 0 to 6.' },
  } as const,
});

/**
 * Who may see a case or feedback: whoever may see the member (RECOVERY_READERS, the rule the services' reads by id
 * check), the member only their own.
 */
const recoveryVisibility = (memberId: string) => ({ ownRow: { rule: RECOVERY_READERS, memberId } });

/**
 * A case or feedback at hand: the answer of the caller's own write shows to its writer (a key with `members:write`
 * too), any other object of a row to the readers — the services decide which is which (`answerServiceCase`,
 * `answerFeedback`), what is reached from it (its member, the case's feedback, the feedback's case) keeps the
 * readers' rule.
 */
const serviceCaseVisibility = (row: { memberId: string }) => ({ ownRow: { rule: serviceCaseRule(row), memberId: row.memberId } });
const feedbackVisibility = (row: { memberId: string }) => ({ ownRow: { rule: feedbackRule(row), memberId: row.memberId } });

/**
 * A field of the case's recording or resolution (SERVICE_CASE_RECORDING, SERVICE_CASE_RESOLUTION): the readers', and
 * the writer's whose write's answer does not hide it — the service decides (`mayReadServiceCaseField`): a writer
 * answered with another caller's case sees the id and the resolution its call wrote only.
 */
const shown = (field: ServiceCaseField) => (serviceCase: { memberId: string }, _args: unknown, ctx: GraphQLContext) =>
  mayReadServiceCaseField(callerOf(ctx.principal), serviceCase, field);

export const ServiceCaseRef = builder.prismaNode('ServiceCase', {
  id: { field: 'id' },
  nullable: true,
  // The service cases' read (`readServiceCase`, this type's visibility rule): refused before reading, a member token's
  // read only of their own cases (tests/contracts/contract-feedback-node-read.test.ts). Visibility still guards a case
  // reached through other fields.
  ...loadThroughService<ServiceCaseReadShape>('ServiceCase', readServiceCase),
  description: 'A customer-service case of a member: channel, timing, contacts and resolution.',
  visibleTo: serviceCaseVisibility,
  fields: (t) => ({
    externalRef: t.exposeString('externalRef', {
      nullable: true,
      authScopes: shown('externalRef'),
      description: 'The helpdesk’s ticket id (unique).',
    }),
    channel: t.expose('channel', {
      type: ServiceChannelEnum,
      authScopes: shown('channel'),
      description: 'Where the customer got in touch.',
    }),
    category: t.exposeString('category', { authScopes: shown('category'), description: 'What it was about, e.g. "delivery".' }),
    openedAt: t.expose('openedAt', { type: 'DateTime', authScopes: shown('openedAt'), description: 'When the case was opened.' }),
    firstResponseAt: t.expose('firstResponseAt', {
      type: 'DateTime',
      nullable: true,
      authScopes: shown('firstResponseAt'),
      description: 'When service first answered.',
    }),
    resolvedAt: t.expose('resolvedAt', {
      type: 'DateTime',
      nullable: true,
      authScopes: shown('resolvedAt'),
      description: 'When it was resolved; null while open.',
    }),
    firstResponseDueAt: t.expose('firstResponseDueAt', {
      type: 'DateTime',
      nullable: true,
      authScopes: shown('firstResponseDueAt'),
      description:
        'When the first response is due by the channel’s target in force when the case was recorded; later files a ' +
        'LONG_WAIT failure. Null for cases recorded before service-level targets existed.',
    }),
    resolutionDueAt: t.expose('resolutionDueAt', {
      type: 'DateTime',
      nullable: true,
      authScopes: shown('resolutionDueAt'),
      description: 'When the resolution is due; later files an UNRESOLVED_CONTACT failure. Null as firstResponseDueAt.',
    }),
    contacts: t.exposeInt('contacts', { authScopes: shown('contacts'), description: 'Contacts the customer needed (at least 1).' }),
    resolvedOnFirstContact: t.exposeBoolean('resolvedOnFirstContact', {
      nullable: true,
      authScopes: shown('resolvedOnFirstContact'),
      description: 'Whether it was resolved on the first contact; null while open.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', authScopes: shown('createdAt'), description: 'When it was recorded here.' }),
    member: t.relation('member', { description: 'The member whose case it is.' }),
    feedback: t.relation('feedback', {
      // Other answers and their comments: the readers' rule, also on a case a writer's own mutation answers with.
      authScopes: (serviceCase) => recoveryVisibility(serviceCase.memberId),
      description: 'Feedback given about this case, newest first.',
      query: { orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }] },
    }),
  }),
});

export const FeedbackRef = builder.prismaNode('Feedback', {
  id: { field: 'id' },
  nullable: true,
  // The feedback service's read (`readFeedback`, this type's visibility rule): refused before reading, a member token's
  // read only of their own feedback (tests/contracts/contract-feedback-node-read.test.ts). Visibility still guards
  // feedback reached through other fields.
  ...loadThroughService<FeedbackReadShape>('Feedback', readFeedback),
  description: 'An NPS answer (0–10) and/or a CSAT score (1–5) of a member, optionally about a service case.',
  visibleTo: feedbackVisibility,
  fields: (t) => ({
    nps: t.exposeInt('nps', { nullable: true, description: 'How likely the member is to recommend us, 0–10.' }),
    npsCategory: t.field({
      type: NpsCategoryEnum,
      nullable: true,
      description: 'Promoter, passive or detractor; null without an NPS answer.',
      resolve: (feedback) => (feedback.nps === null ? null : npsCategory(feedback.nps)),
    }),
    csat: t.exposeInt('csat', { nullable: true, description: 'Satisfaction, 1–5.' }),
    satisfied: t.boolean({
      nullable: true,
      description: 'CSAT 4 or 5; null without a CSAT score.',
      resolve: (feedback) => (feedback.csat === null ? null : isSatisfied(feedback.csat)),
    }),
    comment: t.exposeString('comment', { nullable: true, description: 'Free text.' }),
    channel: t.expose('channel', { type: ServiceChannelEnum, nullable: true, description: 'Where it was given.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was given.' }),
    member: t.relation('member', { description: 'The member who gave it.' }),
    serviceCase: t.relation('serviceCase', {
      nullable: true,
      // The readers' rule, also on feedback a writer's own mutation answers with.
      authScopes: (feedback) => recoveryVisibility(feedback.memberId),
      description: 'The case it is about, if any.',
    }),
  }),
});

builder.prismaObjectField('Member', 'serviceCases', (t) =>
  t.relatedConnection(
    'serviceCases',
    {
      cursor: 'id',
      description: 'The member’s service cases, most recently opened first.',
      totalCount: true,
      query: () => ({ orderBy: [{ openedAt: 'desc' as const }, { id: 'desc' as const }] }),
    },
    counted(COUNT_COST.indexed),
  ),
);

builder.prismaObjectField('Member', 'feedback', (t) =>
  t.relatedConnection(
    'feedback',
    {
      cursor: 'id',
      description: 'The member’s feedback, newest first.',
      totalCount: true,
      query: () => ({ orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }] }),
    },
    counted(COUNT_COST.indexed),
  ),
);
