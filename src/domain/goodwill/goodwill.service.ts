import { newRowId } from '../../db/ids.js';
import { Decimal } from 'decimal.js';
import { SYSTEM_ACTOR, type Caller, type StaffRole } from '../../auth/principal.js';
import {
  Prisma,
  type GoodwillGesture,
  type GoodwillKind,
  type GoodwillReason,
  type GoodwillStatus,
} from '../../generated/prisma/client.js';
import { rawSql, type RawSql } from '../../db/sql.js';
import { reportApprovalQueueChanges } from '../approvals/approval-queue.js';
import {
  assertMayCall,
  assertRole,
  hasRole,
  ownRowsWhere,
  SERVICE_CALLERS,
  type CallerRule,
  type GuardedService,
} from '../authorization.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { ForbiddenError, GoodwillNotPendingError, NotFoundError, ValidationError } from '../errors.js';
import {
  checkIdempotencyKey,
  isIdempotencyKey,
  once,
  optionalIdempotencyKey,
  ownSharedRecordSql,
  replayShared,
  scopeOf,
  type Replayable,
  type SharedRecord,
} from '../idempotency.js';
import type { LockedMember } from '../points/ledger.js';
import { inLedgerTransaction } from '../points/ledger-kernel.js';
import { assertEligible } from '../members/eligibility.js';
import { grantAvailablePoints } from '../points/points.service.js';
import { assertProgramCurrency, loadProgram, lockedProgramCurrency } from '../program/program.service.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { utcDate } from '../time.js';
import * as check from '../validation.js';
import { issueVoucher } from '../vouchers/vouchers.service.js';
import { eventRows, webhookEventsCte, type WebhookEventInput } from '../webhooks/webhook-events.js';
import { goodwillStaffId, writeGoodwillAudit } from './goodwill-audit.js';

/** A member of staff acting on goodwill: the agent who issues, the supervisor who decides. */
interface Staff {
  id: string;
  role: StaffRole;
}

/**
 * The staff member a caller acts as on goodwill, refused (ForbiddenError) when
 * the service's rule in SERVICE_CALLERS does not let them in. An admin-scoped API key acts as an ADMIN named `api-key:<id>`,
 * so its gestures and decisions never share an agent id with a person.
 */
function staffOf(caller: Caller, service: GuardedService): Staff {
  assertMayCall(caller, service);
  // Every goodwill rule lets staff in only, so the caller has a role here.
  const own = assertRole(caller, 'AGENT', service);
  return { id: goodwillStaffId(caller), role: own };
}

export const GOODWILL_REASONS = [
  'DELAYED_DELIVERY',
  'DEFECTIVE_PRODUCT',
  'BILLING_ERROR',
  'POOR_EXPERIENCE',
  'LONG_WAIT',
  'OTHER',
] as const satisfies readonly GoodwillReason[];

/**
 * The steps a gesture's audit trail records (`goodwill_audit_entries.action`). VOUCHER_VOIDED: staff voided the
 * gesture's voucher (`voidVoucher`, recorded by `recordGestureVoucherVoided`).
 */
export const GOODWILL_AUDIT_ACTIONS = ['ISSUED', 'GRANTED', 'HELD_FOR_APPROVAL', 'APPROVED', 'REJECTED', 'VOUCHER_VOIDED'] as const;
export type GoodwillAuditAction = (typeof GOODWILL_AUDIT_ACTIONS)[number];

/** Largest value a `numeric(12,2)` column holds. */
const MAX_MONEY = new Decimal('9999999999.99');

// ---------------------------------------------------------------------------
// Authority

/** An agent's effective goodwill authority: their own limits where set, else the program's. */
export interface AgentAuthorityView {
  agentId: string;
  currency: string;
  perGestureLimit: string;
  perGesturePointsLimit: number;
  monthlyBudget: string;
  /**
   * Money value of the agent's GRANTED gestures in the current calendar month (UTC), less those whose voucher a
   * supervisor or admin other than the agent voided (`grantedThisMonth`).
   */
  spentThisMonth: string;
  /** What is left of the monthly budget this month (never below zero). */
  remainingThisMonth: string;
  /** True when no limit of the agent's own is set. */
  usesProgramDefaults: boolean;
  updatedBy: string | null;
  updatedAt: Date | null;
}

interface AuthorityRow {
  per_gesture_limit: string | null;
  per_gesture_points_limit: number | null;
  monthly_budget: string | null;
  updated_by: string;
  updated_at: Date;
}

interface EffectiveAuthority {
  perGestureLimit: Decimal;
  perGesturePointsLimit: number;
  monthlyBudget: Decimal;
}

