import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { ValidationError } from '../../domain/errors.js';
import {
  changedSettings,
  programChangeListWhere,
  readProgram,
  readProgramChange,
  updateProgram,
  type ProgramChangeReadShape,
  type MoneySettingPatch,
  type ProgramPatch,
  type ProgramView,
} from '../../domain/program/program.service.js';
import { goodwillDefaultsFor, saveDeskWeightsFor } from '../../domain/program/program-policies.js';
import type { ProgramSettings } from '../../domain/program/program-settings.js';
import { valueAt, type CurrencyBoundSetting } from '../../domain/program/currency-switch.js';
import { tierRules } from '../../domain/tiers/tiers.service.js';
import { TierRef } from '../tiers/tier.type.js';
import { builder } from '../builder.js';
import { loadThroughService } from '../node-loader.js';
import { ActorTypeEnum } from '../enums.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { ServiceChannelEnum } from '../feedback/feedback.type.js';
import { deprecatedFor, Money, money, MoneyInput, namingSentFields, type MoneyInputShape } from '../money.type.js';
import { SeverityEnum } from '../service-failures/service-failure.type.js';
import { COUNT_COST, counted } from '../total-count.js';

const RestoredPointsExpiryEnum = builder.enumType('RestoredPointsExpiry', {
  description: 'When points given back by a cancel or return (RESTORE entries) expire.',
  values: {
    FRESH: { description: 'A full point expiry period after they are given back (the default).' },
    ORIGINAL: { description: 'When the first lot the redemption spent would have expired (possibly at once).' },
  } as const,
});

/** A policy object of the settings, with the program currency for its money fields. */
type WithCurrency<T> = T & { currency: string };

type CompensationShape = WithCurrency<ProgramSettings['compensation']>;

const CompensationBaseValues = builder
  .objectRef<WithCurrency<ProgramSettings['compensation']['baseBySeverity']>>('CompensationBaseValues')
  .implement({
    description: 'Base value of a compensation voucher by the severity of the service failure.',
    fields: (t) => ({
      low: t.field({ type: Money, description: 'LOW severity.', resolve: (b) => money(b.LOW, b.currency) }),
      medium: t.field({ type: Money, description: 'MEDIUM severity.', resolve: (b) => money(b.MEDIUM, b.currency) }),
      high: t.field({ type: Money, description: 'HIGH severity.', resolve: (b) => money(b.HIGH, b.currency) }),
      critical: t.field({
        type: Money,
        description: 'CRITICAL severity.',
        resolve: (b) => money(b.CRITICAL, b.currency),
      }),
    }),
  });

const CompensationPolicy = builder.objectRef<CompensationShape>('CompensationPolicy').implement({
  description: 'How service failures are compensated: base × tier factor × repeat factor, capped per member.',
  fields: (t) => ({
    baseBySeverity: t.field({
      type: CompensationBaseValues,
      description: 'Base voucher value by severity.',
      resolve: (c) => ({ ...c.baseBySeverity, currency: c.currency }),
    }),
    repeatWindowDays: t.exposeInt('repeatWindowDays', {
      description: 'Failures of one member within this many days count as repeats.',
    }),
    secondFailureFactor: t.exposeFloat('secondFailureFactor', { description: 'Factor for the second failure in the window.' }),
    laterFailureFactor: t.exposeFloat('laterFailureFactor', {
      description: 'Factor for the third and later failures in the window.',
    }),
    capWindowDays: t.exposeInt('capWindowDays', { description: 'Rolling window of the per-member cap, in days.' }),
    capAmount: t.field({
      type: Money,
      description: 'Most compensation one member receives in the cap window; more goes to review.',
      resolve: (c) => money(c.capAmount, c.currency),
    }),
  }),
});

const RenewalPolicy = builder.objectRef<ProgramSettings['renewal']>('RenewalPolicy').implement({
  description: 'Bonus points for contract extensions.',
  fields: (t) => ({
    pointsPer12Months: t.expose('pointsPer12Months', {
      type: 'Points',
      description: 'Points per 12 months of new term, before the tier multiplier.',
    }),
    consecutiveBonusPercent: t.exposeInt('consecutiveBonusPercent', {
      description: 'Extra percent per consecutive earlier renewal.',
    }),
    consecutiveBonusCapPercent: t.exposeInt('consecutiveBonusCapPercent', {
      description: 'Most extra percent from consecutive renewals.',
    }),
    clawbackDays: t.exposeInt('clawbackDays', {
      description: 'Days within which a cancelled extension takes its bonus back.',
    }),
    windowDays: t.exposeInt('windowDays', {
      description: 'Days before a contract’s end from which it can be extended, once per term.',
    }),
  }),
});

