import { currentTraceparent } from '../../telemetry/trace-context.js';
import { newRowId } from '../../db/ids.js';
import { Decimal } from 'decimal.js';
import type { Caller } from '../../auth/principal.js';
import { sqlTransaction, type RawSql } from '../../db/sql.js';
import {
  Prisma,
  type MemberStatus,
  type ServiceFailure,
  type ServiceFailureStatus,
  type ServiceFailureType,
  type Severity,
} from '../../generated/prisma/client.js';
import { reportApprovalQueueChanges } from '../approvals/approval-queue.js';
import { assertMayCall, mayCall, mayReadOwnRow, ownRowsWhere, SERVICE_CALLERS, type CallerRule } from '../authorization.js';
import { nowOf, type CommittedOutboxEvent, type MemberChange, type ServiceDeps, type Tx } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import {
  checkIdempotencyKey,
  fingerprint,
  once,
  ownSharedRecordSql,
  recordResult,
  replay,
  replayShared,
  reserveKeySql,
  scopeOf,
  type Replayable,
  type SharedRecord,
} from '../idempotency.js';
import { assertEligible, eligibility } from '../members/eligibility.js';
import { memberChange, reportMemberChanges } from '../members/member-changes.js';
import { measure } from '../measures.js';
import { completeOutboxEvent, publishOutboxEvents, requeueReleased } from '../outbox/outbox.service.js';
import { settingsForHash, settingsHashAfterLocksSql } from '../program/program.service.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { tierRule, type TierKey } from '../tiers/tiers.service.js';
import { addDays } from '../time.js';
import * as check from '../validation.js';
import { issueVoucher } from '../vouchers/vouchers.service.js';
import { eventRows, recordWebhookEvents, webhookEventsCte, type WebhookEventInput } from '../webhooks/webhook-events.js';

/** The queue and job name of compensation jobs; job id = outbox event id = failure id. */
export const COMPENSATION_QUEUE = 'compensation';
export const COMPENSATION_JOB = 'compensate';

/** How far in the future `occurredAt` may lie (clock skew between systems), in ms. */
const OCCURRED_AT_SKEW_MS = 5 * 60_000;

// ---------------------------------------------------------------------------
// The policy

export interface CompensationCase {
  severity: Severity;
  tier: TierKey;
  /** 1 for the member's first failure in the repeat window, 2 for the second, … */
  repeatIndex: number;
}

/**
 * The voucher value the compensation policy gives, in the program currency:
 * base by severity × tier factor × repeat escalation (second failure in the
 * repeat window × secondFailureFactor, third and later × laterFailureFactor),
 * rounded half-up to the cent. The 30-day cap is applied by the caller.
 */
export function compensationFor(settings: ProgramSettings, { severity, tier, repeatIndex }: CompensationCase): Decimal {
  const policy = settings.compensation;
  const escalation = repeatIndex >= 3 ? policy.laterFailureFactor : repeatIndex === 2 ? policy.secondFailureFactor : 1;
  return new Decimal(policy.baseBySeverity[severity])
    .mul(tierRule(settings, tier).compensationFactor)
    .mul(escalation)
    .toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
}

/** What the policy needs to know about a failure and its member, read under the member's lock. */
export interface CompensationFacts extends CompensationCase {
  memberStatus: MemberStatus;
  /** The member's COMPENSATION vouchers issued in the cap window so far and not voided (decimal string). */
  capUsed: string;
}

/** The policy's decision on one failure; `amount` is what it computed (null when it did not get that far). */
export type CompensationDecision =
  | { status: 'COMPENSATED'; amount: Decimal }
  | { status: 'NEEDS_REVIEW'; amount: Decimal; reviewReason: 'CAP' }
  /** The member is suspended: the amount is kept until the suspension ends or a supervisor decides. */
  | { status: 'HELD'; amount: Decimal; reason: string }
  | { status: 'NOT_ELIGIBLE'; amount: Decimal | null; reason: string };

/**
 * The whole compensation policy on one failure, as a pure function, after the
 * member's eligibility (src/domain/members/eligibility.ts): a member refused
 * automatic grants (a closed one) gets nothing; otherwise `compensationFor`
 * computes the value; a suspended member's is held — before the cap, which is
 * measured when the hold ends — and a value the member's cap window cannot
 * take waits for a supervisor. Both the per-failure job and the batch path of
 * incidents decide through it.
 */
export function decideCompensation(settings: ProgramSettings, facts: CompensationFacts): CompensationDecision {
  const eligible = eligibility(facts.memberStatus, 'AUTOMATIC_GRANT');
  if (eligible.decision === 'REFUSE') return { status: 'NOT_ELIGIBLE', amount: null, reason: eligible.reason };
  const amount = compensationFor(settings, facts);
  if (amount.lte(0)) {
    return { status: 'NOT_ELIGIBLE', amount, reason: 'the compensation policy grants nothing for this failure' };
  }
  if (eligible.decision === 'HOLD') return { status: 'HELD', amount, reason: eligible.reason };
  if (new Decimal(facts.capUsed).plus(amount).gt(settings.compensation.capAmount)) {
    return { status: 'NEEDS_REVIEW', amount, reviewReason: 'CAP' };
  }
  return { status: 'COMPENSATED', amount };
}

/**
 * A failure as `failureHistorySql` names it: SQL for its member, id and times —
 * values (`failureRefAt`) or the columns of a set of failures.
 */
