import type {
  ChurnGroup,
  CsatFigure,
  LoyaltyMetrics,
  MemberStatusFigure,
  NpsFigure,
  PeriodFigures,
  Ratio,
  SpendFigure,
  SpendLine,
} from '../../domain/metrics/loyalty-metrics.service.js';
import { METRICS_GROUP_BY } from '../../domain/metrics/metric-periods.js';
import type { GoodwillReason, ServiceFailureType } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import { ServiceChannelEnum } from '../feedback/feedback.type.js';
import { GoodwillReasonEnum } from '../goodwill/goodwill-gesture.type.js';
import { Money, money } from '../money.type.js';
import { ServiceFailureTypeEnum } from '../service-failures/service-failure.type.js';
import { VoucherKindEnum } from '../vouchers/voucher.type.js';

export const MetricsGroupByEnum = builder.enumType('MetricsGroupBy', {
  description: 'How loyaltyMetrics cuts a period into a series. Buckets are UTC; the first and last are cut to the period.',
  values: {
    NONE: { description: 'One bucket: the whole period.' },
    DAY: { description: 'UTC days, for a period of at most 366 days (a year from any hour: up to 367 buckets, the first and last cut).' },
    WEEK: { description: 'ISO weeks, from Monday 00:00 UTC.' },
    MONTH: { description: 'Calendar months, from the 1st 00:00 UTC.' },
  } satisfies Record<(typeof METRICS_GROUP_BY)[number], { description: string }>,
});

const ScoreBandEnum = builder.enumType('ScoreBand', {
  description: 'A score graded by the program’s bands (program.metrics).',
  values: {
    POOR: { description: 'Below the band’s goodFrom.' },
    GOOD: { description: 'From goodFrom up to excellentAbove.' },
    EXCELLENT: { description: 'Above excellentAbove.' },
  } as const,
});

const RatioRef = builder.objectRef<Ratio>('Ratio').implement({
  description: 'A share, with what it was computed from: value = numerator ÷ denominator.',
  fields: (t) => ({
    numerator: t.exposeInt('numerator', { description: 'What was counted (docs/metrics.md names it per figure).' }),
    denominator: t.exposeInt('denominator', { description: 'Out of how many.' }),
    value: t.float({
      nullable: true,
      description: 'numerator ÷ denominator, 0–1; null when the denominator is 0.',
      resolve: (r) => r.value,
    }),
    percent: t.float({
      nullable: true,
      description: '100 × numerator ÷ denominator; null when the denominator is 0.',
      resolve: (r) => (r.denominator === 0 ? null : (100 * r.numerator) / r.denominator),
    }),
  }),
});

const AverageRef = builder.objectRef<Ratio>('Average').implement({
  description: 'A mean, with what it was computed from: value = numerator ÷ denominator.',
  fields: (t) => ({
    numerator: t.exposeFloat('numerator', { description: 'The sum (of scores, or of durations in seconds).' }),
    denominator: t.exposeInt('denominator', { description: 'How many were summed.' }),
    value: t.float({ nullable: true, description: 'numerator ÷ denominator; null when the denominator is 0.', resolve: (r) => r.value }),
  }),
});

const NpsScoreRef = builder.objectRef<NpsFigure>('NpsScore').implement({
  description: 'Net Promoter Score: % promoters (9–10) − % detractors (0–6) of the NPS answers.',
  fields: (t) => ({
    numerator: t.exposeInt('numerator', { description: 'promoters − detractors.' }),
    denominator: t.exposeInt('denominator', { description: 'NPS answers.' }),
    value: t.float({
      nullable: true,
      description: 'The NPS, −100 to 100: 100 × numerator ÷ denominator; null without answers.',
      resolve: (s) => s.value,
    }),
    band: t.field({
      type: ScoreBandEnum,
      nullable: true,
      description: 'The NPS graded by program.metrics.npsBands.',
      resolve: (s) => s.band,
    }),
    promoters: t.exposeInt('promoters', { description: 'Answers of 9 or 10.' }),
    passives: t.exposeInt('passives', { description: 'Answers of 7 or 8.' }),
    detractors: t.exposeInt('detractors', { description: 'Answers of 0 to 6.' }),
  }),
});

