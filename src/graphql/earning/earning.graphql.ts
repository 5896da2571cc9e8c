import { encodeGlobalID } from '@pothos/plugin-relay';
import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import {
  createEarningRule,
  earningRuleListWhere,
  retireEarningRule,
  updateEarningRule,
  type EarningConditionsInput,
  type EarningEffectInput,
} from '../../domain/earning/earning-rules.service.js';
import { trackEvent, type EventRuleOutcome, type TrackEventResult } from '../../domain/earning/events.service.js';
import { ForbiddenError, IdempotencyConflictError, NotFoundError, UnauthenticatedError, ValidationError } from '../../domain/errors.js';
import { previewEarn, type EarnPreview } from '../../domain/points/points.service.js';
import type { Member } from '../../generated/prisma/client.js';
import { builder } from '../builder.js';
import { ReadRefusal } from '../error-masking.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { MoneyInput } from '../money.type.js';
import { OrderInput } from '../orders/order-input.type.js';
import { EarnLineRef } from './earn-line.type.js';
import { counted, COUNT_COST } from '../total-count.js';
import { EarningRuleKindEnum, EarningRuleRef, EventLimitPeriodEnum } from './earning-rule.type.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

builder.queryField('earningRules', (t) =>
  t.prismaConnection(
    {
      type: EarningRuleRef,
      cursor: 'id',
      description: 'The earning rules, oldest first: those not retired, unless asked for retired ones too (staff).',
      authScopes: { caller: SERVICE_CALLERS.readEarningRules },
      args: {
        includeRetired: t.arg.boolean({ required: false, description: 'Include retired rules.' }),
        kind: t.arg({ type: EarningRuleKindEnum, required: false, description: 'Only rules of this kind.' }),
      },
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.earningRule.findMany({
          ...query,
          where: earningRuleListWhere(args, callerOf(ctx.principal)),
          orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        }),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.earningRule.count({ where: earningRuleListWhere(args, callerOf(ctx.principal)) }),
    },
    counted(COUNT_COST.small),
  ),
);

const EarningConditionsInputRef = builder.inputType('EarningRuleConditionsInput', {
  description: 'When a rule applies; omitted lists impose nothing. An EVENT_POINTS rule takes tierKeys only.',
  fields: (t) => ({
    channels: t.stringList({ required: false, description: 'Order channels, e.g. ["web", "app"].' }),
    tierKeys: t.stringList({ required: false, description: 'Tier keys, e.g. ["GOLD", "PLATINUM"].' }),
    minOrderTotal: t.field({ type: MoneyInput, required: false, description: 'Minimum order total (inclusive), in the program currency.' }),
    includeCategories: t.stringList({ required: false, description: 'Only lines of these categories (or of includeSkus).' }),
    excludeCategories: t.stringList({ required: false, description: 'Never lines of these categories.' }),
    includeSkus: t.stringList({ required: false, description: 'Only lines with these SKUs (or of includeCategories).' }),
    excludeSkus: t.stringList({ required: false, description: 'Never lines with these SKUs.' }),
    firstOrderOnly: t.boolean({ required: false, description: 'Only the member’s first order.' }),
  }),
});

const LineMultiplierInput = builder.inputType('LineMultiplierEffectInput', {
  description: 'Multiply the points of qualifying lines.',
  fields: (t) => ({
    multiplier: t.field({ type: 'Decimal', required: true, description: 'From "0" (earns nothing) to "10", at most three places.' }),
  }),
});

const OrderBonusInput = builder.inputType('OrderBonusEffectInput', {
  description: 'Add fixed points once per qualifying order.',
  fields: (t) => ({ points: t.field({ type: 'Points', required: true, description: 'Points added (1 to 1 000 000).' }) }),
});

const EventLimitInput = builder.inputType('EventLimitInput', {
  description: 'How often one member may receive an event rule’s points.',
  fields: (t) => ({
    count: t.int({ required: true, description: 'Grants per member and period (1 to 1000).' }),
    period: t.field({ type: EventLimitPeriodEnum, required: true, description: 'The period they count in.' }),
  }),
});