export interface FailureRef {
  memberId: Prisma.Sql;
  id: Prisma.Sql;
  occurredAt: Prisma.Sql;
  createdAt: Prisma.Sql;
  /** Where its repeat window starts: `occurredAt` less the policy's repeatWindowDays (`repeatWindowStart`). */
  repeatFrom: Prisma.Sql;
  /** As far after it: a failure that occurred up to then is a repeat of this one too (`repeatWindowEnd`). */
  repeatUntil: Prisma.Sql;
}

/** Where the repeat window of a failure that occurred at `occurredAt` starts. */
export const repeatWindowStart = (occurredAt: Date, policy: ProgramSettings['compensation']): Date =>
  addDays(occurredAt, -policy.repeatWindowDays);

/** Where the repeat window after a failure that occurred at `occurredAt` ends. */
export const repeatWindowEnd = (occurredAt: Date, policy: ProgramSettings['compensation']): Date =>
  addDays(occurredAt, policy.repeatWindowDays);

/** `FailureRef` of a failure whose times are known here. */
export function failureRefAt(
  failure: { memberId: Prisma.Sql; id: Prisma.Sql; occurredAt: Date; createdAt: Date },
  policy: ProgramSettings['compensation'],
): FailureRef {
  return {
    memberId: failure.memberId,
    id: failure.id,
    occurredAt: Prisma.sql`${failure.occurredAt}::timestamptz`,
    createdAt: Prisma.sql`${failure.createdAt}::timestamptz`,
    repeatFrom: Prisma.sql`${repeatWindowStart(failure.occurredAt, policy)}::timestamptz`,
    repeatUntil: Prisma.sql`${repeatWindowEnd(failure.occurredAt, policy)}::timestamptz`,
  };
}

/**
 * Three columns of a failure's history, read after its member is locked:
 * `repeatIndex` — the member's failures in the repeat window up to and
 * including this one, ordered by (occurred at, reported at, id), which
 * escalates the compensation; `repeatNeighbours` — the member's other failures
 * within the repeat window on either side of this one, however they were
 * reported: one or more and the member is at risk (a failure reported after a
 * later one is a repeat all the same); and `capUsed` — the member's
 * COMPENSATION vouchers issued in the cap window, in the program's currency
 * (the cap's; vouchers of an earlier currency are not converted and not
 * counted), less those staff voided: a voided voucher gave the member nothing
 * (a redeemed one cannot be voided), so it takes none of the cap, whoever
 * voided it — the member's window never holds more than the cap that stands.
 * A void commits before this statement or after it: read before, the voucher
 * counts and the failure waits, as if voided just after it (both are serial
 * outcomes; a void only ever lowers the sum).
 */
export function failureHistorySql(failure: FailureRef, settings: ProgramSettings, now: Date): Prisma.Sql {
  return Prisma.sql`
    (SELECT count(*)::int FROM service_failures earlier
      WHERE earlier.member_id = ${failure.memberId}
        AND earlier.occurred_at > ${failure.repeatFrom}
        AND (earlier.occurred_at, earlier.created_at, earlier.id) <= (${failure.occurredAt}, ${failure.createdAt}, ${failure.id})
    ) AS "repeatIndex",
    (SELECT count(*)::int FROM service_failures other
      WHERE other.member_id = ${failure.memberId} AND other.id <> ${failure.id}
        AND other.occurred_at > ${failure.repeatFrom} AND other.occurred_at < ${failure.repeatUntil}
    ) AS "repeatNeighbours",
    (SELECT coalesce(sum(issued.amount), 0)::text FROM vouchers issued
      WHERE issued.member_id = ${failure.memberId} AND issued.kind = 'COMPENSATION'
        AND issued.currency = ${settings.currency}
        AND issued.issued_at > ${addDays(now, -settings.compensation.capWindowDays)}::timestamptz
        AND issued.status <> 'VOIDED'
    ) AS "capUsed"`;
}

// ---------------------------------------------------------------------------
// Reporting

export interface ReportServiceFailureInput {
  memberId: string;
  type: ServiceFailureType;
  severity: Severity;
  /** Defaults to now; may not lie in the future. */
  occurredAt?: Date | null;
  /** The order it concerns: a second report of the same member, type and order is the same failure. */
  orderRef?: string | null;
  caseRef?: string | null;
  description?: string | null;
  idempotencyKey: string;
}

/** The outcome of a report, stored for idempotent replay (ids only). */
export interface ReportedServiceFailure {
  failureId: string;
  /** True when the same failure (member, type, order) had been reported before: nothing new was queued. */
  duplicate: boolean;
}

/** Free text (a description), optional: line breaks allowed. */
export const optionalText = (field: string, value: string | null | undefined, max: number): string | null =>
  value == null ? null : check.text(field, value, { max });

/**
 * A reference to something (an order, a case), optional: a key (`check.storableKey`: nothing a name may not hold, no
 * format character, Unicode NFC), whose refusal the write throws once it knows the reference is not one stored
 * before the rule that it finds again.
 */
export const optionalReference = (field: string, value: string | null | undefined, max: number): check.StorableKey | null =>
  value == null ? null : check.storableKey(field, value, { max });

/**
 * When a failure occurred: now when not given; never in the future (beyond a
 * few minutes of clock skew), nor before the year 0001 (`check.dateTime`).
 */
export function occurredAtOf(given: Date | null | undefined, now: Date): Date {
  const occurredAt = given == null ? now : check.dateTime('occurredAt', given);
  if (occurredAt.getTime() > now.getTime() + OCCURRED_AT_SKEW_MS) {
    throw new ValidationError('occurredAt', 'must not lie in the future');
  }
  return occurredAt;
}

