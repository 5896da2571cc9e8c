import { Decimal } from 'decimal.js';
import type { Caller } from '../../auth/principal.js';
import { Prisma } from '../../generated/prisma/client.js';
import { GoodwillReason, MemberStatus, ServiceFailureType, VoucherKind, type ServiceChannel } from '../../generated/prisma/enums.js';
import { readOnlySnapshot, type RawSql } from '../../db/sql.js';
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
  /** Decimal string, two places, in the program currency: amounts in an earlier currency are not converted and not counted. */
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
  period: Period;
  /** from, the inner bounds, to: bucket i is [bounds[i-1], bounds[i]). */
  bounds: Date[];
  /** More than one bucket: per-member figures are counted for the whole period and for each bucket. */
  series: boolean;
  channel: ServiceChannel | null;
  followUp: Prisma.Sql;
  /** The program currency: money figures count only amounts in it (no conversion). */
  currency: string;
}

const within = (q: Query, column: Prisma.Sql) =>
  Prisma.sql`${column} >= ${q.period.from}::timestamptz AND ${column} < ${q.period.to}::timestamptz`;
const bucketOf = (q: Query, column: Prisma.Sql) => Prisma.sql`width_bucket(${column}, ${q.bounds}::timestamptz[])`;
/** The periods a time belongs to: 1 (the whole period) and, for a series, its bucket's (bucket + 1). */
const periodsOf = (q: Query, column: Prisma.Sql) => (q.series ? Prisma.sql`ARRAY[1, ${bucketOf(q, column)} + 1]` : Prisma.sql`ARRAY[1]`);

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
  followUps: number;
  converted: number;
}

/**
 * Feedback given in each bucket: NPS and CSAT counts, and the NPS answers that follow a detractor
 * answer of the same member (any channel, any time before: the answer's `previous_nps`, kept by
 * submitFeedback), converted when they are promoters'.
 */
function feedbackCounts(db: RawSql, q: Query): PromiseLike<FeedbackRow[]> {
  const channel = feedbackChannel(q);
  return db.$queryRaw<FeedbackRow[]>`
    SELECT ${bucketOf(q, Prisma.sql`f.created_at`)} AS bucket,
           count(f.nps)::int AS answers,
           count(*) FILTER (WHERE f.nps >= 9)::int AS promoters,
           count(*) FILTER (WHERE f.nps BETWEEN 7 AND 8)::int AS passives,
           count(*) FILTER (WHERE f.nps <= 6)::int AS detractors,
           count(f.csat)::int AS "csatAnswers",
           count(*) FILTER (WHERE f.csat >= 4)::int AS satisfied,
           coalesce(sum(f.csat), 0)::int AS "csatSum",
           count(*) FILTER (WHERE f.previous_nps <= 6)::int AS "followUps",
           count(*) FILTER (WHERE f.previous_nps <= 6 AND f.nps >= 9)::int AS converted
    FROM feedback f ${channel.join}
    WHERE ${within(q, Prisma.sql`f.created_at`)} ${channel.where}
    GROUP BY 1`;
}

/** An interval in whole milliseconds (timestamps have millisecond precision; a double is exact enough to round back). */
const milliseconds = (interval: Prisma.Sql) => Prisma.sql`round(date_part('epoch', ${interval}) * 1000)::bigint`;

interface CaseRow {
  bucket: number;
  resolved: number;
  firstContact: number;
  resolutionMs: string;
  answered: number;
  responseMs: string;
}

/**
 * Cases resolved in each bucket (on first contact or not, time from opening to resolution) and
 * cases first answered in each bucket (time from opening to the first answer: the first response
 * recorded, or the resolution when none was, as the service-level targets count it). One scan of
 * the cases either time places in the period; each row counts once per bucket it falls in.
 */
