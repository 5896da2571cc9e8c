import { newRowId } from '../../db/ids.js';
import type { Actor, Caller } from '../../auth/principal.js';
import { lastStatement, refusalOf, sqlTransaction, type RawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import { assertMayCall, hasRole } from '../authorization.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { ForbiddenError, InsufficientPointsError, NotFoundError, ValidationError } from '../errors.js';
import { checkIdempotencyKey } from '../idempotency.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { addDays } from '../time.js';
import * as check from '../validation.js';
import {
  lotCte,
  lotExpiryDate,
  postEntry,
  ORDER_REFUSALS,
  postOrderEarning,
  readMember,
  roomRefusal,
  type SameStatementWrites,
  type LockedMember,
  type LockedMemberRow,
  type PostedEntry,
} from './ledger.js';
import { inLedgerTransaction } from './ledger-kernel.js';
import { pointsFromBigint } from './lifetime-points.js';
import {
  breakdownFrom,
  evaluateOrderEarning,
  storedEarningOf,
  totalOnlyOrder,
  type EarnBreakdownLine,
  type EarningOrder,
  type StoredEarning,
} from '../earning/order-earning.js';
import { settingsForHash } from '../program/program.service.js';
import { checkOrder, orderReference, placedOrderReference, type CheckedOrder, type OrderInput } from '../orders/order-lines.js';
import { openOrder, orderKeysRefused, refuseNewOrderKeys, refuseNewOrderReference } from '../orders/order-record.js';
import { returnOnOrder } from '../orders/order-returns.js';
import { assertEligible } from '../members/eligibility.js';
import { QUALIFYING_KINDS, applyTierUpgrade, lifetimeReachesHigherTier } from '../tiers/tiers.service.js';
import type { WebhookEventInput } from '../webhooks/webhook-events.js';
import { withFields } from '../../with-fields.js';

/** The outcome of a point operation, stored for idempotent replay (ids only). */
export interface PointsResult {
  memberId: string;
  /** The ledger entry written, or null when the operation moved no points. */
  entryId: string | null;
  points: number;
}

export interface EarnPointsInput {
  memberId: string;
  /** The order, with its line items: the form to use. */
  order?: OrderInput | null;
  /** The total-only form (deprecated): the order's reference … */
  orderRef?: string | null;
  /** … and its total, decimal string … */
  orderTotal?: string | null;
  /** … and, optionally, its currency. */
  currency?: string | null;
  /** An explicit amount instead of the earn rule: admins only. */
  points?: number | null;
  idempotencyKey: string;
}

/**
 * The order an earn names, checked (nothing read or written), and the request
 * body its idempotency key is held to. The total-only form keeps the body it
 * always had, so that keys stored before orders existed still replay.
 */
function earnedOrder(input: EarnPointsInput, now: Date): { order: CheckedOrder; body: object } {
  if (input.order != null) {
    if (input.orderRef != null || input.orderTotal != null || input.currency != null) {
      throw new ValidationError('order', 'give either order or the deprecated orderRef, orderTotal and currency, not both');
    }
    const order = checkOrder('order', input.order, { currency: null, now });
    const body = {
      order: {
        reference: order.reference,
        total: order.total.toFixed(2),
        currency: order.currency,
        channel: order.channel,
        placedAt: order.placedAt?.toISOString() ?? null,
        lines: order.lines.map((l) => [l.sku, l.category, l.quantity, l.unitPrice.toFixed(2)]),
      },
    };
    return { order, body };
  }
  if (input.orderRef == null) throw new ValidationError('order', 'is required');
  if (input.orderTotal == null) throw new ValidationError('orderTotal', 'is required with orderRef');
  const referenceKey = orderReference('orderRef', input.orderRef);
  const reference = referenceKey.value;
  const total = check.money('orderTotal', input.orderTotal, { positive: false });
  const currency = input.currency == null ? null : check.currency('currency', input.currency);
  const keyRefusals = { reference: referenceKey, line: null };
  const order = { reference, keyRefusals, total, currency: currency ?? '', channel: null, placedAt: null, lines: [] };
  return { order, body: { orderRef: reference, orderTotal: total.toFixed(2), currency } };
}

/** The fields errors name: the order's parts, or the deprecated form's. */
function orderFields(input: Pick<EarnPointsInput, 'order'>) {
  return input.order != null
    ? { reference: 'order.reference', total: 'order.total.amount', currency: 'order.total.currency' }
    : { reference: 'orderRef', total: 'orderTotal', currency: 'currency' };
}

/** The fields an earn's refusals name: the order's reference, and what set the amount (the total, or explicit points). */
function refusalFields(fields: ReturnType<typeof orderFields>, explicit: number | null) {
  return { reference: fields.reference, amount: explicit === null ? fields.total : 'points' };
}

/** The outcome of an earn: the points and why, line by line (empty for an explicit amount). */
export interface EarnResult extends PointsResult {
  breakdown: EarnBreakdownLine[];
}

/**
 * An earn's answer as its idempotency key stores it: the explanation without
 * what the request says itself (`StoredEarning`); null for an explicit amount.
 * Answers stored before that carry the whole `breakdown`, or none (before earning rules).
 */
interface StoredEarnAnswer extends PointsResult {
  earned?: StoredEarning | null;
  breakdown?: EarnBreakdownLine[];
}

/** The order as earning evaluates it: its lines with their shares, or the total-only form's one line. */
function earningOrderOf(order: CheckedOrder): EarningOrder {
  if (order.lines.length === 0) return { ...totalOnlyOrder(order.total), channel: order.channel };
  return {
    total: order.total,
    channel: order.channel,
    lines: order.lines.map((line) => ({ sku: line.sku, category: line.category, quantity: line.quantity, amount: line.share })),
  };
}

/** A stored earn answer as the caller gets it, first time and replayed alike: the breakdown rebuilt with the request's lines. */
function earnAnswerOf<T extends StoredEarnAnswer>(stored: T, earning: EarningOrder): Omit<T, 'earned' | 'breakdown'> & EarnResult {
  const { earned, breakdown, ...rest } = stored;
  return withFields(rest, { breakdown: earned ? breakdownFrom(earned, earning.lines) : (breakdown ?? []) });
}

/**
 * The points an earn grants and why, in the caller's transaction: an explicit
 * amount as given, else the order under the earning rules in force when it was
 * placed (docs/earning-rules.md). earnPoints and previewEarn both call this.
 */
async function earningOf(
  tx: RawSql,
  member: LockedMember,
  settings: ProgramSettings,
  rulesStamp: string | null,
  earn: { order: CheckedOrder; earning: EarningOrder; explicit: number | null; fields: ReturnType<typeof orderFields> },
  now: Date,
): Promise<{ points: number; earned: StoredEarning | null }> {
  const { order, earning, explicit, fields } = earn;
  if (order.currency !== '' && order.currency !== settings.currency) {
    throw new ValidationError(fields.currency, `the program runs in ${settings.currency}`);
  }
  if (explicit !== null) return { points: explicit, earned: null };
  const evaluation = await evaluateOrderEarning(tx, member, settings, rulesStamp, earning, order.placedAt ?? now);
  return { points: evaluation.total, earned: storedEarningOf(evaluation, settings.currency) };
}

/**
 * Earns points for an order. The points are pending for the return window, then
 * available; they expire after the program's expiry period. One earn per order
 * (unique member + order reference, and the order's `earned_at`): an order a
 * redemption created first is completed by its earn. One effect per idempotency
 * key. Points that lift the member over a tier threshold upgrade them in the
 * same transaction. Without earning rules the points are
 * floor(total × earn rate × tier multiplier); the lines' shares of the total
 * (`prorateTotal`) are the base per line.
 */
export async function earnPoints(deps: ServiceDeps, input: EarnPointsInput, caller: Caller) {
  assertMayCall(caller, 'earnPoints');
  const memberId = check.uuid('memberId', input.memberId);
  const { order, body } = earnedOrder(input, nowOf(deps));
  const explicit = input.points == null ? null : check.positivePoints('points', input.points);
  const key = checkIdempotencyKey(input.idempotencyKey);
  if (explicit !== null && !hasRole(caller, 'ADMIN')) throw new ForbiddenError('Only admins may set an explicit amount of points');
  const orderRef = order.reference;
  const orderTotal = order.total;
  const fields = orderFields(input);
  const refused = refusalFields(fields, explicit);
  const earning = earningOrderOf(order);

  const operation = {
    memberId,
    request: { scope: `earnPoints:${memberId}`, key, body: withFields(body, { points: explicit }) },
    change: { kind: 'EARNED' as const, reference: orderRef },
  };
  const outcome = await inLedgerTransaction(deps, operation, async ({ tx, member, settings, earningRulesStamp, now, answer }) => {
    // Not a replay: the order's keys as new ones, a reference the member's order holds (stored before the rule) found.
    if (orderKeysRefused(order.keyRefusals)) await refuseNewOrderKeys(tx, memberId, order.keyRefusals);
    assertEligible(member, 'EARN');
    const { points, earned: explained } = await earningOf(
      tx,
      member,
      settings,
      earningRulesStamp,
      { order, earning, explicit, fields },
      now,
    );
    // A repeated or cancelled order is the first thing wrong with it. Its state is read only to explain a refused
    // amount: otherwise the write's WHERE refuses such an order, and this path has no statement to spare.
    const refusal = amountRefusal(member, points, refused.amount);
    if (refusal) throw orderRefusal(await readOrderState(tx, memberId, orderRef), refused.reference) ?? refusal;
    const entryId = newRowId();
    const result: StoredEarnAnswer = { memberId, entryId: points > 0 ? entryId : null, points, earned: explained };
    const availableAt = addDays(now, settings.returnWindowDays);
    const expiresAt = lotExpiryDate(settings, now);
    // The event rides in the earning's own statement: no round trip of its own.
    const events = points > 0 ? [pointsEarnedEvent(memberId, entryId, orderRef, points, availableAt, expiresAt, now)] : [];
    // Unless the entry may lift the member into a higher tier (a statement after it), the entry's statement is the
    // transaction's last, and goes out with COMMIT: it refuses an order that cannot earn itself, all or nothing.
    const mayUpgrade = points > 0 && lifetimeReachesHigherTier(settings, member.tier, member.lifetime + points);
    const posted = await postOrderEarning(
      mayUpgrade ? tx : lastStatement(tx),
      member,
      {
        entryId,
        orderRef,
        orderTotal: orderTotal.toFixed(2),
        currency: settings.currency,
        channel: order.channel,
        placedAt: order.placedAt,
        lines: order.lines,
        points,
        actor: caller.actor,
        idempotencyKey: `earnPoints:${key}`,
        availableAt,
        expiresAt,
        amountField: refused.amount,
        now,
      },
      { answer: answer.forStatement(result), events },
    ).catch((error: unknown) => {
      // Unique (member, order): the statement failed, nothing of it kept.
      throw orderNotEarnable(error, fields.reference) ?? error;
    });
    // After the entry, so it counts; `points` above used the tier before it.
    const upgraded = mayUpgrade && (await applyTierUpgrade(tx, member, settings, now)) !== null;
    // An upgrade writes the member row after the entry's statement: the rare case that reads it again.
    return { result, member: upgraded ? await readMember(tx, memberId) : posted.member };
  });
  return earnAnswerOf(outcome, earning);
}

/** What previewEarn answers: what earnPoints would grant now for the same input, and why. */
export interface EarnPreview {
  memberId: string;
  points: number;
  breakdown: EarnBreakdownLine[];
  /** Whether earnPoints would refuse this order as already earned (a cancelled order is a ValidationError instead). */
  alreadyEarned: boolean;
}

/**
 * earnPoints without writing: the same validation, eligibility and computation
 * (`earningOf`, with the settings and rules committed now) and the same
 * refusals (`orderRefusal`, `amountRefusal`), in a read-only transaction that takes no lock.
 * For the same input at the same moment it answers exactly what earnPoints
 * grants or refuses (tests/earning/preview-earn.test.ts); an order that earned
 * already is answered as `alreadyEarned`.
 */
export async function previewEarn(deps: ServiceDeps, input: Omit<EarnPointsInput, 'idempotencyKey'>, caller: Caller): Promise<EarnPreview> {
  assertMayCall(caller, 'previewEarn');
  const memberId = check.uuid('memberId', input.memberId);
  const now = nowOf(deps);
  const { order } = earnedOrder({ ...input, idempotencyKey: '' }, now);
  const explicit = input.points == null ? null : check.positivePoints('points', input.points);
  if (explicit !== null && !hasRole(caller, 'ADMIN')) throw new ForbiddenError('Only admins may set an explicit amount of points');
  const fields = orderFields(input);
  return sqlTransaction(deps.prisma, async (tx) => {
    type PreviewRow = LockedMemberRow & { settings_hash: string | null; rules_stamp: string | null; earned: boolean; cancelled: boolean };
    const [row] = await tx.$queryRaw<PreviewRow[]>`
      SELECT m.id::text, m.status::text, m.tier::text, m.available_points AS available, m.pending_points AS pending,
             m.lifetime_points AS lifetime, p.settings_hash, p.rules_stamp,
             o.earned_at IS NOT NULL AS earned, o.cancelled_at IS NOT NULL AS cancelled
      FROM members m
      LEFT JOIN (SELECT settings_hash, earning_rules_stamp::text AS rules_stamp FROM program WHERE id = 1) p ON true
      LEFT JOIN point_orders o ON o.member_id = m.id AND o.order_ref = ${order.reference}
      WHERE m.id = ${memberId}::uuid`;
    if (!row) throw new NotFoundError('Member', memberId);
    if (orderKeysRefused(order.keyRefusals)) await refuseNewOrderKeys(tx, memberId, order.keyRefusals);
    const { settings_hash: hash, rules_stamp: stamp, earned, cancelled, lifetime, ...read } = row;
    const member: LockedMember = withFields(read, { lifetime: pointsFromBigint(lifetime) });
    assertEligible(member, 'EARN');
    const settings = await settingsForHash(tx, hash);
    const earning = earningOrderOf(order);
    const { points, earned: stored } = await earningOf(tx, member, settings, stamp, { order, earning, explicit, fields }, now);
    // earnPoints' refusals in its order: the order first (one that earned already is answered as such), then the amount.
    const state = orderStateOf({ earned, cancelled });
    const refused = refusalFields(fields, explicit);
    if (state === 'CANCELLED') throw orderRefusal(state, refused.reference)!;
    const refusal = state === 'OPEN' ? amountRefusal(member, points, refused.amount) : null;
    if (refusal) throw refusal;
    return { memberId, points, breakdown: stored ? breakdownFrom(stored, earning.lines) : [], alreadyEarned: state === 'EARNED' };
  });
}

/** Where an order stands for an earn: open (new, or only redeemed on), earned already, or cancelled (earned or not). */
type EarnOrderState = 'OPEN' | 'EARNED' | 'CANCELLED';

const orderStateOf = (order: { earned: boolean; cancelled: boolean } | undefined): EarnOrderState =>
  order?.cancelled ? 'CANCELLED' : order?.earned ? 'EARNED' : 'OPEN';

/** The member's order as the transaction sees it now: one statement, for explaining a refusal. */
async function readOrderState(tx: RawSql, memberId: string, orderRef: string): Promise<EarnOrderState> {
  const [order] = await tx.$queryRaw<{ earned: boolean; cancelled: boolean }[]>`
    SELECT earned_at IS NOT NULL AS earned, cancelled_at IS NOT NULL AS cancelled
    FROM point_orders WHERE member_id = ${memberId}::uuid AND order_ref = ${orderRef}`;
  return orderStateOf(order);
}

/** Why an order in this state cannot earn, on `field`; null when it can. */
function orderRefusal(state: EarnOrderState, field: string): ValidationError | null {
  if (state === 'CANCELLED') return new ValidationError(field, 'this order is cancelled');
  if (state === 'EARNED') return new ValidationError(field, 'this order has already earned points');
  return null;
}

/** Why an earn's write was refused in its statement (`postOrderEarning`), on `field`; null for any other failure. */
function orderNotEarnable(error: unknown, field: string): ValidationError | null {
  const refusal = refusalOf(error);
  if (refusal === ORDER_REFUSALS.cancelled) return orderRefusal('CANCELLED', field);
  if (refusal === ORDER_REFUSALS.earned) return orderRefusal('EARNED', field);
  return null;
}

/**
 * Why an earn of `points` cannot be granted, on the field that set the amount: more points than one earn grants
 * (MAX_POINTS), or more than the member's balance has room for (`roomRefusal`); null when it can. earnPoints and
 * previewEarn both ask it, after the order's own refusal.
 */
function amountRefusal(member: LockedMember, points: number, field: string): ValidationError | null {
  if (points > check.MAX_POINTS) return new ValidationError(field, 'order earns more points than allowed');
  return roomRefusal(member, points, field);
}

/** The `points.earned` event of an order's earning (docs/webhooks.md). */
function pointsEarnedEvent(
  memberId: string,
  entryId: string,
  orderRef: string,
  points: number,
  availableAt: Date,
  expiresAt: Date,
  now: Date,
): WebhookEventInput {
  return {
    type: 'points.earned',
    data: {
      memberId,
      entryId,
      orderRef,
      points,
      status: availableAt > now ? 'PENDING' : 'AVAILABLE',
      availableAt: availableAt.toISOString(),
      expiresAt: expiresAt.toISOString(),
    },
  };
}

export interface RedeemPointsInput {
  memberId: string;
  points: number;
  /** The order the points pay for: the redemption is linked to it (and given back when it is cancelled or returned). */
  orderReference?: string | null;
  /** What the points pay for (an order or basket id), kept on the entry as text only (deprecated). */
  reference?: string | null;
  idempotencyKey: string;
}

/**
 * Spends available points, oldest-expiring first. Never takes a balance below
 * zero: checked under the member lock, and refused by a CHECK constraint besides.
 * With an `orderReference` the redemption belongs to that order — created here
 * when it is the first thing to name it — so a cancel or return gives the points back.
 */
export async function redeemPoints(deps: ServiceDeps, input: RedeemPointsInput, caller: Caller) {
  assertMayCall(caller, 'redeemPoints');
  const memberId = check.uuid('memberId', input.memberId);
  const points = check.positivePoints('points', input.points);
  const orderKey = input.orderReference == null ? null : orderReference('orderReference', input.orderReference);
  const orderRef = orderKey?.value ?? null;
  if (orderRef !== null && input.reference != null) {
    throw new ValidationError('reference', 'give orderReference alone: reference is its deprecated, unlinked form');
  }
  const reference = orderRef ?? (input.reference == null ? null : check.plainText('reference', input.reference));
  const key = checkIdempotencyKey(input.idempotencyKey);
  const body = orderRef === null ? { points, reference } : { points, orderReference: orderRef };
  const operation = {
    memberId,
    request: { scope: `redeemPoints:${memberId}`, key, body },
    change: { kind: 'REDEEMED' as const, reference },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, now, answer }) => {
    if (orderKey?.refusal) await refuseNewOrderReference(tx, memberId, orderKey);
    assertEligible(member, 'SPEND');
    const orderId = orderRef === null ? null : await openOrder(tx, memberId, orderRef, settings.currency, now, 'orderReference');
    const entryId = newRowId();
    const result = { memberId, entryId, points: -points } satisfies PointsResult;
    // The entry's statement is the transaction's last: it goes out with COMMIT.
    const posted = await spendPoints(
      lastStatement(tx),
      member,
      points,
      {
        id: entryId,
        kind: 'REDEEM',
        causeType: 'REDEMPTION',
        causeRef: reference ?? key,
        actor: caller.actor,
        idempotencyKey: `redeemPoints:${key}`,
        orderId,
        now,
      },
      [answer.inStatement(result)],
    );
    return { result, member: posted.member };
  });
}