/**
 * Records a service failure and its compensation job (an outbox event whose id
 * is the failure id) in one transaction, then hands the job to the queue at
 * once when the API can (best effort: the relay covers a Redis outage or a
 * crash right after commit). A given `occurredAt` lies between the member's
 * enrolment and now (a failure from before there was a member would be
 * compensated all the same), checked in the same statement. A duplicate report
 * — same member, type and order reference, held by the unique index — returns
 * the existing failure and queues nothing; the same idempotency key replays the
 * first answer. Staff and keys with `failures:report` report failures; members
 * cannot.
 */
export async function reportServiceFailure(
  deps: ServiceDeps,
  input: ReportServiceFailureInput,
  caller: Caller,
): Promise<Replayable<ReportedServiceFailure>> {
  assertMayCall(caller, 'reportServiceFailure');
  const memberId = check.uuid('memberId', input.memberId);
  const orderKey = optionalReference('orderRef', input.orderRef, 200);
  const caseKey = optionalReference('caseRef', input.caseRef, 200);
  const orderRef = orderKey?.value ?? null;
  const caseRef = caseKey?.value ?? null;
  const description = optionalText('description', input.description, 2000);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  const occurredAt = occurredAtOf(input.occurredAt, now);
  // As recordServiceCase's openedAt: a given time is held to the enrolment; omitted, it is now.
  const givenOccurredAt = input.occurredAt == null ? null : occurredAt;

  const request = {
    type: input.type,
    severity: input.severity,
    occurredAt: input.occurredAt ? occurredAt.toISOString() : null,
    orderRef,
    caseRef,
    description,
  };
  const scope = `reportServiceFailure:${memberId}`;
  const requestHash = fingerprint(request);
  const event = compensationEvent(newRowId());
  const fresh: ReportedServiceFailure = { failureId: event.id, duplicate: false };

  const result = await sqlTransaction(deps.prisma, async (tx): Promise<Replayable<ReportedServiceFailure>> => {
    if (orderKey?.refusal || caseKey?.refusal) {
      // A reference the key rule refuses names something stored before the rule, or nothing: it passes for a replay
      // of the key (a report accepted then), and for a duplicate of the member's failure of this type and order
      // (which stores nothing new); else it is refused as a new key. Only such a reference costs these reads.
      const [known] = await tx.$queryRaw<{ replay: boolean; duplicate: boolean }[]>`
        SELECT EXISTS (SELECT 1 FROM idempotency_records WHERE operation = ${scope} AND key = ${key}) AS replay,
               EXISTS (SELECT 1 FROM service_failures WHERE member_id = ${memberId}::uuid
                         AND type = ${input.type}::"ServiceFailureType" AND order_ref = ${orderRef}::text) AS duplicate`;
      if (!known?.replay && !known?.duplicate) throw orderKey?.refusal ?? caseKey!.refusal!;
    }
    // One statement on the hot path (a busy storefront): whether the member
    // exists, and enrolled by a given `occurredAt` (`member` is empty when not:
    // nothing below is written); the idempotency key reserved with its answer
    // (`once`, with the answer known up front); the failure, if the key is new;
    // and its compensation job in the outbox (the row `recordOutboxEvent`
    // writes, event id = failure id). A concurrent request with the same key
    // waits on the key's unique index; a concurrent duplicate report on the
    // failure's.
    const [row] = await tx.$queryRaw<{ found: boolean; member: boolean; reserved: boolean; inserted: boolean }[]>`
      WITH found AS (SELECT id, enrolled_at FROM members WHERE id = ${memberId}::uuid),
      member AS (
        SELECT id FROM found
        WHERE ${givenOccurredAt}::timestamptz IS NULL OR found.enrolled_at <= ${givenOccurredAt}::timestamptz),
      ${reserveKeySql({ scope, key, requestHash, answer: fresh, after: 'member' })},
      inserted AS (
        INSERT INTO service_failures
          (id, member_id, type, severity, occurred_at, order_ref, case_ref, description, reporter_type, reporter_id, created_at)
        SELECT ${event.id}::uuid, member.id, ${input.type}::"ServiceFailureType", ${input.severity}::"Severity",
               ${occurredAt}::timestamptz, ${orderRef}::text, ${caseRef}::text, ${description}::text,
               ${caller.actor.type}::"ActorType", ${caller.actor.id}::text, ${now}::timestamptz
        FROM member WHERE EXISTS (SELECT 1 FROM reserved)
        ON CONFLICT (member_id, type, order_ref) DO NOTHING
        RETURNING id),
      outbox AS (
        INSERT INTO outbox_events (id, queue, job_name, payload, trace_context)
        SELECT id, ${event.queue}::text, ${event.jobName}::text, ${JSON.stringify(event.payload)}::jsonb,
               ${currentTraceparent()}::text
        FROM inserted)
      SELECT EXISTS (SELECT 1 FROM found) AS found, EXISTS (SELECT 1 FROM member) AS member,
             EXISTS (SELECT 1 FROM reserved) AS reserved, EXISTS (SELECT 1 FROM inserted) AS inserted`;
    if (!row?.found) throw new NotFoundError('Member', memberId);
    if (!row.member) throw new ValidationError('occurredAt', 'must not be before the member enrolled');
    if (!row.reserved) return replay<ReportedServiceFailure>(tx, scope, key, requestHash);
    if (row.inserted) return { ...fresh, replayed: false };
    // A duplicate of a failure reported before (same member, type and order;
    // committed, since this statement waited for it): answer with that one.
    const [existing] = await tx.$queryRaw<{ id: string }[]>`
      SELECT id::text FROM service_failures
      WHERE member_id = ${memberId}::uuid AND type = ${input.type}::"ServiceFailureType" AND order_ref = ${orderRef}::text`;
    const duplicate: ReportedServiceFailure = { failureId: existing!.id, duplicate: true };
    await recordResult(tx, scope, key, duplicate);
    return { ...duplicate, replayed: false };
  });
  if (!result.replayed && !result.duplicate) await publishOutboxEvents(deps, [event]);
  return result;
}