const GoodwillAuthority = builder.objectRef<WithCurrency<ProgramSettings['goodwill']>>('GoodwillAuthority').implement({
  description: 'Default authority of an agent for goodwill gestures; above it a gesture waits for approval.',
  fields: (t) => ({
    perGestureLimit: t.field({
      type: Money,
      description: 'Most money value of one gesture.',
      resolve: (g) => money(g.perGestureLimit, g.currency),
    }),
    perGesturePointsLimit: t.expose('perGesturePointsLimit', { type: 'Points', description: 'Most points in one gesture.' }),
    monthlyBudget: t.field({
      type: Money,
      description: 'Most an agent grants per calendar month.',
      resolve: (g) => money(g.monthlyBudget, g.currency),
    }),
  }),
});

type SlaShape = ProgramSettings['sla'];
type ChannelTargets = SlaShape['targets'][keyof SlaShape['targets']] & { channel: keyof SlaShape['targets'] };

const SlaChannelTargets = builder.objectRef<ChannelTargets>('SlaChannelTargets').implement({
  description: 'Service-level targets of one channel, counted from the moment a case is opened.',
  fields: (t) => ({
    channel: t.expose('channel', { type: ServiceChannelEnum, description: 'The channel.' }),
    firstResponseMinutes: t.exposeInt('firstResponseMinutes', {
      description: 'Minutes within which the first response (or the resolution) is due; later files a LONG_WAIT failure.',
    }),
    resolutionMinutes: t.exposeInt('resolutionMinutes', {
      description: 'Minutes within which the resolution is due; later files an UNRESOLVED_CONTACT failure.',
    }),
  }),
});

const SlaPolicy = builder.objectRef<SlaShape>('SlaPolicy').implement({
  description:
    'Service-level targets per channel. A case gets its due times when it is recorded; a missed target files ' +
    'one service failure by itself (reported by the system), which is compensated like any other.',
  fields: (t) => ({
    targets: t.field({
      type: [SlaChannelTargets],
      description: 'Targets per channel, one entry for each.',
      resolve: (sla) =>
        (Object.keys(sla.targets) as (keyof SlaShape['targets'])[]).map((channel) => ({ channel, ...sla.targets[channel] })),
    }),
    firstResponseBreachSeverity: t.expose('firstResponseBreachSeverity', {
      type: SeverityEnum,
      description: 'Severity of the LONG_WAIT failure a missed first-response target files.',
    }),
    resolutionBreachSeverity: t.expose('resolutionBreachSeverity', {
      type: SeverityEnum,
      description: 'Severity of the UNRESOLVED_CONTACT failure a missed resolution target files.',
    }),
  }),
});

const ScoreBands = builder.objectRef<ProgramSettings['metrics']['csatBands']>('ScoreBands').implement({
  description: 'Where a score turns good and excellent: below `goodFrom` POOR, above `excellentAbove` EXCELLENT, between them GOOD.',
  fields: (t) => ({
    goodFrom: t.exposeFloat('goodFrom', { description: 'The lowest GOOD score.' }),
    excellentAbove: t.exposeFloat('excellentAbove', { description: 'The highest GOOD score; above it EXCELLENT.' }),
  }),
});

const MetricsPolicy = builder.objectRef<ProgramSettings['metrics']>('MetricsPolicy').implement({
  description: 'How loyaltyMetrics grades scores and how long it follows members up (docs/metrics.md).',
  fields: (t) => ({
    csatBands: t.field({ type: ScoreBands, description: 'Bands of the CSAT, percent satisfied (0–100).', resolve: (m) => m.csatBands }),
    npsBands: t.field({ type: ScoreBands, description: 'Bands of the NPS (−100 to 100).', resolve: (m) => m.npsBands }),
    followUpDays: t.exposeInt('followUpDays', {
      description: 'Days after a failure (churn) or a compensation (recovery) in which loyaltyMetrics looks for what the member did.',
    }),
  }),
});

const SaveDeskWeights = builder.objectRef<ProgramSettings['saveDesk']>('SaveDeskWeights').implement({
  description: 'How the save desk scores members at risk: points per reason (docs/metrics.md, the save desk).',
  fields: (t) => ({
    windowDays: t.exposeInt('windowDays', { description: 'Service failures and detractor answers count when at most this many days old.' }),
    failurePoints: t.exposeInt('failurePoints', { description: 'Points per service failure in the window.' }),
    repeatFailurePoints: t.exposeInt('repeatFailurePoints', {
      description: 'Extra points per failure after the first in the window: repeats weigh more.',
    }),
    detractorPoints: t.exposeInt('detractorPoints', { description: 'Points per NPS answer of 0–6 in the window.' }),
    openCasePoints: t.exposeInt('openCasePoints', { description: 'Points per service case still open.' }),
    contractEndingDays: t.exposeInt('contractEndingDays', { description: 'An active contract ending within this many days counts.' }),
    contractEndingPoints: t.exposeInt('contractEndingPoints', {
      description: 'Points, once, when an active contract ends within contractEndingDays.',
    }),
    driftAfterMonths: t.exposeInt('driftAfterMonths', {
      description: 'An ACTIVE member without activity for this many months is drifting towards PASSIVE.',
    }),
    driftPoints: t.exposeInt('driftPoints', { description: 'Points for a member drifting towards PASSIVE.' }),
  }),
});

