import { Decimal } from 'decimal.js';
import type { Caller } from '../../auth/principal.js';
import { Prisma } from '../../generated/prisma/client.js';
import { GoodwillReason, MemberStatus, ServiceFailureType, VoucherKind, type ServiceChannel } from '../../generated/prisma/enums.js';
import { sqlTransaction, type RawSql } from '../../db/sql.js';
import { assertMayCall } from '../authorization.js';
import type { ServiceDeps } from '../deps.js';
import { serviceChannel } from '../feedback/service-cases.service.js';
import { settingsForHash } from '../program/program.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../program/program-settings.js';
import { bucketsOf, checkPeriod, type MetricsGroupBy, type Period } from './metric-periods.js';

// ---------------------------------------------------------------------------
// Figures: every one states what it was computed from (docs/metrics.md).

/** numerator ÷ denominator; `value` is null when nothing was counted. */
export interface Ratio {
  numerator: number;
  denominator: number;
  value: number | null;
}

export const ratio = (numerator: number, denominator: number): Ratio => ({
  numerator,
  denominator,
  value: denominator === 0 ? null : numerator / denominator,
});

export type ScoreBand = 'POOR' | 'GOOD' | 'EXCELLENT';
export interface ScoreBands {
  goodFrom: number;
  excellentAbove: number;
}

/** The band of a score: below `goodFrom` POOR, above `excellentAbove` EXCELLENT, else GOOD; none without a score. */
export function bandOf(score: number | null, bands: ScoreBands): ScoreBand | null {
  if (score === null) return null;
  if (score < bands.goodFrom) return 'POOR';
  if (score > bands.excellentAbove) return 'EXCELLENT';
  return 'GOOD';
}

/** NPS: numerator promoters − detractors, denominator answers, value 100 × numerator ÷ denominator (−100 to 100). */
export interface NpsFigure extends Ratio {
  promoters: number;
  passives: number;
  detractors: number;
  band: ScoreBand | null;
}

/** CSAT: numerator satisfied (4–5), denominator answers, value percent satisfied; mean the average score. */
export interface CsatFigure extends Ratio {
  mean: Ratio;
  band: ScoreBand | null;
}

/** An average duration: numerator the total in seconds, denominator the cases, value the mean in seconds. */
export type DurationFigure = Ratio;

export interface MemberStatusFigure {
  /** The moment counted: the end of the period (exclusive). */
  at: Date;
  counts: Record<MemberStatus, number>;
  /** ACTIVE ÷ (ACTIVE + PASSIVE). */
  activeShare: Ratio;
}

export interface SpendLine<K extends string> {
  key: K;
  count: number;
  /** Decimal string, two places, in the program currency. */
  value: string;
}

export interface SpendFigure<K extends string> {
  count: number;
  value: string;
  lines: SpendLine<K>[];
}

export interface ChurnGroup {
  all: Ratio;
  compensated: Ratio;
  notCompensated: Ratio;
}

export interface PeriodFigures extends Period {
  nps: NpsFigure;
  csat: CsatFigure;
  firstContactResolution: Ratio;
  timeToFirstResponse: DurationFigure;
  timeToResolution: DurationFigure;
  renewal: Ratio;
  members: MemberStatusFigure;
  compensation: SpendFigure<ServiceFailureType>;
  goodwill: SpendFigure<GoodwillReason>;
  voucherRedemption: { all: Ratio; byKind: { kind: VoucherKind; rate: Ratio }[] };
  churnAfterFailure: { oneFailure: ChurnGroup; repeatedFailures: ChurnGroup };
  recovery: Ratio;
  detractorConversion: Ratio;
}

export interface LoyaltyMetrics extends Period {
  channel: ServiceChannel | null;
  groupBy: MetricsGroupBy;
  currency: string;
  followUpDays: number;
  total: PeriodFigures;
  buckets: PeriodFigures[];
}

export interface LoyaltyMetricsInput {
  from: Date;
  to: Date;
  channel?: ServiceChannel | null;
  groupBy?: MetricsGroupBy | null;
}

// ---------------------------------------------------------------------------
// Counting. Each query returns rows per period: `bucket` 1…n (width_bucket over the buckets'
// bounds; 0 is before the period) for figures that add up, `period` 1 = the whole period and
// 2…n+1 the buckets for figures counted per member, which do not.