/** The compensation job of a failure, as its outbox event (id = failure id) is handed to the queue. */
export const compensationEvent = (failureId: string) =>
  ({
    id: failureId,
    queue: COMPENSATION_QUEUE,
    jobName: COMPENSATION_JOB,
    payload: { failureId },
  }) as const;

/** The payload of a compensation job: the failure, and the outbox event the job completes when it is not the failure's first. */
export interface CompensationJobPayload {
  failureId: string;
  /** A released failure's job has an event of its own (the first one is done); absent: the failure id. */
  eventId?: string;
}

// ---------------------------------------------------------------------------
// Compensating (the worker)

export type CompensationOutcome =
  | { outcome: 'COMPENSATED'; failureId: string; voucherId: string; amount: string; repeatIndex: number }
  | { outcome: 'NEEDS_REVIEW'; failureId: string; amount: string; repeatIndex: number }
  /** The member is suspended: the computed amount is kept until the suspension ends or a supervisor decides. */
  | { outcome: 'HELD'; failureId: string; amount: string; repeatIndex: number; reason: string }
  | { outcome: 'NOT_ELIGIBLE'; failureId: string; reason: string }
  /** Already decided by an earlier run of the job (retried, duplicated or raced): nothing done. */
  | { outcome: 'ALREADY_DECIDED'; failureId: string; status: ServiceFailureStatus }
  /** There is no such failure: nothing to do, ever. */
  | { outcome: 'MISSING'; failureId: string };

/** A failure locked with its member for a decision (the single path and the groups). */
export interface LockedFailure {
  id: string;
  memberId: string;
  severity: Severity;
  status: ServiceFailureStatus;
  occurredAt: Date;
  createdAt: Date;
  tier: TierKey;
  memberStatus: MemberStatus;
  /** md5 of the program settings' JSON (null before the program row exists), see `settingsForHash`. */
  settingsHash: string | null;
}

/**
 * Decides the compensation of one failure, exactly once: locks the failure's
 * member (which serialises the repeat count and the cap across that member's
 * failures, and a status change) and then the failure, and unless it is still
 * RECORDED does nothing. Otherwise, in one transaction, by the program's
 * settings as committed once both are locked (`lockFailuresForDecision`: a
 * change an admin committed while the job waited counts): flags the member at
 * risk when another of their failures occurred within the repeat window of
 * this one (before or after it), then, as the member's
 * eligibility says (src/domain/members/eligibility.ts): a closed member's
 * failure is NOT_ELIGIBLE; a suspended member's is HELD with the computed
 * amount (released by the reactivation, or decided by a supervisor); otherwise
 * it issues the COMPENSATION voucher (unique per failure) and marks the
 * failure COMPENSATED, or — when the member's compensation in the cap window
 * would exceed the cap — marks it NEEDS_REVIEW; and completes the outbox event
 * (`eventId`: the failure id for its first job, the release's own event after a
 * hold). A retried or duplicated job finds the failure decided and only
 * completes the event.
 */