/**
 * Debits `points` from available lots (FIFO) with one ledger entry, which it
 * returns; throws InsufficientPointsError. The lots' update goes into the
 * entry's statement, with whatever else the caller passes in `also`, and with
 * the entry's link to its order when it has one.
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
    /** The order the points pay for (`openOrder`): the entry is linked to it, in the same statement. */
    orderId?: string | null;
    now: Date;
  },
  also: SameStatementWrites = [],
): Promise<PostedEntry> {
  if (member.available < points) throw new InsufficientPointsError(member.available, points);
  const { orderId = null, ...posting } = entry;
  const linked = orderId === null ? [] : [orderRedemptionCte(orderId, points, entry.now)];
  return postEntry(tx, member, withFields(posting, { amount: -points, availableDelta: -points, pendingDelta: 0, takesFromLots: true }), [
    ...linked,
    ...also,
  ]);
}

/**
 * The CTEs linking the statement's REDEEM `entry` to its order, and counting the points redeemed on it;
 * the redemption keeps the soonest expiry of the lots it took (`lots_taken`), to give back on a return.
 */
function orderRedemptionCte(orderId: string, points: number, now: Date): Prisma.Sql {
  return Prisma.sql`order_redemption AS (
      INSERT INTO order_point_redemptions (order_id, entry_id, points, original_expires_at, created_at)
      SELECT ${orderId}::uuid, entry.id, ${points}::int,
             COALESCE((SELECT min(expires_at) FROM lots_taken), ${now}::timestamptz), ${now}::timestamptz
      FROM entry
      RETURNING id),
    order_redeemed AS (
      UPDATE point_orders SET points_redeemed = points_redeemed + ${points}::int WHERE id = ${orderId}::uuid
      RETURNING id)`;
}

