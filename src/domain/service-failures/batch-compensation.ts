import type { Decimal } from 'decimal.js';
import type { RawSql } from '../../db/sql.js';
import { Prisma, type MemberStatus, type Severity, type Tier } from '../../generated/prisma/client.js';
import type { MemberChange } from '../deps.js';
import { memberChange } from '../members/member-changes.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { issueFixedVouchers } from '../vouchers/vouchers.service.js';
import { eventRows, webhookEventsCte } from '../webhooks/webhook-events.js';
import { compensatedEvent, decideCompensation, failureHistorySql, type CompensationDecision } from './service-failures.service.js';

/**
 * The batch path of compensation: what `compensateServiceFailure` does for one
 * failure, set-based for many in one transaction (an incident's hundreds per
 * batch), with the same policy (`decideCompensation`, `failureHistorySql`) and
 * the same guards — members locked as the per-failure job locks them, one
 * voucher per failure by its unique cause, a decision only on a failure still
 * RECORDED — so that a retried batch is a no-op and the two paths serialise
 * on the members they share.
 */

export interface LockedMember {
  tier: Tier;
  status: MemberStatus;
}

/**
 * Locks members as the per-failure job does (FOR NO KEY UPDATE: their repeat
 * count and cap window are decided one transaction at a time), in id order so
 * that two batches never deadlock. Returns tier and status by id.
 */
export async function lockMembers(tx: RawSql, memberIds: readonly string[]): Promise<Map<string, LockedMember>> {
  const rows = await tx.$queryRaw<{ id: string; tier: Tier; status: MemberStatus }[]>`
    SELECT id::text, tier::text, status::text FROM members
    WHERE id = ANY(${[...memberIds]}::uuid[])
    ORDER BY id
    FOR NO KEY UPDATE`;
  return new Map(rows.map((row) => [row.id, { tier: row.tier, status: row.status }]));
}

/** A RECORDED failure of a batch, locked (or inserted) by the caller's transaction. */
export interface BatchFailure {
  id: string;
  memberId: string;
}

/** Failures that occurred at one time, were recorded at one time and are equally severe: an incident's. */
export interface FailureBatch {
  failures: readonly BatchFailure[];
  severity: Severity;
  occurredAt: Date;
  createdAt: Date;
}

export interface PolicyDecision {
  failure: BatchFailure;
  repeatIndex: number;
  decision: CompensationDecision;
}

/**
 * The policy's decision on every failure of the batch, in the batch's order:
 * locks the members, reads each failure's repeat index and its member's cap
 * window in one statement (the per-failure job's fragment) and flags members
 * at risk from their second failure in the repeat window, as the job does.
 * Decides nothing in the database: `applyDecisions` writes what the caller
 * settles on (an incident may still hold a grant for its budget).
 */
export async function policyDecisions(tx: RawSql, batch: FailureBatch, settings: ProgramSettings, now: Date): Promise<PolicyDecision[]> {
  if (batch.failures.length === 0) return [];
  const members = await lockMembers(
    tx,
    batch.failures.map((failure) => failure.memberId),
  );
  const ref = { memberId: Prisma.raw('f.member_id'), id: Prisma.raw('f.id'), occurredAt: batch.occurredAt, createdAt: batch.createdAt };
  const rows = await tx.$queryRaw<{ id: string; repeatIndex: number; capUsed: string }[]>`
    WITH facts AS (
      SELECT f.id::text AS id, f.member_id, ${failureHistorySql(ref, settings.compensation, now)}
      FROM unnest(${batch.failures.map((failure) => failure.id)}::uuid[],
                  ${batch.failures.map((failure) => failure.memberId)}::uuid[]) AS f(id, member_id)),
    flagged AS (
      UPDATE members SET at_risk = true, at_risk_since = ${now}::timestamptz, updated_at = ${now}::timestamptz
      WHERE id IN (SELECT member_id FROM facts WHERE "repeatIndex" >= 2) AND NOT at_risk
      RETURNING id)
    SELECT id, "repeatIndex", "capUsed" FROM facts`;
  const history = new Map(rows.map((row) => [row.id, row]));
  return batch.failures.map((failure) => {
    const member = members.get(failure.memberId);
    const facts = history.get(failure.id);
    if (!member || !facts) throw new Error(`failure ${failure.id}: member or history missing in its batch`);
    const decision = decideCompensation(settings, {
      severity: batch.severity,
      tier: member.tier,
      repeatIndex: facts.repeatIndex,
      memberStatus: member.status,
      capUsed: facts.capUsed,
    });
    return { failure, repeatIndex: facts.repeatIndex, decision };
  });
}

/** What `applyDecisions` writes on one failure. */
export type FinalDecision =
  | { status: 'COMPENSATED'; amount: Decimal }
  | { status: 'NEEDS_REVIEW'; amount: Decimal; reviewReason: 'CAP' | 'INCIDENT_BUDGET' }
  | { status: 'HELD'; amount: Decimal; reason: string }
  | { status: 'NOT_ELIGIBLE'; amount: Decimal | null; reason: string };