export async function compensateServiceFailure(deps: ServiceDeps, failureId: string, eventId = failureId): Promise<CompensationOutcome> {
  const now = nowOf(deps);
  // Few statements, on node-postgres directly (db/sql.ts): this runs once per
  // failure, at the throughput of the queue.
  let memberId: string | undefined;
  const outcome = await sqlTransaction(deps.prisma, async (tx): Promise<CompensationOutcome> => {
    const [failure] = await lockFailuresForDecision(tx, [failureId]);
    memberId = failure?.memberId;
    if (!failure) {
      await completeOutboxEvent(tx, eventId, now);
      return { outcome: 'MISSING', failureId };
    }
    if (failure.status !== 'RECORDED') {
      await completeOutboxEvent(tx, eventId, now);
      return { outcome: 'ALREADY_DECIDED', failureId, status: failure.status };
    }
    const settings = await settingsForHash(tx, failure.settingsHash);
    const policy = settings.compensation;

    // A new statement after the locks, so it sees what the member's other
    // compensations committed while this transaction waited. From the second
    // failure in the repeat window on, the member is flagged at risk.
    const ref = failureRefAt(
      {
        memberId: Prisma.sql`${failure.memberId}::uuid`,
        id: Prisma.sql`${failure.id}::uuid`,
        occurredAt: failure.occurredAt,
        createdAt: failure.createdAt,
      },
      policy,
    );
    const [history] = await tx.$queryRaw<{ repeatIndex: number; capUsed: string }[]>`
      WITH history AS (SELECT ${failureHistorySql(ref, settings, now)}),
      flagged AS (
        UPDATE members SET at_risk = true, at_risk_since = ${now}::timestamptz, updated_at = ${now}::timestamptz
        WHERE id = ${failure.memberId}::uuid AND NOT at_risk AND (SELECT "repeatNeighbours" FROM history) >= 1
        RETURNING id)
      SELECT "repeatIndex", "capUsed" FROM history`;
    const repeatIndex = history!.repeatIndex;

    const decision = decideCompensation(settings, {
      severity: failure.severity,
      tier: failure.tier,
      repeatIndex,
      memberStatus: failure.memberStatus,
      capUsed: history!.capUsed,
    });
    if (decision.status !== 'COMPENSATED') {
      await decideAndComplete(tx, failure.id, eventId, now, {
        status: decision.status,
        repeatIndex,
        amount: decision.amount?.toFixed(2),
        currency: settings.currency,
        decisionNote: decision.status === 'NEEDS_REVIEW' ? undefined : decision.reason,
        decidedAt: decision.status === 'NOT_ELIGIBLE' ? now : undefined,
        reviewReason: decision.status === 'NEEDS_REVIEW' ? decision.reviewReason : undefined,
      });
      if (decision.status === 'NOT_ELIGIBLE') return { outcome: 'NOT_ELIGIBLE', failureId, reason: decision.reason };
      const amount = decision.amount.toFixed(2);
      if (decision.status === 'HELD') return { outcome: 'HELD', failureId, amount, repeatIndex, reason: decision.reason };
      return { outcome: 'NEEDS_REVIEW', failureId, amount, repeatIndex };
    }
    const amount = decision.amount;
    const { voucher } = await issueVoucher(tx, {
      memberId: failure.memberId,
      kind: 'COMPENSATION',
      value: { type: 'FIXED', amount: amount.toFixed(2) },
      causeType: 'FAILURE',
      causeRef: failure.id,
      now,
      settings,
    });
    await decideAndComplete(
      tx,
      failure.id,
      eventId,
      now,
      { status: 'COMPENSATED', repeatIndex, amount: amount.toFixed(2), currency: voucher.currency, voucherId: voucher.id },
      [compensatedEvent(failure.id, failure.memberId, voucher.id, amount.toFixed(2), voucher.currency, repeatIndex, 'POLICY')],
    );
    return { outcome: 'COMPENSATED', failureId, voucherId: voucher.id, amount: amount.toFixed(2), repeatIndex };
  });
  reportCompensation(deps, outcome, memberId);
  return outcome;
}

/**
 * Locks failures for their compensation decision: their members first, in id
 * order (two groups never deadlock), then the failures — the order of a status
 * change (updateMember) too, which locks the member and then releases or
 * declines its held failures — and reads the settings' version once all are
 * locked (`settingsHashAfterLocksSql`: an admin's change committed while the
 * decision waited counts). Missing ids are absent from the answer.
 */
export async function lockFailuresForDecision(tx: RawSql, failureIds: readonly string[]): Promise<LockedFailure[]> {
  // The locks in CTEs, the settings in the select list over them: the version is read after the last lock.
  return tx.$queryRaw<LockedFailure[]>`
    WITH m AS MATERIALIZED (
      SELECT id, tier, status FROM members
      WHERE id IN (SELECT member_id FROM service_failures WHERE id = ANY(${failureIds}::uuid[]))
      ORDER BY id
      FOR NO KEY UPDATE),
    locked AS MATERIALIZED (
      SELECT f.id, f.member_id, f.severity, f.status, f.occurred_at, f.created_at, m.tier, m.status AS member_status
      FROM service_failures f JOIN m ON m.id = f.member_id
      WHERE f.id = ANY(${failureIds}::uuid[])
      ORDER BY f.id
      FOR UPDATE OF f)
    SELECT id::text, member_id::text AS "memberId", severity::text, status::text,
           occurred_at AS "occurredAt", created_at AS "createdAt",
           tier::text, member_status::text AS "memberStatus",
           ${settingsHashAfterLocksSql('locked')} AS "settingsHash"
    FROM locked
    ORDER BY id`;
}

/**
 * What follows a committed compensation decision, whichever path made it: the
 * voucher issued to the failure's member (cache, live status), the approval
 * queue for a held or reviewed failure, and the decision's count in the metrics.
 */
export function reportCompensation(deps: ServiceDeps, outcome: CompensationOutcome, memberId: string | undefined): void {
  if (outcome.outcome === 'COMPENSATED' && memberId) {
    reportMemberChanges(deps, [memberChange(memberId, 'VOUCHER_ISSUED', outcome.voucherId)]);
  }
  if (outcome.outcome === 'NEEDS_REVIEW' || outcome.outcome === 'HELD') {
    reportApprovalQueueChanges(deps, [{ kind: 'FAILURE_WAITING', reference: outcome.failureId }]);
  }
  const decided = outcome.outcome;
  if (decided !== 'ALREADY_DECIDED' && decided !== 'MISSING') measure(deps, (measures) => measures.compensationDecided(decided));
}

/** The `service_failure.compensated` event (docs/webhooks.md). */
export function compensatedEvent(
  failureId: string,
  memberId: string,
  voucherId: string,
  amount: string,
  currency: string,
  repeatIndex: number | null,
  decidedBy: 'POLICY' | 'SUPERVISOR',
): WebhookEventInput {
  return {
    type: 'service_failure.compensated',
    data: { failureId, memberId, voucherId, amount: { amount, currency }, repeatIndex, decidedBy },
  };
}

interface PolicyDecision {
  status: 'COMPENSATED' | 'NEEDS_REVIEW' | 'NOT_ELIGIBLE' | 'HELD';
  repeatIndex: number;
  amount?: string;
  /** The currency the amount was computed in (the program's). */
  currency: string;
  voucherId?: string;
  decisionNote?: string;
  decidedAt?: Date;
  reviewReason?: 'CAP';
}