const FAILURE_TYPES = Object.values(ServiceFailureType);
const GOODWILL_REASONS = Object.values(GoodwillReason);
const VOUCHER_KINDS = Object.values(VoucherKind);
const MEMBER_STATUSES = Object.values(MemberStatus);

interface Query {
  tx: RawSql;
  period: Period;
  /** from, the inner bounds, to: bucket i is [bounds[i-1], bounds[i]). */
  bounds: Date[];
  /** The whole period, then each bucket (when there is more than one). */
  starts: Date[];
  ends: Date[];
  channel: ServiceChannel | null;
  followUp: Prisma.Sql;
}

/** Feedback's channel: its own, else that of the case it is about. */
function feedbackChannel(q: Query): { join: Prisma.Sql; where: Prisma.Sql } {
  if (q.channel === null) return { join: Prisma.empty, where: Prisma.empty };
  return {
    join: Prisma.sql`LEFT JOIN service_cases fc ON fc.id = f.case_id`,
    where: Prisma.sql`AND coalesce(f.channel, fc.channel) = ${q.channel}::"ServiceChannel"`,
  };
}

const caseChannel = (q: Query): Prisma.Sql =>
  q.channel === null ? Prisma.empty : Prisma.sql`AND channel = ${q.channel}::"ServiceChannel"`;

interface FeedbackRow {
  bucket: number;
  answers: number;
  promoters: number;
  passives: number;
  detractors: number;
  csatAnswers: number;
  satisfied: number;
  csatSum: number;
}

function feedbackCounts(q: Query): PromiseLike<FeedbackRow[]> {
  const channel = feedbackChannel(q);
  return q.tx.$queryRaw<FeedbackRow[]>`
    SELECT width_bucket(f.created_at, ${q.bounds}::timestamptz[]) AS bucket,
           count(f.nps)::int AS answers,
           count(*) FILTER (WHERE f.nps >= 9)::int AS promoters,
           count(*) FILTER (WHERE f.nps BETWEEN 7 AND 8)::int AS passives,
           count(*) FILTER (WHERE f.nps <= 6)::int AS detractors,
           count(f.csat)::int AS "csatAnswers",
           count(*) FILTER (WHERE f.csat >= 4)::int AS satisfied,
           coalesce(sum(f.csat), 0)::int AS "csatSum"
    FROM feedback f ${channel.join}
    WHERE f.created_at >= ${q.period.from}::timestamptz AND f.created_at < ${q.period.to}::timestamptz ${channel.where}
    GROUP BY 1`;
}

/** NPS answers whose member's previous NPS answer (any channel, any time before) was a detractor's. */
function conversionCounts(q: Query): PromiseLike<{ bucket: number; followUps: number; converted: number }[]> {
  const channel = feedbackChannel(q);
  return q.tx.$queryRaw`
    SELECT width_bucket(f.created_at, ${q.bounds}::timestamptz[]) AS bucket,
           count(*)::int AS "followUps",
           count(*) FILTER (WHERE f.nps >= 9)::int AS converted
    FROM feedback f ${channel.join}
    CROSS JOIN LATERAL (
      SELECT p.nps FROM feedback p
      WHERE p.member_id = f.member_id AND p.nps IS NOT NULL AND (p.created_at, p.id) < (f.created_at, f.id)
      ORDER BY p.created_at DESC, p.id DESC LIMIT 1) previous
    WHERE f.created_at >= ${q.period.from}::timestamptz AND f.created_at < ${q.period.to}::timestamptz
      AND f.nps IS NOT NULL AND previous.nps <= 6 ${channel.where}
    GROUP BY 1`;
}

interface CaseRow {
  bucket: number;
  cases: number;
  firstContact: number;
  totalMs: string;
}

/** Cases resolved in each bucket: on first contact or not, and the time from opening to resolution. */
function resolutionCounts(q: Query): PromiseLike<CaseRow[]> {
  return q.tx.$queryRaw<CaseRow[]>`
    SELECT width_bucket(resolved_at, ${q.bounds}::timestamptz[]) AS bucket,
           count(*)::int AS cases,
           count(*) FILTER (WHERE resolved_on_first_contact)::int AS "firstContact",
           coalesce(sum(extract(epoch FROM resolved_at - opened_at) * 1000), 0)::bigint::text AS "totalMs"
    FROM service_cases
    WHERE resolved_at >= ${q.period.from}::timestamptz AND resolved_at < ${q.period.to}::timestamptz ${caseChannel(q)}
    GROUP BY 1`;
}