function effectiveAuthority(row: AuthorityRow | undefined, settings: ProgramSettings): EffectiveAuthority {
  return {
    perGestureLimit: new Decimal(row?.per_gesture_limit ?? settings.goodwill.perGestureLimit),
    perGesturePointsLimit: row?.per_gesture_points_limit ?? settings.goodwill.perGesturePointsLimit,
    monthlyBudget: new Decimal(row?.monthly_budget ?? settings.goodwill.monthlyBudget),
  };
}

/** The calendar month (UTC) that `now` falls in, as [start, end). */
export function monthOf(now: Date): { start: Date; end: Date } {
  const start = utcDate(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const end = utcDate(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return { start, end };
}

/**
 * Locks the agent's authority row for the rest of the transaction, creating an
 * all-defaults row (null limits) on first use. Every grant against an agent's
 * budget runs under this lock, so concurrent gestures of one agent are summed
 * and granted one after the other and never overrun the budget together.
 */
async function lockAgentAuthority(tx: RawSql, agentId: string, now: Date): Promise<AuthorityRow> {
  // A concurrent first insert blocks on the primary key until the other commits.
  await tx.$executeRaw`
    INSERT INTO agent_authorities (agent_id, updated_by, updated_at)
    VALUES (${agentId}, ${`${SYSTEM_ACTOR.type}:${SYSTEM_ACTOR.id}`}, ${now})
    ON CONFLICT (agent_id) DO NOTHING`;
  const [row] = await tx.$queryRaw<AuthorityRow[]>`
    SELECT per_gesture_limit::text, per_gesture_points_limit, monthly_budget::text, updated_by, updated_at
    FROM agent_authorities WHERE agent_id = ${agentId} FOR UPDATE`;
  return row!;
}

/**
 * Who gives an agent's budget back by voiding a gesture's voucher: staff from SUPERVISOR up, not the gesture's agent.
 */
const BUDGET_RETURNED_BY = ['SUPERVISOR', 'ADMIN'] as const satisfies readonly StaffRole[];

/**
 * Money value of the agent's gestures granted in the month of `now`: at once when issued (no decision), or on
 * approval — a gesture held in one month and approved in the next is the next month's spending, as the
 * metrics count it. Only gestures valued in `currency`, the budget's (the program's): one valued before the
 * program's currency changed is not converted and not counted. Served by (agent_id, created_at) and
 * (agent_id, decided_at).
 *
 * A gesture whose voucher was voided gave the member nothing, but the budget bounds the agent's own discretion, and
 * agents may void vouchers (`voidVoucher`): their own void, or another agent's, leaves the gesture counted — else an
 * agent at their budget could take an unused gesture back from one member and give it to another, or void and grant
 * again, and no supervisor would see it. A supervisor or admin other than the gesture's agent voiding it is the
 * oversight the budget stands for (it was issued in error): the gesture then leaves the month it was granted in, as
 * the metrics leave it out. Read from the gesture's `VOUCHER_VOIDED` audit step (who, and their role at the void);
 * one index probe per gesture of the month, under the agent's lock where a grant reads it. A void does not take that
 * lock: it commits before this statement (the gesture is out) or after it (it counts, as if voided just after) — both
 * serial outcomes, and a void only ever lowers the sum.
 */
async function grantedThisMonth(db: RawSql, agentId: string, now: Date, currency: string): Promise<Decimal> {
  const { start, end } = monthOf(now);
  const [row] = await db.$queryRaw<{ total: string }[]>`
    SELECT COALESCE(SUM(g.money_value), 0)::text AS total FROM goodwill_gestures g
    WHERE g.agent_id = ${agentId} AND g.status = 'GRANTED' AND g.currency = ${currency}
      AND ((g.decided_at IS NULL AND g.created_at >= ${start} AND g.created_at < ${end})
           OR (g.decided_at >= ${start} AND g.decided_at < ${end}))
      AND NOT EXISTS (
        SELECT 1 FROM goodwill_audit_entries voided
        WHERE voided.gesture_id = g.id AND voided.action = 'VOUCHER_VOIDED'
          AND voided.actor_role = ANY(${BUDGET_RETURNED_BY}::text[]) AND voided.actor_id <> g.agent_id)`;
  return new Decimal(row?.total ?? '0');
}

function authorityView(agentId: string, row: AuthorityRow | undefined, settings: ProgramSettings, spent: Decimal): AgentAuthorityView {
  const effective = effectiveAuthority(row, settings);
  const own = row && (row.per_gesture_limit ?? row.per_gesture_points_limit ?? row.monthly_budget) !== null;
  return {
    agentId,
    currency: settings.currency,
    perGestureLimit: effective.perGestureLimit.toFixed(2),
    perGesturePointsLimit: effective.perGesturePointsLimit,
    monthlyBudget: effective.monthlyBudget.toFixed(2),
    spentThisMonth: spent.toFixed(2),
    remainingThisMonth: Decimal.max(effective.monthlyBudget.minus(spent), 0).toFixed(2),
    usesProgramDefaults: !own,
    updatedBy: row?.updated_by ?? null,
    updatedAt: row?.updated_at ?? null,
  };
}

function agentIdOf(value: string): string {
  return check.plainText('agentId', value, { max: 200 });
}

/**
 * An agent's effective authority and what they granted this month. Agents may
 * read their own; supervisors and admins anyone's.
 */
export async function getAgentAuthority(
  deps: ServiceDeps,
  agentId: string | null | undefined,
  caller: Caller,
): Promise<AgentAuthorityView> {
  const staff = staffOf(caller, 'readAgentAuthority');
  const id = agentId == null ? staff.id : agentIdOf(agentId);
  if (id !== staff.id && !hasRole(caller, 'SUPERVISOR')) {
    throw new ForbiddenError("Only supervisors may read another agent's authority");
  }
  const now = nowOf(deps);
  const { settings } = await loadProgram(deps.prisma);
  const [row] = await deps.prisma.$queryRaw<AuthorityRow[]>`
    SELECT per_gesture_limit::text, per_gesture_points_limit, monthly_budget::text, updated_by, updated_at
    FROM agent_authorities WHERE agent_id = ${id}`;
  return authorityView(id, row, settings, await grantedThisMonth(deps.prisma, id, now, settings.currency));
}

export interface SetAgentAuthorityInput {
  agentId: string;
  /** Omitted: unchanged; null: back to the program default. */
  perGestureLimit?: string | null;
  perGesturePointsLimit?: number | null;
  monthlyBudget?: string | null;
  /**
   * The currency `perGestureLimit` / `monthlyBudget` was given in (a MoneyInput), when the client named one: held
   * against the program's once the agent's row is locked (ValidationError on `perGestureLimitCurrency` /
   * `monthlyBudgetCurrency`), so a limit decided in a currency an admin replaced meanwhile is not stored as the
   * same figure in the new one.
   */
  perGestureLimitCurrency?: string | null;
  monthlyBudgetCurrency?: string | null;
}

/**
 * Sets an agent's own goodwill limits (supervisors and admins). A supervisor
 * cannot change their own authority; an admin can. Takes the same row lock as
 * a grant, so a gesture is measured against either the old or the new limits.
 * A money limit is a bare figure in the program currency: it is set in the
 * currency read after that lock under the program's row (`lockedProgramCurrency`),
 * so a change of currency either waits for it and then refuses to leave it in the
 * old one (`updateProgram`), or commits first and the limit is held against the new one.
 */
export async function setAgentAuthority(deps: ServiceDeps, input: SetAgentAuthorityInput, caller: Caller): Promise<AgentAuthorityView> {
  const staff = staffOf(caller, 'setAgentAuthority');
  const agentId = agentIdOf(input.agentId);
  if (agentId === staff.id && !hasRole(caller, 'ADMIN')) {
    throw new ForbiddenError('Supervisors cannot change their own goodwill authority');
  }
  const limit = (field: string, value: string | null | undefined) =>
    value == null ? value : check.money(field, value, { positive: false }).toFixed(2);
  const perGestureLimit = limit('perGestureLimit', input.perGestureLimit);
  const monthlyBudget = limit('monthlyBudget', input.monthlyBudget);
  const points = input.perGesturePointsLimit;
  if (points != null && (!Number.isInteger(points) || points < 0 || points > check.MAX_POINTS)) {
    throw new ValidationError('perGesturePointsLimit', `must be a whole number between 0 and ${check.MAX_POINTS}`);
  }
  const now = nowOf(deps);
  const updatedBy = `STAFF:${staff.id}`;

  return deps.prisma.$transaction(async (tx) => {
    const current = await lockAgentAuthority(tx, agentId, now);
    if (perGestureLimit != null || monthlyBudget != null) {
      const currency = await lockedProgramCurrency(tx);
      if (perGestureLimit != null) assertProgramCurrency('perGestureLimitCurrency', input.perGestureLimitCurrency, currency);
      if (monthlyBudget != null) assertProgramCurrency('monthlyBudgetCurrency', input.monthlyBudgetCurrency, currency);
    }
    const { settings } = await loadProgram(tx);
    const next = {
      per_gesture_limit: perGestureLimit === undefined ? current.per_gesture_limit : perGestureLimit,
      per_gesture_points_limit: points === undefined ? current.per_gesture_points_limit : points,
      monthly_budget: monthlyBudget === undefined ? current.monthly_budget : monthlyBudget,
      updated_by: updatedBy,
      updated_at: now,
    };
    await tx.$executeRaw`
      UPDATE agent_authorities SET
        per_gesture_limit = ${next.per_gesture_limit}::numeric,
        per_gesture_points_limit = ${next.per_gesture_points_limit}::int,
        monthly_budget = ${next.monthly_budget}::numeric,
        updated_by = ${updatedBy}, updated_at = ${now}
      WHERE agent_id = ${agentId}`;
    deps.logger.info({ agentId, by: staff.id, authority: next }, 'goodwill authority set');
    return authorityView(agentId, next, settings, await grantedThisMonth(tx, agentId, now, settings.currency));
  });
}

// ---------------------------------------------------------------------------
// Gestures

export interface IssueGoodwillInput {
  memberId: string;
  kind: GoodwillKind;
  /** POINTS gestures: how many points. */
  points?: number | null;
  /** VOUCHER gestures: the voucher's value in the program currency. */
  amount?: string | null;
  /**
   * The currency `amount` was given in (a MoneyInput), when the client named one: it must be the program's when the
   * gesture is valued, under its locks, so an amount given in a currency an admin replaced meanwhile is refused
   * (ValidationError on `currency`) rather than issued as the same figure in the new one.
   */
  currency?: string | null;
  reason: GoodwillReason;
  note: string;
  caseRef?: string | null;
  idempotencyKey: string;
}

/** The outcome of a goodwill step, stored for idempotent replay (ids only). */
export interface GoodwillResult {
  gestureId: string;
  status: GoodwillStatus;
}

interface GestureValue {
  kind: GoodwillKind;
  points: number | null;
  amount: Decimal | null;
}

function gestureValue(input: IssueGoodwillInput): GestureValue {
  if (input.kind === 'POINTS') {
    if (input.amount != null) throw new ValidationError('amount', 'a POINTS gesture takes points, not an amount');
    if (input.points == null) throw new ValidationError('points', 'a POINTS gesture needs points');
    return { kind: 'POINTS', points: check.positivePoints('points', input.points), amount: null };
  }
  if (input.kind === 'VOUCHER') {
    if (input.points != null) throw new ValidationError('points', 'a VOUCHER gesture takes an amount, not points');
    if (input.amount == null) throw new ValidationError('amount', 'a VOUCHER gesture needs an amount');
    const amount = check.money('amount', input.amount);
    if (amount.gt(MAX_MONEY)) throw new ValidationError('amount', 'is too large');
    return { kind: 'VOUCHER', points: null, amount };
  }
  throw new ValidationError('kind', 'must be POINTS or VOUCHER');
}

/** What a gesture is worth in money: the voucher amount, or points × the program's point value. */
export function moneyValueOf(value: GestureValue, settings: ProgramSettings): Decimal {
  return value.amount ?? new Decimal(value.points!).mul(settings.pointValue);
}

/** Why a gesture needs approval, or null when it is within the agent's authority. */
function beyondAuthority(
  value: GestureValue,
  moneyValue: Decimal,
  authority: EffectiveAuthority,
  spent: Decimal,
  currency: string,
): string | null {
  if (moneyValue.gt(authority.perGestureLimit)) {
    return `${moneyValue.toFixed(2)} ${currency} is above the per-gesture limit of ${authority.perGestureLimit.toFixed(2)}`;
  }
  if (value.points !== null && value.points > authority.perGesturePointsLimit) {
    return `${value.points} points is above the per-gesture limit of ${authority.perGesturePointsLimit} points`;
  }
  if (spent.plus(moneyValue).gt(authority.monthlyBudget)) {
    return (
      `${spent.toFixed(2)} of the monthly budget of ${authority.monthlyBudget.toFixed(2)} ${currency} ` +
      `is already granted; ${moneyValue.toFixed(2)} more would exceed it`
    );
  }
  return null;
}

async function writeAudit(
  tx: RawSql,
  gestureId: string,
  action: GoodwillAuditAction,
  actor: { id: string; role: string },
  note: string | null,
  at: Date,
): Promise<void> {
  await writeGoodwillAudit(tx, Prisma.sql`SELECT ${gestureId}::uuid AS id`, { action, actorId: actor.id, actorRole: actor.role, note, at });
}

/**
 * Gives the member what the gesture grants, in the caller's transaction (which
 * holds the member lock): GOODWILL points available at once in a lot with the
 * normal expiry, or a GOODWILL voucher. Keyed by the gesture (ledger idempotency
 * key, voucher cause), so a gesture can never grant twice.
 */
async function grantGesture(
  tx: RawSql,
  member: LockedMember,
  gesture: { id: string; kind: GoodwillKind; points: number | null; amount: string | null; note: string },
  agentId: string,
  settings: ProgramSettings,
  now: Date,
  amountField = 'points',
): Promise<{ ledgerEntryId: string | null; voucherId: string | null }> {
  if (gesture.kind === 'POINTS') {
    const entry = await grantAvailablePoints(tx, member, settings, {
      kind: 'GOODWILL',
      points: gesture.points!,
      causeType: 'GESTURE',
      causeRef: gesture.id,
      actor: { type: 'STAFF', id: agentId },
      idempotencyKey: `goodwill:${gesture.id}`,
      note: gesture.note,
      amountField,
      now,
    });
    return { ledgerEntryId: entry.id, voucherId: null };
  }
  const { voucher } = await issueVoucher(tx, {
    memberId: member.id,
    kind: 'GOODWILL',
    value: { type: 'FIXED', amount: gesture.amount! },
    causeType: 'GESTURE',
    causeRef: gesture.id,
    now,
    settings,
  });
  return { ledgerEntryId: null, voucherId: voucher.id };
}

/**
 * An agent's goodwill gesture. Within the agent's authority — the value (points
 * × point value, or the voucher amount) at most the per-gesture limit, points at
 * most the per-gesture points limit, and the agent's GRANTED gestures of this
 * calendar month (UTC) plus this one at most the monthly budget — it is GRANTED
 * at once; otherwise it waits as PENDING_APPROVAL (a success, not an error).
 *
 * The budget holds under concurrency: the sum and the grant run under the lock
 * of the agent's authority row. One gesture per (agent, idempotency key): by
 * `once()` and by a unique index on the gestures.
 */
export async function issueGoodwill(deps: ServiceDeps, input: IssueGoodwillInput, caller: Caller): Promise<Replayable<GoodwillResult>> {
  const staff = staffOf(caller, 'issueGoodwill');
  const memberId = check.uuid('memberId', input.memberId);
  const value = gestureValue(input);
  if (!(GOODWILL_REASONS as readonly string[]).includes(input.reason)) {
    throw new ValidationError('reason', `must be one of ${GOODWILL_REASONS.join(', ')}`);
  }
  const note = check.text('note', input.note, { max: 1000 });
  // The case's reference is a key: the key rule refuses it (in the effect) unless the request is a replay.
  const caseKey = input.caseRef == null ? null : check.storableKey('caseRef', input.caseRef, { max: 200 });
  const caseRef = caseKey?.value ?? null;
  const key = checkIdempotencyKey(input.idempotencyKey);
  const request = {
    memberId,
    kind: value.kind,
    points: value.points,
    amount: value.amount?.toFixed(2) ?? null,
    reason: input.reason,
    note,
    caseRef,
  };

  // Agent first, then member: the same order as approvals, so no deadlock.
  const operation = {
    memberId,
    request: { scope: `issueGoodwill:${staff.id}`, key, body: request },
    lockFirst: (tx: RawSql, now: Date) => lockAgentAuthority(tx, staff.id, now),
  };
  const issued = await inLedgerTransaction(deps, operation, async ({ tx, member, settings, now, first: authorityRow }) => {
    if (caseKey?.refusal) throw caseKey.refusal;
    // Money keeps the currency it was decided in: 20.00 EUR are not 20.00 of the currency the program switched to.
    assertProgramCurrency('currency', input.currency, settings.currency);
    const moneyValue = moneyValueOf(value, settings);
    if (moneyValue.gt(MAX_MONEY)) throw new ValidationError('points', 'the gesture is worth too much');
    assertEligible(member, 'GOODWILL');
    const authority = effectiveAuthority(authorityRow, settings);
    const spent = await grantedThisMonth(tx, staff.id, now, settings.currency);
    const heldBecause = beyondAuthority(value, moneyValue, authority, spent, settings.currency);

    const gesture = {
      id: newRowId(),
      kind: value.kind,
      points: value.points,
      amount: value.amount?.toFixed(2) ?? null,
      note,
    };
    const effect = heldBecause === null ? await grantGesture(tx, member, gesture, staff.id, settings, now) : null;
    const status: GoodwillStatus = heldBecause === null ? 'GRANTED' : 'PENDING_APPROVAL';
    // A held gesture is announced (goodwill.pending_approval) in the gesture's own statement.
    const pending: WebhookEventInput[] =
      heldBecause === null
        ? []
        : [
            {
              type: 'goodwill.pending_approval',
              data: {
                gestureId: gesture.id,
                memberId,
                agentId: staff.id,
                kind: value.kind,
                points: value.points,
                amount: gesture.amount === null ? null : { amount: gesture.amount, currency: settings.currency },
                reason: input.reason,
                note,
                caseRef,
                heldBecause,
              },
            },
          ];
    await tx.$executeRaw`
      WITH gesture AS (
        INSERT INTO goodwill_gestures
          (id, member_id, agent_id, kind, points, amount, currency, money_value, reason, note, case_ref, status,
           idempotency_key, ledger_entry_id, voucher_id, created_at)
        VALUES
          (${gesture.id}::uuid, ${memberId}::uuid, ${staff.id}, ${value.kind}::"GoodwillKind", ${value.points}::int,
           ${gesture.amount}::numeric, ${settings.currency}, ${moneyValue.toFixed(2)}::numeric,
           ${input.reason}::"GoodwillReason", ${note}, ${caseRef}::text, ${status}::"GoodwillStatus", ${key},
           ${effect?.ledgerEntryId ?? null}::uuid, ${effect?.voucherId ?? null}::uuid, ${now}::timestamptz)),
      ${webhookEventsCte(eventRows(pending), now)}
      SELECT 1`;
    await writeAudit(tx, gesture.id, 'ISSUED', staff, note, now);
    if (heldBecause === null) {
      await writeAudit(tx, gesture.id, 'GRANTED', staff, 'within the agent’s authority', now);
    } else {
      await writeAudit(tx, gesture.id, 'HELD_FOR_APPROVAL', { id: SYSTEM_ACTOR.id, role: SYSTEM_ACTOR.type }, heldBecause, now);
    }
    return {
      result: { gestureId: gesture.id, status } satisfies GoodwillResult,
      change: effect && { kind: 'GOODWILL_GRANTED', reference: gesture.id },
    };
  });
  if (issued.status === 'PENDING_APPROVAL' && !issued.replayed) {
    reportApprovalQueueChanges(deps, [{ kind: 'GESTURE_PENDING', reference: issued.gestureId }]);
  }
  return issued;
}

export interface GoodwillDecisionInput {
  gestureId: string;
  note?: string | null;
  /** Repeating the key (with the same note) returns the first result. Required to approve, optional to reject. */
  idempotencyKey?: string | null;
}

/**
 * The gesture for a decision, refusing callers below SUPERVISOR and the agent who issued it; with it, in the same
 * statement, the supervisor's own record of `key` stored before stop 53 under the gesture alone (`<operation>:<id>`,
 * the scope every supervisor shared then): theirs when the gesture names them as its decider (`ownSharedRecordSql`).
 * A key the decision's checks will refuse is not looked up.
 */
async function gestureForDecision(
  deps: ServiceDeps,
  gestureId: string,
  staff: Staff,
  verb: 'approve' | 'reject',
  key: string | null | undefined,
): Promise<{ id: string; agentId: string; memberId: string; storedBefore: SharedRecord | null }> {
  const id = check.uuid('gestureId', gestureId);
  const storedBefore = isIdempotencyKey(key)
    ? ownSharedRecordSql(`${verb}Goodwill:${id}`, key, Prisma.sql`g.decided_by = ${staff.id}::text`)
    : Prisma.sql`NULL::jsonb`;
  const [gesture] = await rawSql(deps.prisma).$queryRaw<
    { id: string; agentId: string; memberId: string; storedBefore: SharedRecord | null }[]
  >`
    SELECT g.id::text, g.agent_id AS "agentId", g.member_id::text AS "memberId", ${storedBefore} AS "storedBefore"
    FROM goodwill_gestures g WHERE g.id = ${id}::uuid`;
  if (!gesture) throw new NotFoundError('GoodwillGesture', id);
  if (gesture.agentId === staff.id) throw new ForbiddenError(`You cannot ${verb} your own goodwill gesture`);
  return gesture;
}

interface PendingGesture {
  id: string;
  memberId: string;
  agentId: string;
  kind: GoodwillKind;
  points: number | null;
  amount: string | null;
  /** The program currency when it was issued: the currency of `amount`. */
  currency: string;
  note: string;
  status: GoodwillStatus;
}

/** Locks a gesture row and checks it is still waiting for a decision. */
async function lockPendingGesture(tx: RawSql, gestureId: string): Promise<PendingGesture> {
  const [row] = await tx.$queryRaw<PendingGesture[]>`
    SELECT id::text, member_id::text AS "memberId", agent_id AS "agentId", kind::text, points, amount::text, currency,
           note, status::text
    FROM goodwill_gestures WHERE id = ${gestureId}::uuid FOR UPDATE`;
  if (!row) throw new NotFoundError('GoodwillGesture', gestureId);
  if (row.status !== 'PENDING_APPROVAL') throw new GoodwillNotPendingError(row.status);
  return row;
}

/**
 * A supervisor approves a gesture waiting for approval: the points or voucher
 * are granted in the same transaction that marks it GRANTED. Only a
 * PENDING_APPROVAL gesture can be approved (under its row lock), so a second
 * approval is a GoodwillNotPendingError and never a second grant; the same
 * idempotency key again replays the first answer. A VOUCHER gesture issued in
 * another currency than the program's (it changed since) is a ValidationError
 * and nothing is written: the supervisor rejects it and an agent issues a new one.
 * Points that would take the member past the balance limit are a ValidationError
 * on `gestureId` (the gesture set them), nothing written, the gesture still pending.
 * The idempotency key is the supervisor's own: another supervisor sending the
 * same key is told the gesture is decided (GoodwillNotPendingError), never
 * answered the first one's approval as theirs; a key stored before stop 53, per
 * gesture, replays for the supervisor who decided (`gestureForDecision`).
 */
export async function approveGoodwill(
  deps: ServiceDeps,
  input: GoodwillDecisionInput,
  caller: Caller,
): Promise<Replayable<GoodwillResult>> {
  const staff = staffOf(caller, 'decideGoodwill');
  const { id, agentId, memberId, storedBefore } = await gestureForDecision(deps, input.gestureId, staff, 'approve', input.idempotencyKey);
  const note = input.note == null ? null : check.text('note', input.note, { max: 1000 });
  const key = checkIdempotencyKey(input.idempotencyKey ?? '');
  // Stored before the key was the supervisor's own: the gesture was decided then, so it replays without a lock.
  const before = replayShared<GoodwillResult>(storedBefore, key, { note });
  if (before) return before;
  const operation = {
    memberId,
    request: { scope: scopeOf(`approveGoodwill:${id}`, caller), key, body: { note } },
    // Approvals count against the agent's month too: serialise with their grants.
    lockFirst: (tx: RawSql, now: Date) => lockAgentAuthority(tx, agentId, now),
  };
  const approved = await inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    const gesture = await lockPendingGesture(tx, id);
    // Money keeps the currency it was decided in: the agent's 40.00 EUR is not 40.00 of another currency.
    if (gesture.kind === 'VOUCHER' && gesture.currency !== settings.currency) {
      throw new ValidationError(
        'gestureId',
        `the gesture was issued in ${gesture.currency}, the program now uses ${settings.currency}: reject it and issue a new one`,
      );
    }
    assertEligible(member, 'GOODWILL');
    // The gesture set the points (ApproveGoodwillInput has no `points`): a grant past the limit names it.
    const effect = await grantGesture(tx, member, gesture, gesture.agentId, settings, now, 'gestureId');
    await tx.$executeRaw`
      UPDATE goodwill_gestures SET status = 'GRANTED', ledger_entry_id = ${effect.ledgerEntryId}::uuid,
             voucher_id = ${effect.voucherId}::uuid, decided_by = ${staff.id}, decided_at = ${now}::timestamptz,
             decision_note = ${note}::text
      WHERE id = ${id}::uuid`;
    await writeAudit(tx, id, 'APPROVED', staff, note, now);
    return { result: { gestureId: id, status: 'GRANTED' } satisfies GoodwillResult, change: { kind: 'GOODWILL_GRANTED', reference: id } };
  });
  if (!approved.replayed) reportApprovalQueueChanges(deps, [{ kind: 'GESTURE_DECIDED', reference: id }]);
  return approved;
}

