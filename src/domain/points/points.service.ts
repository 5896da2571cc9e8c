import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import { SYSTEM_ACTOR, type Actor, type Caller } from '../../auth/principal.js';
import { sqlTransaction, type RawSql } from '../../db/sql.js';
import { assertMayCall, hasRole } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { ForbiddenError, InsufficientPointsError, NotFoundError, ValidationError } from '../errors.js';
import { checkIdempotencyKey, fingerprint, once, recordResult, recordResultSql, replay, type Replayable } from '../idempotency.js';
import { loadProgram, settingsForHash } from '../program/program.service.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { addDays, addMonths } from '../time.js';
import * as check from '../validation.js';
import {
  consumeLots,
  createLot,
  takeLots,
  lockMember,
  postEntry,
  postOrderEarning,
  readMember,
  settleMember,
  type AlsoInStatement,
  type LockedMember,
  type PostedEntry,
} from './ledger.js';
import type { Member, Prisma } from '../../generated/prisma/client.js';
import { applyTierUpgrade } from '../tiers/tiers.service.js';

/** The outcome of a point operation, stored for idempotent replay (ids only). */
export interface PointsResult {
  memberId: string;
  /** The ledger entry written, or null when the operation moved no points. */
  entryId: string | null;
  points: number;
}

/**
 * What a hot point operation answers: the stored answer and, on its first
 * execution only, the member's row as the operation's last write left it, so
 * that the caller need not read it again. A replay has the stored answer alone.
 */
export type PointsOutcome<T> = Replayable<T> & { member?: Member };

/** Suspended and closed members cannot move points (nor buy rewards). */
export function assertCanTransact(member: LockedMember): void {
  if (member.status === 'SUSPENDED' || member.status === 'CLOSED') {
    throw new ValidationError('memberId', `member is ${member.status.toLowerCase()}`);
  }
}

/** Points an order earns: value × earn rate × the member's tier multiplier, rounded down. */
export function pointsForOrder(settings: ProgramSettings, tier: LockedMember['tier'], orderTotal: Decimal): number {
  return orderTotal
    .mul(settings.pointsPerCurrencyUnit)
    .mul(settings.tiers[tier].multiplier)
    .floor()
    .toNumber();
}

/**
 * The frame of every point operation: lock the member, run the effect once per
 * (operation, member, idempotency key), with the member's lots settled first.
 */
export async function inMemberTransaction<T extends object>(
  deps: ServiceDeps,
  operation: string,
  memberId: string,
  idempotencyKey: string,
  request: unknown,
  effect: (tx: Tx, member: LockedMember, settings: ProgramSettings, now: Date) => Promise<T>,
): Promise<Replayable<T>> {
  const now = nowOf(deps);
  return deps.prisma.$transaction(async (tx) => {
    // Lock first: every write to one member's points is serialised on this row,
    // and a replay waits for the first request to commit.
    const member = await lockMember(tx, memberId);
    return once(tx, `${operation}:${memberId}`, idempotencyKey, request, async () => {
      const { settings } = await loadProgram(tx);
      await settleMember(tx, member, now, SYSTEM_ACTOR);
      return effect(tx, member, settings, now);
    });
  });
}

/**
 * Lets an effect store its request's answer in its own last statement (a CTE,
 * see `AlsoInStatement`) instead of the frame's separate UPDATE afterwards.
 */
export class Answer {
  private stored: string | null = null;
  constructor(
    private readonly scope: string,
    private readonly key: string,
  ) {}

  /** The CTE storing `result`, which must be what the effect then returns. */
  sql(result: object): Prisma.Sql {
    this.stored = JSON.stringify(result);
    return recordResultSql(this.scope, this.key, result);
  }

  /** Stores `result` unless the effect's last statement already stored exactly it. */
  async settle(tx: RawSql, result: object): Promise<void> {
    if (this.stored !== JSON.stringify(result)) await recordResult(tx, this.scope, this.key, result);
  }
}

/**
 * The same frame as `inMemberTransaction` for the hot operations (earn,
 * redeem), in as few round trips as its rules allow: one statement locks the
 * member, reserves the idempotency key (the INSERT reads the locked row, so it
 * runs after the lock: a replay still waits for the first request), says
 * whether any lot is due to be released or expired, and reads the settings'
 * version (md5 of their JSON; parsed settings are cached per version, see
 * `settingsForHash`). Settling runs only when a lot is due; the effect may
 * store the answer in its last statement (`answer`). It gets a `RawSql`
 * transaction on node-postgres directly (db/sql.ts), not through Prisma's engine,
 * and returns its answer with the member row its last write returned.
 */