function caseCounts(db: RawSql, q: Query): PromiseLike<CaseRow[]> {
  return db.$queryRaw<CaseRow[]>`
    WITH cases AS (
      SELECT opened_at, resolved_at, resolved_on_first_contact, coalesce(first_response_at, resolved_at) AS answered_at
      FROM service_cases
      WHERE (${within(q, Prisma.sql`resolved_at`)} OR ${within(q, Prisma.sql`first_response_at`)}) ${caseChannel(q)}),
    counted AS (
      SELECT ${bucketOf(q, Prisma.sql`resolved_at`)} AS bucket, 1 AS resolved, resolved_on_first_contact AS first_contact,
             ${milliseconds(Prisma.sql`resolved_at - opened_at`)} AS resolution_ms, 0 AS answered, 0::bigint AS response_ms
      FROM cases WHERE ${within(q, Prisma.sql`resolved_at`)}
      UNION ALL
      SELECT ${bucketOf(q, Prisma.sql`answered_at`)}, 0, false, 0::bigint, 1, ${milliseconds(Prisma.sql`answered_at - opened_at`)}
      FROM cases WHERE ${within(q, Prisma.sql`answered_at`)})
    SELECT bucket, sum(resolved)::int AS resolved, count(*) FILTER (WHERE first_contact)::int AS "firstContact",
           sum(resolution_ms)::bigint::text AS "resolutionMs", sum(answered)::int AS answered,
           sum(response_ms)::bigint::text AS "responseMs"
    FROM counted
    GROUP BY 1`;
}

/**
 * Contract terms that ended in each bucket, and which of them were renewed. A term's end is a
 * renewal's previous end (that term was renewed) or a contract's current end (not renewed, yet or
 * ever — cancelled contracts included); no term is both.
 */
function renewalCounts(db: RawSql, q: Query): PromiseLike<{ bucket: number; cameUp: number; renewed: number }[]> {
  return db.$queryRaw`
    SELECT ${bucketOf(q, Prisma.sql`term.ends_at`)} AS bucket,
           count(*)::int AS "cameUp", count(*) FILTER (WHERE term.renewed)::int AS renewed
    FROM (
      SELECT previous_ends_at AS ends_at, true AS renewed FROM contract_renewals WHERE ${within(q, Prisma.sql`previous_ends_at`)}
      UNION ALL
      SELECT ends_at, false FROM contracts WHERE ${within(q, Prisma.sql`ends_at`)}) term
    GROUP BY 1`;
}

/**
 * Status changes up to the end of the period by transition: those before it (bucket 0) in one
 * count, those in it by bucket.
 */
function statusChangeCounts(
  db: RawSql,
  q: Query,
): PromiseLike<{ bucket: number; fromStatus: MemberStatus | null; toStatus: MemberStatus; changes: number }[]> {
  return db.$queryRaw`
    SELECT bucket, from_status::text AS "fromStatus", to_status::text AS "toStatus", changes
    FROM (
      SELECT 0 AS bucket, from_status, to_status, count(*)::int AS changes
      FROM member_status_changes WHERE changed_at < ${q.period.from}::timestamptz
      GROUP BY from_status, to_status
      UNION ALL
      SELECT ${bucketOf(q, Prisma.sql`changed_at`)}, from_status, to_status, count(*)::int
      FROM member_status_changes WHERE ${within(q, Prisma.sql`changed_at`)}
      GROUP BY 1, 2, 3) counted`;
}

interface SpendRow {
  bucket: number;
  key: string;
  count: number;
  value: string;
}

/**
 * Goodwill gestures granted in each bucket (at once, or when a supervisor approved them), by reason:
 * those valued in the program currency (a gesture valued in an earlier one is not converted), less
 * those whose voucher staff voided (it gave nothing: a redeemed voucher cannot be voided). The voided
 * vouchers are few: one anti-join with them, not a lookup per gesture.
 */
function goodwillSpend(db: RawSql, q: Query): PromiseLike<SpendRow[]> {
  return db.$queryRaw<SpendRow[]>`
    SELECT ${bucketOf(q, Prisma.sql`coalesce(g.decided_at, g.created_at)`)} AS bucket, g.reason::text AS key,
           count(*)::int AS count, coalesce(sum(g.money_value), 0)::text AS value
    FROM goodwill_gestures g LEFT JOIN vouchers voided ON voided.id = g.voucher_id AND voided.status = 'VOIDED'
    WHERE g.status = 'GRANTED' AND g.currency = ${q.currency}::text AND voided.id IS NULL
      AND (g.decided_at IS NULL AND ${within(q, Prisma.sql`g.created_at`)} OR ${within(q, Prisma.sql`g.decided_at`)})
    GROUP BY 1, 2`;
}

interface VoucherRow {
  bucket: number;
  kind: VoucherKind;
  /** The type of the failure a COMPENSATION voucher compensates; null for the other kinds. */
  failureType: ServiceFailureType | null;
  issued: number;
  redeemed: number;
  /** Of `issued`, those in the program currency, and their value (vouchers of an earlier currency are not converted). */
  inCurrency: number;
  value: string;
}