/**
 * A supervisor rejects a gesture waiting for approval: nothing is granted. A
 * gesture already decided is a GoodwillNotPendingError. With an idempotency key
 * (optional, for clients of before), the same key and note again replay the
 * first answer — a retry after a lost answer is told the gesture was rejected —
 * and the same key with another note is an IdempotencyConflictError: `once()`
 * reserves the key (per supervisor and gesture, as approvals do) before the
 * gesture is locked. Another supervisor's same key is their own request: the
 * gesture is decided (GoodwillNotPendingError); a key stored before stop 53,
 * per gesture, replays for the supervisor who decided (`gestureForDecision`).
 */
export async function rejectGoodwill(deps: ServiceDeps, input: GoodwillDecisionInput, caller: Caller): Promise<Replayable<GoodwillResult>> {
  const staff = staffOf(caller, 'decideGoodwill');
  const { id, storedBefore } = await gestureForDecision(deps, input.gestureId, staff, 'reject', input.idempotencyKey);
  const note = check.text('note', input.note ?? '', { max: 1000 });
  const key = optionalIdempotencyKey(input.idempotencyKey);
  const before = key === null ? null : replayShared<GoodwillResult>(storedBefore, key, { note });
  if (before) return before;
  const now = nowOf(deps);
  const rejected = await deps.prisma.$transaction((tx) =>
    once(tx, scopeOf(`rejectGoodwill:${id}`, caller), key, { note }, async () => {
      await lockPendingGesture(tx, id);
      await tx.goodwillGesture.update({
        where: { id },
        data: { status: 'REJECTED', decidedBy: staff.id, decidedAt: now, decisionNote: note },
      });
      await writeAudit(tx, id, 'REJECTED', staff, note, now);
      return { gestureId: id, status: 'REJECTED' } satisfies GoodwillResult;
    }),
  );
  if (!rejected.replayed) reportApprovalQueueChanges(deps, [{ kind: 'GESTURE_DECIDED', reference: id }]);
  return rejected;
}

