import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { readEarningRule, type EarningRuleReadShape } from '../../domain/earning/earning-rules.service.js';
import { EarningRuleKind, EventLimitPeriod } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import { loadThroughService } from '../node-loader.js';
import { Money, programCurrency } from '../money.type.js';

export const EarningRuleKindEnum = builder.enumType(EarningRuleKind, {
  name: 'EarningRuleKind',
  description: 'What an earning rule does (docs/earning-rules.md).',
  values: {
    LINE_MULTIPLIER: { description: 'Multiplies the points of the order lines it applies to (0: those lines earn nothing).' },
    ORDER_BONUS: { description: 'Adds fixed points once to an order it applies to.' },
    EVENT_POINTS: { description: 'Grants fixed points for a custom event (trackEvent), within a per-member limit.' },
  },
});

export const EventLimitPeriodEnum = builder.enumType(EventLimitPeriod, {
  name: 'EventLimitPeriod',
  description: 'The period an event rule’s per-member limit counts in (UTC).',
  values: {
    CALENDAR_YEAR: { description: 'January to December: e.g. one birthday per year.' },
    CALENDAR_MONTH: { description: 'One calendar month.' },
    LIFETIME: { description: 'For ever: e.g. one signup bonus.' },
  },
});

interface ConditionsShape {
  channels: string[];
  tierKeys: string[];
  minOrderTotal: string | null;
  includeCategories: string[];
  excludeCategories: string[];
  includeSkus: string[];
  excludeSkus: string[];
  firstOrderOnly: boolean;
}

const EarningRuleConditions = builder.objectRef<ConditionsShape>('EarningRuleConditions').implement({
  description: 'When a rule applies. An empty list imposes nothing; every condition given must hold.',
  fields: (t) => ({
    channels: t.exposeStringList('channels', { description: 'The order’s channel must be one of these (any when empty).' }),
    tierKeys: t.exposeStringList('tierKeys', { description: 'The member’s tier key must be one of these (any when empty).' }),
    minOrderTotal: t.field({
      type: Money,
      nullable: true,
      description: 'The order total must be at least this (inclusive).',
      resolve: async (c, _args, ctx) =>
        c.minOrderTotal === null ? null : { amount: c.minOrderTotal, currency: await programCurrency(ctx) },
    }),
    includeCategories: t.exposeStringList('includeCategories', {
      description: 'Lines qualify when their category (or SKU, see includeSkus) is listed; all lines when both lists are empty.',
    }),
    excludeCategories: t.exposeStringList('excludeCategories', { description: 'Lines of these categories never qualify.' }),
    includeSkus: t.exposeStringList('includeSkus', { description: 'Lines qualify when their SKU (or category) is listed.' }),
    excludeSkus: t.exposeStringList('excludeSkus', { description: 'Lines with these SKUs never qualify.' }),
    firstOrderOnly: t.exposeBoolean('firstOrderOnly', { description: 'Only the member’s first order.' }),
  }),
});

const EventLimit = builder.objectRef<{ count: number; period: EventLimitPeriod }>('EventLimit').implement({
  description: 'How often one member may receive an event rule’s points.',
  fields: (t) => ({
    count: t.exposeInt('count', { description: 'Grants per member and period.' }),
    period: t.expose('period', { type: EventLimitPeriodEnum, description: 'The period they count in.' }),
  }),
});

export const EarningRuleVersionRef = builder.prismaObject('EarningRuleVersion', {
  description: 'One saved version of an earning rule, for the audit trail.',
  fields: (t) => ({
    version: t.exposeInt('version', { description: 'The rule’s version this saved.' }),
    action: t.exposeString('action', { description: 'CREATED, UPDATED or RETIRED.' }),
    changedBy: t.exposeString('changedBy', { description: 'Who saved it (actor type and id).' }),
    changedAt: t.expose('changedAt', { type: 'DateTime', description: 'When.' }),
    snapshot: t.string({ description: 'The rule as saved, as JSON.', resolve: (v) => JSON.stringify(v.snapshot) }),
  }),
});

export const EarningRuleRef = builder.prismaNode('EarningRule', {
  id: { field: 'id' },
  nullable: true,
  // The earning rules' read (`readEarningRule`), by the rule this visibility names: refused before reading
  // (tests/graphql/unowned-node-read.test.ts). Visibility still guards a rule reached through other fields.
  ...loadThroughService<EarningRuleReadShape>('EarningRule', readEarningRule),
  description: 'An admin-managed earning rule: a time window, conditions and one effect (docs/earning-rules.md).',
  visibleTo: { caller: SERVICE_CALLERS.readEarningRules },
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Name shown in explanations ("why these points").' }),
    kind: t.expose('kind', { type: EarningRuleKindEnum, description: 'What the rule does.' }),
    startsAt: t.expose('startsAt', { type: 'DateTime', description: 'From when it applies (inclusive).' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', nullable: true, description: 'Until when it applies (exclusive); null: open-ended.' }),
    conditions: t.field({
      type: EarningRuleConditions,
      description: 'When it applies.',
      resolve: (rule) => ({
        channels: rule.channels,
        tierKeys: rule.tierKeys,
        minOrderTotal: rule.minOrderTotal?.toFixed(2) ?? null,
        includeCategories: rule.includeCategories,
        excludeCategories: rule.excludeCategories,
        includeSkus: rule.includeSkus,
        excludeSkus: rule.excludeSkus,
        firstOrderOnly: rule.firstOrderOnly,
      }),
    }),
    multiplier: t.field({
      type: 'Decimal',
      nullable: true,
      description: 'LINE_MULTIPLIER: the factor on qualifying lines, e.g. "2.000"; "0.000" excludes them.',
      resolve: (rule) => rule.multiplier?.toFixed(3) ?? null,
    }),
    points: t.field({
      type: 'Points',
      nullable: true,
      description: 'ORDER_BONUS and EVENT_POINTS: the fixed points granted.',
      resolve: (rule) => rule.points,
    }),
    eventType: t.exposeString('eventType', { nullable: true, description: 'EVENT_POINTS: the event type it answers, e.g. "birthday".' }),
    limit: t.field({
      type: EventLimit,
      nullable: true,
      description: 'EVENT_POINTS: the per-member limit.',
      resolve: (rule) => (rule.limitCount === null ? null : { count: rule.limitCount, period: rule.limitPeriod! }),
    }),
    version: t.exposeInt('version', { description: 'Bumped by every change; pass it as expectedVersion to update safely.' }),
    retired: t.boolean({ description: 'True once retired: it no longer applies.', resolve: (rule) => rule.retiredAt !== null }),
    retiredAt: t.expose('retiredAt', { type: 'DateTime', nullable: true, description: 'When it was retired.' }),
    retiredBy: t.exposeString('retiredBy', { nullable: true, description: 'Who retired it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    createdBy: t.exposeString('createdBy', { description: 'Who created it (actor type and id).' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it last changed.' }),
    updatedBy: t.exposeString('updatedBy', { description: 'Who changed it last.' }),
    history: t.relation('versions', {
      description: 'Every saved version, oldest first.',
      query: { orderBy: { version: 'asc' } },
    }),
  }),
});