const ProgramChangeRef = builder.prismaNode('ProgramChange', {
  id: { field: 'id' },
  // The program's read (`readProgramChange`), by the rule this visibility names: refused before reading
  // (tests/graphql/unowned-node-read.test.ts); an unknown id is null.
  ...loadThroughService<ProgramChangeReadShape>('ProgramChange', readProgramChange),
  description: 'One change of the program settings, for the audit trail; refetchable through `node(id)` (admins only).',
  visibleTo: { caller: SERVICE_CALLERS.readProgramChanges },
  fields: (t) => ({
    version: t.exposeInt('version', { description: 'The version this change created.' }),
    actorType: t.expose('actorType', { type: ActorTypeEnum, description: 'Kind of caller that made the change.' }),
    actorId: t.exposeString('actorId', { description: 'Id of that caller (staff id or API key id).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the change was made.' }),
    before: t.string({
      description: 'The complete settings before the change, as a JSON document.',
      resolve: (change) => JSON.stringify(change.before),
    }),
    after: t.string({
      description: 'The complete settings after the change, as a JSON document.',
      resolve: (change) => JSON.stringify(change.after),
    }),
    changedSettings: t.stringList({
      description: 'Dotted paths of the settings that differ, e.g. "tiers.1.threshold" (list entries by index).',
      resolve: (change) => changedSettings(change.before, change.after),
    }),
  }),
});

export const ProgramRef = builder.objectRef<ProgramView>('Program').implement({
  description: 'The program settings: every rule that can be changed without code or restart.',
  fields: (t) => ({
    version: t.exposeInt('version', { description: 'Increases with every change.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the settings last changed.' }),
    currency: t.string({ description: 'Program currency.', resolve: (p) => p.settings.currency }),
    pointsPerCurrencyUnit: t.float({
      description: 'Points per 1.00 of order value, before the tier multiplier.',
      resolve: (p) => p.settings.pointsPerCurrencyUnit,
    }),
    pointValue: t.field({
      type: Money,
      description: 'Money value of one point.',
      resolve: (p) => ({ amount: p.settings.pointValue, currency: p.settings.currency }),
    }),
    returnWindowDays: t.int({
      description: 'Days earned points stay pending.',
      resolve: (p) => p.settings.returnWindowDays,
    }),
    pointExpiryMonths: t.int({
      description: 'Months after which earned points expire.',
      resolve: (p) => p.settings.pointExpiryMonths,
    }),
    passiveAfterMonths: t.int({
      description: 'Months without activity after which a member becomes PASSIVE.',
      resolve: (p) => p.settings.passiveAfterMonths,
    }),
    voucherValidityDays: t.int({
      description: 'Default validity of issued vouchers.',
      resolve: (p) => p.settings.voucherValidityDays,
    }),
    pointExpiryReminderDays: t.int({
      description: 'Days before a lot of points expires that its `points.expiring` webhook event is sent (once per lot).',
      resolve: (p) => p.settings.pointExpiryReminderDays,
    }),
    voucherExpiryReminderDays: t.int({
      description: 'Days before a voucher expires that its `voucher.expiring` webhook event is sent (once per voucher).',
      resolve: (p) => p.settings.voucherExpiryReminderDays,
    }),
    restoredPointsExpiry: t.field({
      type: RestoredPointsExpiryEnum,
      description: 'When points a cancel or return gives back expire (docs/orders.md).',
      resolve: (p) => p.settings.restoredPointsExpiry,
    }),
    tiers: t.field({
      type: [TierRef],
      description: 'The tiers, lowest first.',
      resolve: (p) => tierRules(p.settings),
    }),
    tierQualifyingMonths: t.int({
      description: 'Rolling window, in months, in which qualifying points count towards a tier.',
      resolve: (p) => p.settings.tierQualifyingMonths,
    }),
    tierProtectionDays: t.int({
      description: 'A service failure this many days before a tier review protects the tier from a downgrade.',
      resolve: (p) => p.settings.tierProtectionDays,
    }),
    compensation: t.field({
      type: CompensationPolicy,
      description: 'How service failures are compensated.',
      resolve: (p) => ({ ...p.settings.compensation, currency: p.settings.currency }),
    }),
    renewal: t.field({
      type: RenewalPolicy,
      description: 'Bonus points for contract extensions.',
      resolve: (p) => p.settings.renewal,
    }),
    goodwill: t.field({
      type: GoodwillAuthority,
      nullable: true,
      description: 'Default agent authority for goodwill gestures (staff and admin keys only; null with an error for others).',
      authScopes: { caller: SERVICE_CALLERS.readProgramPolicies },
      resolve: (p, _args, ctx) => ({ ...goodwillDefaultsFor(p, callerOf(ctx.principal)), currency: p.settings.currency }),
    }),
    sla: t.field({
      type: SlaPolicy,
      description: 'Service-level targets per channel and the failures their breaches file.',
      resolve: (p) => p.settings.sla,
    }),
    metrics: t.field({
      type: MetricsPolicy,
      description: 'How loyaltyMetrics grades scores and follows members up.',
      resolve: (p) => p.settings.metrics,
    }),
    saveDesk: t.field({
      type: SaveDeskWeights,
      nullable: true,
      description: 'How the save desk (`atRiskMembers`) scores members at risk (staff and admin keys only; null with an error for others).',
      authScopes: { caller: SERVICE_CALLERS.readProgramPolicies },
      resolve: (p, _args, ctx) => saveDeskWeightsFor(p, callerOf(ctx.principal)),
    }),
    changes: t.prismaConnection(
      {
        type: ProgramChangeRef,
        cursor: 'id',
        nullable: true,
        description: 'The audit trail of setting changes, newest first (admins only; null with an error for others).',
        authScopes: { caller: SERVICE_CALLERS.readProgramChanges },
        resolve: (query, _program, _args, ctx) =>
          ctx.deps.prisma.programChange.findMany({
            ...query,
            where: programChangeListWhere(callerOf(ctx.principal)),
            orderBy: { version: 'desc' },
          }),
        totalCount: (_program, _args, ctx) =>
          ctx.deps.prisma.programChange.count({ where: programChangeListWhere(callerOf(ctx.principal)) }),
      },
      counted(COUNT_COST.small),
    ),
  }),
});