const CsatScoreRef = builder.objectRef<CsatFigure>('CsatScore').implement({
  description: 'Customer satisfaction: the share of CSAT scores (1–5) that are satisfied (4 or 5), and the mean score.',
  fields: (t) => ({
    numerator: t.exposeInt('numerator', { description: 'Satisfied scores (4 or 5).' }),
    denominator: t.exposeInt('denominator', { description: 'CSAT scores.' }),
    value: t.float({
      nullable: true,
      description: 'Percent satisfied, 0–100: 100 × numerator ÷ denominator; null without scores.',
      resolve: (s) => s.value,
    }),
    band: t.field({
      type: ScoreBandEnum,
      nullable: true,
      description: 'value graded by program.metrics.csatBands.',
      resolve: (s) => s.band,
    }),
    mean: t.field({ type: AverageRef, description: 'The mean score, 1–5: sum of scores ÷ scores.', resolve: (s) => s.mean }),
  }),
});

const MemberStatusCountsRef = builder.objectRef<MemberStatusFigure>('MemberStatusCounts').implement({
  description: 'Members by status at a moment (the end of the period), from the status history.',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime', description: 'The moment counted: changes before it count.' }),
    active: t.int({ description: 'ACTIVE members.', resolve: (m) => m.counts.ACTIVE }),
    passive: t.int({ description: 'PASSIVE members.', resolve: (m) => m.counts.PASSIVE }),
    suspended: t.int({ description: 'SUSPENDED members.', resolve: (m) => m.counts.SUSPENDED }),
    closed: t.int({ description: 'CLOSED members.', resolve: (m) => m.counts.CLOSED }),
    total: t.int({
      description: 'Members enrolled by then, whatever their status.',
      resolve: (m) => Object.values(m.counts).reduce((total, count) => total + count, 0),
    }),
    activeShare: t.field({ type: RatioRef, description: 'ACTIVE ÷ (ACTIVE + PASSIVE).', resolve: (m) => m.activeShare }),
  }),
});

type Priced<T> = T & { currency: string };

const FailureTypeSpendRef = builder.objectRef<Priced<SpendLine<ServiceFailureType>>>('FailureTypeSpend').implement({
  description: 'Compensation vouchers issued for one type of service failure and not voided, in the program currency.',
  fields: (t) => ({
    type: t.field({ type: ServiceFailureTypeEnum, description: 'The failure type.', resolve: (l) => l.key }),
    count: t.exposeInt('count', { description: 'Vouchers issued in the program currency, not voided.' }),
    value: t.field({ type: Money, description: 'Their value, in the program currency.', resolve: (l) => money(l.value, l.currency) }),
  }),
});

const CompensationSpendRef = builder.objectRef<Priced<SpendFigure<ServiceFailureType>>>('CompensationSpend').implement({
  description:
    'COMPENSATION vouchers issued in the period (by their issue time) and not voided, in all and by failure type: those in the program currency (`LoyaltyMetrics.currency`). A voided voucher gave nothing (a redeemed one cannot be voided): it leaves the period of its issue, whenever it was voided. Vouchers issued in an earlier currency, before the program’s currency changed, are not converted and not counted.',
  fields: (t) => ({
    count: t.exposeInt('count', { description: 'Vouchers issued in the program currency, not voided.' }),
    value: t.field({ type: Money, description: 'Their value, in the program currency.', resolve: (s) => money(s.value, s.currency) }),
    byFailureType: t.field({
      type: [FailureTypeSpendRef],
      description: 'Per failure type, every type listed (zeros included).',
      resolve: (s) => s.lines.map((line) => ({ ...line, currency: s.currency })),
    }),
  }),
});

const GoodwillReasonSpendRef = builder.objectRef<Priced<SpendLine<GoodwillReason>>>('GoodwillReasonSpend').implement({
  description: 'Goodwill gestures granted for one reason, valued in the program currency, less those whose voucher was voided.',
  fields: (t) => ({
    reason: t.field({ type: GoodwillReasonEnum, description: 'The reason code.', resolve: (l) => l.key }),
    count: t.exposeInt('count', { description: 'Gestures granted, valued in the program currency, their voucher (if any) not voided.' }),
    value: t.field({ type: Money, description: 'Their money value (points × point value).', resolve: (l) => money(l.value, l.currency) }),
  }),
});