const EventPointsInput = builder.inputType('EventPointsEffectInput', {
  description: 'Grant fixed points for a custom event (trackEvent).',
  fields: (t) => ({
    eventType: t.string({ required: true, description: 'Lower-case event type, e.g. "signup", "birthday", "review".' }),
    points: t.field({ type: 'Points', required: true, description: 'Points granted (1 to 1 000 000).' }),
    limit: t.field({ type: EventLimitInput, required: true, description: 'Per-member limit, e.g. 1 per CALENDAR_YEAR.' }),
  }),
});

const EarningEffectInputRef = builder.inputType('EarningRuleEffectInput', {
  description: 'What the rule does: exactly one of the three.',
  fields: (t) => ({
    lineMultiplier: t.field({ type: LineMultiplierInput, required: false, description: 'A multiplier on qualifying lines.' }),
    orderBonus: t.field({ type: OrderBonusInput, required: false, description: 'A fixed bonus per qualifying order.' }),
    eventPoints: t.field({ type: EventPointsInput, required: false, description: 'Fixed points for a custom event.' }),
  }),
});

const CreateEarningRuleInput = builder.inputType('CreateEarningRuleInput', {
  description: 'A new earning rule, validated as a whole.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Name shown in explanations (1–120 characters).' }),
    startsAt: t.field({ type: 'DateTime', required: false, description: 'From when it applies (inclusive); now when omitted.' }),
    endsAt: t.field({ type: 'DateTime', required: false, description: 'Until when it applies (exclusive); open-ended when omitted.' }),
    conditions: t.field({ type: EarningConditionsInputRef, required: false, description: 'When it applies; always when omitted.' }),
    effect: t.field({ type: EarningEffectInputRef, required: true, description: 'What it does.' }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'caller' },
        {
          required: false,
          repeat:
            'Unique per request: a retry with the same key and the same fields answers the rule its first call created (as it is now), without a second one; with other fields it is an IdempotencyConflictError. Optional so that existing clients keep working; without it every call adds a rule.',
        },
      ),
    ),
  }),
});

const UpdateEarningRuleInput = builder.inputType('UpdateEarningRuleInput', {
  description:
    'Changes to an earning rule: omitted fields stay; conditions and effect replace the whole; the result is validated as a whole.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'Earning rule id.' }),
    name: t.string({ required: false, description: 'New name.' }),
    startsAt: t.field({ type: 'DateTime', required: false, description: 'New start (inclusive).' }),
    endsAt: t.field({ type: 'DateTime', required: false, description: 'New end (exclusive); null makes the rule open-ended.' }),
    conditions: t.field({ type: EarningConditionsInputRef, required: false, description: 'New conditions (all of them).' }),
    effect: t.field({ type: EarningEffectInputRef, required: false, description: 'New effect.' }),
    expectedVersion: t.int({ required: false, description: 'The version you edited: refused when the rule changed since.' }),
  }),
});

const RetireEarningRuleInput = builder.inputType('RetireEarningRuleInput', {
  description: 'An earning rule to retire for good.',
  fields: (t) => ({ id: t.id({ required: true, description: 'Earning rule id.' }) }),
});

const EarningRulePayload = (name: string, description: string) =>
  builder.objectRef<{ ruleId: string }>(name).implement({
    description,
    fields: (t) => ({
      earningRule: t.prismaField({
        type: EarningRuleRef,
        description: 'The rule, as stored.',
        resolve: (query, parent, _args, ctx) => ctx.deps.prisma.earningRule.findUniqueOrThrow({ ...query, where: { id: parent.ruleId } }),
      }),
    }),
  });

const CreateEarningRulePayload = EarningRulePayload('CreateEarningRulePayload', 'The new earning rule.');
const UpdateEarningRulePayload = EarningRulePayload('UpdateEarningRulePayload', 'The changed earning rule (its next version).');
const RetireEarningRulePayload = EarningRulePayload('RetireEarningRulePayload', 'The retired earning rule.');

