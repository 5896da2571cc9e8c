import { currentTraceparent } from '../../telemetry/trace-context.js';
import { randomUUID } from 'node:crypto';
import { newRowId } from '../../db/ids.js';
import { Decimal } from 'decimal.js';
import type { Caller } from '../../auth/principal.js';
import { rawSql, sqlTransaction, type RawSql } from '../../db/sql.js';
import { Prisma, type ServiceFailureType, type ServiceIncident, type Severity } from '../../generated/prisma/client.js';
import { reportApprovalQueueChanges } from '../approvals/approval-queue.js';
import { assertMayCall, mayCall, SERVICE_CALLERS, type CallerRule } from '../authorization.js';
import { nowOf, type CommittedOutboxEvent, type MemberChange, type ServiceDeps } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import {
  checkIdempotencyKey,
  fingerprint,
  fingerprintSql,
  once,
  ownSharedRecordSql,
  replayShared,
  scopeOf,
  type Replayable,
  type SharedRecord,
} from '../idempotency.js';
import { eligibility } from '../members/eligibility.js';
import { reportMemberChanges } from '../members/member-changes.js';
import { measure } from '../measures.js';
import { completeOutboxEvent, publishOutboxEvents } from '../outbox/outbox.service.js';
import { assertProgramCurrency, currentSettings, settingsForHash, settingsHashAfterLocksSql } from '../program/program.service.js';
import * as check from '../validation.js';
import { eventRows, webhookEventsCte } from '../webhooks/webhook-events.js';
import {
  applyDecisions,
  compensatedEvents,
  decisionColumns,
  issueDecidedVouchers,
  lockMembers,
  policyDecisions,
  type DecidedFailure,
  type FinalDecision,
} from './batch-compensation.js';
import { occurredAtOf, optionalReference, optionalText, reportedBy, storedCompensation } from './service-failures.service.js';

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
  /** What the incident's compensations may cost in all, in the program currency (the incident keeps it); none: no budget. */
  budget?: string | null;
  /**
   * The currency `budget` was given in (a MoneyInput), when the client named one: it must be the program's when the
   * incident is written, so a budget given in a currency an admin replaced while the page waited is refused
   * (ValidationError on `currency`) rather than stored as the same figure in the new one.
   */
  currency?: string | null;
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

/**
 * The page's entries, checked, and the first refusal of the key rule among the order references given with a member
 * (`optionalReference`): the page throws it once it knows it is not a replay of a page accepted before the rule.
 */