/**
 * Cases first answered in each bucket, and the time from opening to that answer. The first answer is
 * the first response recorded, or the resolution when none was (as the service-level targets count it).
 */
function firstResponseCounts(q: Query): PromiseLike<CaseRow[]> {
  return q.tx.$queryRaw<CaseRow[]>`
    SELECT width_bucket(answered_at, ${q.bounds}::timestamptz[]) AS bucket,
           count(*)::int AS cases, 0 AS "firstContact",
           coalesce(sum(extract(epoch FROM answered_at - opened_at) * 1000), 0)::bigint::text AS "totalMs"
    FROM (
      SELECT coalesce(first_response_at, resolved_at) AS answered_at, opened_at FROM service_cases
      WHERE (first_response_at >= ${q.period.from}::timestamptz AND first_response_at < ${q.period.to}::timestamptz
          OR first_response_at IS NULL AND resolved_at >= ${q.period.from}::timestamptz AND resolved_at < ${q.period.to}::timestamptz)
        ${caseChannel(q)}) answered
    GROUP BY 1`;
}

/**
 * Contract terms that ended in each bucket, and which of them were renewed. A term's end is a
 * renewal's previous end (that term was renewed) or a contract's current end (not renewed, yet or
 * ever — cancelled contracts included); no term is both.
 */
function renewalCounts(q: Query): PromiseLike<{ bucket: number; cameUp: number; renewed: number }[]> {
  return q.tx.$queryRaw`
    SELECT width_bucket(term.ends_at, ${q.bounds}::timestamptz[]) AS bucket,
           count(*)::int AS "cameUp", count(*) FILTER (WHERE term.renewed)::int AS renewed
    FROM (
      SELECT previous_ends_at AS ends_at, true AS renewed FROM contract_renewals
      WHERE previous_ends_at >= ${q.period.from}::timestamptz AND previous_ends_at < ${q.period.to}::timestamptz
      UNION ALL
      SELECT ends_at, false FROM contracts
      WHERE ends_at >= ${q.period.from}::timestamptz AND ends_at < ${q.period.to}::timestamptz) term
    GROUP BY 1`;
}

/** Status changes up to the end of the period, by bucket (0: before it) and transition. */
function statusChangeCounts(
  q: Query,
): PromiseLike<{ bucket: number; fromStatus: MemberStatus | null; toStatus: MemberStatus; changes: number }[]> {
  return q.tx.$queryRaw`
    SELECT width_bucket(changed_at, ${q.bounds}::timestamptz[]) AS bucket,
           from_status::text AS "fromStatus", to_status::text AS "toStatus", count(*)::int AS changes
    FROM member_status_changes
    WHERE changed_at < ${q.period.to}::timestamptz
    GROUP BY 1, 2, 3`;
}

interface SpendRow {
  bucket: number;
  key: string;
  count: number;
  value: string;
}

/** COMPENSATION vouchers issued in each bucket, by the type of the failure they compensate. */
function compensationSpend(q: Query): PromiseLike<SpendRow[]> {
  return q.tx.$queryRaw<SpendRow[]>`
    SELECT width_bucket(v.issued_at, ${q.bounds}::timestamptz[]) AS bucket, f.type::text AS key,
           count(*)::int AS count, coalesce(sum(v.amount), 0)::text AS value
    FROM vouchers v JOIN service_failures f ON f.voucher_id = v.id
    WHERE v.kind = 'COMPENSATION' AND v.issued_at >= ${q.period.from}::timestamptz AND v.issued_at < ${q.period.to}::timestamptz
    GROUP BY 1, 2`;
}

/** Goodwill gestures granted in each bucket (at once, or when a supervisor approved them), by reason. */
function goodwillSpend(q: Query): PromiseLike<SpendRow[]> {
  return q.tx.$queryRaw<SpendRow[]>`
    SELECT width_bucket(coalesce(decided_at, created_at), ${q.bounds}::timestamptz[]) AS bucket, reason::text AS key,
           count(*)::int AS count, coalesce(sum(money_value), 0)::text AS value
    FROM goodwill_gestures
    WHERE status = 'GRANTED'
      AND ((decided_at IS NULL AND created_at >= ${q.period.from}::timestamptz AND created_at < ${q.period.to}::timestamptz)
        OR (decided_at >= ${q.period.from}::timestamptz AND decided_at < ${q.period.to}::timestamptz))
    GROUP BY 1, 2`;
}