export async function inPointTransaction<T extends object>(
  deps: ServiceDeps,
  operation: string,
  memberId: string,
  idempotencyKey: string,
  request: unknown,
  effect: (
    tx: RawSql,
    member: LockedMember,
    settings: ProgramSettings,
    now: Date,
    answer: Answer,
  ) => Promise<{ result: T; member: Member }>,
): Promise<PointsOutcome<T>> {
  const now = nowOf(deps);
  const scope = `${operation}:${memberId}`;
  const requestHash = fingerprint(request);
  return sqlTransaction(deps.prisma, async (tx) => {
    const [opened] = await tx.$queryRaw<(LockedMember & { fresh: boolean; due: boolean; settings_hash: string | null })[]>`
      WITH member AS (
        SELECT id, status, tier, available_points, pending_points, lifetime_points
        FROM members WHERE id = ${memberId}::uuid FOR UPDATE),
      reserved AS (
        INSERT INTO idempotency_records (operation, key, request_hash, result)
        SELECT ${scope}, ${idempotencyKey}, ${requestHash}, 'null'::jsonb FROM member
        ON CONFLICT (operation, key) DO NOTHING
        RETURNING 1)
      SELECT m.id::text, m.status::text, m.tier::text, m.available_points AS available, m.pending_points AS pending,
             m.lifetime_points AS lifetime,
             EXISTS (SELECT 1 FROM reserved) AS fresh,
             EXISTS (SELECT 1 FROM point_lots l
                     WHERE l.member_id = m.id AND l.expires_at <= ${now}::timestamptz AND l.expired_at IS NULL)
               OR EXISTS (SELECT 1 FROM point_lots l
                          WHERE l.member_id = m.id AND l.released_at IS NULL AND l.available_at <= ${now}::timestamptz
                            AND l.expired_at IS NULL) AS due,
             (SELECT md5(p.settings::text) FROM program p WHERE p.id = 1) AS settings_hash
      FROM member m`;
    if (!opened) throw new NotFoundError('Member', memberId);
    if (!opened.fresh) return replay<T>(tx, scope, idempotencyKey, requestHash);
    const { fresh: _fresh, due, settings_hash: settingsHash, ...member } = opened;
    const settings = await settingsForHash(tx, settingsHash);
    if (due) await settleMember(tx, member, now, SYSTEM_ACTOR);
    const answer = new Answer(scope, idempotencyKey);
    const { result, member: row } = await effect(tx, member, settings, now, answer);
    // The row goes to the caller only: the stored answer stays ids only.
    await answer.settle(tx, result);
    return { ...result, replayed: false, member: row };
  });
}

export interface EarnPointsInput {
  memberId: string;
  orderRef: string;
  orderTotal: string;
  currency?: string | null;
  /** An explicit amount instead of the earn rule: admins only. */
  points?: number | null;
  idempotencyKey: string;
}

/**
 * Earns points for an order. The points are pending for the return window, then
 * available; they expire after the program's expiry period. One earn per order
 * (unique member + order ref); one effect per idempotency key. Points that lift
 * the member over a tier threshold upgrade them in the same transaction.
 */
