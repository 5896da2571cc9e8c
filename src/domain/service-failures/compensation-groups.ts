import { Decimal } from 'decimal.js';
import { sqlTransaction } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import { currentSpanLink, inSpan } from '../../telemetry/trace-context.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { settingsForHash } from '../program/program.service.js';
import { eventRows, webhookEventsCte } from '../webhooks/webhook-events.js';
import { compensatedEvents, decisionColumns, issueDecidedVouchers, type DecidedFailure } from './batch-compensation.js';
import {
  compensateServiceFailure,
  decideCompensation,
  failureHistorySql,
  repeatWindowEnd,
  repeatWindowStart,
  type CompensationOutcome,
  lockFailuresForDecision,
  reportCompensation,
} from './service-failures.service.js';

/**
 * Group commit for the compensation queue: the jobs a worker process runs at
 * the same time are decided in one transaction of four statements instead of
 * a transaction of four statements each, with the policy and the guards of
 * `compensateServiceFailure` (and the pieces of the incidents' batch path).
 */

/** One job of a group. */
export interface CompensationRequest {
  failureId: string;
  /** The outbox event the job completes: a released failure's own; the failure id when absent. */
  eventId?: string;
  /**
   * The job's own deps for what follows the commit — its member changes make
   * the member's cached answers stale before that job completes — when they
   * are not the group's.
   */
  reportTo?: ServiceDeps;
}

/** A decision of the group, with the voucher it issued (COMPENSATED). */
type GroupDecision = DecidedFailure & { voucherId: string | null };

/**
 * Decides the compensation of many failures in one transaction, each exactly
 * as `compensateServiceFailure` decides it alone, the requests taken in their
 * order: the outcome of each is the one it would get run after those before
 * it. Locks the failures' members in id order (two groups never deadlock; a
 * single job locks one member) and then the failures — member before failure,
 * as every path does. A failure no longer RECORDED, named twice, or missing
 * gets ALREADY_DECIDED or MISSING, as a repeated job does; every request's
 * outbox event is completed. A member's second failure in the group counts
 * the first one's voucher in its cap window (the repeat index does not depend
 * on decisions). Vouchers are unique per failure, and a decision is written
 * only on a failure still RECORDED: a retried or raced group is a no-op, and
 * an error rolls the whole group back (the caller then runs the jobs alone).
 */
