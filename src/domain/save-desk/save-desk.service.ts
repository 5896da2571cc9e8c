import type { Caller } from '../../auth/principal.js';
import { rawSql } from '../../db/sql.js';
import { assertMayCall } from '../authorization.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { ValidationError } from '../errors.js';
import { getAgentAuthority, type AgentAuthorityView } from '../goodwill/goodwill.service.js';
import { loadProgram } from '../program/program.service.js';
import type { SaveDeskSettings } from '../program/program-settings.js';
import { addDays, addMonths } from '../time.js';
import * as check from '../validation.js';

/** Why a member is on the save desk; each kind adds its own points (docs/metrics.md, the save desk). */
export const AT_RISK_REASON_KINDS = [
  'SERVICE_FAILURES',
  'REPEATED_FAILURES',
  'DETRACTOR_ANSWERS',
  'OPEN_CASES',
  'CONTRACT_ENDING',
  'DRIFTING',
] as const;
export type AtRiskReasonKind = (typeof AT_RISK_REASON_KINDS)[number];

export interface AtRiskReason {
  kind: AtRiskReasonKind;
  /** How many of it: failures, repeats, answers, open cases, contracts ending; 1 for drifting. */
  count: number;
  /** The reason in words, with its numbers and dates. */
  detail: string;
  /** What it adds to the score. */
  points: number;
}

export interface AtRiskMember {
  memberId: string;
  /** The sum of the reasons' points. */
  score: number;
  /** Highest points first; only reasons that add points. */
  reasons: AtRiskReason[];
}

/** A position in the ranking: after this member (score descending, member id ascending). */
export interface AtRiskCursor {
  score: number;
  memberId: string;
}

export interface AtRiskPage {
  members: AtRiskMember[];
  hasNextPage: boolean;
  /** The calling agent's goodwill authority, so they know what they can grant at once. */
  goodwillAuthority: AgentAuthorityView;
}

export interface AtRiskMembersInput {
  /** Page size, 1–100; 20 when omitted. */
  first?: number | null;
  after?: AtRiskCursor | null;
}

const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;
/** Scores are summed as bigint and shown as GraphQL Int: capped, never wrapped. */
const MAX_SCORE = 2_147_483_647;

interface ScoreRow {
  id: string;
  score: number;
  failures: number;
  detractors: number;
  openCases: number;
  contractsEnding: number;
  firstEnd: Date | null;
  drifting: boolean;
  lastActivityAt: Date;
  failurePoints: number;
  repeatPoints: number;
  detractorPoints: number;
  openCasePoints: number;
  contractPoints: number;
  driftPoints: number;
}

/**
 * Members who may be about to leave, ranked by a transparent score computed in
 * SQL from program settings (`saveDesk`): failures in the window (each repeat
 * after the first weighs more), detractor NPS answers in the window, open
 * cases, an active contract ending soon (after now: one that ends now has
 * ended, as `contractStatusAt` reads it), and an ACTIVE member drifting towards
 * PASSIVE. Only ACTIVE and PASSIVE members with a score above zero. Each member
 * comes with the reasons that put them there and the points each adds; the
 * page with the calling agent's remaining goodwill authority (the goodwill
 * service's own figures). Keyset-paged on (score descending, member id), so
 * pages are stable while the data stands still. Staff from AGENT up.
 */
export async function listAtRiskMembers(deps: ServiceDeps, input: AtRiskMembersInput, caller: Caller): Promise<AtRiskPage> {
  assertMayCall(caller, 'atRiskMembers');
  const first = input.first ?? DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
    throw new ValidationError('first', `must be a whole number from 1 to ${MAX_PAGE}`);
  }
  const after = input.after == null ? null : { score: input.after.score, memberId: check.uuid('after', input.after.memberId) };
  if (after && (!Number.isInteger(after.score) || after.score < 0 || after.score > MAX_SCORE)) {
    throw new ValidationError('after', 'is not a cursor of this list');
  }
  const now = nowOf(deps);
  const [goodwillAuthority, { settings }] = await Promise.all([getAgentAuthority(deps, null, caller), loadProgram(deps.prisma)]);
  const rows = await scoreMembers(deps, settings.saveDesk, now, after, first + 1);
  return {
    members: rows.slice(0, first).map((row) => ({ memberId: row.id, score: row.score, reasons: reasonsOf(row, settings.saveDesk) })),
    hasNextPage: rows.length > first,
    goodwillAuthority,
  };
}

/**
 * How many members the save desk ranks now (score above zero), for the list's
 * `totalCount`. It reads every signal in the window and counts every drifting
 * ACTIVE member, so it costs about as much as the ranking's first page without
 * its limit on drifting members: asked for only when a client selects it.
 */