/**
 * Vouchers issued in each bucket and not voided, by kind (COMPENSATION ones by failure type), how
 * many are redeemed now, and those in the program currency with their value. A voided voucher gave
 * the member nothing (a redeemed one cannot be voided) and could not be redeemed: it counts nowhere,
 * in the bucket of its issue as in that of its voiding.
 */
function voucherCounts(db: RawSql, q: Query): PromiseLike<VoucherRow[]> {
  return db.$queryRaw<VoucherRow[]>`
    SELECT ${bucketOf(q, Prisma.sql`v.issued_at`)} AS bucket, v.kind::text, f.type::text AS "failureType",
           count(*)::int AS issued, count(*) FILTER (WHERE v.status = 'REDEEMED')::int AS redeemed,
           count(*) FILTER (WHERE v.currency = ${q.currency}::text)::int AS "inCurrency",
           coalesce(sum(v.amount) FILTER (WHERE v.currency = ${q.currency}::text), 0)::text AS value
    FROM vouchers v LEFT JOIN service_failures f ON v.kind = 'COMPENSATION' AND f.voucher_id = v.id
    WHERE ${within(q, Prisma.sql`v.issued_at`)} AND v.status <> 'VOIDED'
    GROUP BY 1, 2, 3`;
}

/**
 * One of two disjoint shares of the members, split at the middle of the id space (ids are random
 * UUIDs, so the halves are even; a range the planner estimates from its statistics): churn and
 * recovery are counted per member, so the halves' counts add up, and the halves run at once.
 */
type MemberPart = 0 | 1;
const MIDDLE_ID = '80000000-0000-0000-0000-000000000000';
const inPart = (part: MemberPart, memberId: Prisma.Sql) =>
  part === 0 ? Prisma.sql`${memberId} < ${MIDDLE_ID}::uuid` : Prisma.sql`${memberId} >= ${MIDDLE_ID}::uuid`;

/**
 * Members with failures in each period, by one or more failures and whether any of them was
 * compensated (COMPENSATED, and its voucher not voided since: one join with the few voided
 * vouchers); churned: turned PASSIVE or CLOSED, or cancelled a contract, after their
 * first failure in the period and at most followUpDays after their last. The churn events are read
 * once, by time (every one that can fall in a window), and matched to the members by a hash join.
 */
function churnCounts(
  db: RawSql,
  q: Query,
  part: MemberPart,
): PromiseLike<{ period: number; repeated: boolean; compensated: boolean; members: number; churned: number }[]> {
  return db.$queryRaw`
    WITH failed AS (
      SELECT period, f.member_id, min(f.occurred_at) AS first_at, max(f.occurred_at) + ${q.followUp} AS until,
             count(*) AS failures, bool_or(f.status = 'COMPENSATED' AND voided.id IS NULL) AS compensated
      FROM service_failures f CROSS JOIN LATERAL unnest(${periodsOf(q, Prisma.sql`f.occurred_at`)}) AS period
        LEFT JOIN vouchers voided ON voided.id = f.voucher_id AND voided.status = 'VOIDED'
      WHERE ${within(q, Prisma.sql`f.occurred_at`)} AND ${inPart(part, Prisma.sql`f.member_id`)}
      GROUP BY period, f.member_id),
    churn AS (
      SELECT member_id, changed_at AS at FROM member_status_changes
      WHERE to_status IN ('PASSIVE', 'CLOSED') AND ${inPart(part, Prisma.sql`member_id`)}
        AND changed_at > ${q.period.from}::timestamptz AND changed_at <= ${q.period.to}::timestamptz + ${q.followUp}
      UNION ALL
      SELECT member_id, cancelled_at FROM contracts
      WHERE cancelled_at > ${q.period.from}::timestamptz AND cancelled_at <= ${q.period.to}::timestamptz + ${q.followUp}
        AND ${inPart(part, Prisma.sql`member_id`)}),
    judged AS (
      SELECT failed.period, failed.member_id, failed.failures, failed.compensated, bool_or(churn.at IS NOT NULL) AS churned
      FROM failed LEFT JOIN churn
        ON churn.member_id = failed.member_id AND churn.at > failed.first_at AND churn.at <= failed.until
      GROUP BY 1, 2, 3, 4)
    SELECT period, failures >= 2 AS repeated, compensated, count(*)::int AS members,
           count(*) FILTER (WHERE churned)::int AS churned
    FROM judged
    GROUP BY 1, 2, 3`;
}