export async function compensateServiceFailures(
  deps: ServiceDeps,
  requests: readonly CompensationRequest[],
): Promise<CompensationOutcome[]> {
  if (requests.length === 0) return [];
  const now = nowOf(deps);
  const failureIds = [...new Set(requests.map((request) => request.failureId))];
  const eventIds = [...new Set(requests.map((request) => request.eventId ?? request.failureId))];

  const { locked, decided } = await sqlTransaction(deps.prisma, async (tx) => {
    const rows = await lockFailuresForDecision(tx, failureIds);
    const locked = new Map(rows.map((row) => [row.id, row]));
    // In the order of the requests: the order the jobs would have run in one by one.
    const open = failureIds.flatMap((id) => {
      const failure = locked.get(id);
      return failure?.status === 'RECORDED' ? [failure] : [];
    });
    if (open.length === 0) {
      await tx.$executeRaw`
        UPDATE outbox_events SET completed_at = ${now}::timestamptz
        WHERE id = ANY(${eventIds}::uuid[]) AND completed_at IS NULL`;
      return { locked, decided: new Map<string, GroupDecision>() };
    }
    const settings = await settingsForHash(tx, open[0]!.settingsHash);
    const policy = settings.compensation;

    // After the locks, as in the single path; a member with another failure within the repeat window is at risk.
    const ref = {
      memberId: Prisma.raw('f.member_id'),
      id: Prisma.raw('f.id'),
      occurredAt: Prisma.raw('f.occurred_at'),
      createdAt: Prisma.raw('f.created_at'),
      repeatFrom: Prisma.raw('f.repeat_from'),
      repeatUntil: Prisma.raw('f.repeat_until'),
    };
    const history = await tx.$queryRaw<{ id: string; repeatIndex: number; capUsed: string }[]>`
      WITH history AS MATERIALIZED (
        SELECT f.id, f.member_id, facts."repeatIndex", facts."repeatNeighbours", facts."capUsed"
        FROM unnest(${open.map((failure) => failure.id)}::uuid[], ${open.map((failure) => failure.memberId)}::uuid[],
                    ${open.map((failure) => failure.occurredAt)}::timestamptz[],
                    ${open.map((failure) => failure.createdAt)}::timestamptz[],
                    ${open.map((failure) => repeatWindowStart(failure.occurredAt, policy))}::timestamptz[],
                    ${open.map((failure) => repeatWindowEnd(failure.occurredAt, policy))}::timestamptz[])
               AS f(id, member_id, occurred_at, created_at, repeat_from, repeat_until),
             LATERAL (SELECT ${failureHistorySql(ref, settings, now)}) facts),
      flagged AS (
        UPDATE members SET at_risk = true, at_risk_since = ${now}::timestamptz, updated_at = ${now}::timestamptz
        WHERE id IN (SELECT member_id FROM history WHERE "repeatNeighbours" >= 1) AND NOT at_risk)
      SELECT id::text, "repeatIndex", "capUsed" FROM history`;
    const facts = new Map(history.map((row) => [row.id, row]));

    // What the member's earlier failures in this group were granted is in the cap window of the later ones.
    const capUsed = new Map<string, Decimal>();
    const decisions = open.map((failure): DecidedFailure => {
      const { repeatIndex, capUsed: usedBefore } = facts.get(failure.id)!;
      const used = capUsed.get(failure.memberId) ?? new Decimal(usedBefore);
      const decision = decideCompensation(settings, {
        severity: failure.severity,
        tier: failure.tier,
        repeatIndex,
        memberStatus: failure.memberStatus,
        capUsed: used.toString(),
      });
      capUsed.set(failure.memberId, decision.status === 'COMPENSATED' ? used.plus(decision.amount) : used);
      return { failure: { id: failure.id, memberId: failure.memberId }, repeatIndex, decision };
    });

    const columns = decisionColumns(decisions, now);
    await issueDecidedVouchers(tx, decisions, columns, settings, now);
    // Each compensation is announced (service_failure.compensated) in the statement that records it.
    const [written] = await tx.$queryRaw<{ decided: number }[]>`
      WITH ${webhookEventsCte(eventRows(compensatedEvents(decisions, columns, settings)), now)},
      decided AS (
        UPDATE service_failures f SET
          status = d.status::"ServiceFailureStatus",
          repeat_index = d.repeat_index,
          compensation_amount = d.amount,
          compensation_currency = CASE WHEN d.amount IS NOT NULL THEN ${settings.currency}::text END,
          voucher_id = d.voucher_id,
          decision_note = d.note,
          decided_at = d.decided_at,
          review_reason = d.review_reason::"ServiceFailureReviewReason"
        FROM unnest(${columns.id}::uuid[], ${columns.status}::text[], ${columns.repeatIndex}::int[], ${columns.amount}::numeric[],
                    ${columns.voucherId}::uuid[], ${columns.note}::text[], ${columns.decidedAt}::timestamptz[],
                    ${columns.reviewReason}::text[])
             AS d(id, status, repeat_index, amount, voucher_id, note, decided_at, review_reason)
        WHERE f.id = d.id AND f.status = 'RECORDED'
        RETURNING f.id),
      completed AS (
        UPDATE outbox_events SET completed_at = ${now}::timestamptz
        WHERE id = ANY(${eventIds}::uuid[]) AND completed_at IS NULL)
      SELECT count(*)::int AS decided FROM decided`;
    // Locked and RECORDED above: anything else is a bug, and the group must not commit.
    if (written?.decided !== decisions.length) {
      throw new Error(`compensation group: ${decisions.length - (written?.decided ?? 0)} failures were no longer RECORDED`);
    }
    return {
      locked,
      decided: new Map(
        decisions.map((decided, index): [string, GroupDecision] => [
          decided.failure.id,
          { ...decided, voucherId: columns.voucherId[index] ?? null },
        ]),
      ),
    };
  });

  const answered = new Set<string>();
  return requests.map((request) => {
    const { failureId } = request;
    const failure = locked.get(failureId);
    if (!failure) return { outcome: 'MISSING', failureId };
    const decision = decided.get(failureId);
    if (!decision || answered.has(failureId)) {
      return { outcome: 'ALREADY_DECIDED', failureId, status: decision?.decision.status ?? failure.status };
    }
    answered.add(failureId);
    const outcome = outcomeOf(decision);
    // After commit, as the single path reports: to the job's own deps.
    reportCompensation(request.reportTo ?? deps, outcome, failure.memberId);
    return outcome;
  });
}

