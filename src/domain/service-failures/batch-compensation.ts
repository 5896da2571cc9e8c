import { newRowId } from '../../db/ids.js';
import type { Decimal } from 'decimal.js';
import type { RawSql } from '../../db/sql.js';
import { Prisma, type MemberStatus, type Severity } from '../../generated/prisma/client.js';
import type { MemberChange } from '../deps.js';
import { memberChange } from '../members/member-changes.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { settingsHashAfterLocksSql } from '../program/program.service.js';
import type { TierKey } from '../tiers/tiers.service.js';
import { issueFixedVouchers } from '../vouchers/vouchers.service.js';
import { eventRows, webhookEventsCte, type WebhookEventInput } from '../webhooks/webhook-events.js';
import {
  compensatedEvent,
  decideCompensation,
  failureHistorySql,
  failureRefAt,
  type CompensationDecision,
} from './service-failures.service.js';

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
  tier: TierKey;
  status: MemberStatus;
}

/** Members locked for a batch, and the settings' version committed once they were. */
export interface LockedMembers {
  /** Tier and status by member id. */
  byId: Map<string, LockedMember>;
  /** md5 of the program settings' JSON once all of them were locked (null before the program row exists), see `settingsForHash`. */
  settingsHash: string | null;
}

/**
 * Locks members as the per-failure job does (FOR NO KEY UPDATE: their repeat
 * count and cap window are decided one transaction at a time), in id order so
 * that two batches never deadlock, and reads the settings' version once all
 * are locked (`settingsHashAfterLocksSql`, one call for the batch's hundreds):
 * a batch decides by the settings an admin committed while it waited for a
 * member, not by those it read before.
 */
export async function lockMembers(tx: RawSql, memberIds: readonly string[]): Promise<LockedMembers> {
  const rows = await tx.$queryRaw<{ id: string; tier: TierKey; status: MemberStatus; settingsHash: string | null }[]>`
    WITH locked AS (
      SELECT id, tier, status FROM members
      WHERE id = ANY(${[...memberIds]}::uuid[])
      ORDER BY id
      FOR NO KEY UPDATE)
    SELECT id::text, tier::text, status::text, ${settingsHashAfterLocksSql('locked')} AS "settingsHash" FROM locked`;
  return {
    byId: new Map(rows.map((row) => [row.id, { tier: row.tier, status: row.status }])),
    settingsHash: rows[0]?.settingsHash ?? null,
  };
}

/** A failure of a batch: recorded (RECORDED, locked by the caller) or about to be. */
export interface BatchFailure {
  id: string;
  memberId: string;
}

/** Failures about to be recorded that occur at one time, are recorded at one time and are equally severe: an incident's. */
export interface FailureBatch {
  failures: readonly BatchFailure[];
  severity: Severity;
  occurredAt: Date;
  createdAt: Date;
}

export interface PolicyDecision {
  failure: BatchFailure;
  repeatIndex: number;
  /** The member has another failure within the repeat window of this one, before or after it: at risk. */
  atRisk: boolean;
  decision: CompensationDecision;
}

/**
 * The policy's decision on every failure of a batch about to be recorded, in
 * the batch's order, its members locked by the caller (`lockMembers`): each
 * failure's repeat index and its member's cap window in one statement — the
 * per-failure job's fragment, which counts the failure itself once it is
 * stored; these are not stored yet, so one more — and `decideCompensation`.
 * Writes nothing: the caller records the failures with what it settles on (an
 * incident may still hold a grant for its budget).
 */