const GoodwillSpendRef = builder.objectRef<Priced<SpendFigure<GoodwillReason>>>('GoodwillSpend').implement({
  description:
    'Goodwill gestures granted in the period (at once, or when approved), in all and by reason: those valued in the program currency (`LoyaltyMetrics.currency`). A gesture whose voucher was voided gave nothing and is left out of the period it was granted in, whenever it was voided. Gestures valued in an earlier currency, before the program’s currency changed, are not converted and not counted.',
  fields: (t) => ({
    count: t.exposeInt('count', { description: 'Gestures granted, valued in the program currency, their voucher (if any) not voided.' }),
    value: t.field({ type: Money, description: 'Their money value (points × point value).', resolve: (s) => money(s.value, s.currency) }),
    byReason: t.field({
      type: [GoodwillReasonSpendRef],
      description: 'Per reason, every reason listed (zeros included).',
      resolve: (s) => s.lines.map((line) => ({ ...line, currency: s.currency })),
    }),
  }),
});

type Redemption = PeriodFigures['voucherRedemption'];

const VoucherKindRedemptionRef = builder.objectRef<Redemption['byKind'][number]>('VoucherKindRedemption').implement({
  description: 'Of the vouchers of one kind issued in the period and not voided, how many are redeemed.',
  fields: (t) => ({
    kind: t.field({ type: VoucherKindEnum, description: 'The voucher kind.', resolve: (r) => r.kind }),
    rate: t.field({ type: RatioRef, description: 'Redeemed ÷ issued and not voided.', resolve: (r) => r.rate }),
  }),
});

const VoucherRedemptionRef = builder.objectRef<Redemption>('VoucherRedemptionRates').implement({
  description:
    'Of the vouchers issued in the period and not voided (a voided one was taken out of use before it could be redeemed), how many are redeemed (now): in all and by kind.',
  fields: (t) => ({
    all: t.field({ type: RatioRef, description: 'Redeemed ÷ issued and not voided, every kind.', resolve: (r) => r.all }),
    byKind: t.field({ type: [VoucherKindRedemptionRef], description: 'Per kind, every kind listed.', resolve: (r) => r.byKind }),
  }),
});

const ChurnGroupRef = builder.objectRef<ChurnGroup>('ChurnGroup').implement({
  description:
    'Members of one group who churned after their failures: turned PASSIVE or CLOSED, or cancelled a contract, ' +
    'after their first failure in the period and at most program.metrics.followUpDays after their last.',
  fields: (t) => ({
    all: t.field({ type: RatioRef, description: 'Churned ÷ members of the group.', resolve: (g) => g.all }),
    compensated: t.field({
      type: RatioRef,
      description: 'Among members with at least one of these failures COMPENSATED by a voucher not voided since.',
      resolve: (g) => g.compensated,
    }),
    notCompensated: t.field({
      type: RatioRef,
      description: 'Among members with none of these failures COMPENSATED, or whose only compensations were voided.',
      resolve: (g) => g.notCompensated,
    }),
  }),
});

const ChurnAfterFailureRef = builder.objectRef<PeriodFigures['churnAfterFailure']>('ChurnAfterFailure').implement({
  description: 'The program’s own version of “40 % leave after one bad experience, 80 % after repeated ones”.',
  fields: (t) => ({
    oneFailure: t.field({
      type: ChurnGroupRef,
      description: 'Members with exactly one failure in the period.',
      resolve: (c) => c.oneFailure,
    }),
    repeatedFailures: t.field({
      type: ChurnGroupRef,
      description: 'Members with two or more failures in the period.',
      resolve: (c) => c.repeatedFailures,
    }),
  }),
});