/** Points granted available at once: by an admin, a goodwill gesture, a renewal bonus (and the next kind of grant). */
export interface AvailableGrant {
  kind: 'ADJUST' | 'GOODWILL' | 'RENEWAL_BONUS';
  points: number;
  causeType: 'ADJUSTMENT' | 'GESTURE' | 'CONTRACT';
  causeRef: string;
  actor: Actor;
  /** Unique per member: the grant's cause (`goodwill:<gesture>`, `renewal:<renewal>`), so it can never post twice. */
  idempotencyKey: string;
  note?: string | null;
  /** The input field a grant past the balance limit is blamed on (`assertRoomFor`); default `points`. */
  amountField?: string;
  now: Date;
}

/**
 * The one way to grant available points, in the kernel's transaction (member
 * locked): one entry and its lot in one statement, the lot expiring
 * `lotExpiryDate` later; an activity kind (`countsAsActivity`) reactivates a
 * PASSIVE member; a qualifying kind (`QUALIFYING_KINDS`) counts towards the tier
 * and may upgrade the member at once. The entry's unique idempotency key makes
 * a second grant for the same cause fail rather than post twice.
 */
export async function grantAvailablePoints(
  tx: RawSql,
  member: LockedMember,
  settings: ProgramSettings,
  grant: AvailableGrant,
): Promise<PostedEntry> {
  const { points, now } = grant;
  const lot = lotCte(member.id, { points, availableAt: now, expiresAt: lotExpiryDate(settings, now), now });
  const entry = await postEntry(tx, member, withFields(grant, { amount: points, availableDelta: points, pendingDelta: 0 }), [lot]);
  if ((QUALIFYING_KINDS as readonly string[]).includes(grant.kind)) await applyTierUpgrade(tx, member, settings, now);
  return entry;
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
  const operation = {
    memberId,
    request: { scope: `adjustPoints:${memberId}`, key, body: { points, reason } },
    change: { kind: 'ADJUSTED' as const, reference: key },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    // A debit corrects the ledger (even a closed member's); a credit grants points.
    assertEligible(member, points < 0 ? 'CORRECTION' : 'ADJUSTMENT');
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
      return { result: { memberId, entryId: entry.id, points } satisfies PointsResult };
    }
    const entry = await grantAvailablePoints(tx, member, settings, { ...common, kind: 'ADJUST', points });
    return { result: { memberId, entryId: entry.id, points } satisfies PointsResult };
  });
}