export async function countAtRiskMembers(deps: ServiceDeps, caller: Caller): Promise<number> {
  assertMayCall(caller, 'atRiskMembers');
  const now = nowOf(deps);
  const { settings } = await loadProgram(deps.prisma);
  const weights = settings.saveDesk;
  const windowStart = addDays(now, -weights.windowDays);
  const contractHorizon = addDays(now, weights.contractEndingDays);
  const driftCutoff = addMonths(now, -weights.driftAfterMonths);
  const [row] = await rawSql(deps.prisma).$queryRaw<{ count: number }[]>`
    WITH signals AS (
      SELECT member_id, 1 AS failures, 0 AS detractors, 0 AS open_cases, 0 AS contracts FROM service_failures
      WHERE occurred_at >= ${windowStart}::timestamptz AND occurred_at <= ${now}::timestamptz
      UNION ALL
      SELECT member_id, 0, 1, 0, 0 FROM feedback
      WHERE nps <= 6 AND created_at >= ${windowStart}::timestamptz AND created_at <= ${now}::timestamptz
      UNION ALL
      SELECT member_id, 0, 0, 1, 0 FROM service_cases WHERE resolved_at IS NULL AND opened_at <= ${now}::timestamptz
      UNION ALL
      SELECT member_id, 0, 0, 0, 1 FROM contracts
      WHERE status = 'ACTIVE' AND ends_at > ${now}::timestamptz AND ends_at <= ${contractHorizon}::timestamptz),
    per_member AS (
      SELECT member_id, sum(failures) AS failures, sum(detractors) AS detractors, sum(open_cases) AS open_cases,
             sum(contracts) AS contracts_ending
      FROM signals GROUP BY member_id),
    with_signal AS (
      SELECT p.failures * ${weights.failurePoints}::bigint
             + greatest(p.failures - 1, 0) * ${weights.repeatFailurePoints}::bigint
             + p.detractors * ${weights.detractorPoints}::bigint + p.open_cases * ${weights.openCasePoints}::bigint
             + CASE WHEN p.contracts_ending > 0 THEN ${weights.contractEndingPoints}::bigint ELSE 0 END
             + CASE WHEN m.status = 'ACTIVE' AND m.last_activity_at < ${driftCutoff}::timestamptz
                    THEN ${weights.driftPoints}::bigint ELSE 0 END AS score
      FROM per_member p JOIN members m ON m.id = p.member_id
      WHERE m.status IN ('ACTIVE', 'PASSIVE'))
    SELECT ((SELECT count(*) FROM with_signal WHERE score > 0)
            + CASE WHEN ${weights.driftPoints}::int > 0 THEN
                (SELECT count(*) FROM members m
                 WHERE m.status = 'ACTIVE' AND m.last_activity_at < ${driftCutoff}::timestamptz
                   AND NOT EXISTS (SELECT 1 FROM per_member p WHERE p.member_id = m.id))
              ELSE 0 END)::int AS count`;
  return row?.count ?? 0;
}

/**
 * One statement. Members with a signal (failures, detractor answers, open
 * cases, contracts ending) are few and scored in full; members who are only
 * drifting all score exactly `driftPoints`, so only the page's worth of them is
 * read, in id order, and merged into the ranking — a program with hundreds of
 * thousands of quiet members does not score each of them for every page.
 */