type GraphQLConditions = {
  [K in keyof EarningConditionsInput]?: EarningConditionsInput[K] | null;
};

const conditionsOf = (c: GraphQLConditions | null | undefined): EarningConditionsInput | null => c ?? null;
const effectOf = (e: EarningEffectInput | null | undefined): EarningEffectInput | null => e ?? null;

builder.mutationFields((t) => ({
  createEarningRule: t.field({
    type: CreateEarningRulePayload,
    description:
      'Adds an earning rule (admins), once per idempotencyKey. It applies from its start to earnings and events in their transaction.',
    authScopes: { caller: SERVICE_CALLERS.manageEarningRules },
    errors: {
      types: [...COMMON_ERRORS, IdempotencyConflictError],
      directResult: true,
      union: { name: 'CreateEarningRuleResult' },
    },
    args: { input: t.arg({ type: CreateEarningRuleInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const rule = await createEarningRule(
        ctx.deps,
        { ...input, conditions: conditionsOf(input.conditions), effect: effectOf(input.effect) ?? {} },
        callerOf(ctx.principal),
      );
      return { ruleId: rule.id };
    },
  }),
  updateEarningRule: t.field({
    type: UpdateEarningRulePayload,
    description: 'Changes an earning rule (admins): the next version; earlier versions stay in its history. Retired rules cannot change.',
    authScopes: { caller: SERVICE_CALLERS.manageEarningRules },
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'UpdateEarningRuleResult' } },
    args: { input: t.arg({ type: UpdateEarningRuleInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeId('EarningRule', 'id', String(input.id));
      const rule = await updateEarningRule(
        ctx.deps,
        { ...input, id, conditions: conditionsOf(input.conditions), effect: effectOf(input.effect) },
        callerOf(ctx.principal),
      );
      return { ruleId: rule.id };
    },
  }),
  retireEarningRule: t.field({
    type: RetireEarningRulePayload,
    description: 'Retires an earning rule for good (admins): it stops applying at once; it and its history stay readable.',
    authScopes: { caller: SERVICE_CALLERS.manageEarningRules },
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'RetireEarningRuleResult' } },
    args: { input: t.arg({ type: RetireEarningRuleInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const rule = await retireEarningRule(ctx.deps, { id: decodeId('EarningRule', 'id', String(input.id)) }, callerOf(ctx.principal));
      return { ruleId: rule.id };
    },
  }),
}));

const EventRuleOutcomeRef = builder.objectRef<EventRuleOutcome>('EventRuleOutcome').implement({
  description: 'What one matching event rule did for a tracked event.',
  fields: (t) => ({
    ruleId: t.id({ description: 'The earning rule’s global id.', resolve: (o) => encodeGlobalID('EarningRule', o.ruleId) }),
    ruleName: t.exposeString('ruleName', { description: 'The rule’s name.' }),
    ruleVersion: t.exposeInt('ruleVersion', { description: 'The rule’s version that applied.' }),
    granted: t.boolean({
      description: 'True: its points were granted; false: the member had reached its limit.',
      resolve: (o) => o.outcome === 'GRANTED',
    }),
    period: t.exposeString('periodKey', { description: 'The limit’s period: "2026", "2026-12" or "lifetime".' }),
    points: t.field({ type: 'Points', description: 'Points this rule granted (0 at the limit).', resolve: (o) => o.points }),
  }),
});

const TrackEventPayload = builder.objectRef<TrackEventResult & { replayed: boolean; member?: Member }>('TrackEventPayload').implement({
  description: 'A custom event recorded: the points its rules granted and why.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'The event type.' }),
    points: t.field({ type: 'Points', description: 'Points granted (0 when no rule granted any).', resolve: (r) => r.points }),
    rules: t.field({
      type: [EventRuleOutcomeRef],
      description: 'Each active rule for this event type and the member’s tier, and what it did (empty: no such rule).',
      resolve: (r) => r.rules,
    }),
    replayed: t.exposeBoolean('replayed', { description: 'True when this repeats an earlier request with the same key.' }),
    member: t.prismaField({
      type: 'Member',
      description: 'The member after the event.',
      resolve: (query, r, _args, ctx) => r.member ?? ctx.deps.prisma.member.findUniqueOrThrow({ ...query, where: { id: r.memberId } }),
    }),
    entry: t.prismaField({
      type: 'LedgerEntry',
      nullable: true,
      description: 'The BONUS ledger entry; null when no points were granted.',
      resolve: (query, r, _args, ctx) =>
        r.entryId ? ctx.deps.prisma.ledgerEntry.findUnique({ ...query, where: { id: r.entryId } }) : null,
    }),
  }),
});