/**
 * Writes the policy's decision on a RECORDED failure and completes the job's
 * outbox event (what `completeOutboxEvent` does), in one statement of the
 * caller's transaction.
 */
async function decideAndComplete(
  tx: RawSql,
  failureId: string,
  eventId: string,
  now: Date,
  decision: PolicyDecision,
  events: WebhookEventInput[] = [],
): Promise<void> {
  await tx.$executeRaw`
    WITH ${webhookEventsCte(eventRows(events), now)},
    decided AS (
      UPDATE service_failures SET
        status = ${decision.status}::"ServiceFailureStatus",
        repeat_index = ${decision.repeatIndex}::int,
        compensation_amount = ${decision.amount ?? null}::numeric,
        compensation_currency = ${decision.amount == null ? null : decision.currency}::text,
        voucher_id = ${decision.voucherId ?? null}::uuid,
        decision_note = ${decision.decisionNote ?? null},
        decided_at = ${decision.decidedAt ?? null}::timestamptz,
        review_reason = ${decision.reviewReason ?? null}::"ServiceFailureReviewReason"
      WHERE id = ${failureId}::uuid)
    UPDATE outbox_events SET completed_at = ${now}::timestamptz WHERE id = ${eventId}::uuid AND completed_at IS NULL`;
}

async function decide(tx: Tx, failureId: string, data: Prisma.ServiceFailureUncheckedUpdateInput): Promise<void> {
  await tx.serviceFailure.update({ where: { id: failureId }, data, select: { id: true } });
}

// ---------------------------------------------------------------------------
// Held compensation (a member's status changed)

/**
 * The suspension of a member ended (updateMember, in its transaction, the
 * member's row locked): every HELD failure of theirs goes back to RECORDED
 * with a new compensation job in the outbox (its own event id, in the
 * payload), so the policy decides it again now — the cap measured against what
 * was granted by then — and the job, idempotent on the failure row, issues at
 * most one voucher. Returns the events to publish after commit.
 */
export async function releaseHeldCompensation(tx: Tx | RawSql, memberId: string): Promise<CommittedOutboxEvent[]> {
  const released = Prisma.sql`
    UPDATE service_failures SET status = 'RECORDED', decision_note = NULL
    WHERE member_id = ${memberId}::uuid AND status = 'HELD'
    RETURNING id`;
  return requeueReleased(tx, released, { queue: COMPENSATION_QUEUE, jobName: COMPENSATION_JOB, subjectKey: 'failureId' });
}

/**
 * The member was closed (updateMember, member locked): every failure of
 * theirs that waits for a grant — HELD, or NEEDS_REVIEW over the cap — becomes
 * NOT_ELIGIBLE with `reason`. Failures still RECORDED are declined by their
 * job, which finds the member closed.
 */