/** Vouchers issued in each bucket by kind, and how many of them are redeemed now. */
function voucherCounts(q: Query): PromiseLike<{ bucket: number; kind: VoucherKind; issued: number; redeemed: number }[]> {
  return q.tx.$queryRaw`
    SELECT width_bucket(issued_at, ${q.bounds}::timestamptz[]) AS bucket, kind::text,
           count(*)::int AS issued, count(*) FILTER (WHERE status = 'REDEEMED')::int AS redeemed
    FROM vouchers
    WHERE issued_at >= ${q.period.from}::timestamptz AND issued_at < ${q.period.to}::timestamptz
    GROUP BY 1, 2`;
}

/**
 * Members with failures in each period, by one or more failures and whether any of them was
 * compensated; churned: turned PASSIVE or CLOSED, or cancelled a contract, after their first
 * failure in the period and at most followUpDays after their last.
 */
function churnCounts(
  q: Query,
): PromiseLike<{ period: number; repeated: boolean; compensated: boolean; members: number; churned: number }[]> {
  return q.tx.$queryRaw`
    WITH p AS (SELECT * FROM unnest(${q.starts}::timestamptz[], ${q.ends}::timestamptz[]) WITH ORDINALITY AS p(a, b, idx)),
    failed AS (
      SELECT p.idx, f.member_id, min(f.occurred_at) AS first_at, max(f.occurred_at) + ${q.followUp} AS until,
             count(*) AS failures, bool_or(f.status = 'COMPENSATED') AS compensated
      FROM service_failures f JOIN p ON f.occurred_at >= p.a AND f.occurred_at < p.b
      WHERE f.occurred_at >= ${q.period.from}::timestamptz AND f.occurred_at < ${q.period.to}::timestamptz
      GROUP BY p.idx, f.member_id)
    SELECT idx::int AS period, failures >= 2 AS repeated, compensated, count(*)::int AS members,
           count(*) FILTER (WHERE
             EXISTS (SELECT 1 FROM member_status_changes s
                     WHERE s.member_id = failed.member_id AND s.to_status IN ('PASSIVE', 'CLOSED')
                       AND s.changed_at > failed.first_at AND s.changed_at <= failed.until)
             OR EXISTS (SELECT 1 FROM contracts c
                        WHERE c.member_id = failed.member_id
                          AND c.cancelled_at > failed.first_at AND c.cancelled_at <= failed.until))::int AS churned
    FROM failed
    GROUP BY 1, 2, 3`;
}

/**
 * Members compensated in each period (a COMPENSATION voucher issued); recovered: an EARN entry
 * or a contract renewal after their first compensation in the period, at most followUpDays later.
 */
function recoveryCounts(q: Query): PromiseLike<{ period: number; members: number; recovered: number }[]> {
  return q.tx.$queryRaw`
    WITH p AS (SELECT * FROM unnest(${q.starts}::timestamptz[], ${q.ends}::timestamptz[]) WITH ORDINALITY AS p(a, b, idx)),
    compensated AS (
      SELECT p.idx, v.member_id, min(v.issued_at) AS at
      FROM vouchers v JOIN p ON v.issued_at >= p.a AND v.issued_at < p.b
      WHERE v.kind = 'COMPENSATION' AND v.issued_at >= ${q.period.from}::timestamptz AND v.issued_at < ${q.period.to}::timestamptz
      GROUP BY p.idx, v.member_id)
    SELECT idx::int AS period, count(*)::int AS members,
           count(*) FILTER (WHERE
             EXISTS (SELECT 1 FROM ledger_entries e
                     WHERE e.member_id = c.member_id AND e.kind = 'EARN'
                       AND e.created_at > c.at AND e.created_at <= c.at + ${q.followUp})
             OR EXISTS (SELECT 1 FROM contracts k JOIN contract_renewals r ON r.contract_id = k.id
                        WHERE k.member_id = c.member_id
                          AND r.created_at > c.at AND r.created_at <= c.at + ${q.followUp}))::int AS recovered
    FROM compensated c
    GROUP BY 1`;
}