const TrackEventInput = builder.inputType('TrackEventInput', {
  description: 'A custom event of a member (signup, birthday, review, …) that earning rules may grant points for.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    type: t.string({ required: true, description: 'Lower-case event type, e.g. "birthday".' }),
    idempotencyKey: t.string(
      idempotencyKeyArg({ of: 'member' }, { repeat: 'Unique per event: repeating it returns the first result without a second effect.' }),
    ),
  }),
});

builder.mutationField('trackEvent', (t) =>
  t.field({
    type: TrackEventPayload,
    description:
      'Records a custom event and grants the points of the active event rules for its type, once per idempotency key and within each rule’s per-member limit.',
    authScopes: { caller: SERVICE_CALLERS.trackEvent },
    errors: { types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError], directResult: true, union: { name: 'TrackEventResult' } },
    args: { input: t.arg({ type: TrackEventInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      trackEvent(
        ctx.deps,
        { memberId: decodeId('Member', 'memberId', String(input.memberId)), type: input.type, idempotencyKey: input.idempotencyKey },
        callerOf(ctx.principal),
      ),
  }),
);

const PreviewEarnInput = builder.inputType('PreviewEarnInput', {
  description: 'What earnPoints would take, without the idempotency key: nothing is written.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    order: t.field({ type: OrderInput, required: true, description: 'The order with its total, channel and line items.' }),
    points: t.field({ type: 'Points', required: false, description: 'Explicit points instead of the earn rule (admins only).' }),
  }),
});

const EarnPreviewRef = builder.objectRef<EarnPreview>('EarnPreview').implement({
  description: 'What earnPoints would grant now for the same input, and why; nothing was written.',
  fields: (t) => ({
    points: t.field({ type: 'Points', description: 'Points the order would earn.', resolve: (p) => p.points }),
    breakdown: t.field({
      type: [EarnLineRef],
      description: 'Why, line by line, exactly as EarnPointsPayload.breakdown would say.',
      resolve: (p) => p.breakdown,
    }),
    alreadyEarned: t.exposeBoolean('alreadyEarned', {
      description: 'True when this order has earned already: earnPoints would refuse it (ValidationError).',
    }),
  }),
});

builder.queryField('previewEarn', (t) =>
  t.field({
    type: EarnPreviewRef,
    description: 'Answers what earnPoints would grant for an order now, with the same explanation, without writing anything.',
    authScopes: { caller: SERVICE_CALLERS.previewEarn },
    // A read: a refusal is null with FORBIDDEN / UNAUTHENTICATED (docs/errors.md), not a typed result.
    unauthorizedError: (_parent, _args, context) =>
      new ReadRefusal(context.principal.kind === 'anonymous' ? new UnauthenticatedError() : new ForbiddenError()),
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: {
        name: 'PreviewEarnResult',
        description:
          'The preview, or a ValidationError for an input earnPoints would refuse, or NotFoundError for an unknown member. A caller who may not preview gets null with a top-level FORBIDDEN or UNAUTHENTICATED error, as on every read (docs/errors.md).',
      },
    },
    args: { input: t.arg({ type: PreviewEarnInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      previewEarn(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
);