builder.queryField('program', (t) =>
  t.field({
    type: ProgramRef,
    description: 'The current program settings.',
    authScopes: { caller: SERVICE_CALLERS.readProgram },
    resolve: (_root, _args, ctx) => readProgram(ctx.deps, callerOf(ctx.principal)),
  }),
);

// ---------------------------------------------------------------------------
// updateProgram

const TierInput = builder.inputType('TierInput', {
  description:
    'One tier of the new tier list. A key the program already has keeps its current values for the fields left out; ' +
    'a new key needs name, threshold, multiplier and compensationFactor.',
  fields: (t) => ({
    key: t.string({
      required: true,
      description: 'Stable identifier: 1–32 capital letters, digits or _, starting with a letter (e.g. "GOLD"). Unique in the list.',
    }),
    name: t.string({
      required: false,
      description: 'Display name (1–60 characters); no two tiers’ names alike, case and Unicode forms aside ("Gold" and "GOLD" are one).',
    }),
    threshold: t.field({
      type: 'Points',
      required: false,
      description: 'Qualifying points to reach it: 0 for the first tier, each above the one before.',
    }),
    multiplier: t.float({ required: false, description: 'Earn multiplier, 0.1–10.' }),
    compensationFactor: t.float({ required: false, description: 'Factor on compensation vouchers, 0.1–10.' }),
    benefits: t.string({ required: false, description: 'What the tier offers, as text for members (at most 2 000 characters).' }),
  }),
});

const CompensationBaseValuesInput = builder.inputType('CompensationBaseValuesInput', {
  description: 'Base compensation values by severity, decimal strings in the program currency.',
  fields: (t) => ({
    low: t.string({ required: false, description: 'LOW severity, e.g. "5.00".' }),
    medium: t.string({ required: false, description: 'MEDIUM severity.' }),
    high: t.string({ required: false, description: 'HIGH severity.' }),
    critical: t.string({ required: false, description: 'CRITICAL severity.' }),
  }),
});

const CompensationBaseMoneyInput = builder.inputType('CompensationBaseMoneyInput', {
  description: 'Base compensation values by severity, each as `CompensationBaseValues` reads it (program currency).',
  fields: (t) => ({
    low: t.field({ type: MoneyInput, required: false, description: 'LOW severity, e.g. { amount: "5.00", currency: "EUR" }.' }),
    medium: t.field({ type: MoneyInput, required: false, description: 'MEDIUM severity.' }),
    high: t.field({ type: MoneyInput, required: false, description: 'HIGH severity.' }),
    critical: t.field({ type: MoneyInput, required: false, description: 'CRITICAL severity.' }),
  }),
});