// ---------------------------------------------------------------------------
// Assembling

/** Rows of additive counts, summed per bucket (1…n) and for the whole period. */
class BucketSums<R extends { bucket: number }> {
  constructor(
    private readonly rows: readonly R[],
    private readonly buckets: number,
  ) {}

  /** Rows of bucket i (0-based), or of every bucket for `null` (the whole period). */
  of(bucket: number | null): R[] {
    return this.rows.filter((row) => row.bucket >= 1 && row.bucket <= this.buckets && (bucket === null || row.bucket === bucket + 1));
  }

  sum(bucket: number | null, field: { [K in keyof R]: R[K] extends number | string ? K : never }[keyof R]): number {
    return this.of(bucket).reduce((total, row) => total + Number(row[field]), 0);
  }
}

const money = (value: Decimal) => value.toFixed(2);

function spend<K extends string>(rows: SpendRow[], keys: readonly K[]): SpendFigure<K> {
  const lines = keys.map((key) => {
    const mine = rows.filter((row) => row.key === key);
    return {
      key,
      count: mine.reduce((total, row) => total + row.count, 0),
      value: money(mine.reduce((total, row) => total.plus(row.value), new Decimal(0))),
    };
  });
  return {
    count: lines.reduce((total, line) => total + line.count, 0),
    value: money(lines.reduce((total, line) => total.plus(line.value), new Decimal(0))),
    lines,
  };
}

const percentOf = (numerator: number, denominator: number): Ratio => ({
  numerator,
  denominator,
  value: denominator === 0 ? null : (100 * numerator) / denominator,
});

/**
 * The loyalty loop in figures for a period (`from` inclusive, `to` exclusive), as totals and as a
 * series of UTC buckets (`groupBy`): NPS and CSAT with their bands, first-contact resolution, time
 * to first response and to resolution, renewal rate, members by status at each bucket's end,
 * compensation and goodwill spend, voucher redemption by kind, churn after one and after repeated
 * failures (compensated or not), recovery after compensation and detractor → promoter conversion.
 * Every figure carries its numerator and denominator; docs/metrics.md defines each. `channel`
 * narrows what has a channel (cases and feedback) and nothing else. Read-only, from one snapshot
 * (REPEATABLE READ): the figures agree with each other. Supervisors and above (admin keys count
 * as admins).
 */
