import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import type { Caller } from '../../auth/principal.js';
import { sqlTransaction, type RawSql } from '../../db/sql.js';
import type { ServiceFailureType, Severity } from '../../generated/prisma/client.js';
import { assertMayCall } from '../authorization.js';
import { nowOf, type CommittedOutboxEvent, type MemberChange, type ServiceDeps } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { checkIdempotencyKey, once, type Replayable } from '../idempotency.js';
import { eligibility } from '../members/eligibility.js';
import { reportMemberChanges } from '../members/member-changes.js';
import { completeOutboxEvent, publishOutboxEvents } from '../outbox/outbox.service.js';
import { settingsForHash } from '../program/program.service.js';
import * as check from '../validation.js';
import { applyDecisions, lockMembers, policyDecisions, type DecidedFailure, type FinalDecision } from './batch-compensation.js';
import { occurredAtOf, optionalText } from './service-failures.service.js';

/** The queue that expands incident pages and grants approved remainders; job id = outbox event id. */
export const INCIDENT_QUEUE = 'incidents';
export const EXPAND_PAGE_JOB = 'expand-page';
export const GRANT_APPROVED_JOB = 'grant-approved';

/**
 * Entries per request. 1 000 raw member ids (~40 bytes each in JSON) or
 * external ids with order references fit the default 64 KB body limit
 * (MAX_BODY_BYTES); 100 000 members are 100 pages appended to one incident.
 */
export const MAX_PAGE_ENTRIES = 1_000;
/** Affected members expanded per transaction by the worker. */
export const EXPANSION_BATCH = 500;

// ---------------------------------------------------------------------------
// Reporting (the API)

/** One affected member: by member id or external id (with an optional order), or by an order reference alone. */
export interface AffectedMemberInput {
  memberId?: string | null;
  externalId?: string | null;
  orderRef?: string | null;
}

export interface ReportServiceIncidentInput {
  /** Later pages: the incident the first page created. Its own fields (type … budget) are then left out. */
  incidentId?: string | null;
  type?: ServiceFailureType | null;
  severity?: Severity | null;
  /** Defaults to now; may not lie in the future. */
  occurredAt?: Date | null;
  description?: string | null;
  /** What the incident's compensations may cost in all, in the program currency; none: no budget. */
  budget?: string | null;
  affected: readonly AffectedMemberInput[];
  idempotencyKey: string;
}

export type UnresolvedReason = 'UNKNOWN_MEMBER' | 'UNKNOWN_ORDER' | 'AMBIGUOUS_ORDER';

/** An entry that names no member, reported back as it was sent. */
export interface UnresolvedEntry {
  /** Its index in `affected`. */
  index: number;
  reason: UnresolvedReason;
  memberId: string | null;
  externalId: string | null;
  orderRef: string | null;
}

/** The answer to one page, stored for idempotent replay. */
export interface ReportedIncidentPage {
  incidentId: string;
  pageId: string;
  entries: number;
  /** Members this page added to the incident. */
  named: number;
  /** Entries naming a member the incident had already (in this page or an earlier one). */
  alreadyNamed: number;
  unresolved: UnresolvedEntry[];
}

interface Entry {
  index: number;
  memberId: string | null;
  externalId: string | null;
  orderRef: string | null;
}

function checkEntries(affected: readonly AffectedMemberInput[]): Entry[] {
  if (affected.length === 0) throw new ValidationError('affected', 'must name at least one member');
  if (affected.length > MAX_PAGE_ENTRIES) {
    throw new ValidationError(
      'affected',
      `at most ${MAX_PAGE_ENTRIES} entries per request: send the rest as further pages with incidentId`,
    );
  }
  return affected.map((entry, index) => {
    const field = `affected[${index}]`;
    const memberId = entry.memberId == null ? null : check.uuid(`${field}.memberId`, entry.memberId);
    const externalId = optionalText(`${field}.externalId`, entry.externalId, 200);
    const orderRef = optionalText(`${field}.orderRef`, entry.orderRef, 200);
    if (memberId !== null && externalId !== null) throw new ValidationError(field, 'give memberId or externalId, not both');
    if (memberId === null && externalId === null && orderRef === null) {
      throw new ValidationError(field, 'must give memberId, externalId or orderRef');
    }
    return { index, memberId, externalId, orderRef };
  });
}