/**
 * Members compensated in each period (a COMPENSATION voucher issued, and not voided since: a member
 * whose only compensation was taken back was not compensated); recovered: an EARN entry or a
 * contract renewal after their first compensation in the period, at most followUpDays later,
 * and ACTIVE when those days end (their last status change up to then: a member who came back and
 * then closed the account, or is suspended, has not recovered). Counted per member and bucket; the
 * whole period follows from them, as a member's first compensation in the period is their first in
 * the earliest bucket they were compensated in. Each member's comebacks are read once, for the span
 * of all their buckets.
 */
function recoveryCounts(db: RawSql, q: Query, part: MemberPart): PromiseLike<{ period: number; members: number; recovered: number }[]> {
  return db.$queryRaw`
    WITH first_compensations AS (
      SELECT ${bucketOf(q, Prisma.sql`v.issued_at`)} AS bucket, v.member_id, min(v.issued_at) AS at
      FROM vouchers v
      WHERE v.kind = 'COMPENSATION' AND v.status <> 'VOIDED' AND ${within(q, Prisma.sql`v.issued_at`)}
        AND ${inPart(part, Prisma.sql`v.member_id`)}
      GROUP BY 1, 2),
    compensated AS (
      SELECT c.bucket, c.member_id, c.at,
             coalesce((SELECT s.to_status = 'ACTIVE' FROM member_status_changes s
                       WHERE s.member_id = c.member_id AND s.changed_at <= c.at + ${q.followUp}
                       ORDER BY s.changed_at DESC, s.id DESC LIMIT 1), false) AS active_after
      FROM first_compensations c),
    spans AS (SELECT member_id, min(at) AS first_at, max(at) + ${q.followUp} AS until FROM compensated GROUP BY member_id),
    comebacks AS (
      SELECT s.member_id, e.created_at AS at
      FROM spans s JOIN ledger_entries e ON e.member_id = s.member_id
      WHERE e.kind = 'EARN' AND e.created_at > s.first_at AND e.created_at <= s.until
      UNION ALL
      SELECT s.member_id, r.created_at
      FROM spans s JOIN contracts k ON k.member_id = s.member_id JOIN contract_renewals r ON r.contract_id = k.id
      WHERE r.created_at > s.first_at AND r.created_at <= s.until),
    judged AS (
      SELECT c.bucket, c.member_id, bool_or(b.at IS NOT NULL) AND c.active_after AS recovered,
             c.bucket = min(c.bucket) OVER (PARTITION BY c.member_id) AS earliest
      FROM compensated c LEFT JOIN comebacks b ON b.member_id = c.member_id AND b.at > c.at AND b.at <= c.at + ${q.followUp}
      GROUP BY c.bucket, c.member_id, c.active_after)
    SELECT 1 AS period, count(*) FILTER (WHERE earliest)::int AS members, count(*) FILTER (WHERE earliest AND recovered)::int AS recovered
    FROM judged
    UNION ALL
    SELECT bucket + 1, count(*)::int, count(*) FILTER (WHERE recovered)::int
    FROM judged WHERE ${q.series}
    GROUP BY bucket`;
}

/** Connections one loyaltyMetrics request reads on at once (when the pool has them to spare). */
const PARALLEL_QUERIES = 4;

type Task<R> = (db: RawSql) => PromiseLike<R>;

/**
 * Runs the tasks on the runners, each runner taking the next task when it is done with one; the
 * results in the tasks' order. After a failure no new task starts, and the first error is thrown
 * once every running one has ended (no statement may outlive the snapshot's connections).
 */