export async function policyDecisions(
  tx: RawSql,
  batch: FailureBatch,
  members: ReadonlyMap<string, LockedMember>,
  settings: ProgramSettings,
  now: Date,
): Promise<PolicyDecision[]> {
  if (batch.failures.length === 0) return [];
  const ref = failureRefAt(
    { memberId: Prisma.raw('f.member_id'), id: Prisma.raw('f.id'), occurredAt: batch.occurredAt, createdAt: batch.createdAt },
    settings.compensation,
  );
  const rows = await tx.$queryRaw<{ id: string; earlier: number; neighbours: number; capUsed: string }[]>`
    SELECT f.id::text AS id, facts."repeatIndex" AS earlier, facts."repeatNeighbours" AS neighbours, facts."capUsed"
    FROM unnest(${batch.failures.map((failure) => failure.id)}::uuid[],
                ${batch.failures.map((failure) => failure.memberId)}::uuid[]) AS f(id, member_id),
         LATERAL (SELECT ${failureHistorySql(ref, settings, now)}) facts`;
  const history = new Map(rows.map((row) => [row.id, row]));
  return batch.failures.map((failure) => {
    const member = members.get(failure.memberId);
    const facts = history.get(failure.id);
    if (!member || !facts) throw new Error(`failure ${failure.id}: member or history missing in its batch`);
    const repeatIndex = facts.earlier + 1;
    const decision = decideCompensation(settings, {
      severity: batch.severity,
      tier: member.tier,
      repeatIndex,
      memberStatus: member.status,
      capUsed: facts.capUsed,
    });
    return { failure, repeatIndex, atRisk: facts.neighbours >= 1, decision };
  });
}

/** What a batch writes on one failure. */
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

/** Decisions as the columns of one statement (`unnest` arrays); compensated failures get their voucher id here. */
export interface DecisionColumns {
  id: string[];
  memberId: string[];
  status: string[];
  repeatIndex: (number | null)[];
  amount: (string | null)[];
  voucherId: (string | null)[];
  note: (string | null)[];
  decidedAt: (Date | null)[];
  reviewReason: (string | null)[];
}

export function decisionColumns(decided: readonly DecidedFailure[], now: Date): DecisionColumns {
  const columns: DecisionColumns = {
    id: [],
    memberId: [],
    status: [],
    repeatIndex: [],
    amount: [],
    voucherId: [],
    note: [],
    decidedAt: [],
    reviewReason: [],
  };
  for (const { failure, repeatIndex, decision } of decided) {
    columns.id.push(failure.id);
    columns.memberId.push(failure.memberId);
    columns.status.push(decision.status);
    columns.repeatIndex.push(repeatIndex);
    columns.amount.push(decision.amount?.toFixed(2) ?? null);
    columns.voucherId.push(decision.status === 'COMPENSATED' ? newRowId() : null);
    columns.note.push(decision.status === 'NOT_ELIGIBLE' || decision.status === 'HELD' ? decision.reason : null);
    columns.decidedAt.push(decision.status === 'NOT_ELIGIBLE' ? now : null);
    columns.reviewReason.push(decision.status === 'NEEDS_REVIEW' ? decision.reviewReason : null);
  }
  return columns;
}

export interface AppliedDecisions {
  compensated: number;
  needsReview: number;
  /** Held because the member is suspended: released when a supervisor reactivates them. */
  held: number;
  notEligible: number;
  /** Sum of the vouchers issued. */
  issued: Decimal;
  /** One VOUCHER_ISSUED per voucher, for the caller to report once its transaction committed. */
  changes: MemberChange[];
}

/**
 * Issues the COMPENSATION vouchers of the compensated decisions — with the ids
 * `decisionColumns` gave them, which the failures record — set-based, one per
 * failure by its unique cause, and counts the decisions; only those of
 * `recorded` failures when given (the rest were not written).
 */