export interface DecidedFailure {
  failure: BatchFailure;
  /** Null keeps the repeat index the failure has (a decision after review). */
  repeatIndex: number | null;
  decision: FinalDecision;
}

export interface AppliedDecisions {
  compensated: number;
  needsReview: number;
  /** Held because the member is suspended: released when a supervisor reactivates them. */
  held: number;
  notEligible: number;
  /** Sum of the vouchers issued (decimal string). */
  issued: Decimal;
  /** One VOUCHER_ISSUED per voucher, for the caller to report once its transaction committed. */
  changes: MemberChange[];
}

/**
 * Writes the decisions on failures that are still RECORDED: issues the
 * COMPENSATION vouchers (set-based, one per failure by its unique cause) and
 * records status, amount, voucher and reason on each failure in one
 * statement. A failure that is no longer RECORDED means someone decided it
 * concurrently, which the caller's locks exclude: the whole transaction is
 * refused rather than deciding twice.
 */
export async function applyDecisions(
  tx: RawSql,
  decided: readonly DecidedFailure[],
  settings: ProgramSettings,
  now: Date,
): Promise<AppliedDecisions> {
  const result: AppliedDecisions = { compensated: 0, needsReview: 0, held: 0, notEligible: 0, issued: new Prisma.Decimal(0), changes: [] };
  if (decided.length === 0) return result;
  const grants = decided.flatMap(({ failure, decision }) =>
    decision.status === 'COMPENSATED' ? [{ memberId: failure.memberId, causeRef: failure.id, amount: decision.amount.toFixed(2) }] : [],
  );
  const vouchers =
    grants.length === 0
      ? new Map<string, string>()
      : await issueFixedVouchers(tx, { kind: 'COMPENSATION', causeType: 'FAILURE', grants, now, settings });

  const columns = decided.map(({ failure, repeatIndex, decision }) => {
    if (decision.status === 'COMPENSATED') {
      result.compensated += 1;
      result.issued = result.issued.plus(decision.amount);
      result.changes.push(memberChange(failure.memberId, 'VOUCHER_ISSUED', vouchers.get(failure.id)!));
    } else if (decision.status === 'NEEDS_REVIEW') result.needsReview += 1;
    else if (decision.status === 'HELD') result.held += 1;
    else result.notEligible += 1;
    return {
      id: failure.id,
      status: decision.status,
      repeatIndex,
      amount: decision.amount?.toFixed(2) ?? null,
      voucherId: decision.status === 'COMPENSATED' ? vouchers.get(failure.id)! : null,
      note: decision.status === 'NOT_ELIGIBLE' || decision.status === 'HELD' ? decision.reason : null,
      decidedAt: decision.status === 'NOT_ELIGIBLE' ? now : null,
      reviewReason: decision.status === 'NEEDS_REVIEW' ? decision.reviewReason : null,
    };
  });
  // Each compensation is announced (service_failure.compensated) in the statement that records it.
  const events = columns.flatMap((c, i) =>
    c.status === 'COMPENSATED'
      ? [
          compensatedEvent(
            c.id,
            decided[i]!.failure.memberId,
            c.voucherId!,
            c.amount!,
            settings.currency,
            c.repeatIndex,
            c.repeatIndex === null ? 'SUPERVISOR' : 'POLICY',
          ),
        ]
      : [],
  );
  const updated = await tx.$executeRaw`
    WITH ${webhookEventsCte(eventRows(events), now)}
    UPDATE service_failures f SET
      status = d.status::"ServiceFailureStatus",
      repeat_index = coalesce(d.repeat_index, f.repeat_index),
      compensation_amount = d.amount,
      voucher_id = d.voucher_id,
      decision_note = coalesce(d.note, f.decision_note),
      decided_at = coalesce(d.decided_at, f.decided_at),
      review_reason = coalesce(d.review_reason::"ServiceFailureReviewReason", f.review_reason)
    FROM unnest(${columns.map((c) => c.id)}::uuid[], ${columns.map((c) => c.status)}::text[],
                ${columns.map((c) => c.repeatIndex)}::int[], ${columns.map((c) => c.amount)}::numeric[],
                ${columns.map((c) => c.voucherId)}::uuid[], ${columns.map((c) => c.note)}::text[],
                ${columns.map((c) => c.decidedAt)}::timestamptz[], ${columns.map((c) => c.reviewReason)}::text[])
         AS d(id, status, repeat_index, amount, voucher_id, note, decided_at, review_reason)
    WHERE f.id = d.id AND f.status = 'RECORDED'`;
  if (updated !== decided.length) {
    throw new Error(`batch compensation: ${decided.length - updated} of ${decided.length} failures were no longer RECORDED`);
  }
  return result;
}