export interface RefundOrderInput {
  memberId: string;
  orderRef: string;
  /** Refunded money; the rest of the order when omitted. */
  amount?: string | null;
  /** The amount's currency (it must be the order's); without one, the program's. */
  currency?: string | null;
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
 * An amount return of the order (`returnOnOrder`, kind REFUND): what it
 * reverses is what it always did; points and vouchers redeemed on the order
 * (linked by `orderReference`) come back with it as with `returnOrderItems`.
 */
export async function refundOrder(deps: ServiceDeps, input: RefundOrderInput, caller: Caller) {
  assertMayCall(caller, 'refundOrder');
  const memberId = check.uuid('memberId', input.memberId);
  const orderRef = placedOrderReference('orderRef', input.orderRef);
  const amount = input.amount == null ? null : check.money('amount', input.amount);
  const currency = input.currency == null ? null : check.currency('currency', input.currency);
  const key = checkIdempotencyKey(input.idempotencyKey);
  // The currency stays out of the request's fingerprint: a key's stored answer replays as before it was there.
  const request = { orderRef, amount: amount?.toFixed(2) ?? null };
  const operation = {
    memberId,
    request: { scope: `refundOrder:${memberId}`, key, body: request },
    change: { kind: 'REFUNDED' as const, reference: orderRef },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    assertEligible(member, 'CORRECTION');
    const returned = await returnOnOrder(tx, member, settings, now, {
      kind: 'REFUND',
      orderRef,
      orderField: 'orderRef',
      amount,
      currency: currency === null ? null : { value: currency, field: 'currency' },
      entryKey: `refundOrder:${key}`,
      actor: caller.actor,
    });
    const result = {
      memberId,
      entryId: returned.reversalEntryId,
      points: -returned.pointsReversed,
      pointsUnrecovered: returned.pointsUnrecovered,
    } satisfies RefundResult;
    return { result };
  });
}