export async function declineWaitingCompensation(tx: Tx | RawSql, memberId: string, now: Date, reason: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE service_failures SET status = 'NOT_ELIGIBLE', decision_note = ${reason}, decided_at = ${now}::timestamptz
    WHERE member_id = ${memberId}::uuid AND status IN ('HELD', 'NEEDS_REVIEW')`;
}

// ---------------------------------------------------------------------------
// Review (supervisors)

export type ReviewDecision = 'GRANT' | 'DECLINE';

export interface ReviewServiceFailureInput {
  failureId: string;
  decision: ReviewDecision;
  note: string;
  idempotencyKey: string;
}

/**
 * A supervisor's decision on a failure waiting for one: NEEDS_REVIEW (over
 * the cap) or HELD (the member is suspended). GRANT issues the compensation
 * voucher the policy computed (COMPENSATED) — for a held failure at once,
 * while the member is still suspended, without measuring the cap again: the
 * supervisor decides — and DECLINE makes it NOT_ELIGIBLE; the decision, its
 * note and the supervisor are kept. A closed member gets nothing
 * (ValidationError; closing declines what waits anyway), and a failure held
 * over its incident's budget is decided with the rest of that remainder
 * (decideServiceIncident; ValidationError here). A compensation computed in
 * another currency than the program's (it changed since, also while this
 * decision waited for the locks) cannot be granted (ValidationError, nothing
 * written); DECLINE still can. The member and then
 * the failure row are locked (the order of the compensation job and of a
 * status change), so two supervisors deciding at once, or a decision racing
 * the member's reactivation, cannot both succeed. Only supervisors and admins
 * (an admin-scoped API key counts as ADMIN) may decide. The idempotency key is
 * the supervisor's own (`scopeOf`): their retry replays their answer,
 * and another supervisor sending the same key is told the failure is decided
 * (ValidationError), never answered the first one's decision as theirs; a key
 * stored before stop 53, per failure, replays for the supervisor who decided.
 * A decided failure never waits for a decision again.
 */
export async function reviewServiceFailure(
  deps: ServiceDeps,
  input: ReviewServiceFailureInput,
  caller: Caller,
): Promise<Replayable<{ failureId: string }>> {
  assertMayCall(caller, 'reviewServiceFailure');
  const failureId = check.uuid('failureId', input.failureId);
  const note = check.text('note', input.note, { min: 3, max: 2000 });
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  const request = { decision: input.decision, note };
  // The key is the supervisor's own; one stored before stop 53 under the failure alone is theirs when they decided it.
  const storedBefore = ownSharedRecordSql(
    `reviewServiceFailure:${failureId}`,
    key,
    Prisma.sql`EXISTS (SELECT 1 FROM service_failures d WHERE d.id = ${failureId}::uuid AND d.decided_by = ${caller.actor.id}::text)`,
  );
  const issued: MemberChange[] = [];
  const outcome = await deps.prisma.$transaction(async (tx) => {
    issued.length = 0;
    // The locks in CTEs, the settings' version in the select list over them: read after both locks, so a GRANT
    // that waited is held against the currency an admin switched to meanwhile, not the one of before.
    const [failure] = await tx.$queryRaw<
      {
        memberId: string;
        memberStatus: MemberStatus;
        status: ServiceFailureStatus;
        amount: string | null;
        currency: string | null;
        reviewReason: string | null;
        settingsHash: string | null;
        storedBefore: SharedRecord | null;
      }[]
    >`
      WITH m AS MATERIALIZED (
        SELECT id, status FROM members
        WHERE id = (SELECT member_id FROM service_failures WHERE id = ${failureId}::uuid)
        FOR NO KEY UPDATE),
      failure AS (
        SELECT f.member_id, m.status AS member_status, f.status, f.compensation_amount, f.compensation_currency, f.review_reason
        FROM service_failures f JOIN m ON m.id = f.member_id
        WHERE f.id = ${failureId}::uuid FOR UPDATE OF f)
      SELECT member_id::text AS "memberId", member_status::text AS "memberStatus", status::text,
             compensation_amount::text AS amount, compensation_currency AS currency,
             review_reason::text AS "reviewReason", ${settingsHashAfterLocksSql('failure')} AS "settingsHash",
             ${storedBefore} AS "storedBefore"
      FROM failure`;
    if (!failure) throw new NotFoundError('ServiceFailure', failureId);
    const before = replayShared<{ failureId: string }>(failure.storedBefore, key, request);
    if (before) return before;
    return once(tx, scopeOf(`reviewServiceFailure:${failureId}`, caller), key, request, async () => {
      if (failure.status !== 'NEEDS_REVIEW' && failure.status !== 'HELD') {
        throw new ValidationError('failureId', `this failure is ${failure.status}, not waiting for review`);
      }
      if (failure.status === 'NEEDS_REVIEW' && failure.reviewReason === 'INCIDENT_BUDGET') {
        throw new ValidationError('failureId', "held over its incident's budget: decided with the rest of it (decideServiceIncident)");
      }
      const decided = { decidedBy: caller.actor.id, decidedAt: now, decisionNote: note };
      if (input.decision === 'DECLINE') {
        await decide(tx, failureId, { status: 'NOT_ELIGIBLE', ...decided });
        return { failureId };
      }
      assertEligible({ status: failure.memberStatus }, 'DECIDED_GRANT', 'failureId');
      const settings = await settingsForHash(tx, failure.settingsHash);
      const compensation = storedCompensation({ id: failureId, amount: failure.amount, currency: failure.currency });
      // The policy computed one for every failure it left waiting for review (held or over the cap).
      if (!compensation) throw new Error(`service failure ${failureId} is ${failure.status} without a compensation`);
      const { amount, currency } = compensation;
      // Money keeps the currency it was decided in: 15.00 EUR is not granted as 15.00 USD.
      if (currency !== settings.currency) {
        throw new ValidationError(
          'failureId',
          `the compensation was computed as ${amount} ${currency}, the program now uses ${settings.currency}: ` +
            `decline it and compensate the member in ${settings.currency} with a goodwill gesture`,
        );
      }
      const { voucher } = await issueVoucher(tx, {
        memberId: failure.memberId,
        kind: 'COMPENSATION',
        value: { type: 'FIXED', amount },
        currency,
        causeType: 'FAILURE',
        causeRef: failureId,
        now,
        settings,
      });
      await decide(tx, failureId, { status: 'COMPENSATED', voucherId: voucher.id, ...decided });
      const event = compensatedEvent(failureId, failure.memberId, voucher.id, amount, voucher.currency, null, 'SUPERVISOR');
      await recordWebhookEvents(tx, [event], now);
      issued.push(memberChange(failure.memberId, 'VOUCHER_ISSUED', voucher.id));
      return { failureId };
    });
  });
  reportMemberChanges(deps, issued);
  if (!outcome.replayed) reportApprovalQueueChanges(deps, [{ kind: 'FAILURE_DECIDED', reference: failureId }]);
  return outcome;
}

// ---------------------------------------------------------------------------
// Reading

/** A failure's compensation: the amount the policy computed, in the currency it computed it in. */
export interface StoredCompensation {
  amount: string;
  currency: string;
}

/**
 * A failure's compensation as its row holds it, null when it has none. Money keeps the currency it was decided
 * in, so an amount is never read in the program's currency of now: PostgreSQL keeps the two together
 * (service_failures_compensation_currency_paired), and a row without them together is a broken database,
 * thrown (and masked), never shown or granted.
 */
export function storedCompensation(failure: { id: string; amount: string | null; currency: string | null }): StoredCompensation | null {
  const { id, amount, currency } = failure;
  if (amount === null && currency === null) return null;
  if (amount === null || currency === null) {
    throw new Error(`service failure ${id} has a compensation of ${amount ?? 'no amount'} in ${currency ?? 'no currency'}`);
  }
  return { amount, currency };
}

/**
 * Who may read service failures — what happened to a member, with the reporter's free text (`description`, which for
 * a missed service target names the case and its channel): staff from AGENT and the member it happened to (a member
 * token only their own) — the service's read by id (`readableFailureWhere`) and the ServiceFailure type's visibility.
 * Keys that report failures (`failures:report`: a shop, a carrier) are no readers: they read the failures they
 * reported themselves (SERVICE_FAILURE_REPORTERS), and nothing else. No SERVICE_CALLERS entry is this rule.
 */
export const SERVICE_FAILURE_READERS = { staff: 'AGENT', members: true } as const satisfies CallerRule;

/**
 * Who reads the failures they reported themselves, and only those (`reporterType`/`reporterId` theirs): the callers
 * that may report (SERVICE_CALLERS.reportServiceFailure) — of them, keys with `failures:report` are the ones outside
 * SERVICE_FAILURE_READERS. A failure an incident of theirs recorded is theirs too (reported in their name).
 */
export const SERVICE_FAILURE_REPORTERS: CallerRule = SERVICE_CALLERS.reportServiceFailure;

/** What a failure says of who may see it: its member and its reporter. */
export interface ServiceFailureOwners {
  memberId: string;
  reporterType: string;
  reporterId: string;
}

/** Whether the caller may see a failure at hand (the ServiceFailure type's visibility): `readableFailureWhere`'s rule. */
export function mayReadServiceFailure(caller: Caller, failure: ServiceFailureOwners): boolean {
  if (mayCall(caller, SERVICE_FAILURE_READERS)) return mayReadOwnRow(caller, SERVICE_FAILURE_READERS, failure.memberId);
  return mayCall(caller, SERVICE_FAILURE_REPORTERS) && reportedBy(caller, failure);
}

/** Whether the caller is who reported a failure or an incident (its `reporterType`/`reporterId`). */
export function reportedBy(caller: Caller, report: Pick<ServiceFailureOwners, 'reporterType' | 'reporterId'>): boolean {
  return report.reporterType === caller.actor.type && report.reporterId === caller.actor.id;
}

/**
 * The `where` that keeps a read of service failures to the caller's: readers (SERVICE_FAILURE_READERS) as
 * `ownRowsWhere` (a member token only their own); a reporting key only the failures it reported (another's is not
 * returned, as one nobody reported); anyone else is refused (ForbiddenError) before anything is read.
 */
export function readableFailureWhere(
  caller: Caller,
): { memberId?: string } | { reporterType: Caller['actor']['type']; reporterId: string } {
  if (!mayCall(caller, SERVICE_FAILURE_READERS) && mayCall(caller, SERVICE_FAILURE_REPORTERS)) {
    return { reporterType: caller.actor.type, reporterId: caller.actor.id };
  }
  return ownRowsWhere(caller, SERVICE_FAILURE_READERS_OR_REPORTERS, 'Reading service failures');
}

/** For the refusal's words only: whoever reads some failures (`ownRowsWhere` refuses outside it). */
const SERVICE_FAILURE_READERS_OR_REPORTERS: CallerRule = {
  ...SERVICE_FAILURE_READERS,
  apiKeys: SERVICE_CALLERS.reportServiceFailure.apiKeys,
};

/** What a read loads with the failure: plugin-prisma's plan of a GraphQL selection, say. */
export type ServiceFailureReadShape = Pick<Prisma.ServiceFailureFindUniqueArgs, 'select' | 'include'>;

/**
 * A service failure by its id (`node(id)`), with what `shape` loads with it, or null when there is none or it is not
 * the caller's to read (`readableFailureWhere`: anyone outside the readers and reporters is refused before anything
 * is read; a member token finds only their own failures, a reporting key only those it reported). The id must be a
 * UUID (ValidationError).
 */
export async function readServiceFailure(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: ServiceFailureReadShape,
  caller: Caller,
): Promise<ServiceFailure | null> {
  const mayRead = readableFailureWhere(caller);
  return deps.prisma.serviceFailure.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}

export interface ServiceFailureFilter {
  status?: ServiceFailureStatus | null;
  memberId?: string | null;
  incidentId?: string | null;
  type?: ServiceFailureType | null;
  severity?: Severity | null;
  /** Occurred at or after. */
  from?: Date | null;
  /** Occurred before. */
  to?: Date | null;
}

/**
 * The Prisma condition of a failure listing (`serviceFailures`); every given
 * condition must hold. Who may list is SERVICE_CALLERS.readServiceFailures
 * (staff): anyone else is refused before the filter is looked at. A member
 * reads their own failures on their member (`Member.serviceFailures`).
 */
export function serviceFailureListWhere(filter: ServiceFailureFilter | null | undefined, caller: Caller): Prisma.ServiceFailureWhereInput {
  assertMayCall(caller, 'readServiceFailures');
  if (!filter) return {};
  if (filter.from) check.dateTime('filter.from', filter.from);
  if (filter.to) check.dateTime('filter.to', filter.to);
  if (filter.from && filter.to && filter.from > filter.to) throw new ValidationError('filter.to', 'must not be before `from`');
  const where: Prisma.ServiceFailureWhereInput = {};
  if (filter.status) where.status = filter.status;
  if (filter.memberId) where.memberId = check.uuid('filter.memberId', filter.memberId);
  if (filter.incidentId) where.incidentId = check.uuid('filter.incidentId', filter.incidentId);
  if (filter.type) where.type = filter.type;
  if (filter.severity) where.severity = filter.severity;
  if (filter.from || filter.to) {
    where.occurredAt = { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) };
  }
  return where;
}