function outcomeOf({ failure, repeatIndex, decision, voucherId }: GroupDecision): CompensationOutcome & {
  outcome: 'COMPENSATED' | 'NEEDS_REVIEW' | 'HELD' | 'NOT_ELIGIBLE';
} {
  const failureId = failure.id;
  const index = repeatIndex!;
  switch (decision.status) {
    case 'COMPENSATED':
      return { outcome: 'COMPENSATED', failureId, voucherId: voucherId!, amount: decision.amount.toFixed(2), repeatIndex: index };
    case 'NEEDS_REVIEW':
      return { outcome: 'NEEDS_REVIEW', failureId, amount: decision.amount.toFixed(2), repeatIndex: index };
    case 'HELD':
      return { outcome: 'HELD', failureId, amount: decision.amount.toFixed(2), repeatIndex: index, reason: decision.reason };
    case 'NOT_ELIGIBLE':
      return { outcome: 'NOT_ELIGIBLE', failureId, reason: decision.reason };
  }
}

// ---------------------------------------------------------------------------
// The worker's collector

/** What a waiting job is told: its outcome, or to run alone — counted as running (`ALONE`) or after its group failed. */
type Verdict = { outcome: CompensationOutcome } | 'ALONE' | 'AFTER_FAILED_GROUP';

interface Waiting {
  deps: ServiceDeps;
  failureId: string;
  eventId: string;
  /** The job's span, which the group's span links to. */
  link: ReturnType<typeof currentSpanLink>;
  settle: (verdict: Verdict) => void;
}

/**
 * Collects the compensation jobs a worker process runs at the same time into
 * groups decided in one transaction each (`compensateServiceFailures`). A
 * group closes when the jobs that arrived in the current turn of the event
 * loop are in — or, while a group is being decided, when that one is done: the
 * jobs arriving meanwhile wait for it instead of starting transactions of
 * their own, so a slower database makes larger groups — and at `maxSize` (the
 * worker's concurrency: no more can be running). Each job's promise settles
 * with its own outcome. A group of one, and every job of a group whose
 * transaction failed, runs alone (`compensateServiceFailure`) in the job's own
 * trace: one job that cannot be decided never fails the others. One per
 * process, for one database.
 */
export class CompensationGroups {
  private waiting: Waiting[] = [];
  private closing: NodeJS.Immediate | undefined;
  /** Groups and jobs run alone that are being decided now. */
  private running = 0;

  constructor(private readonly maxSize: number) {}

  async compensate(deps: ServiceDeps, failureId: string, eventId = failureId): Promise<CompensationOutcome> {
    const verdict = await new Promise<Verdict>((settle) => {
      this.waiting.push({ deps, failureId, eventId, link: currentSpanLink(), settle });
      if (this.waiting.length >= this.maxSize) this.close();
      else
        this.closing ??= setImmediate(() => {
          this.closing = undefined;
          if (this.running === 0) this.close();
        });
    });
    if (typeof verdict === 'object') return verdict.outcome;
    // Alone, in the job's own trace.
    if (verdict === 'AFTER_FAILED_GROUP') return compensateServiceFailure(deps, failureId, eventId);
    try {
      return await compensateServiceFailure(deps, failureId, eventId);
    } finally {
      this.done();
    }
  }

  private done(): void {
    this.running -= 1;
    if (this.waiting.length > 0 && this.running === 0) this.close();
  }

  private close(): void {
    if (this.closing) clearImmediate(this.closing);
    this.closing = undefined;
    const group = this.waiting.splice(0, this.maxSize);
    if (group.length === 0) return;
    this.running += 1;
    if (group.length === 1) group[0]!.settle('ALONE');
    else void this.decide(group).finally(() => this.done());
  }

  private async decide(group: Waiting[]): Promise<void> {
    const deps = group[0]!.deps;
    try {
      // One transaction for several jobs, each of its own trace: a span of its own, linked to theirs.
      const outcomes = await inSpan(
        'compensation group',
        () =>
          compensateServiceFailures(
            deps,
            group.map(({ deps: reportTo, failureId, eventId }) => ({ failureId, eventId, reportTo })),
          ),
        { newTrace: true, links: group.flatMap(({ link }) => (link ? [link] : [])), attributes: { 'treue.group.size': group.length } },
      );
      group.forEach((waiting, index) => waiting.settle({ outcome: outcomes[index]! }));
    } catch (error) {
      deps.logger.warn({ err: error, jobs: group.length }, 'compensation group failed: its jobs run one by one');
      for (const waiting of group) waiting.settle('AFTER_FAILED_GROUP');
    }
  }
}