const CompensationPolicyInput = builder.inputType('CompensationPolicyInput', {
  description: 'Changes to the compensation policy; omitted fields keep their value.',
  fields: (t) => ({
    baseBySeverityMoney: t.field({
      type: CompensationBaseMoneyInput,
      required: false,
      description: 'Base voucher value by severity, as `CompensationPolicy.baseBySeverity` reads.',
    }),
    baseBySeverity: t.field({
      type: CompensationBaseValuesInput,
      required: false,
      deprecationReason: deprecatedFor('baseBySeverityMoney'),
      description: 'Base voucher value by severity, decimal strings. Give this or baseBySeverityMoney, not both.',
    }),
    repeatWindowDays: t.int({ required: false, description: 'Window in which failures count as repeats, days.' }),
    secondFailureFactor: t.float({ required: false, description: 'Factor for the second failure, 1–10.' }),
    laterFailureFactor: t.float({ required: false, description: 'Factor for the third and later failures, 1–10.' }),
    capWindowDays: t.int({ required: false, description: 'Rolling window of the per-member cap, days.' }),
    capAmountMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Per-member cap, as `CompensationPolicy.capAmount` reads.',
    }),
    capAmount: t.string({
      required: false,
      deprecationReason: deprecatedFor('capAmountMoney'),
      description: 'Per-member cap, decimal string. Give this or capAmountMoney, not both.',
    }),
  }),
});

const RenewalPolicyInput = builder.inputType('RenewalPolicyInput', {
  description: 'Changes to the renewal bonus policy; omitted fields keep their value.',
  fields: (t) => ({
    pointsPer12Months: t.field({
      type: 'Points',
      required: false,
      description: 'Points per 12 months of new term (whole, ≥ 0).',
    }),
    consecutiveBonusPercent: t.int({ required: false, description: 'Extra percent per consecutive renewal, 0–100.' }),
    consecutiveBonusCapPercent: t.int({ required: false, description: 'Most extra percent, 0–500.' }),
    clawbackDays: t.int({ required: false, description: 'Days within which a cancellation takes the bonus back.' }),
    windowDays: t.int({ required: false, description: 'Days before a contract’s end from which it can be extended, 1–180.' }),
  }),
});

const GoodwillAuthorityInput = builder.inputType('GoodwillAuthorityInput', {
  description: 'Changes to the default goodwill authority; omitted fields keep their value.',
  fields: (t) => ({
    perGestureLimitMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Most money value of one gesture, as `GoodwillAuthority.perGestureLimit` reads.',
    }),
    perGestureLimit: t.string({
      required: false,
      deprecationReason: deprecatedFor('perGestureLimitMoney'),
      description: 'Most money value of one gesture, decimal string. Give this or perGestureLimitMoney, not both.',
    }),
    perGesturePointsLimit: t.field({
      type: 'Points',
      required: false,
      description: 'Most points in one gesture (whole, ≥ 0).',
    }),
    monthlyBudgetMoney: t.field({
      type: MoneyInput,
      required: false,
      description: 'Monthly budget of an agent, as `GoodwillAuthority.monthlyBudget` reads.',
    }),
    monthlyBudget: t.string({
      required: false,
      deprecationReason: deprecatedFor('monthlyBudgetMoney'),
      description: 'Monthly budget of an agent, decimal string. Give this or monthlyBudgetMoney, not both.',
    }),
  }),
});

const SlaChannelTargetsInput = builder.inputType('SlaChannelTargetsInput', {
  description: 'Changes to the targets of one channel; omitted fields keep their value.',
  fields: (t) => ({
    channel: t.field({ type: ServiceChannelEnum, required: true, description: 'The channel to change (each at most once).' }),
    firstResponseMinutes: t.int({ required: false, description: 'First-response target in minutes, 1 to 43 200 (30 days).' }),
    resolutionMinutes: t.int({
      required: false,
      description: 'Resolution target in minutes, 1 to 259 200 (180 days), not below the first-response target.',
    }),
  }),
});

const SlaPolicyInput = builder.inputType('SlaPolicyInput', {
  description: 'Changes to the service-level targets; omitted fields keep their value. Cases already recorded keep their due times.',
  fields: (t) => ({
    targets: t.field({ type: [SlaChannelTargetsInput], required: false, description: 'Changes per channel.' }),
    firstResponseBreachSeverity: t.field({
      type: SeverityEnum,
      required: false,
      description: 'Severity of the LONG_WAIT failure a missed first-response target files.',
    }),
    resolutionBreachSeverity: t.field({
      type: SeverityEnum,
      required: false,
      description: 'Severity of the UNRESOLVED_CONTACT failure a missed resolution target files.',
    }),
  }),
});

const ScoreBandsInput = builder.inputType('ScoreBandsInput', {
  description: 'Changes to the bands of a score; omitted fields keep their value. goodFrom must not be above excellentAbove.',
  fields: (t) => ({
    goodFrom: t.float({ required: false, description: 'The lowest GOOD score.' }),
    excellentAbove: t.float({ required: false, description: 'The highest GOOD score; above it EXCELLENT.' }),
  }),
});