async function scoreMembers(
  deps: ServiceDeps,
  weights: SaveDeskSettings,
  now: Date,
  after: AtRiskCursor | null,
  limit: number,
): Promise<ScoreRow[]> {
  const windowStart = addDays(now, -weights.windowDays);
  const contractHorizon = addDays(now, weights.contractEndingDays);
  const driftCutoff = addMonths(now, -weights.driftAfterMonths);
  const afterScore = after?.score ?? null;
  const afterId = after?.memberId ?? null;
  return rawSql(deps.prisma).$queryRaw<ScoreRow[]>`
    WITH signals AS (
      SELECT member_id, 1 AS failures, 0 AS detractors, 0 AS open_cases, 0 AS contracts, NULL::timestamptz AS ends_at
      FROM service_failures
      WHERE occurred_at >= ${windowStart}::timestamptz AND occurred_at <= ${now}::timestamptz
      UNION ALL
      SELECT member_id, 0, 1, 0, 0, NULL FROM feedback
      WHERE nps <= 6 AND created_at >= ${windowStart}::timestamptz AND created_at <= ${now}::timestamptz
      UNION ALL
      SELECT member_id, 0, 0, 1, 0, NULL FROM service_cases WHERE resolved_at IS NULL AND opened_at <= ${now}::timestamptz
      UNION ALL
      SELECT member_id, 0, 0, 0, 1, ends_at FROM contracts
      WHERE status = 'ACTIVE' AND ends_at > ${now}::timestamptz AND ends_at <= ${contractHorizon}::timestamptz),
    per_member AS (
      SELECT member_id, sum(failures) AS failures, sum(detractors) AS detractors, sum(open_cases) AS open_cases,
             sum(contracts) AS contracts_ending, min(ends_at) AS first_end
      FROM signals GROUP BY member_id),
    candidates AS (
      SELECT m.id, m.last_activity_at, p.failures, p.detractors, p.open_cases, p.contracts_ending, p.first_end,
             m.status = 'ACTIVE' AND m.last_activity_at < ${driftCutoff}::timestamptz AS drifting
      FROM per_member p JOIN members m ON m.id = p.member_id
      WHERE m.status IN ('ACTIVE', 'PASSIVE')
      UNION ALL
      (SELECT m.id, m.last_activity_at, 0, 0, 0, 0, NULL, true FROM members m
       WHERE m.status = 'ACTIVE' AND m.last_activity_at < ${driftCutoff}::timestamptz
         AND NOT EXISTS (SELECT 1 FROM per_member p WHERE p.member_id = m.id)
         AND ${weights.driftPoints}::int > 0
         AND (${afterScore}::int IS NULL OR ${weights.driftPoints}::int < ${afterScore}::int
              OR (${weights.driftPoints}::int = ${afterScore}::int AND m.id > ${afterId}::uuid))
       ORDER BY m.id
       LIMIT ${limit}::int)),
    scored AS (
      SELECT id, last_activity_at, failures, detractors, open_cases, contracts_ending, first_end, drifting,
             failures * ${weights.failurePoints}::bigint AS failure_points,
             greatest(failures - 1, 0) * ${weights.repeatFailurePoints}::bigint AS repeat_points,
             detractors * ${weights.detractorPoints}::bigint AS detractor_points,
             open_cases * ${weights.openCasePoints}::bigint AS open_case_points,
             CASE WHEN contracts_ending > 0 THEN ${weights.contractEndingPoints}::bigint ELSE 0 END AS contract_points,
             CASE WHEN drifting THEN ${weights.driftPoints}::bigint ELSE 0 END AS drift_points
      FROM candidates),
    ranked AS (
      SELECT *, least(failure_points + repeat_points + detractor_points + open_case_points + contract_points + drift_points,
                      ${MAX_SCORE}::bigint)::int AS score
      FROM scored)
    SELECT id::text, score, least(failures, ${MAX_SCORE})::int AS failures, least(detractors, ${MAX_SCORE})::int AS detractors,
           least(open_cases, ${MAX_SCORE})::int AS "openCases", least(contracts_ending, ${MAX_SCORE})::int AS "contractsEnding",
           first_end AS "firstEnd", drifting, last_activity_at AS "lastActivityAt",
           least(failure_points, ${MAX_SCORE})::int AS "failurePoints", least(repeat_points, ${MAX_SCORE})::int AS "repeatPoints",
           least(detractor_points, ${MAX_SCORE})::int AS "detractorPoints",
           least(open_case_points, ${MAX_SCORE})::int AS "openCasePoints",
           contract_points::int AS "contractPoints", drift_points::int AS "driftPoints"
    FROM ranked
    WHERE score > 0
      AND (${afterScore}::int IS NULL OR score < ${afterScore}::int OR (score = ${afterScore}::int AND id > ${afterId}::uuid))
    ORDER BY score DESC, id
    LIMIT ${limit}::int`;
}

const day = (date: Date) => date.toISOString().slice(0, 10);
const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/** The row's points as typed reasons, in words; reasons that add nothing are left out. */
function reasonsOf(row: ScoreRow, weights: SaveDeskSettings): AtRiskReason[] {
  const reasons: AtRiskReason[] = [
    {
      kind: 'SERVICE_FAILURES',
      count: row.failures,
      detail: `${plural(row.failures, 'service failure', 'service failures')} in the last ${weights.windowDays} days`,
      points: row.failurePoints,
    },
    {
      kind: 'REPEATED_FAILURES',
      count: Math.max(row.failures - 1, 0),
      detail: `${plural(row.failures - 1, 'repeat', 'repeats')} after the first failure in the last ${weights.windowDays} days`,
      points: row.repeatPoints,
    },
    {
      kind: 'DETRACTOR_ANSWERS',
      count: row.detractors,
      detail: `${plural(row.detractors, 'NPS answer', 'NPS answers')} of 0–6 in the last ${weights.windowDays} days`,
      points: row.detractorPoints,
    },
    {
      kind: 'OPEN_CASES',
      count: row.openCases,
      detail: `${plural(row.openCases, 'service case', 'service cases')} still open`,
      points: row.openCasePoints,
    },
    {
      kind: 'CONTRACT_ENDING',
      count: row.contractsEnding,
      detail:
        row.firstEnd === null
          ? ''
          : row.contractsEnding === 1
            ? `a contract ends on ${day(row.firstEnd)}, within ${weights.contractEndingDays} days`
            : `${row.contractsEnding} contracts end within ${weights.contractEndingDays} days, the first on ${day(row.firstEnd)}`,
      points: row.contractPoints,
    },
    {
      kind: 'DRIFTING',
      count: row.drifting ? 1 : 0,
      detail: `no activity since ${day(row.lastActivityAt)} (${weights.driftAfterMonths} months or more): drifting towards PASSIVE`,
      points: row.driftPoints,
    },
  ];
  // Stable: equal points keep the order above.
  return reasons.filter((reason) => reason.count > 0 && reason.points > 0).sort((a, b) => b.points - a.points);
}