export async function earnPoints(deps: ServiceDeps, input: EarnPointsInput, caller: Caller) {
  assertMayCall(caller, 'earnPoints');
  const memberId = check.uuid('memberId', input.memberId);
  const orderRef = check.text('orderRef', input.orderRef);
  const orderTotal = check.money('orderTotal', input.orderTotal, { positive: false });
  const currency = input.currency == null ? null : check.currency('currency', input.currency);
  const explicit = input.points == null ? null : check.positivePoints('points', input.points);
  const key = checkIdempotencyKey(input.idempotencyKey);
  if (explicit !== null && !hasRole(caller, 'ADMIN')) throw new ForbiddenError('Only admins may set an explicit amount of points');

  const request = { orderRef, orderTotal: orderTotal.toFixed(2), currency, points: explicit };
  return inPointTransaction(deps, 'earnPoints', memberId, key, request, async (tx, member, settings, now, answer) => {
    assertCanTransact(member);
    if (currency !== null && currency !== settings.currency) {
      throw new ValidationError('currency', `the program runs in ${settings.currency}`);
    }
    const points = explicit ?? pointsForOrder(settings, member.tier, orderTotal);
    if (points > check.MAX_POINTS) {
      // A repeated order is the first thing wrong with it, as for any other order.
      const [existing] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM point_orders WHERE member_id = ${memberId}::uuid AND order_ref = ${orderRef}`;
      if (existing) throw new ValidationError('orderRef', 'this order has already earned points');
      throw new ValidationError('orderTotal', 'order earns more points than allowed');
    }
    const entryId = randomUUID();
    const result = { memberId, entryId: points > 0 ? entryId : null, points } satisfies PointsResult;
    const posted = await postOrderEarning(
      tx,
      member,
      {
        entryId,
        orderRef,
        orderTotal: orderTotal.toFixed(2),
        currency: settings.currency,
        points,
        actor: caller.actor,
        idempotencyKey: `earnPoints:${key}`,
        availableAt: addDays(now, settings.returnWindowDays),
        expiresAt: addMonths(now, settings.pointExpiryMonths),
        amountField: explicit === null ? 'orderTotal' : 'points',
        now,
      },
      [answer.sql(result)],
    );
    // Unique (member, order): the rollback takes the entry and lot back with it.
    if (!posted.recorded) throw new ValidationError('orderRef', 'this order has already earned points');
    // After the entry, so it counts; `points` above used the tier before it.
    const upgraded = points > 0 && (await applyTierUpgrade(tx, member, settings, now)) !== null;
    // An upgrade writes the member row after the entry's statement: the rare case that reads it again.
    return { result, member: upgraded ? await readMember(tx, memberId) : posted.member };
  });
}

export interface RedeemPointsInput {
  memberId: string;
  points: number;
  /** What the points pay for (an order or basket id), kept on the entry. */
  reference?: string | null;
  idempotencyKey: string;
}

/**
 * Spends available points, oldest-expiring first. Never takes a balance below
 * zero: checked under the member lock, and refused by a CHECK constraint besides.
 */
export async function redeemPoints(deps: ServiceDeps, input: RedeemPointsInput, caller: Caller) {
  assertMayCall(caller, 'redeemPoints');
  const memberId = check.uuid('memberId', input.memberId);
  const points = check.positivePoints('points', input.points);
  const reference = input.reference == null ? null : check.text('reference', input.reference);
  const key = checkIdempotencyKey(input.idempotencyKey);
  return inPointTransaction(deps, 'redeemPoints', memberId, key, { points, reference }, async (tx, member, _s, now, answer) => {
    assertCanTransact(member);
    const entryId = randomUUID();
    const result = { memberId, entryId, points: -points } satisfies PointsResult;
    const posted = await spendPoints(
      tx,
      member,
      points,
      {
        id: entryId,
        kind: 'REDEEM',
        causeType: 'REDEMPTION',
        causeRef: reference ?? key,
        actor: caller.actor,
        idempotencyKey: `redeemPoints:${key}`,
        now,
      },
      [answer.sql(result)],
    );
    return { result, member: posted.member };
  });
}

/**
 * Debits `points` from available lots (FIFO) with one ledger entry, which it
 * returns; throws InsufficientPointsError. The lots' update goes into the
 * entry's statement, with whatever else the caller passes in `also`.
 */
export async function spendPoints(
  tx: RawSql,
  member: LockedMember,
  points: number,
  entry: {
    /** The entry's id, when the caller needs it before the statement (to store its answer with it). */
    id?: string;
    kind: 'REDEEM' | 'ADJUST';
    causeType: 'REDEMPTION' | 'ADJUSTMENT' | 'REWARD';
    causeRef: string;
    actor: Actor;
    idempotencyKey: string;
    note?: string | null;
    now: Date;
  },
  also: AlsoInStatement = [],
): Promise<PostedEntry> {
  if (member.available < points) throw new InsufficientPointsError(member.available, points);
  const { consumption, update } = await takeLots(tx, member.id, points, entry.now);
  if (consumption.fromAvailable !== points) {
    // The cached balance and the lots disagree: refuse rather than guess.
    throw new Error(`lots of member ${member.id} hold ${consumption.fromAvailable} of ${points} available points`);
  }
  return postEntry(
    tx,
    member,
    { ...entry, amount: -points, availableDelta: -points, pendingDelta: 0, activity: entry.kind === 'REDEEM' },
    update ? [update, ...also] : also,
  );
}

export interface AdjustPointsInput {
  memberId: string;
  /** Signed: positive grants available points, negative removes available points. */
  points: number;
  reason: string;
  idempotencyKey: string;
}

/** An admin's correction: a new signed entry, never an edit of an old one. */
export async function adjustPoints(deps: ServiceDeps, input: AdjustPointsInput, caller: Caller) {
  assertMayCall(caller, 'adjustPoints');
  const memberId = check.uuid('memberId', input.memberId);
  if (!Number.isInteger(input.points) || input.points === 0 || Math.abs(input.points) > check.MAX_POINTS) {
    throw new ValidationError('points', `must be a non-zero whole number between -${check.MAX_POINTS} and ${check.MAX_POINTS}`);
  }
  const points = input.points;
  const reason = check.text('reason', input.reason, { min: 3, max: 500 });
  const key = checkIdempotencyKey(input.idempotencyKey);
  return inMemberTransaction(deps, 'adjustPoints', memberId, key, { points, reason }, async (tx, member, settings, now) => {
    const common = {
      causeType: 'ADJUSTMENT' as const,
      causeRef: key,
      actor: caller.actor,
      idempotencyKey: `adjustPoints:${key}`,
      note: reason,
      now,
    };
    if (points < 0) {
      const entry = await spendPoints(tx, member, -points, { ...common, kind: 'ADJUST' });
      return { memberId, entryId: entry.id, points } satisfies PointsResult;
    }
    const entry = await postEntry(tx, member, { ...common, kind: 'ADJUST', amount: points, availableDelta: points, pendingDelta: 0 });
    await createLot(tx, member, {
      entryId: entry.id,
      points,
      availableAt: now,
      expiresAt: addMonths(now, settings.pointExpiryMonths),
      now,
    });
    return { memberId, entryId: entry.id, points } satisfies PointsResult;
  });
}

export interface RefundOrderInput {
  memberId: string;
  orderRef: string;
  /** Refunded money; the rest of the order when omitted. */
  amount?: string | null;
  idempotencyKey: string;
}

export interface RefundResult extends PointsResult {
  /** Points the refund should have reversed but the member had already spent. */
  pointsUnrecovered: number;
}

/**
 * Reverses the points an order earned, in proportion to the refunded amount,
 * from the order's own lot first (pending or available), then from other
 * available points. Cumulative refunds never exceed the order total, so the
 * points of an order are never reversed twice (CHECKs on point_orders too).
 */
export async function refundOrder(deps: ServiceDeps, input: RefundOrderInput, caller: Caller) {
  assertMayCall(caller, 'refundOrder');
  const memberId = check.uuid('memberId', input.memberId);
  const orderRef = check.text('orderRef', input.orderRef);
  const amount = input.amount == null ? null : check.money('amount', input.amount);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const request = { orderRef, amount: amount?.toFixed(2) ?? null };
  return inMemberTransaction(deps, 'refundOrder', memberId, key, request, async (tx, member, _s, now) => {
    const rows = await tx.$queryRaw<
      { id: string; order_total: string; amount_refunded: string; points_earned: number; points_reversed: number; lot_id: string | null }[]
    >`SELECT id::text, order_total::text, amount_refunded::text, points_earned, points_reversed, lot_id::text
      FROM point_orders WHERE member_id = ${memberId}::uuid AND order_ref = ${orderRef} FOR UPDATE`;
    const order = rows[0];
    if (!order) throw new NotFoundError('Order', orderRef);
    const total = new Decimal(order.order_total);
    const refundedBefore = new Decimal(order.amount_refunded);
    const refundable = total.minus(refundedBefore);
    if (refundable.lte(0)) throw new ValidationError('orderRef', 'this order is already fully refunded');
    const refund = amount ?? refundable;
    if (refund.gt(refundable)) {
      throw new ValidationError('amount', `at most ${refundable.toFixed(2)} of this order is left to refund`);
    }
    const refundedAfter = refundedBefore.plus(refund);
    // Cumulative target, so partial refunds add up to exactly the points earned.
    const target = refundedAfter.eq(total)
      ? order.points_earned
      : new Decimal(order.points_earned).mul(refundedAfter).div(total).floor().toNumber();
    const toReverse = target - order.points_reversed;

    let entryId: string | null = null;
    let reversed = 0;
    if (toReverse > 0) {
      const consumed = await consumeLots(tx, memberId, toReverse, now, order.lot_id);
      reversed = consumed.fromAvailable + consumed.fromPending;
      if (reversed > 0) {
        const entry = await postEntry(tx, member, {
          kind: 'REVERSAL',
          amount: -reversed,
          availableDelta: -consumed.fromAvailable,
          pendingDelta: -consumed.fromPending,
          causeType: 'REFUND',
          causeRef: orderRef,
          actor: caller.actor,
          idempotencyKey: `refundOrder:${key}`,
          note: toReverse > reversed ? `${toReverse - reversed} points had already been spent` : null,
          now,
        });
        entryId = entry.id;
      }
    }
    await tx.$executeRaw`
      UPDATE point_orders SET amount_refunded = ${refundedAfter.toFixed(2)}::numeric, points_reversed = ${target}
      WHERE id = ${order.id}::uuid`;
    return { memberId, entryId, points: -reversed, pointsUnrecovered: toReverse - reversed } satisfies RefundResult;
  });
}