// ---------------------------------------------------------------------------
// Listing

export interface GoodwillGestureFilter {
  status?: GoodwillStatus | null;
  agentId?: string | null;
  memberId?: string | null;
  reason?: GoodwillReason | null;
  /** Created at or after. */
  from?: Date | null;
  /** Created before. */
  to?: Date | null;
}

/**
 * The Prisma condition for a gesture listing (`goodwillGestures`); all given
 * conditions must hold. Who may list is SERVICE_CALLERS.readGoodwill (staff):
 * anyone else is refused before the filter is looked at. The agent id is checked
 * as `agentAuthority` checks one (ValidationError, nothing read).
 */
export function goodwillGestureWhere(filter: GoodwillGestureFilter | null | undefined, caller: Caller): Prisma.GoodwillGestureWhereInput {
  assertMayCall(caller, 'readGoodwill');
  if (!filter) return {};
  if (filter.from) check.dateTime('from', filter.from);
  if (filter.to) check.dateTime('to', filter.to);
  if (filter.from && filter.to && filter.from > filter.to) throw new ValidationError('to', 'must not be before `from`');
  const createdAt: Prisma.DateTimeFilter = {};
  if (filter.from) createdAt.gte = filter.from;
  if (filter.to) createdAt.lt = filter.to;
  return {
    ...(filter.status ? { status: filter.status } : {}),
    ...(filter.agentId ? { agentId: agentIdOf(filter.agentId) } : {}),
    ...(filter.memberId ? { memberId: check.uuid('memberId', filter.memberId) } : {}),
    ...(filter.reason ? { reason: filter.reason } : {}),
    ...(filter.from || filter.to ? { createdAt } : {}),
  };
}

/**
 * Who may see a goodwill gesture: staff who may list them (SERVICE_CALLERS.readGoodwill) and the member it is for —
 * the goodwill service's read by id (`ownRowsWhere`) and the GoodwillGesture type's visibility (`mayReadOwnRow`).
 */
export const GOODWILL_GESTURE_READERS = { ...SERVICE_CALLERS.readGoodwill, members: true } as const satisfies CallerRule;

/** What a read loads with the gesture: plugin-prisma's plan of a GraphQL selection, say. */
export type GoodwillGestureReadShape = Pick<Prisma.GoodwillGestureFindUniqueArgs, 'select' | 'include'>;

/**
 * A goodwill gesture by its id (`node(id)`), with what `shape` loads with it, or null when there is none. Who may
 * read it is GOODWILL_GESTURE_READERS (`ownRowsWhere`): anyone else is refused before anything is read, and a member
 * token finds only their own. The id must be a UUID (ValidationError).
 */
export async function readGoodwillGesture(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: GoodwillGestureReadShape,
  caller: Caller,
): Promise<GoodwillGesture | null> {
  const mayRead = ownRowsWhere(caller, GOODWILL_GESTURE_READERS, 'Reading goodwill gestures');
  return deps.prisma.goodwillGesture.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}