export async function issueDecidedVouchers(
  tx: RawSql,
  decided: readonly DecidedFailure[],
  columns: DecisionColumns,
  settings: ProgramSettings,
  now: Date,
  recorded?: ReadonlySet<string>,
): Promise<AppliedDecisions> {
  const result: AppliedDecisions = { compensated: 0, needsReview: 0, held: 0, notEligible: 0, issued: new Prisma.Decimal(0), changes: [] };
  const grants = decided.flatMap(({ failure, decision }, index) => {
    if (recorded && !recorded.has(failure.id)) return [];
    if (decision.status === 'NEEDS_REVIEW') result.needsReview += 1;
    if (decision.status === 'HELD') result.held += 1;
    if (decision.status === 'NOT_ELIGIBLE') result.notEligible += 1;
    if (decision.status !== 'COMPENSATED') return [];
    result.compensated += 1;
    result.issued = result.issued.plus(decision.amount);
    result.changes.push(memberChange(failure.memberId, 'VOUCHER_ISSUED', columns.voucherId[index]!));
    return [{ id: columns.voucherId[index]!, memberId: failure.memberId, causeRef: failure.id, amount: decision.amount.toFixed(2) }];
  });
  if (grants.length === 0) return result;
  const issued = await issueFixedVouchers(tx, { kind: 'COMPENSATION', causeType: 'FAILURE', grants, now, settings });
  // A new failure cannot have had a voucher: a different id means a second grant of one cause.
  const stray = grants.find((grant) => issued.get(grant.causeRef) !== grant.id);
  if (stray) throw new Error(`failure ${stray.causeRef} had a compensation voucher already`);
  return result;
}

/**
 * The `service_failure.compensated` events of the compensated decisions (of the
 * `recorded` failures only, when given): decided by the policy, or — a
 * decision that keeps the failure's repeat index, an approved remainder — by a
 * supervisor.
 */
export function compensatedEvents(
  decided: readonly DecidedFailure[],
  columns: DecisionColumns,
  settings: ProgramSettings,
  recorded?: ReadonlySet<string>,
): WebhookEventInput[] {
  return decided.flatMap(({ failure, repeatIndex, decision }, i) =>
    decision.status === 'COMPENSATED' && (!recorded || recorded.has(failure.id))
      ? [
          compensatedEvent(
            failure.id,
            failure.memberId,
            columns.voucherId[i]!,
            decision.amount.toFixed(2),
            settings.currency,
            repeatIndex,
            repeatIndex === null ? 'SUPERVISOR' : 'POLICY',
          ),
        ]
      : [],
  );
}

/**
 * Writes decisions on failures that are still RECORDED (an incident's
 * approved remainder): records status, amount (in the program currency of
 * `settings`: the caller made sure the amounts are in it), voucher and reason
 * on each in one statement and issues the vouchers. A failure that is no longer RECORDED
 * means someone decided it concurrently, which the caller's locks exclude: the
 * whole transaction is refused rather than deciding twice.
 */
export async function applyDecisions(
  tx: RawSql,
  decided: readonly DecidedFailure[],
  settings: ProgramSettings,
  now: Date,
): Promise<AppliedDecisions> {
  if (decided.length === 0) return { compensated: 0, needsReview: 0, held: 0, notEligible: 0, issued: new Prisma.Decimal(0), changes: [] };
  const c = decisionColumns(decided, now);
  // Each compensation is announced (service_failure.compensated) in the statement that records it.
  const events = compensatedEvents(decided, c, settings);
  const updated = await tx.$executeRaw`
    WITH ${webhookEventsCte(eventRows(events), now)}
    UPDATE service_failures f SET
      status = d.status::"ServiceFailureStatus",
      repeat_index = coalesce(d.repeat_index, f.repeat_index),
      compensation_amount = d.amount,
      compensation_currency = CASE WHEN d.amount IS NOT NULL THEN ${settings.currency}::text END,
      voucher_id = d.voucher_id,
      decision_note = coalesce(d.note, f.decision_note),
      decided_at = coalesce(d.decided_at, f.decided_at),
      review_reason = coalesce(d.review_reason::"ServiceFailureReviewReason", f.review_reason)
    FROM unnest(${c.id}::uuid[], ${c.status}::text[], ${c.repeatIndex}::int[], ${c.amount}::numeric[], ${c.voucherId}::uuid[],
                ${c.note}::text[], ${c.decidedAt}::timestamptz[], ${c.reviewReason}::text[])
         AS d(id, status, repeat_index, amount, voucher_id, note, decided_at, review_reason)
    WHERE f.id = d.id AND f.status = 'RECORDED'`;
  if (updated !== decided.length) {
    throw new Error(`batch compensation: ${decided.length - updated} of ${decided.length} failures were no longer RECORDED`);
  }
  return issueDecidedVouchers(tx, decided, c, settings, now);
}