const MetricsPolicyInput = builder.inputType('MetricsPolicyInput', {
  description: 'Changes to how loyaltyMetrics grades and follows up; omitted fields keep their value.',
  fields: (t) => ({
    csatBands: t.field({ type: ScoreBandsInput, required: false, description: 'CSAT bands, percent satisfied (0–100).' }),
    npsBands: t.field({ type: ScoreBandsInput, required: false, description: 'NPS bands (−100 to 100).' }),
    followUpDays: t.int({ required: false, description: 'Days of follow-up for churn and recovery (1–365).' }),
  }),
});

const SaveDeskWeightsInput = builder.inputType('SaveDeskWeightsInput', {
  description: 'Changes to the save desk’s weights; omitted fields keep their value.',
  fields: (t) => ({
    windowDays: t.int({
      required: false,
      description: 'Service failures and detractor answers count when at most this many days old (1–365).',
    }),
    failurePoints: t.int({ required: false, description: 'Points per service failure in the window (0–1000).' }),
    repeatFailurePoints: t.int({
      required: false,
      description: 'Extra points per failure after the first in the window: repeats weigh more (0–1000).',
    }),
    detractorPoints: t.int({ required: false, description: 'Points per NPS answer of 0–6 in the window (0–1000).' }),
    openCasePoints: t.int({ required: false, description: 'Points per service case still open (0–1000).' }),
    contractEndingDays: t.int({ required: false, description: 'An active contract ending within this many days counts (1–365).' }),
    contractEndingPoints: t.int({
      required: false,
      description: 'Points, once, when an active contract ends within contractEndingDays (0–1000).',
    }),
    driftAfterMonths: t.int({
      required: false,
      description: 'An ACTIVE member without activity for this many months is drifting towards PASSIVE (1–120).',
    }),
    driftPoints: t.int({ required: false, description: 'Points for a member drifting towards PASSIVE (0–1000).' }),
  }),
});

const UpdateProgramInput = builder.inputType('UpdateProgramInput', {
  description:
    'Changes to the program settings; omitted fields keep their value. The result is validated as a whole: ' +
    'an invalid setting is a ValidationError naming its path, and nothing is stored.',
  fields: (t) => ({
    expectedVersion: t.int({
      required: false,
      description: 'The version the change is based on; a different current version is a ValidationError.',
    }),
    currency: t.string({
      required: false,
      description:
        'Program currency, ISO 4217. A change of it restates, in the same input, every setting whose figure is in the currency ' +
        '(pointsPerCurrencyUnit, pointValue, compensation base values and cap, goodwill limits): one left out is a ' +
        'ValidationError naming it, and nothing is stored. Agents’ own money limits and earning rules’ minimum orders, ' +
        'which this input cannot restate, must be cleared first (else a ValidationError on currency names the first).',
    }),
    pointsPerCurrencyUnit: t.float({
      required: false,
      description: 'Points per 1.00 of order value, before the tier multiplier (0–1000).',
    }),
    pointValueMoney: t.field({
      type: MoneyInput,
      required: false,
      description:
        'Money value of one point, as `Program.pointValue` reads (in the program currency, or in `currency` when it changes too).',
    }),
    pointValue: t.string({
      required: false,
      deprecationReason: deprecatedFor('pointValueMoney'),
      description: 'Money value of one point, decimal string. Give this or pointValueMoney, not both.',
    }),
    returnWindowDays: t.int({ required: false, description: 'Days earned points stay pending (0–365).' }),
    pointExpiryMonths: t.int({ required: false, description: 'Months after which points expire (1–120).' }),
    passiveAfterMonths: t.int({ required: false, description: 'Months without activity before PASSIVE (1–120).' }),
    tiers: t.field({
      type: [TierInput],
      required: false,
      description:
        'The whole new tier list, lowest first (2–10 tiers): tiers left out are removed, which no member but a closed one ' +
        'may hold (else a ValidationError says how many do); closed members move to the tier their qualifying points ' +
        'reach (TierChangeReason.TIER_REMOVED). Replaces the former per-tier changes.',
    }),
    tierQualifyingMonths: t.int({ required: false, description: 'Rolling qualifying window in months (1–36).' }),
    tierProtectionDays: t.int({
      required: false,
      description: 'Days before a review in which a service failure protects the tier (0–365).',
    }),
    voucherValidityDays: t.int({ required: false, description: 'Default voucher validity in days (1–3650).' }),
    pointExpiryReminderDays: t.int({ required: false, description: 'Days ahead of a lot’s expiry for `points.expiring` (1–365).' }),
    voucherExpiryReminderDays: t.int({ required: false, description: 'Days ahead of a voucher’s expiry for `voucher.expiring` (1–365).' }),
    restoredPointsExpiry: t.field({
      type: RestoredPointsExpiryEnum,
      required: false,
      description: 'When points a cancel or return gives back expire.',
    }),
    compensation: t.field({ type: CompensationPolicyInput, required: false, description: 'Compensation policy.' }),
    renewal: t.field({ type: RenewalPolicyInput, required: false, description: 'Renewal bonus policy.' }),
    goodwill: t.field({ type: GoodwillAuthorityInput, required: false, description: 'Default goodwill authority.' }),
    sla: t.field({ type: SlaPolicyInput, required: false, description: 'Service-level targets per channel.' }),
    metrics: t.field({ type: MetricsPolicyInput, required: false, description: 'How loyaltyMetrics grades and follows up.' }),
    saveDesk: t.field({ type: SaveDeskWeightsInput, required: false, description: 'The save desk’s weights.' }),
  }),
});