const LoyaltyFiguresRef = builder.objectRef<Priced<PeriodFigures>>('LoyaltyFigures').implement({
  description: 'The figures of one period (the whole one, or a bucket of the series). docs/metrics.md defines each.',
  fields: (t) => ({
    from: t.expose('from', { type: 'DateTime', description: 'Start, inclusive.' }),
    to: t.expose('to', { type: 'DateTime', description: 'End, exclusive.' }),
    nps: t.field({ type: NpsScoreRef, description: 'NPS of the answers given in the period (channel applies).', resolve: (f) => f.nps }),
    csat: t.field({ type: CsatScoreRef, description: 'CSAT of the scores given in the period (channel applies).', resolve: (f) => f.csat }),
    firstContactResolution: t.field({
      type: RatioRef,
      description: 'Cases resolved in the period on first contact ÷ cases resolved in the period (channel applies).',
      resolve: (f) => f.firstContactResolution,
    }),
    timeToFirstResponse: t.field({
      type: AverageRef,
      description:
        'Seconds from opening to the first response (or the resolution, when none was recorded), of the cases first answered in the period (channel applies).',
      resolve: (f) => f.timeToFirstResponse,
    }),
    timeToResolution: t.field({
      type: AverageRef,
      description: 'Seconds from opening to resolution, of the cases resolved in the period (channel applies).',
      resolve: (f) => f.timeToResolution,
    }),
    renewalRate: t.field({
      type: RatioRef,
      description: 'The loyalty ratio: contract terms ending in the period that were renewed ÷ contract terms ending in the period.',
      resolve: (f) => f.renewal,
    }),
    members: t.field({
      type: MemberStatusCountsRef,
      description: 'Members by status at the end of the period.',
      resolve: (f) => f.members,
    }),
    compensation: t.field({
      type: CompensationSpendRef,
      description:
        'Compensation vouchers issued in the period and not voided, in the program currency (earlier currencies are not counted).',
      resolve: (f) => ({ ...f.compensation, currency: f.currency }),
    }),
    goodwill: t.field({
      type: GoodwillSpendRef,
      description:
        'Goodwill gestures granted in the period, valued in the program currency (earlier currencies are not counted), less those whose voucher was voided.',
      resolve: (f) => ({ ...f.goodwill, currency: f.currency }),
    }),
    voucherRedemption: t.field({
      type: VoucherRedemptionRef,
      description: 'Redemption of the vouchers issued in the period and not voided.',
      resolve: (f) => f.voucherRedemption,
    }),
    churnAfterFailure: t.field({
      type: ChurnAfterFailureRef,
      description: 'Churn of members with one and with repeated failures in the period, compensated or not.',
      resolve: (f) => f.churnAfterFailure,
    }),
    recovery: t.field({
      type: RatioRef,
      description:
        'Members compensated in the period with an EARN or a contract renewal within program.metrics.followUpDays after their first compensation, and ACTIVE when those days end ÷ members compensated in the period. Compensated: a COMPENSATION voucher issued in the period and not voided.',
      resolve: (f) => f.recovery,
    }),
    detractorConversion: t.field({
      type: RatioRef,
      description:
        'NPS answers in the period that are promoters’ (9–10) and follow a detractor answer (0–6) of the same member ÷ NPS answers in the period that follow a detractor answer (channel applies to the later answer).',
      resolve: (f) => f.detractorConversion,
    }),
  }),
});

export const LoyaltyMetricsRef = builder.objectRef<LoyaltyMetrics>('LoyaltyMetrics').implement({
  description:
    'How service quality turns into loyalty, for a period: totals and a series. Every figure states its numerator and denominator; docs/metrics.md defines each.',
  fields: (t) => ({
    from: t.expose('from', { type: 'DateTime', description: 'Start of the period, inclusive.' }),
    to: t.expose('to', { type: 'DateTime', description: 'End of the period, exclusive.' }),
    channel: t.field({
      type: ServiceChannelEnum,
      nullable: true,
      description: 'The channel asked for: it narrows cases and feedback (NPS, CSAT, resolution, response, conversion) only.',
      resolve: (m) => m.channel,
    }),
    groupBy: t.field({ type: MetricsGroupByEnum, description: 'How the series is cut.', resolve: (m) => m.groupBy }),
    currency: t.exposeString('currency', {
      description: 'The program currency of every money figure: amounts in an earlier currency are not converted and not counted.',
    }),
    followUpDays: t.exposeInt('followUpDays', { description: 'Days of follow-up used for churn and recovery.' }),
    totals: t.field({
      type: LoyaltyFiguresRef,
      description: 'The figures of the whole period.',
      resolve: (m) => ({ ...m.total, currency: m.currency }),
    }),
    buckets: t.field({
      type: [LoyaltyFiguresRef],
      description: 'The series: one entry per bucket, in time order (one, equal to totals, for NONE).',
      resolve: (m) => m.buckets.map((bucket) => ({ ...bucket, currency: m.currency })),
    }),
  }),
});