interface IncidentDetails {
  type: ServiceFailureType;
  severity: Severity;
  occurredAt: Date;
  description: string | null;
  budget: string | null;
}

const INCIDENT_FIELDS = ['type', 'severity', 'occurredAt', 'description', 'budget'] as const;

function checkDetails(input: ReportServiceIncidentInput, now: Date): IncidentDetails {
  if (!input.type) throw new ValidationError('type', 'is required on the first page of an incident');
  if (!input.severity) throw new ValidationError('severity', 'is required on the first page of an incident');
  return {
    type: input.type,
    severity: input.severity,
    occurredAt: occurredAtOf(input.occurredAt, now),
    description: optionalText('description', input.description, 2000),
    budget: input.budget == null ? null : check.money('budget', input.budget).toFixed(2),
  };
}

/**
 * Records one page of a service incident: the first page creates the incident
 * (type, severity, when, optional budget), later pages name `incidentId`. Each
 * entry names a member by id, by external id or by an order reference (the
 * member whose order earned points under it). In one transaction: the page's
 * idempotency key, the incident, the page, its affected members — once per
 * incident, whatever the pages repeat — and one outbox event that the worker
 * expands into one failure per member (`expandIncidentPage`). Entries that
 * name no member are answered one by one (`unresolved`) and the rest is
 * recorded; malformed input is a ValidationError and records nothing. The same
 * key replays the first answer; sent concurrently, one waits for the other.
 * Agents and above, and keys with `failures:report`.
 */