export async function loyaltyMetrics(deps: ServiceDeps, input: LoyaltyMetricsInput, caller: Caller): Promise<LoyaltyMetrics> {
  assertMayCall(caller, 'loyaltyMetrics');
  const { period, groupBy } = checkPeriod(input.from, input.to, input.groupBy ?? 'NONE');
  const channel = input.channel == null ? null : serviceChannel('channel', input.channel);
  const buckets = bucketsOf(period, groupBy);
  const periods = buckets.length === 1 ? [period] : [period, ...buckets];

  return sqlTransaction(deps.prisma, async (tx) => {
    await tx.$executeRaw`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`;
    const [program] = await tx.$queryRaw<{ hash: string }[]>`SELECT md5(settings::text) AS hash FROM program WHERE id = 1`;
    const settings = program ? await settingsForHash(tx, program.hash) : DEFAULT_PROGRAM_SETTINGS;
    const q: Query = {
      tx,
      period,
      bounds: [period.from, ...buckets.map((bucket) => bucket.to)],
      starts: periods.map((p) => p.from),
      ends: periods.map((p) => p.to),
      channel,
      followUp: Prisma.sql`make_interval(days => ${settings.metrics.followUpDays}::int)`,
    };
    // One after another on the transaction's connection (one snapshot).
    const feedback = new BucketSums(await feedbackCounts(q), buckets.length);
    const conversion = new BucketSums(await conversionCounts(q), buckets.length);
    const resolved = new BucketSums(await resolutionCounts(q), buckets.length);
    const responded = new BucketSums(await firstResponseCounts(q), buckets.length);
    const renewals = new BucketSums(await renewalCounts(q), buckets.length);
    const statusChanges = await statusChangeCounts(q);
    const compensation = new BucketSums(await compensationSpend(q), buckets.length);
    const goodwill = new BucketSums(await goodwillSpend(q), buckets.length);
    const vouchers = new BucketSums(await voucherCounts(q), buckets.length);
    const churn = await churnCounts(q);
    const recovery = await recoveryCounts(q);

    /** Members by status at `at`: every change before it, counted in. */
    const membersAt = (bucketsIncluded: number, at: Date): MemberStatusFigure => {
      const counts = Object.fromEntries(MEMBER_STATUSES.map((status) => [status, 0])) as Record<MemberStatus, number>;
      for (const change of statusChanges) {
        if (change.bucket > bucketsIncluded) continue;
        counts[change.toStatus] += change.changes;
        if (change.fromStatus !== null) counts[change.fromStatus] -= change.changes;
      }
      return { at, counts, activeShare: ratio(counts.ACTIVE, counts.ACTIVE + counts.PASSIVE) };
    };

    /** Figures of one period: `bucket` its index (0-based), null for the whole period; `index` its place in `periods` (1-based). */
    const figuresOf = (p: Period, bucket: number | null, index: number): PeriodFigures => {
      const answers = feedback.sum(bucket, 'answers');
      const promoters = feedback.sum(bucket, 'promoters');
      const detractors = feedback.sum(bucket, 'detractors');
      const nps = percentOf(promoters - detractors, answers);
      const csat = percentOf(feedback.sum(bucket, 'satisfied'), feedback.sum(bucket, 'csatAnswers'));
      const seconds = (rows: BucketSums<CaseRow>) => ratio(rows.sum(bucket, 'totalMs') / 1000, rows.sum(bucket, 'cases'));
      const churnGroup = (repeated: boolean): ChurnGroup => {
        const rows = churn.filter((row) => row.period === index && row.repeated === repeated);
        const of = (compensated: boolean | null) => {
          const mine = rows.filter((row) => compensated === null || row.compensated === compensated);
          return ratio(
            mine.reduce((total, row) => total + row.churned, 0),
            mine.reduce((total, row) => total + row.members, 0),
          );
        };
        return { all: of(null), compensated: of(true), notCompensated: of(false) };
      };
      const recovered = recovery.find((row) => row.period === index);
      const byKind = VOUCHER_KINDS.map((kind) => {
        const rows = vouchers.of(bucket).filter((row) => row.kind === kind);
        return {
          kind,
          rate: ratio(
            rows.reduce((total, row) => total + row.redeemed, 0),
            rows.reduce((total, row) => total + row.issued, 0),
          ),
        };
      });
      return {
        from: p.from,
        to: p.to,
        nps: {
          ...nps,
          promoters,
          passives: feedback.sum(bucket, 'passives'),
          detractors,
          band: bandOf(nps.value, settings.metrics.npsBands),
        },
        csat: {
          ...csat,
          mean: ratio(feedback.sum(bucket, 'csatSum'), feedback.sum(bucket, 'csatAnswers')),
          band: bandOf(csat.value, settings.metrics.csatBands),
        },
        firstContactResolution: ratio(resolved.sum(bucket, 'firstContact'), resolved.sum(bucket, 'cases')),
        timeToFirstResponse: seconds(responded),
        timeToResolution: seconds(resolved),
        renewal: ratio(renewals.sum(bucket, 'renewed'), renewals.sum(bucket, 'cameUp')),
        members: membersAt(bucket === null ? buckets.length : bucket + 1, p.to),
        compensation: spend(compensation.of(bucket), FAILURE_TYPES),
        goodwill: spend(goodwill.of(bucket), GOODWILL_REASONS),
        voucherRedemption: {
          all: ratio(
            byKind.reduce((total, line) => total + line.rate.numerator, 0),
            byKind.reduce((total, line) => total + line.rate.denominator, 0),
          ),
          byKind,
        },
        churnAfterFailure: { oneFailure: churnGroup(false), repeatedFailures: churnGroup(true) },
        recovery: ratio(recovered?.recovered ?? 0, recovered?.members ?? 0),
        detractorConversion: ratio(conversion.sum(bucket, 'converted'), conversion.sum(bucket, 'followUps')),
      };
    };

    const total = figuresOf(period, null, 1);
    return {
      ...period,
      channel,
      groupBy,
      currency: settings.currency,
      followUpDays: settings.metrics.followUpDays,
      total,
      buckets: buckets.length === 1 ? [total] : buckets.map((bucket, i) => figuresOf(bucket, i, i + 2)),
    };
  });
}