type Input = typeof UpdateProgramInput.$inferInput;

/** Drops nulls and undefined: an omitted (or null) field keeps its current value. */
function given<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: NonNullable<T[K]> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value != null)) as {
    [K in keyof T]?: NonNullable<T[K]>;
  };
}

type MoneyGiven = MoneyInputShape | null | undefined;

/**
 * A money setting as the patch takes it, from a MoneyInput field or its deprecated decimal-string twin
 * (issue 16), at most one of the two. The MoneyInput goes in with its currency: the service holds it
 * against the program currency after the change. `renames` collects the settings paths whose errors
 * must name the MoneyInput field the client sent.
 */
function moneySetting(
  renames: Record<string, string>,
  fields: { path: string; legacyPath: string },
  legacy: string | null | undefined,
  sent: MoneyGiven,
): MoneySettingPatch | undefined {
  if (sent == null) return legacy ?? undefined;
  if (legacy != null) throw new ValidationError(fields.path, `give ${fields.path} or the deprecated ${fields.legacyPath}, not both`);
  renames[fields.legacyPath] = `${fields.path}.amount`;
  renames[`${fields.legacyPath}.currency`] = `${fields.path}.currency`;
  return { amount: sent.amount, currency: sent.currency };
}

/** The compensation policy's changes as a patch: base values from baseBySeverityMoney or the deprecated baseBySeverity. */
function compensationPatch(
  renames: Record<string, string>,
  input: NonNullable<Input['compensation']>,
): NonNullable<ProgramPatch['compensation']> {
  const { baseBySeverity: base, baseBySeverityMoney: sent, capAmount, capAmountMoney, ...rest } = input;
  const patch: NonNullable<ProgramPatch['compensation']> = given(rest);
  const amount = moneySetting(
    renames,
    { path: 'compensation.capAmountMoney', legacyPath: 'compensation.capAmount' },
    capAmount,
    capAmountMoney,
  );
  if (amount !== undefined) patch.capAmount = amount;
  if (sent != null) {
    if (base != null) {
      throw new ValidationError('compensation.baseBySeverityMoney', 'give it or the deprecated compensation.baseBySeverity, not both');
    }
    const at = (key: keyof typeof sent, severity: string) =>
      moneySetting(
        renames,
        { path: `compensation.baseBySeverityMoney.${key}`, legacyPath: `compensation.baseBySeverity.${severity}` },
        undefined,
        sent[key],
      );
    patch.baseBySeverity = given({
      LOW: at('low', 'LOW'),
      MEDIUM: at('medium', 'MEDIUM'),
      HIGH: at('high', 'HIGH'),
      CRITICAL: at('critical', 'CRITICAL'),
    });
  } else if (base != null) {
    patch.baseBySeverity = given({ LOW: base.low, MEDIUM: base.medium, HIGH: base.high, CRITICAL: base.critical });
  }
  return patch;
}