async function inParallel<T extends readonly Task<unknown>[]>(
  runners: readonly RawSql[],
  tasks: T,
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const results: unknown[] = new Array(tasks.length);
  const failures: unknown[] = [];
  let next = 0;
  await Promise.all(
    runners.map(async (db) => {
      while (failures.length === 0 && next < tasks.length) {
        const i = next++;
        try {
          results[i] = await tasks[i]!(db);
        } catch (error) {
          failures.push(error);
        }
      }
    }),
  );
  if (failures.length > 0) throw failures[0];
  return results as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
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
 * (REPEATABLE READ) shared by up to PARALLEL_QUERIES connections that run the statements at once:
 * the figures agree with each other. Supervisors and above (admin keys count
 * as admins).
 */
export async function loyaltyMetrics(deps: ServiceDeps, input: LoyaltyMetricsInput, caller: Caller): Promise<LoyaltyMetrics> {
  assertMayCall(caller, 'loyaltyMetrics');
  const { period, groupBy } = checkPeriod(input.from, input.to, input.groupBy ?? 'NONE');
  const channel = input.channel == null ? null : serviceChannel('channel', input.channel);
  const buckets = bucketsOf(period, groupBy);

  return readOnlySnapshot(deps.prisma, PARALLEL_QUERIES, async (runners) => {
    // Hash joins and sorts of a year of rows in memory, not in temporary files.
    for (const runner of runners) await runner.$executeRaw`SET LOCAL work_mem = '64MB'`;
    const [program] = await runners[0]!.$queryRaw<{ hash: string }[]>`SELECT settings_hash AS hash FROM program WHERE id = 1`;
    const settings = program ? await settingsForHash(runners[0]!, program.hash) : DEFAULT_PROGRAM_SETTINGS;
    const q: Query = {
      period,
      bounds: [period.from, ...buckets.map((bucket) => bucket.to)],
      series: buckets.length > 1,
      channel,
      followUp: Prisma.sql`make_interval(days => ${settings.metrics.followUpDays}::int)`,
      currency: settings.currency,
    };
    // The statements share out over the connections, the longest first: one snapshot, so they agree.
    const [recoveryA, recoveryB, churnA, churnB, statusChanges, feedbackRows, caseRows, renewalRows, voucherRows, goodwillRows] =
      await inParallel(runners, [
        (db) => recoveryCounts(db, q, 0),
        (db) => recoveryCounts(db, q, 1),
        (db) => churnCounts(db, q, 0),
        (db) => churnCounts(db, q, 1),
        (db) => statusChangeCounts(db, q),
        (db) => feedbackCounts(db, q),
        (db) => caseCounts(db, q),
        (db) => renewalCounts(db, q),
        (db) => voucherCounts(db, q),
        (db) => goodwillSpend(db, q),
      ] as const);
    const recovery = [...recoveryA, ...recoveryB];
    const churn = [...churnA, ...churnB];
    const feedback = new BucketSums(feedbackRows, buckets.length);
    const cases = new BucketSums(caseRows, buckets.length);
    const renewals = new BucketSums(renewalRows, buckets.length);
    const goodwill = new BucketSums(goodwillRows, buckets.length);
    const vouchers = new BucketSums(voucherRows, buckets.length);

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

    /** Figures of one period: `bucket` its index (0-based), null for the whole period; `index` its number in the per-member rows (1: the whole period, bucket + 2). */
    const figuresOf = (p: Period, bucket: number | null, index: number): PeriodFigures => {
      const answers = feedback.sum(bucket, 'answers');
      const promoters = feedback.sum(bucket, 'promoters');
      const detractors = feedback.sum(bucket, 'detractors');
      const nps = percentOf(promoters - detractors, answers);
      const csat = percentOf(feedback.sum(bucket, 'satisfied'), feedback.sum(bucket, 'csatAnswers'));
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
      const recovered = recovery.filter((row) => row.period === index);
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
        firstContactResolution: ratio(cases.sum(bucket, 'firstContact'), cases.sum(bucket, 'resolved')),
        timeToFirstResponse: ratio(cases.sum(bucket, 'responseMs') / 1000, cases.sum(bucket, 'answered')),
        timeToResolution: ratio(cases.sum(bucket, 'resolutionMs') / 1000, cases.sum(bucket, 'resolved')),
        renewal: ratio(renewals.sum(bucket, 'renewed'), renewals.sum(bucket, 'cameUp')),
        members: membersAt(bucket === null ? buckets.length : bucket + 1, p.to),
        compensation: spend(
          vouchers
            .of(bucket)
            .flatMap((row) => (row.kind === 'COMPENSATION' ? [{ ...row, key: row.failureType ?? '', count: row.inCurrency }] : [])),
          FAILURE_TYPES,
        ),
        goodwill: spend(goodwill.of(bucket), GOODWILL_REASONS),
        voucherRedemption: {
          all: ratio(
            byKind.reduce((total, line) => total + line.rate.numerator, 0),
            byKind.reduce((total, line) => total + line.rate.denominator, 0),
          ),
          byKind,
        },
        churnAfterFailure: { oneFailure: churnGroup(false), repeatedFailures: churnGroup(true) },
        recovery: ratio(
          recovered.reduce((total, row) => total + row.recovered, 0),
          recovered.reduce((total, row) => total + row.members, 0),
        ),
        detractorConversion: ratio(feedback.sum(bucket, 'converted'), feedback.sum(bucket, 'followUps')),
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