export async function reportServiceIncident(
  deps: ServiceDeps,
  input: ReportServiceIncidentInput,
  caller: Caller,
): Promise<Replayable<ReportedIncidentPage>> {
  assertMayCall(caller, 'reportServiceIncident');
  const now = nowOf(deps);
  const incidentId = input.incidentId == null ? null : check.uuid('incidentId', input.incidentId);
  let details: IncidentDetails | null = null;
  if (incidentId === null) details = checkDetails(input, now);
  else {
    const given = INCIDENT_FIELDS.find((field) => input[field] != null);
    if (given) throw new ValidationError(given, 'is set by the first page of the incident: leave it out on later pages');
  }
  const entries = checkEntries(input.affected);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const request = {
    incidentId,
    ...(details && { ...details, occurredAt: input.occurredAt ? details.occurredAt.toISOString() : null }),
    entries: entries.map(({ memberId, externalId, orderRef }) => [memberId, externalId, orderRef]),
  };
  const scope = incidentId === null ? 'reportServiceIncident' : `reportServiceIncident:${incidentId}`;

  const result = await sqlTransaction(deps.prisma, async (tx) => {
    if (incidentId !== null) {
      const [incident] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM service_incidents WHERE id = ${incidentId}::uuid`;
      if (!incident) throw new NotFoundError('ServiceIncident', incidentId);
    }
    return once(tx, scope, key, request, async () => {
      const id = incidentId ?? randomUUID();
      if (details) {
        await tx.$executeRaw`
          INSERT INTO service_incidents (id, type, severity, occurred_at, description, budget, reporter_type, reporter_id, created_at)
          VALUES (${id}::uuid, ${details.type}::"ServiceFailureType", ${details.severity}::"Severity",
                  ${details.occurredAt}::timestamptz, ${details.description}::text, ${details.budget}::numeric,
                  ${caller.actor.type}::"ActorType", ${caller.actor.id}::text, ${now}::timestamptz)`;
      }
      return recordPage(tx, id, entries, now);
    });
  });
  if (!result.replayed && result.named > 0) await publishOutboxEvents(deps, [expandEvent(result.pageId)]);
  return result;
}

const expandEvent = (pageId: string): CommittedOutboxEvent => ({
  id: pageId,
  queue: INCIDENT_QUEUE,
  jobName: EXPAND_PAGE_JOB,
  payload: { job: EXPAND_PAGE_JOB, pageId },
});

/**
 * Resolves a page's entries to members and records the page, its newly named
 * members and, when it named any, its expansion event — one statement after
 * the lookup, so the page's counts are those of the rows it inserted.
 */
async function recordPage(tx: RawSql, incidentId: string, entries: Entry[], now: Date): Promise<ReportedIncidentPage> {
  const found = await tx.$queryRaw<{ index: number; memberId: string | null; owners: number }[]>`
    SELECT g.index, coalesce(by_id.id, by_external.id, by_order.owner)::text AS "memberId", coalesce(by_order.owners, 0)::int AS owners
    FROM unnest(${entries.map((e) => e.index)}::int[], ${entries.map((e) => e.memberId)}::uuid[],
                ${entries.map((e) => e.externalId)}::text[], ${entries.map((e) => e.orderRef)}::text[])
         AS g(index, member_id, external_id, order_ref)
    LEFT JOIN members by_id ON by_id.id = g.member_id
    LEFT JOIN members by_external ON by_external.external_id = g.external_id
    LEFT JOIN LATERAL (
      SELECT count(DISTINCT o.member_id) AS owners,
             CASE WHEN count(DISTINCT o.member_id) = 1 THEN min(o.member_id::text)::uuid END AS owner
      FROM point_orders o
      WHERE g.member_id IS NULL AND g.external_id IS NULL AND o.order_ref = g.order_ref) by_order ON true`;
  const byIndex = new Map(found.map((row) => [row.index, row]));

  const unresolved: UnresolvedEntry[] = [];
  const named = new Map<string, Entry>();
  for (const entry of entries) {
    const row = byIndex.get(entry.index);
    if (!row?.memberId) {
      const reason: UnresolvedReason =
        entry.memberId !== null || entry.externalId !== null
          ? 'UNKNOWN_MEMBER'
          : (row?.owners ?? 0) > 1
            ? 'AMBIGUOUS_ORDER'
            : 'UNKNOWN_ORDER';
      unresolved.push({ ...entry, reason });
    } else if (!named.has(row.memberId)) named.set(row.memberId, entry);
  }

  const pageId = randomUUID();
  const event = expandEvent(pageId);
  const members = [...named];
  const [page] = await tx.$queryRaw<{ named: number }[]>`
    WITH affected AS (
      INSERT INTO service_incident_members (incident_id, member_id, order_ref, page_id, position)
      SELECT ${incidentId}::uuid, a.member_id, a.order_ref, ${pageId}::uuid, a.position
      FROM unnest(${members.map(([memberId]) => memberId)}::uuid[], ${members.map(([, entry]) => entry.orderRef)}::text[],
                  ${members.map(([, entry]) => entry.index)}::int[]) AS a(member_id, order_ref, position)
      ON CONFLICT (incident_id, member_id) DO NOTHING
      RETURNING 1),
    page AS (
      INSERT INTO service_incident_pages (id, incident_id, entries, named, already_named, unresolved, created_at, expanded_at)
      SELECT ${pageId}::uuid, ${incidentId}::uuid, ${entries.length}::int, count.n, ${entries.length - unresolved.length}::int - count.n,
             ${unresolved.length}::int, ${now}::timestamptz, CASE WHEN count.n = 0 THEN ${now}::timestamptz END
      FROM (SELECT count(*)::int AS n FROM affected) count
      RETURNING named),
    outbox AS (
      INSERT INTO outbox_events (id, queue, job_name, payload)
      SELECT ${event.id}::uuid, ${event.queue}::text, ${event.jobName}::text, ${JSON.stringify(event.payload)}::jsonb
      FROM page WHERE named > 0)
    SELECT named FROM page`;
  const newlyNamed = page!.named;
  return {
    incidentId,
    pageId,
    entries: entries.length,
    named: newlyNamed,
    alreadyNamed: entries.length - unresolved.length - newlyNamed,
    unresolved,
  };
}

// ---------------------------------------------------------------------------
// Expanding (the worker)

interface LockedIncident {
  id: string;
  type: ServiceFailureType;
  severity: Severity;
  occurredAt: Date;
  description: string | null;
  budget: string | null;
  reporterType: string;
  reporterId: string;
  overBudgetAt: Date | null;
  settingsHash: string | null;
}

/** Locks an incident for one batch: its batches (and decisions) run one at a time, pages keep arriving. */
async function lockIncident(tx: RawSql, incidentId: string): Promise<LockedIncident | undefined> {
  const [incident] = await tx.$queryRaw<LockedIncident[]>`
    SELECT id::text, type::text, severity::text, occurred_at AS "occurredAt", description, budget::text,
           reporter_type::text AS "reporterType", reporter_id AS "reporterId", over_budget_at AS "overBudgetAt",
           (SELECT md5(settings::text) FROM program WHERE id = 1) AS "settingsHash"
    FROM service_incidents WHERE id = ${incidentId}::uuid
    FOR NO KEY UPDATE`;
  return incident;
}

export interface ExpansionReport {
  /** False when the page does not exist: nothing to do, ever. */
  found: boolean;
  batches: number;
  recorded: number;
  duplicates: number;
  compensated: number;
  needsReview: number;
  notEligible: number;
}

/**
 * Expands one page of an incident into service failures, EXPANSION_BATCH
 * members per transaction, until none is left; then completes the page's
 * outbox event. Each batch, under the incident's lock: records one failure per
 * member — deduplicated against failures reported before for the same member,
 * type and order (the unique index; the affected member then points at that
 * failure) and within the incident (unique per incident and member) — decides
 * them by the compensation policy in the same transaction, holds what would
 * exceed the incident's budget for review (the first compensation that would
 * exceed it, and everything after it), and marks its members expanded. A
 * killed worker loses at most its open batch, which the retried job redoes;
 * a retried, duplicated or raced job finds its members expanded and does
 * nothing twice.
 */
export async function expandIncidentPage(deps: ServiceDeps, pageId: string): Promise<ExpansionReport> {
  const report: ExpansionReport = { found: true, batches: 0, recorded: 0, duplicates: 0, compensated: 0, needsReview: 0, notEligible: 0 };
  for (;;) {
    const batch = await sqlTransaction(deps.prisma, (tx) => expandBatch(tx, pageId, nowOf(deps)));
    if (!batch) return { ...report, found: false };
    reportMemberChanges(deps, batch.changes);
    report.batches += 1;
    report.recorded += batch.recorded;
    report.duplicates += batch.duplicates;
    report.compensated += batch.compensated;
    report.needsReview += batch.needsReview;
    report.notEligible += batch.notEligible;
    if (batch.done) return report;
  }
}

interface BatchReport {
  done: boolean;
  recorded: number;
  duplicates: number;
  compensated: number;
  needsReview: number;
  notEligible: number;
  /** The vouchers it issued, reported once it committed. */
  changes: MemberChange[];
}

async function expandBatch(tx: RawSql, pageId: string, now: Date): Promise<BatchReport | null> {
  const [page] = await tx.$queryRaw<{ incidentId: string }[]>`
    SELECT incident_id::text AS "incidentId" FROM service_incident_pages WHERE id = ${pageId}::uuid`;
  if (!page) {
    await completeOutboxEvent(tx, pageId, now);
    return null;
  }
  const incident = (await lockIncident(tx, page.incidentId))!;
  const rows = await tx.$queryRaw<{ memberId: string; orderRef: string | null }[]>`
    SELECT member_id::text AS "memberId", order_ref AS "orderRef" FROM service_incident_members
    WHERE page_id = ${pageId}::uuid AND expanded_at IS NULL
    ORDER BY position
    LIMIT ${EXPANSION_BATCH}::int
    FOR UPDATE`;
  const report: BatchReport = {
    done: rows.length < EXPANSION_BATCH,
    recorded: 0,
    duplicates: 0,
    compensated: 0,
    needsReview: 0,
    notEligible: 0,
    changes: [],
  };

  if (rows.length > 0) {
    const settings = await settingsForHash(tx, incident.settingsHash);
    const planned = rows.map((row) => ({ ...row, id: randomUUID() }));
    // Inserted in member order, as members are locked: two batches naming the same members wait, never deadlock.
    const byMember = [...planned].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
    const inserted = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO service_failures
        (id, member_id, type, severity, occurred_at, order_ref, description, reporter_type, reporter_id, incident_id, created_at)
      SELECT f.id, f.member_id, ${incident.type}::"ServiceFailureType", ${incident.severity}::"Severity",
             ${incident.occurredAt}::timestamptz, f.order_ref, ${incident.description}::text,
             ${incident.reporterType}::"ActorType", ${incident.reporterId}::text, ${incident.id}::uuid, ${now}::timestamptz
      FROM unnest(${byMember.map((f) => f.id)}::uuid[], ${byMember.map((f) => f.memberId)}::uuid[], ${byMember.map((f) => f.orderRef)}::text[])
           AS f(id, member_id, order_ref)
      ON CONFLICT DO NOTHING
      RETURNING id::text`;
    const insertedIds = new Set(inserted.map((row) => row.id));
    const recorded = planned.filter((failure) => insertedIds.has(failure.id));
    const skipped = planned.filter((failure) => !insertedIds.has(failure.id));
    // Not inserted: the member's failure of the same type and order was reported before
    // (or, after a crash between batches that cannot happen, this incident's own).
    const existing =
      skipped.length === 0
        ? []
        : await tx.$queryRaw<{ id: string; memberId: string }[]>`
            SELECT DISTINCT ON (f.member_id) f.id::text, f.member_id::text AS "memberId"
            FROM service_failures f
            JOIN unnest(${skipped.map((s) => s.memberId)}::uuid[], ${skipped.map((s) => s.orderRef)}::text[]) AS s(member_id, order_ref)
              ON f.member_id = s.member_id
             AND ((f.type = ${incident.type}::"ServiceFailureType" AND f.order_ref = s.order_ref) OR f.incident_id = ${incident.id}::uuid)
            ORDER BY f.member_id, (f.incident_id = ${incident.id}::uuid) DESC NULLS LAST`;
    const existingByMember = new Map(existing.map((row) => [row.memberId, row.id]));

    const decisions = await policyDecisions(
      tx,
      { failures: recorded, severity: incident.severity, occurredAt: incident.occurredAt, createdAt: now },
      settings,
      now,
    );
    const budget = await budgetOf(tx, incident);
    const decided: DecidedFailure[] = decisions.map(({ failure, repeatIndex, decision }) => {
      if (decision.status !== 'COMPENSATED' || budget.admits(decision.amount)) return { failure, repeatIndex, decision };
      return { failure, repeatIndex, decision: { status: 'NEEDS_REVIEW', amount: decision.amount, reviewReason: 'INCIDENT_BUDGET' } };
    });
    const applied = await applyDecisions(tx, decided, settings, now);

    const outcome = planned.map((failure) => ({
      memberId: failure.memberId,
      failureId: insertedIds.has(failure.id) ? failure.id : (existingByMember.get(failure.memberId) ?? null),
      duplicate: !insertedIds.has(failure.id),
    }));
    await tx.$executeRaw`
      WITH expanded AS (
        UPDATE service_incident_members a SET expanded_at = ${now}::timestamptz, failure_id = o.failure_id, duplicate = o.duplicate
        FROM unnest(${outcome.map((o) => o.memberId)}::uuid[], ${outcome.map((o) => o.failureId)}::uuid[], ${outcome.map((o) => o.duplicate)}::boolean[])
             AS o(member_id, failure_id, duplicate)
        WHERE a.incident_id = ${incident.id}::uuid AND a.member_id = o.member_id)
      UPDATE service_incidents SET over_budget_at = ${now}::timestamptz
      WHERE id = ${incident.id}::uuid AND over_budget_at IS NULL AND ${budget.exceeded()}::boolean`;
    Object.assign(report, {
      recorded: recorded.length,
      duplicates: skipped.length,
      compensated: applied.compensated,
      needsReview: applied.needsReview,
      notEligible: applied.notEligible,
      changes: applied.changes,
    });
  }
  if (report.done) {
    await tx.$executeRaw`
      WITH page AS (UPDATE service_incident_pages SET expanded_at = ${now}::timestamptz WHERE id = ${pageId}::uuid AND expanded_at IS NULL)
      UPDATE outbox_events SET completed_at = ${now}::timestamptz WHERE id = ${pageId}::uuid AND completed_at IS NULL`;
  }
  return report;
}

/**
 * The incident's budget as the batch meets it: once a compensation would take
 * the spent amount (its COMPENSATED failures) past the budget, that one and
 * every later one are held for one decision on the whole remainder — also
 * when a smaller one would still fit.
 */
async function budgetOf(tx: RawSql, incident: LockedIncident): Promise<{ admits(amount: Decimal): boolean; exceeded(): boolean }> {
  let exceeded = incident.overBudgetAt !== null;
  if (incident.budget === null) return { admits: () => true, exceeded: () => false };
  let spent = new Decimal(0);
  if (!exceeded) {
    const [row] = await tx.$queryRaw<{ spent: string }[]>`
      SELECT coalesce(sum(compensation_amount), 0)::text AS spent FROM service_failures
      WHERE incident_id = ${incident.id}::uuid AND status = 'COMPENSATED'`;
    spent = new Decimal(row!.spent);
  }
  const budget = new Decimal(incident.budget);
  return {
    admits: (amount) => {
      if (exceeded || spent.plus(amount).gt(budget)) {
        exceeded = true;
        return false;
      }
      spent = spent.plus(amount);
      return true;
    },
    exceeded: () => exceeded,
  };
}

// ---------------------------------------------------------------------------
// The supervisor's decision on the remainder over the budget

export type IncidentDecision = 'GRANT' | 'DECLINE';

export interface DecideServiceIncidentInput {
  incidentId: string;
  decision: IncidentDecision;
  note: string;
  idempotencyKey: string;
}

export interface DecidedIncident {
  incidentId: string;
  decision: IncidentDecision;
  /** Failures the decision covered: every one of the incident's waiting for it at that moment. */
  decided: number;
}

const grantEvent = (incidentId: string): CommittedOutboxEvent => {
  const id = randomUUID();
  return { id, queue: INCIDENT_QUEUE, jobName: GRANT_APPROVED_JOB, payload: { job: GRANT_APPROVED_JOB, incidentId, eventId: id } };
};

/**
 * One supervisor decision on everything of an incident held over its budget
 * (NEEDS_REVIEW, INCIDENT_BUDGET): DECLINE makes all of it NOT_ELIGIBLE at
 * once; GRANT records the approval on each (back to RECORDED, with the
 * supervisor, time and note) and queues the batch path, which issues the
 * amounts the policy computed (`grantApprovedRemainder`). The incident is
 * locked, so the decision covers exactly what waited when it was taken: a
 * later page over the budget waits for a decision of its own. Supervisors and
 * admins only.
 */
export async function decideServiceIncident(
  deps: ServiceDeps,
  input: DecideServiceIncidentInput,
  caller: Caller,
): Promise<Replayable<DecidedIncident>> {
  assertMayCall(caller, 'decideServiceIncident');
  const incidentId = check.uuid('incidentId', input.incidentId);
  const note = check.text('note', input.note, { min: 3, max: 2000 });
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  const event = input.decision === 'GRANT' ? grantEvent(incidentId) : null;
  const result = await sqlTransaction(deps.prisma, async (tx) => {
    if (!(await lockIncident(tx, incidentId))) throw new NotFoundError('ServiceIncident', incidentId);
    return once(tx, `decideServiceIncident:${incidentId}`, key, { decision: input.decision, note }, async () => {
      const status = input.decision === 'GRANT' ? 'RECORDED' : 'NOT_ELIGIBLE';
      const decided = await tx.$executeRaw`
        UPDATE service_failures SET status = ${status}::"ServiceFailureStatus",
          decided_by = ${caller.actor.id}::text, decided_at = ${now}::timestamptz, decision_note = ${note}::text
        WHERE incident_id = ${incidentId}::uuid AND status = 'NEEDS_REVIEW' AND review_reason = 'INCIDENT_BUDGET'`;
      if (decided === 0) throw new ValidationError('incidentId', 'nothing of this incident waits for a decision on its budget');
      if (event) {
        await tx.$executeRaw`
          INSERT INTO outbox_events (id, queue, job_name, payload)
          VALUES (${event.id}::uuid, ${event.queue}::text, ${event.jobName}::text, ${JSON.stringify(event.payload)}::jsonb)`;
      }
      return { incidentId, decision: input.decision, decided };
    });
  });
  if (event && !result.replayed) await publishOutboxEvents(deps, [event]);
  return result;
}

/**
 * Issues the vouchers of an approved remainder through the batch path,
 * EXPANSION_BATCH failures per transaction under the incident's lock: the
 * amount the policy computed when the failure was held, unless the member has
 * closed their membership since (NOT_ELIGIBLE). Completes the decision's
 * outbox event when nothing approved is left; a retried job finds its
 * failures COMPENSATED and skips them.
 */
export async function grantApprovedRemainder(
  deps: ServiceDeps,
  incidentId: string,
  eventId: string,
): Promise<{ compensated: number; notEligible: number }> {
  const total = { compensated: 0, notEligible: 0 };
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const batch = await sqlTransaction(deps.prisma, async (tx) => {
      const now = nowOf(deps);
      const incident = await lockIncident(tx, incidentId);
      const failures = incident
        ? await tx.$queryRaw<{ id: string; memberId: string; amount: string }[]>`
            SELECT id::text, member_id::text AS "memberId", compensation_amount::text AS amount FROM service_failures
            WHERE incident_id = ${incidentId}::uuid AND member_id > ${after}::uuid
              AND status = 'RECORDED' AND review_reason = 'INCIDENT_BUDGET' AND decided_by IS NOT NULL
            ORDER BY member_id
            LIMIT ${EXPANSION_BATCH}::int
            FOR UPDATE`
        : [];
      const done = failures.length < EXPANSION_BATCH;
      let changes: MemberChange[] = [];
      if (failures.length > 0) {
        const settings = await settingsForHash(tx, incident!.settingsHash);
        const members = await lockMembers(
          tx,
          failures.map((failure) => failure.memberId),
        );
        const decided = failures.map((failure): DecidedFailure => {
          const eligible = eligibility(members.get(failure.memberId)!.status, 'DECIDED_GRANT');
          const decision: FinalDecision =
            eligible.decision === 'ALLOW'
              ? { status: 'COMPENSATED', amount: new Decimal(failure.amount) }
              : { status: 'NOT_ELIGIBLE', amount: new Decimal(failure.amount), reason: eligible.reason };
          return { failure, repeatIndex: null, decision };
        });
        const applied = await applyDecisions(tx, decided, settings, now);
        total.compensated += applied.compensated;
        total.notEligible += applied.notEligible;
        after = failures.at(-1)!.memberId;
        changes = applied.changes;
      }
      if (done) await completeOutboxEvent(tx, eventId, now);
      return { done, changes };
    });
    reportMemberChanges(deps, batch.changes);
    if (batch.done) return total;
  }
}

// ---------------------------------------------------------------------------
// Reading

export interface IncidentProgress {
  /** Members the incident names (once each, whatever its pages repeat). */
  affected: number;
  /** Of those, not expanded into a failure yet. */
  pending: number;
  /** Failures the incident recorded. */
  recorded: number;
  /** Affected members whose failure (same member, type and order) had been reported before: not recorded again. */
  duplicates: number;
  compensated: number;
  /** Waiting for a supervisor: over the member's cap (one by one) or over the incident's budget (all at once). */
  needsReview: number;
  /** Of `needsReview`, held over the incident's budget: one decision covers them all. */
  awaitingDecision: number;
  notEligible: number;
  /** Approved or recorded, voucher still being issued. */
  inProgress: number;
  /** Sum of the compensation vouchers issued for the incident's failures (decimal string). */
  spent: string;
  pages: number;
  /** Entries of all pages that named no member. */
  unresolved: number;
}

/**
 * How far an incident is: counted from its affected members and failures
 * themselves (never a counter that could drift), in one statement. Staff and
 * keys with `failures:report`.
 */
export async function serviceIncidentProgress(deps: ServiceDeps, incidentId: string, caller: Caller): Promise<IncidentProgress> {
  assertMayCall(caller, 'readServiceIncident');
  const id = check.uuid('incidentId', incidentId);
  const [row] = await deps.prisma.$queryRaw<IncidentProgress[]>`
    SELECT a.affected, a.pending, a.duplicates, f.recorded, f.compensated, f."needsReview", f."awaitingDecision",
           f."notEligible", f."inProgress", f.spent, p.pages, p.unresolved
    FROM (SELECT count(*)::int AS affected, (count(*) FILTER (WHERE expanded_at IS NULL))::int AS pending,
                 (count(*) FILTER (WHERE duplicate))::int AS duplicates
          FROM service_incident_members WHERE incident_id = ${id}::uuid) a,
         (SELECT count(*)::int AS recorded,
                 (count(*) FILTER (WHERE status = 'COMPENSATED'))::int AS compensated,
                 (count(*) FILTER (WHERE status = 'NEEDS_REVIEW'))::int AS "needsReview",
                 (count(*) FILTER (WHERE status = 'NEEDS_REVIEW' AND review_reason = 'INCIDENT_BUDGET'))::int AS "awaitingDecision",
                 (count(*) FILTER (WHERE status = 'NOT_ELIGIBLE'))::int AS "notEligible",
                 (count(*) FILTER (WHERE status = 'RECORDED'))::int AS "inProgress",
                 (coalesce(sum(compensation_amount) FILTER (WHERE status = 'COMPENSATED'), 0))::text AS spent
          FROM service_failures WHERE incident_id = ${id}::uuid) f,
         (SELECT count(*)::int AS pages, coalesce(sum(unresolved), 0)::int AS unresolved
          FROM service_incident_pages WHERE incident_id = ${id}::uuid) p`;
  return row!;
}