/** The GraphQL input as a domain patch; `renames` as for `moneySetting`. */
function programPatch(input: Input, renames: Record<string, string>): ProgramPatch {
  const patch: ProgramPatch = given({
    currency: input.currency,
    pointsPerCurrencyUnit: input.pointsPerCurrencyUnit,
    pointValue: moneySetting(renames, { path: 'pointValueMoney', legacyPath: 'pointValue' }, input.pointValue, input.pointValueMoney),
    returnWindowDays: input.returnWindowDays,
    pointExpiryMonths: input.pointExpiryMonths,
    passiveAfterMonths: input.passiveAfterMonths,
    tierQualifyingMonths: input.tierQualifyingMonths,
    tierProtectionDays: input.tierProtectionDays,
    voucherValidityDays: input.voucherValidityDays,
    pointExpiryReminderDays: input.pointExpiryReminderDays,
    voucherExpiryReminderDays: input.voucherExpiryReminderDays,
    restoredPointsExpiry: input.restoredPointsExpiry,
  });
  if (input.tiers != null) {
    patch.tiers = input.tiers.map((tier) => ({
      key: tier.key,
      ...given({
        name: tier.name,
        threshold: tier.threshold,
        multiplier: tier.multiplier,
        compensationFactor: tier.compensationFactor,
        benefits: tier.benefits,
      }),
    }));
  }
  if (input.compensation != null) patch.compensation = compensationPatch(renames, input.compensation);
  if (input.renewal != null) patch.renewal = given(input.renewal);
  if (input.goodwill != null) {
    const { perGestureLimit, perGestureLimitMoney, monthlyBudget, monthlyBudgetMoney, ...rest } = input.goodwill;
    patch.goodwill = given({
      ...rest,
      perGestureLimit: moneySetting(
        renames,
        { path: 'goodwill.perGestureLimitMoney', legacyPath: 'goodwill.perGestureLimit' },
        perGestureLimit,
        perGestureLimitMoney,
      ),
      monthlyBudget: moneySetting(
        renames,
        { path: 'goodwill.monthlyBudgetMoney', legacyPath: 'goodwill.monthlyBudget' },
        monthlyBudget,
        monthlyBudgetMoney,
      ),
    });
  }
  if (input.saveDesk != null) patch.saveDesk = given(input.saveDesk);
  if (input.sla != null) {
    const { targets, ...rest } = input.sla;
    patch.sla = given(rest);
    if (targets != null) {
      const byChannel: NonNullable<NonNullable<ProgramPatch['sla']>['targets']> = {};
      targets.forEach((target, index) => {
        if (byChannel[target.channel]) {
          throw new ValidationError(`sla.targets.${index}.channel`, `${target.channel} is listed more than once`);
        }
        byChannel[target.channel] = given({
          firstResponseMinutes: target.firstResponseMinutes,
          resolutionMinutes: target.resolutionMinutes,
        });
      });
      patch.sla.targets = byChannel;
    }
  }
  if (input.metrics != null) {
    const { csatBands, npsBands, followUpDays } = input.metrics;
    patch.metrics = given({ followUpDays });
    if (csatBands != null) patch.metrics.csatBands = given(csatBands);
    if (npsBands != null) patch.metrics.npsBands = given(npsBands);
  }
  return patch;
}

/**
 * The MoneyInput field of each money setting (by its settings path) that a change of currency must restate: every
 * one of the domain's list but the earn rate, which is a plain number here too (a setting added there must be named here).
 */
const RESTATED_BY: Record<Exclude<CurrencyBoundSetting, 'pointsPerCurrencyUnit'>, string> = {
  pointValue: 'pointValueMoney',
  'compensation.baseBySeverity.LOW': 'compensation.baseBySeverityMoney.low',
  'compensation.baseBySeverity.MEDIUM': 'compensation.baseBySeverityMoney.medium',
  'compensation.baseBySeverity.HIGH': 'compensation.baseBySeverityMoney.high',
  'compensation.baseBySeverity.CRITICAL': 'compensation.baseBySeverityMoney.critical',
  'compensation.capAmount': 'compensation.capAmountMoney',
  'goodwill.perGestureLimit': 'goodwill.perGestureLimitMoney',
  'goodwill.monthlyBudget': 'goodwill.monthlyBudgetMoney',
};

/**
 * With a currency in the input: the renames that make an error on a money setting the input left out (a change of
 * currency must restate it) name the MoneyInput field to send, not its deprecated twin.
 */
function restatementRenames(input: Input, patch: ProgramPatch, renames: Record<string, string>): void {
  if (input.currency == null) return;
  for (const [setting, field] of Object.entries(RESTATED_BY)) {
    if (valueAt(patch, setting) == null) renames[setting] = field;
  }
}

const UpdateProgramPayload = builder.objectRef<{ program: ProgramView }>('UpdateProgramPayload').implement({
  description: 'The program settings after the change.',
  fields: (t) => ({
    program: t.field({ type: ProgramRef, description: 'The new settings and version.', resolve: (p) => p.program }),
  }),
});

builder.mutationField('updateProgram', (t) =>
  t.field({
    type: UpdateProgramPayload,
    description: 'Changes program settings (admins). Applies to every request from the next one on, without restart; audited.',
    authScopes: { caller: SERVICE_CALLERS.updateProgram },
    errors: { types: [...COMMON_ERRORS], directResult: true, union: { name: 'UpdateProgramResult' } },
    args: { input: t.arg({ type: UpdateProgramInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const renames: Record<string, string> = {};
      const patch = programPatch(input, renames);
      restatementRenames(input, patch, renames);
      const program = await namingSentFields(renames, () =>
        updateProgram(ctx.deps, { patch, expectedVersion: input.expectedVersion }, callerOf(ctx.principal)),
      );
      return { program };
    },
  }),
);