function checkEntries(affected: readonly AffectedMemberInput[]): { entries: Entry[]; keyRefusal: ValidationError | null } {
  if (affected.length === 0) throw new ValidationError('affected', 'must name at least one member');
  if (affected.length > MAX_PAGE_ENTRIES) {
    throw new ValidationError(
      'affected',
      `at most ${MAX_PAGE_ENTRIES} entries per request: send the rest as further pages with incidentId`,
    );
  }
  let keyRefusal: ValidationError | null = null;
  const entries = affected.map((entry, index) => {
    const field = `affected[${index}]`;
    const memberId = entry.memberId == null ? null : check.uuid(`${field}.memberId`, entry.memberId);
    // A member's external id names a stored member, as `memberByExternalId` reads it: a key stored before the naming
    // rules stays reachable (check.lookupKey), where a whole page refused for it would leave every member on it out.
    const externalId = entry.externalId == null ? null : check.lookupKey(`${field}.externalId`, entry.externalId, { max: 200 });
    // Alone, an order reference names the member whose order holds it: a key looked up, read as `order(memberId,
    // reference)` reads one, so an order stored before the naming rules names its member and one no write accepts is
    // that entry's UNKNOWN_ORDER, not the whole page refused. With a member it is the reference the new failure
    // records: held to reportServiceFailure's rule for its orderRef (a key).
    let orderRef: string | null = null;
    if (entry.orderRef != null && memberId === null && externalId === null) {
      orderRef = check.lookupKey(`${field}.orderRef`, entry.orderRef, { max: 200 });
    } else if (entry.orderRef != null) {
      const stored = optionalReference(`${field}.orderRef`, entry.orderRef, 200)!;
      keyRefusal ??= stored.refusal;
      orderRef = stored.value;
    }
    if (memberId !== null && externalId !== null) throw new ValidationError(field, 'give memberId or externalId, not both');
    if (memberId === null && externalId === null && orderRef === null) {
      throw new ValidationError(field, 'must give memberId, externalId or orderRef');
    }
    return { index, memberId, externalId, orderRef };
  });
  return { entries, keyRefusal };
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
    // The year-0001 floor and the future only, not a member's enrolment: an incident names many members, over
    // pages that may follow for days, and its start is when it began — a member who enrolled while the outage
    // lasted was affected all the same. A report of one member's own failure is held to their enrolment.
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
 * recorded; malformed input is a ValidationError and records nothing. An
 * idempotency key is the caller's own (`scopeOf`; for a later page, per
 * incident too): the same key from the same caller replays the first answer
 * — sent concurrently, one waits for the other — and another caller's same key
 * records that caller's own page (a key stored before stop 52, when every
 * caller shared the scope, replays for the reporter of its incident only, and
 * for a later page, which names nobody as its sender, only the same page:
 * `onceForCaller`). Agents and above, and keys with `failures:report`. A later
 * page names an incident the caller may read (`readableIncidentWhere`): a
 * reporting key adds pages to its own incidents only, and another's is a
 * NotFoundError, as an id nobody has, before anything is written.
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
  const { entries, keyRefusal } = checkEntries(input.affected);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const request = {
    incidentId,
    ...(details && { ...details, occurredAt: input.occurredAt ? details.occurredAt.toISOString() : null }),
    entries: entries.map(({ memberId, externalId, orderRef }) => [memberId, externalId, orderRef]),
  };
  // The operation; the key's scope is the caller's own within it (`onceForCaller`).
  const operation = incidentId === null ? 'reportServiceIncident' : `reportServiceIncident:${incidentId}`;

  const result = await sqlTransaction(deps.prisma, async (tx) => {
    if (incidentId !== null) {
      // Another reporter's incident is not this key's: not found, as one nobody reported.
      const owner = reporterKeptTo(caller);
      const [incident] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM service_incidents
        WHERE id = ${incidentId}::uuid
          AND (${owner === null}::boolean OR (reporter_type = ${owner?.reporterType ?? null}::"ActorType" AND reporter_id = ${owner?.reporterId ?? null}::text))`;
      if (!incident) throw new NotFoundError('ServiceIncident', incidentId);
    }
    // A first page stored under the shared scope is its incident's reporter's; a later page may be anyone's.
    const mine =
      incidentId === null
        ? reportedByCallerSql(caller)
        : Prisma.sql`${reportedByCallerSql(caller)} AND stored_record.request_hash = ${fingerprint(request)}`;
    return onceForCaller(tx, caller, operation, mine, key, request, async () => {
      // Not a replay: an order reference the key rule refuses is refused as the new key the failure would record.
      if (keyRefusal) throw keyRefusal;
      const id = incidentId ?? randomUUID();
      if (details) {
        // The budget is money in the program currency of now, and keeps it (docs/domain-rules.md).
        const { currency } = await currentSettings(tx);
        // Read after the key's wait: 500.00 EUR are not 500.00 of the currency the program switched to meanwhile.
        assertProgramCurrency('currency', input.currency, currency);
        await tx.$executeRaw`
          INSERT INTO service_incidents
            (id, type, severity, occurred_at, description, budget, currency, reporter_type, reporter_id, created_at)
          VALUES (${id}::uuid, ${details.type}::"ServiceFailureType", ${details.severity}::"Severity",
                  ${details.occurredAt}::timestamptz, ${details.description}::text, ${details.budget}::numeric, ${currency}::text,
                  ${caller.actor.type}::"ActorType", ${caller.actor.id}::text, ${now}::timestamptz)`;
      }
      return recordPage(tx, id, entries, now);
    });
  });
  if (!result.replayed && result.named > 0) await publishOutboxEvents(deps, [expandEvent(result.pageId)]);
  return result;
}

/**
 * `once` under the caller's own scope (`scopeOf(operation, caller)`), after a look at the key under `operation`
 * alone, the scope every caller shared until stop 52 (`ownSharedRecordSql`): a record there that `mine` (a condition
 * on it, `stored_record`) ties to the caller replays — or is IdempotencyConflictError for other input — as before, so
 * a retry across the upgrade has one effect; another caller's, or one nothing ties to anybody, is ignored, its key
 * not this caller's. A record of the caller's own scope comes first (`noRecordOfItsOwnSql`). Nothing writes the
 * shared scope any more: the look meets only records committed before.
 */
async function onceForCaller<T extends object>(
  tx: RawSql,
  caller: Caller,
  operation: string,
  mine: Prisma.Sql,
  key: string,
  request: unknown,
  effect: () => Promise<T>,
): Promise<Replayable<T>> {
  const scope = scopeOf(operation, caller);
  const [found] = await tx.$queryRaw<{ stored: SharedRecord | null }[]>`
    SELECT ${ownSharedRecordSql(operation, key, Prisma.sql`${mine} AND ${noRecordOfItsOwnSql(scope, key)}`)} AS stored`;
  return replayShared<T>(found?.stored ?? null, key, request) ?? once(tx, scope, key, request, effect);
}

/** Whether the caller has no record of `key` in its own scope: that one, when there is one, answers the key. */
const noRecordOfItsOwnSql = (scope: string, key: string): Prisma.Sql =>
  Prisma.sql`NOT EXISTS (SELECT 1 FROM idempotency_records own WHERE own.operation = ${scope} AND own.key = ${key})`;

/**
 * Whether the incident of a page stored under the shared scope (`stored_record`, its idempotency record) is the
 * caller's. It ties a first page to its sender, who reported the incident; a later page records no sender, and
 * another agent may have added it.
 */
const reportedByCallerSql = (caller: Caller): Prisma.Sql => Prisma.sql`EXISTS (
  SELECT 1 FROM service_incidents i
  WHERE i.id = (stored_record.result->>'incidentId')::uuid
    AND i.reporter_type = ${caller.actor.type}::"ActorType" AND i.reporter_id = ${caller.actor.id}::text)`;

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
    } else {
      // A member named again keeps the first entry's place, and takes the first order reference any of its
      // entries gives: the failure then dedupes against that order reported on its own, before or after (one
      // compensation, whatever order the entries came in).
      const kept = named.get(row.memberId);
      if (!kept) named.set(row.memberId, entry);
      else if (kept.orderRef === null && entry.orderRef !== null) named.set(row.memberId, { ...kept, orderRef: entry.orderRef });
    }
  }

  const pageId = newRowId();
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
      INSERT INTO outbox_events (id, queue, job_name, payload, trace_context)
      SELECT ${event.id}::uuid, ${event.queue}::text, ${event.jobName}::text, ${JSON.stringify(event.payload)}::jsonb,
             ${currentTraceparent()}::text
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
  /** The currency of its budget and budgetUsed. */
  currency: string;
  reporterType: string;
  reporterId: string;
  budgetUsed: string;
  overBudgetAt: Date | null;
  /** md5 of the program settings' JSON once the incident was locked (null before the program row exists), see `settingsForHash`. */
  settingsHash: string | null;
  /** What `lockIncident` was given to read with the incident: a decision's record stored before stop 52, or null. */
  storedBefore: SharedRecord | null;
}

/**
 * Locks an incident for one batch: its batches (and decisions) run one at a time, pages keep arriving. The
 * settings' version is read after the lock (`settingsHashAfterLocksSql`): a decision that waited for another
 * batch holds the remainder against the currency an admin switched to meanwhile.
 */
async function lockIncident(
  tx: RawSql,
  incidentId: string,
  storedBefore: Prisma.Sql = Prisma.sql`NULL::jsonb`,
): Promise<LockedIncident | undefined> {
  const [incident] = await tx.$queryRaw<LockedIncident[]>`
    WITH incident AS (
      SELECT * FROM service_incidents WHERE id = ${incidentId}::uuid FOR NO KEY UPDATE)
    SELECT id::text, type::text, severity::text, occurred_at AS "occurredAt", description, budget::text, currency,
           reporter_type::text AS "reporterType", reporter_id AS "reporterId",
           budget_used::text AS "budgetUsed", over_budget_at AS "overBudgetAt",
           ${settingsHashAfterLocksSql('incident')} AS "settingsHash", ${storedBefore} AS "storedBefore"
    FROM incident`;
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
  held: number;
  notEligible: number;
}

/**
 * Expands one page of an incident into service failures, EXPANSION_BATCH
 * members per transaction, until none is left (then the page's outbox event is
 * completed), and goes on with the incident's other pages still waiting. Each
 * batch, under the incident's lock: records one failure per member —
 * deduplicated against failures reported before for the same member, type and
 * order (the unique index; the affected member then points at that failure)
 * and within the incident (unique per incident and member) — decides them by
 * the compensation policy in the same transaction, holds what would exceed the
 * incident's budget for review (the first compensation that would exceed it,
 * and everything after it), and marks its members expanded. A killed worker
 * loses at most its open batch, which the next job of the incident (or the
 * retried one) redoes; a retried, duplicated or raced job finds its members
 * expanded and does nothing twice.
 */
export async function expandIncidentPage(deps: ServiceDeps, pageId: string): Promise<ExpansionReport> {
  const report: ExpansionReport = {
    found: true,
    batches: 0,
    recorded: 0,
    duplicates: 0,
    compensated: 0,
    needsReview: 0,
    held: 0,
    notEligible: 0,
  };
  let page: string | undefined = pageId;
  let incidentId: string | undefined;
  while (page) {
    for (;;) {
      const current: string = page;
      const batch = await sqlTransaction(deps.prisma, (tx) => expandBatch(tx, current, nowOf(deps)));
      if (!batch) {
        if (current === pageId) return { ...report, found: false };
        break;
      }
      reportMemberChanges(deps, batch.changes);
      if (batch.needsReview + batch.held > 0) {
        reportApprovalQueueChanges(deps, [{ kind: 'INCIDENT_WAITING', reference: batch.incidentId }]);
      }
      measure(deps, (measures) => {
        if (batch.compensated > 0) measures.compensationDecided('COMPENSATED', batch.compensated);
        if (batch.needsReview > 0) measures.compensationDecided('NEEDS_REVIEW', batch.needsReview);
        if (batch.held > 0) measures.compensationDecided('HELD', batch.held);
        if (batch.notEligible > 0) measures.compensationDecided('NOT_ELIGIBLE', batch.notEligible);
      });
      incidentId = batch.incidentId;
      report.batches += 1;
      report.recorded += batch.recorded;
      report.duplicates += batch.duplicates;
      report.compensated += batch.compensated;
      report.needsReview += batch.needsReview;
      report.held += batch.held;
      report.notEligible += batch.notEligible;
      if (batch.done) break;
    }
    // Then the incident's other pages still waiting: those of a killed worker's jobs (whose
    // locks have not expired yet) are finished now, not a lock duration later.
    const [next] = await rawSql(deps.prisma).$queryRaw<{ id: string }[]>`
      SELECT id::text FROM service_incident_pages
      WHERE incident_id = ${incidentId}::uuid AND expanded_at IS NULL
      ORDER BY created_at, id
      LIMIT 1`;
    page = next?.id;
  }
  return report;
}

interface BatchReport {
  incidentId: string;
  done: boolean;
  recorded: number;
  duplicates: number;
  compensated: number;
  needsReview: number;
  held: number;
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
    incidentId: incident.id,
    done: rows.length < EXPANSION_BATCH,
    recorded: 0,
    duplicates: 0,
    compensated: 0,
    needsReview: 0,
    held: 0,
    notEligible: 0,
    changes: [],
  };

  if (rows.length > 0) {
    // The settings as committed once the members too are locked, not the incident's: the batch may have waited
    // for a member since, and an admin's change committed meanwhile counts.
    const { byId: members, settingsHash } = await lockMembers(
      tx,
      rows.map((row) => row.memberId),
    );
    const settings = await settingsForHash(tx, settingsHash);
    // Reported before: the member's failure of the same type and order. Such a member is a
    // duplicate: nothing new. (This incident's own failure cannot exist for a member not yet
    // expanded — both are written in one transaction — and the unique index would refuse it.)
    const withOrder = rows.filter((row) => row.orderRef !== null);
    const existing =
      withOrder.length === 0
        ? []
        : await tx.$queryRaw<{ id: string; memberId: string }[]>`
            SELECT f.id::text, f.member_id::text AS "memberId" FROM service_failures f
            JOIN unnest(${withOrder.map((row) => row.memberId)}::uuid[], ${withOrder.map((row) => row.orderRef)}::text[])
                 AS r(member_id, order_ref)
              ON f.member_id = r.member_id AND f.type = ${incident.type}::"ServiceFailureType" AND f.order_ref = r.order_ref`;
    const existingByMember = new Map(existing.map((row) => [row.memberId, row.id]));
    const planned = rows.filter((row) => !existingByMember.has(row.memberId)).map((row) => ({ ...row, id: newRowId() }));

    const decisions = await policyDecisions(
      tx,
      { failures: planned, severity: incident.severity, occurredAt: incident.occurredAt, createdAt: now },
      members,
      settings,
      now,
    );
    // The budget is measured by the failures the batch records. A report of the same member, type and order that
    // committed while the batch ran (its insert waited for it, then skipped the member) is that member's failure,
    // not the incident's: measured with it, the budget would hold a later member — or mark the incident over it —
    // for money the incident never spent. Then the batch writes again from a savepoint, without those members.
    const budgetInPlay = incident.budget !== null && incident.overBudgetAt === null && incident.currency === settings.currency;
    // Decides the candidates against the budget and writes them; what it wrote, and the budget as it measured it.
    const write = async (candidates: typeof decisions) => {
      const budget = budgetOf(incident, settings.currency);
      const decided: DecidedFailure[] = candidates.map(({ failure, repeatIndex, decision }) => {
        if (decision.status !== 'COMPENSATED' || budget.admits(decision.amount)) return { failure, repeatIndex, decision };
        return { failure, repeatIndex, decision: { status: 'NEEDS_REVIEW', amount: decision.amount, reviewReason: 'INCIDENT_BUDGET' } };
      });
      // The failures are written decided (one insert, no update), in member order as the members
      // were locked; a member with another failure within the repeat window is at risk. Those compensated are what
      // this batch adds to budget_used (`counted_in_budget`: a void of the voucher gives it back, `returnVoidedToBudget`).
      const byMember = [...decided].sort((a, b) => (a.failure.memberId < b.failure.memberId ? -1 : 1));
      const atRisk = candidates.filter((candidate) => candidate.atRisk).map((candidate) => candidate.failure.memberId);
      const c = decisionColumns(byMember, now);
      const inserted = await tx.$queryRaw<{ id: string }[]>`
      WITH inserted AS (
        INSERT INTO service_failures
          (id, member_id, type, severity, occurred_at, order_ref, description, reporter_type, reporter_id, incident_id, created_at,
           status, repeat_index, compensation_amount, compensation_currency, voucher_id, decision_note, decided_at, review_reason,
           counted_in_budget)
        SELECT d.id, d.member_id, ${incident.type}::"ServiceFailureType", ${incident.severity}::"Severity",
               ${incident.occurredAt}::timestamptz, r.order_ref, ${incident.description}::text,
               ${incident.reporterType}::"ActorType", ${incident.reporterId}::text, ${incident.id}::uuid, ${now}::timestamptz,
               d.status::"ServiceFailureStatus", d.repeat_index, d.amount,
               CASE WHEN d.amount IS NOT NULL THEN ${settings.currency}::text END, d.voucher_id, d.note, d.decided_at,
               d.review_reason::"ServiceFailureReviewReason", d.status = 'COMPENSATED'
        FROM unnest(${c.id}::uuid[], ${c.memberId}::uuid[], ${c.status}::text[], ${c.repeatIndex}::int[], ${c.amount}::numeric[],
                    ${c.voucherId}::uuid[], ${c.note}::text[], ${c.decidedAt}::timestamptz[], ${c.reviewReason}::text[])
               WITH ORDINALITY AS d(id, member_id, status, repeat_index, amount, voucher_id, note, decided_at, review_reason, n)
        JOIN unnest(${rows.map((row) => row.memberId)}::uuid[], ${rows.map((row) => row.orderRef)}::text[]) AS r(member_id, order_ref)
          ON r.member_id = d.member_id
        ORDER BY d.n
        ON CONFLICT DO NOTHING
        RETURNING id, member_id, repeat_index),
      flagged AS (
        UPDATE members SET at_risk = true, at_risk_since = ${now}::timestamptz, updated_at = ${now}::timestamptz
        WHERE id IN (SELECT member_id FROM inserted WHERE member_id = ANY (${atRisk}::uuid[])) AND NOT at_risk)
      SELECT id::text FROM inserted`;
      return { budget, byMember, c, insertedIds: new Set(inserted.map((row) => row.id)) };
    };
    let candidates = decisions;
    if (budgetInPlay) await tx.$executeRaw`SAVEPOINT incident_batch`;
    let written = await write(candidates);
    while (budgetInPlay && written.budget.exceeded() && written.insertedIds.size < candidates.length) {
      const { insertedIds: recorded } = written;
      await tx.$executeRaw`ROLLBACK TO SAVEPOINT incident_batch`;
      candidates = candidates.filter((candidate) => recorded.has(candidate.failure.id));
      written = await write(candidates);
    }
    if (budgetInPlay) await tx.$executeRaw`RELEASE SAVEPOINT incident_batch`;
    const { budget, byMember, c, insertedIds } = written;
    const applied = await issueDecidedVouchers(tx, byMember, c, settings, now, insertedIds);
    if (insertedIds.size < planned.length) {
      // A report of the same member, type and order committed meanwhile: that one is the failure.
      const raced = await tx.$queryRaw<{ id: string; memberId: string }[]>`
        SELECT f.id::text, f.member_id::text AS "memberId" FROM service_failures f
        JOIN unnest(${planned.map((p) => p.memberId)}::uuid[], ${planned.map((p) => p.orderRef)}::text[]) AS r(member_id, order_ref)
          ON f.member_id = r.member_id
         AND ((f.type = ${incident.type}::"ServiceFailureType" AND f.order_ref = r.order_ref) OR f.incident_id = ${incident.id}::uuid)`;
      for (const row of raced) if (!existingByMember.has(row.memberId)) existingByMember.set(row.memberId, row.id);
    }

    const plannedByMember = new Map(planned.map((p) => [p.memberId, p.id]));
    const outcome = rows.map((row) => {
      const failureId = plannedByMember.get(row.memberId);
      const recorded = failureId !== undefined && insertedIds.has(failureId);
      return {
        memberId: row.memberId,
        failureId: recorded ? failureId : (existingByMember.get(row.memberId) ?? null),
        duplicate: !recorded,
      };
    });
    // Each compensation is announced (service_failure.compensated) in the statement that closes the batch.
    const events = compensatedEvents(byMember, c, settings, insertedIds);
    await tx.$executeRaw`
      WITH ${webhookEventsCte(eventRows(events), now)},
      expanded AS (
        UPDATE service_incident_members a SET expanded_at = ${now}::timestamptz, failure_id = o.failure_id, duplicate = o.duplicate
        FROM unnest(${outcome.map((o) => o.memberId)}::uuid[], ${outcome.map((o) => o.failureId)}::uuid[], ${outcome.map((o) => o.duplicate)}::boolean[])
             AS o(member_id, failure_id, duplicate)
        WHERE a.incident_id = ${incident.id}::uuid AND a.member_id = o.member_id)
      UPDATE service_incidents SET budget_used = budget_used + ${applied.issued.toFixed(2)}::numeric,
        over_budget_at = CASE WHEN ${budget.exceeded()}::boolean THEN coalesce(over_budget_at, ${now}::timestamptz) END
      WHERE id = ${incident.id}::uuid`;
    Object.assign(report, {
      recorded: insertedIds.size,
      duplicates: rows.length - insertedIds.size,
      compensated: applied.compensated,
      needsReview: applied.needsReview,
      held: applied.held,
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
 * what its batches issued (`budget_used`, on the row the batch locked; less the
 * vouchers voided since, which a void gives back under the same row's lock:
 * `returnVoidedToBudget`) past the budget, that one and every later one are held
 * for one decision on the whole remainder — also when a smaller one would still
 * fit. A budget in another currency than the compensations' (`currency`, the
 * program's: it changed since the incident was reported) cannot measure them: it
 * admits none.
 */
function budgetOf(incident: LockedIncident, currency: string): { admits(amount: Decimal): boolean; exceeded(): boolean } {
  if (incident.budget === null) return { admits: () => true, exceeded: () => false };
  const budget = new Decimal(incident.budget);
  let used = new Decimal(incident.budgetUsed);
  let exceeded = incident.overBudgetAt !== null || incident.currency !== currency;
  return {
    admits: (amount) => {
      if (exceeded || used.plus(amount).gt(budget)) {
        exceeded = true;
        return false;
      }
      used = used.plus(amount);
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
  const id = newRowId();
  return { id, queue: INCIDENT_QUEUE, jobName: GRANT_APPROVED_JOB, payload: { job: GRANT_APPROVED_JOB, incidentId, eventId: id } };
};

/**
 * One supervisor decision on everything of an incident held over its budget
 * (NEEDS_REVIEW, INCIDENT_BUDGET): DECLINE makes all of it NOT_ELIGIBLE at
 * once; GRANT records the approval on each (back to RECORDED, with the
 * supervisor, time and note) and queues the batch path, which issues the
 * amounts the policy computed (`grantApprovedRemainder`). The incident is
 * locked, so the decision covers exactly what waited when it was taken: a
 * later page over the budget waits for a decision of its own. A GRANT of a
 * remainder in another currency than the program's (it changed since) is a
 * ValidationError and writes nothing; DECLINE still can. Supervisors and
 * admins only. The idempotency key is the supervisor's own: another's same key
 * is a decision of its own (one stored before stop 52 replays for the
 * supervisor whose decision it recorded only: `decidedByCallerSql`).
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
  const operation = `decideServiceIncident:${incidentId}`;
  const scope = scopeOf(operation, caller);
  const request = { decision: input.decision, note };
  const result = await sqlTransaction(deps.prisma, async (tx) => {
    // With the incident, the caller's decision stored under the key before stop 52, under the incident alone.
    const storedBefore = ownSharedRecordSql(operation, key, decidedByCallerSql(incidentId, caller, scope, key));
    const incident = await lockIncident(tx, incidentId, storedBefore);
    if (!incident) throw new NotFoundError('ServiceIncident', incidentId);
    const before = replayShared<DecidedIncident>(incident.storedBefore, key, request);
    if (before) return before;
    return once(tx, scope, key, request, async () => {
      if (input.decision === 'GRANT') await assertRemainderInProgramCurrency(tx, incident);
      const status = input.decision === 'GRANT' ? 'RECORDED' : 'NOT_ELIGIBLE';
      const decided = await tx.$executeRaw`
        UPDATE service_failures SET status = ${status}::"ServiceFailureStatus",
          decided_by = ${caller.actor.id}::text, decided_at = ${now}::timestamptz, decision_note = ${note}::text
        WHERE incident_id = ${incidentId}::uuid AND status = 'NEEDS_REVIEW' AND review_reason = 'INCIDENT_BUDGET'`;
      if (decided === 0) throw new ValidationError('incidentId', 'nothing of this incident waits for a decision on its budget');
      if (event) {
        await tx.$executeRaw`
          INSERT INTO outbox_events (id, queue, job_name, payload, trace_context)
          VALUES (${event.id}::uuid, ${event.queue}::text, ${event.jobName}::text, ${JSON.stringify(event.payload)}::jsonb,
                  ${currentTraceparent()}::text)`;
      }
      return { incidentId, decision: input.decision, decided };
    });
  });
  if (event && !result.replayed) await publishOutboxEvents(deps, [event]);
  if (!result.replayed) reportApprovalQueueChanges(deps, [{ kind: 'INCIDENT_DECIDED', reference: incidentId }]);
  return result;
}

/**
 * Whether a decision stored under the incident alone (`stored_record`, see `ownSharedRecordSql`) is the caller's. The
 * record names no failure (`{ incidentId, decision, decided }`), but its request — the decision and the note — is what
 * the failures it decided keep: the decision their status shows (a declined one NOT_ELIGIBLE) and the note, hashed as
 * the request was (`fingerprintSql`). It is the caller's when those failures name the caller as decider and nobody
 * else, and the caller has no record of the key of its own: a failure of another remainder naming the caller does not
 * make another supervisor's record theirs. Two supervisors' decisions word for word alike tie it to neither; a
 * decision none of whose failures keep its note (returned after a change of currency, or granted to members closed
 * since, which the note's reason replaces) to nobody.
 */
const decidedByCallerSql = (incidentId: string, caller: Caller, scope: string, key: string): Prisma.Sql => Prisma.sql`
  ${noRecordOfItsOwnSql(scope, key)} AND coalesce((
    SELECT bool_and(d.decided_by = ${caller.actor.id}::text)
    FROM (SELECT DISTINCT f.decided_by, f.decision_note AS note,
                 CASE WHEN f.status = 'NOT_ELIGIBLE' THEN 'DECLINE' ELSE 'GRANT' END AS decision
          FROM service_failures f
          WHERE f.incident_id = ${incidentId}::uuid AND f.review_reason = 'INCIDENT_BUDGET' AND f.decided_by IS NOT NULL) d
    WHERE ${fingerprintSql({ decision: Prisma.sql`d.decision`, note: Prisma.sql`d.note` })} = stored_record.request_hash), false)`;

/**
 * Refuses to grant an incident's remainder whose money is in another currency
 * than the program's: its budget (reported before the currency changed), or
 * the compensations waiting (computed in another currency than now).
 */
async function assertRemainderInProgramCurrency(tx: RawSql, incident: LockedIncident): Promise<void> {
  const { currency } = await settingsForHash(tx, incident.settingsHash);
  const [waiting] =
    incident.currency === currency
      ? await tx.$queryRaw<{ currency: string }[]>`
          SELECT compensation_currency AS currency FROM service_failures
          WHERE incident_id = ${incident.id}::uuid AND status = 'NEEDS_REVIEW' AND review_reason = 'INCIDENT_BUDGET'
            AND compensation_currency <> ${currency}::text
          LIMIT 1`
      : [incident];
  if (waiting) {
    throw new ValidationError(
      'incidentId',
      `its compensations were decided in ${waiting.currency}, the program now uses ${currency}: ` +
        `decline them and report a new incident to compensate the members in ${currency}`,
    );
  }
}

/**
 * Issues the vouchers of an approved remainder through the batch path,
 * EXPANSION_BATCH failures per transaction under the incident's lock: the
 * amount the policy computed when the failure was held, unless the member has
 * closed their membership since (NOT_ELIGIBLE). An approved amount in
 * another currency than the program's (it changed after the decision) is not
 * issued: the failure waits for a decision again (NEEDS_REVIEW, its approval
 * cleared). Completes the decision's outbox event when nothing approved is
 * left; a retried job finds its failures COMPENSATED and skips them.
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
        ? await tx.$queryRaw<{ id: string; memberId: string; amount: string; currency: string | null }[]>`
            SELECT id::text, member_id::text AS "memberId", compensation_amount::text AS amount,
                   compensation_currency AS currency FROM service_failures
            WHERE incident_id = ${incidentId}::uuid AND member_id > ${after}::uuid
              AND status = 'RECORDED' AND review_reason = 'INCIDENT_BUDGET' AND decided_by IS NOT NULL
            ORDER BY member_id
            LIMIT ${EXPANSION_BATCH}::int`
        : [];
      const done = failures.length < EXPANSION_BATCH;
      let changes: MemberChange[] = [];
      let returned = 0;
      if (failures.length > 0) {
        // Members before failures, as a status change locks them; `applyDecisions` then takes each
        // failure only if it is still RECORDED. The settings as committed once the members are locked.
        const { byId: members, settingsHash } = await lockMembers(
          tx,
          failures.map((failure) => failure.memberId),
        );
        const settings = await settingsForHash(tx, settingsHash);
        const inProgramCurrency = (failure: (typeof failures)[number]) => storedCompensation(failure)?.currency === settings.currency;
        const inOtherCurrency = failures.filter((failure) => !inProgramCurrency(failure));
        if (inOtherCurrency.length > 0) {
          returned = await tx.$executeRaw`
            UPDATE service_failures SET status = 'NEEDS_REVIEW', decided_by = NULL, decided_at = NULL,
              decision_note = ${`approved in ${inOtherCurrency[0]!.currency}, but the program now uses ${settings.currency}`}::text
            WHERE id = ANY(${inOtherCurrency.map((failure) => failure.id)}::uuid[]) AND status = 'RECORDED'`;
        }
        const decided = failures.flatMap((failure): DecidedFailure[] => {
          if (!inProgramCurrency(failure)) return [];
          const eligible = eligibility(members.get(failure.memberId)!.status, 'DECIDED_GRANT');
          const decision: FinalDecision =
            eligible.decision === 'ALLOW'
              ? { status: 'COMPENSATED', amount: new Decimal(failure.amount) }
              : { status: 'NOT_ELIGIBLE', amount: new Decimal(failure.amount), reason: eligible.reason };
          return [{ failure, repeatIndex: null, decision }];
        });
        const applied = await applyDecisions(tx, decided, settings, now);
        total.compensated += applied.compensated;
        total.notEligible += applied.notEligible;
        after = failures.at(-1)!.memberId;
        changes = applied.changes;
      }
      if (done) await completeOutboxEvent(tx, eventId, now);
      return { done, changes, returned };
    });
    reportMemberChanges(deps, batch.changes);
    if (batch.returned > 0) reportApprovalQueueChanges(deps, [{ kind: 'INCIDENT_WAITING', reference: incidentId }]);
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
  /** Held because the member is suspended: released when the suspension ends, or decided by a supervisor. */
  held: number;
  notEligible: number;
  /** Approved or recorded, voucher still being issued. */
  inProgress: number;
  /**
   * Sum of the compensation vouchers issued for the incident's failures in its currency and not voided since
   * (decimal string): a voided voucher gave nothing.
   */
  spent: string;
  pages: number;
  /** Entries of all pages that named no member. */
  unresolved: number;
}

/**
 * Who reads every service incident — its reporter's words (`description`), its budget, how far its compensations
 * are: staff from AGENT (an admin key counts as ADMIN). Keys that report failures (`failures:report`: a shop, a
 * carrier) pass SERVICE_CALLERS.readServiceIncident too, but read the incidents they reported themselves and no
 * other, as they read only the failures they reported (SERVICE_FAILURE_REPORTERS): another key's or a staff
 * member's incident is, to them, one nobody reported.
 */
export const SERVICE_INCIDENT_READERS = { staff: 'AGENT' } as const satisfies CallerRule;

/** What an incident says of who may see it: who reported it. */
export type ServiceIncidentOwner = Pick<ServiceIncident, 'reporterType' | 'reporterId'>;

/** The reporter whose incidents alone a caller reads: itself for a reporting key, null for the readers (every one). */
function reporterKeptTo(caller: Caller): ServiceIncidentOwner | null {
  return mayCall(caller, SERVICE_INCIDENT_READERS) ? null : { reporterType: caller.actor.type, reporterId: caller.actor.id };
}

/** Whether the caller may see an incident at hand (the ServiceIncident type's visibility): `readableIncidentWhere`'s rule. */
export function mayReadServiceIncident(caller: Caller, incident: ServiceIncidentOwner): boolean {
  if (!mayCall(caller, SERVICE_CALLERS.readServiceIncident)) return false;
  return mayCall(caller, SERVICE_INCIDENT_READERS) || reportedBy(caller, incident);
}

/**
 * The `where` that keeps a read of incidents to the caller's: everything for the readers (SERVICE_INCIDENT_READERS),
 * a reporting key's own incidents only (another's is not returned, as one nobody reported); anyone outside
 * SERVICE_CALLERS.readServiceIncident is refused (ForbiddenError) before anything is read.
 */
export function readableIncidentWhere(caller: Caller): Partial<ServiceIncidentOwner> {
  assertMayCall(caller, 'readServiceIncident');
  return reporterKeptTo(caller) ?? {};
}

/** What a read loads with the incident row: plugin-prisma's selection for the GraphQL field, nothing else by default. */
export type ServiceIncidentSelection = Pick<Prisma.ServiceIncidentFindUniqueArgs, 'select' | 'include'>;

/**
 * A service incident by id (`serviceIncident(id)`, `node(id)`, a report's answer), or null when there is none or it
 * is not the caller's to read (`readableIncidentWhere`: staff read every incident, a key with `failures:report` only
 * those it reported; anyone else is refused before the id is looked at). The id must be a UUID (ValidationError).
 * `selection` is what the caller wants loaded with the row (the GraphQL field's plugin-prisma query).
 */
export async function serviceIncidentById(
  deps: Pick<ServiceDeps, 'prisma'>,
  incidentId: string,
  caller: Caller,
  selection: ServiceIncidentSelection = {},
): Promise<ServiceIncident | null> {
  const mayRead = readableIncidentWhere(caller);
  const id = check.uuid('id', incidentId);
  return deps.prisma.serviceIncident.findUnique({ ...selection, where: { id, ...mayRead } });
}

/**
 * How far an incident is: counted from its affected members and failures
 * themselves (never a counter that could drift), in one statement. Staff and
 * keys with `failures:report` (SERVICE_CALLERS.readServiceIncident): anyone
 * else is refused before the id is looked at, so a malformed one tells them
 * nothing either; a reporting key's count of another's incident is zero, as an
 * id nobody has (`readableIncidentWhere`). The id must be a UUID (ValidationError).
 */
export async function serviceIncidentProgress(deps: ServiceDeps, incidentId: string, caller: Caller): Promise<IncidentProgress> {
  // serviceIncidentsProgress checks the caller, then the id, and has an entry for every id it was given.
  const [progress] = (await serviceIncidentsProgress(deps, [incidentId], caller)).values();
  return progress!;
}

const NO_PROGRESS: IncidentProgress = {
  affected: 0,
  pending: 0,
  recorded: 0,
  duplicates: 0,
  compensated: 0,
  needsReview: 0,
  awaitingDecision: 0,
  held: 0,
  notEligible: 0,
  inProgress: 0,
  spent: '0',
  pages: 0,
  unresolved: 0,
};

/**
 * The progress of many incidents (a page of `serviceIncidents`) in one statement,
 * by incident id; an id without rows counts zero everywhere, and so does, for a
 * key with `failures:report`, an incident it did not report (`readableIncidentWhere`).
 */
export async function serviceIncidentsProgress(
  deps: ServiceDeps,
  incidentIds: readonly string[],
  caller: Caller,
): Promise<Map<string, IncidentProgress>> {
  const mayRead = readableIncidentWhere(caller);
  const ids = [...new Set(incidentIds.map((id) => check.uuid('incidentId', id)))];
  const ownOnly =
    mayRead.reporterType === undefined
      ? Prisma.empty
      : Prisma.sql`WHERE EXISTS (SELECT 1 FROM service_incidents own WHERE own.id = i.id
                     AND own.reporter_type = ${mayRead.reporterType}::"ActorType" AND own.reporter_id = ${mayRead.reporterId}::text)`;
  const rows = await deps.prisma.$queryRaw<(IncidentProgress & { id: string })[]>`
    SELECT i.id::text AS id,
           coalesce(a.affected, 0) AS affected, coalesce(a.pending, 0) AS pending, coalesce(a.duplicates, 0) AS duplicates,
           coalesce(f.recorded, 0) AS recorded, coalesce(f.compensated, 0) AS compensated,
           coalesce(f."needsReview", 0) AS "needsReview", coalesce(f."awaitingDecision", 0) AS "awaitingDecision",
           coalesce(f.held, 0) AS held, coalesce(f."notEligible", 0) AS "notEligible", coalesce(f."inProgress", 0) AS "inProgress",
           coalesce(f.spent, '0') AS spent, coalesce(p.pages, 0) AS pages, coalesce(p.unresolved, 0) AS unresolved
    FROM unnest(${ids}::uuid[]) AS i(id)
    LEFT JOIN (SELECT incident_id, count(*)::int AS affected, (count(*) FILTER (WHERE expanded_at IS NULL))::int AS pending,
                      (count(*) FILTER (WHERE duplicate))::int AS duplicates
               FROM service_incident_members WHERE incident_id = ANY(${ids}::uuid[]) GROUP BY incident_id) a ON a.incident_id = i.id
    LEFT JOIN (SELECT f.incident_id, count(*)::int AS recorded,
                      (count(*) FILTER (WHERE f.status = 'COMPENSATED'))::int AS compensated,
                      (count(*) FILTER (WHERE f.status = 'NEEDS_REVIEW'))::int AS "needsReview",
                      (count(*) FILTER (WHERE f.status = 'NEEDS_REVIEW' AND f.review_reason = 'INCIDENT_BUDGET'))::int AS "awaitingDecision",
                      (count(*) FILTER (WHERE f.status = 'HELD'))::int AS held,
                      (count(*) FILTER (WHERE f.status = 'NOT_ELIGIBLE'))::int AS "notEligible",
                      (count(*) FILTER (WHERE f.status = 'RECORDED'))::int AS "inProgress",
                      -- A voided voucher gave nothing: an anti-join with the few voided vouchers, not a lookup per failure.
                      (coalesce(sum(f.compensation_amount) FILTER (
                        WHERE f.status = 'COMPENSATED' AND f.compensation_currency = incident.currency AND voided.id IS NULL
                      ), 0))::text AS spent
               FROM service_failures f JOIN service_incidents incident ON incident.id = f.incident_id
                 LEFT JOIN vouchers voided ON voided.id = f.voucher_id AND voided.status = 'VOIDED'
               WHERE f.incident_id = ANY(${ids}::uuid[]) GROUP BY f.incident_id) f ON f.incident_id = i.id
    LEFT JOIN (SELECT incident_id, count(*)::int AS pages, coalesce(sum(unresolved), 0)::int AS unresolved
               FROM service_incident_pages WHERE incident_id = ANY(${ids}::uuid[]) GROUP BY incident_id) p ON p.incident_id = i.id
    ${ownOnly}`;
  const byId = new Map(ids.map((id) => [id, { ...NO_PROGRESS }]));
  for (const { id, ...progress } of rows) byId.set(id, progress);
  return byId;
}

/** A page of a listing as the GraphQL connection plans it: what to load with each row, where the page starts and how long it is. */
export type ServiceIncidentPage = Pick<Prisma.ServiceIncidentFindManyArgs, 'select' | 'include' | 'cursor' | 'skip' | 'take'>;

/**
 * A page of the incidents the caller may list (`serviceIncidents`), newest first, every condition of `filter`
 * holding (`serviceIncidentListWhere`: staff list every incident, a key with `failures:report` those it reported).
 * Prisma looks the page's cursor up by its id alone, not within the listing's condition: the cursor of another key's
 * incident paged the caller's incidents from that incident's place, where the cursor of an id nobody has answers an
 * empty page, and so told the key that the incident exists and when it was reported. The cursor's incident is looked
 * up as the caller may read it (`readableIncidentWhere`, in the same statement): one it may not read is a cursor of
 * nothing.
 */
export function serviceIncidentsPage(
  deps: Pick<ServiceDeps, 'prisma'>,
  filter: ServiceIncidentFilter | null | undefined,
  caller: Caller,
  page: ServiceIncidentPage = {},
): Promise<ServiceIncident[]> {
  const where = serviceIncidentListWhere(filter, caller);
  const cursor = page.cursor && { ...page.cursor, ...readableIncidentWhere(caller) };
  return deps.prisma.serviceIncident.findMany({
    ...page,
    ...(cursor ? { cursor } : {}),
    where,
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
}

export interface ServiceIncidentFilter {
  type?: ServiceFailureType | null;
  severity?: Severity | null;
  /** Occurred at or after. */
  from?: Date | null;
  /** Occurred before. */
  to?: Date | null;
  /** true: only incidents with work left (members still to expand, failures recorded, waiting for review or held); false: only those without. */
  open?: boolean | null;
  /** true: only incidents whose budget was reached; false: only those whose budget was not (or that have none). */
  overBudget?: boolean | null;
}

/**
 * The Prisma condition of an incident listing (`serviceIncidents`), every given
 * condition holding. Decides who may list them: the same callers as may read one
 * (`readableIncidentWhere`: staff every incident, keys with `failures:report`
 * those they reported); anyone else is refused, nothing read.
 */
export function serviceIncidentListWhere(
  filter: ServiceIncidentFilter | null | undefined,
  caller: Caller,
): Prisma.ServiceIncidentWhereInput {
  const mayRead = readableIncidentWhere(caller);
  if (!filter) return mayRead;
  if (filter.from) check.dateTime('filter.from', filter.from);
  if (filter.to) check.dateTime('filter.to', filter.to);
  if (filter.from && filter.to && filter.from > filter.to) throw new ValidationError('filter.to', 'must not be before `from`');
  const where: Prisma.ServiceIncidentWhereInput = { ...mayRead };
  if (filter.type) where.type = filter.type;
  if (filter.severity) where.severity = filter.severity;
  if (filter.from || filter.to) {
    where.occurredAt = { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) };
  }
  if (filter.overBudget != null) where.overBudgetAt = filter.overBudget ? { not: null } : null;
  if (filter.open != null) {
    const open: Prisma.ServiceIncidentWhereInput[] = [
      { affected: { some: { expandedAt: null } } },
      { failures: { some: { status: { in: ['RECORDED', 'NEEDS_REVIEW', 'HELD'] } } } },
    ];
    if (filter.open) where.OR = open;
    else where.NOT = open;
  }
  return where;
}
