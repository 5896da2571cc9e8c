import { newRowId } from '../../db/ids.js';
import { Decimal } from 'decimal.js';
import { SYSTEM_ACTOR, type Actor } from '../../auth/principal.js';
import type { RawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { eligibility } from '../members/eligibility.js';
import { consumeLots, lotCte, lotExpiredPointsSql, lotExpiryDate, postEntry, settleDueLots, type LockedMember } from '../points/ledger.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { eventRows, webhookEventsCte } from '../webhooks/webhook-events.js';
import { returnedLineValue } from './order-lines.js';

/** How an order comes back: all of it (CANCEL), items or an amount (RETURN), or the refund of an amount (REFUND, `refundOrder`). */
export type ReturnKind = 'CANCEL' | 'RETURN' | 'REFUND';

export interface ReturnedItem {
  sku: string;
  quantity: number;
}

/** What comes back, checked for its form (the order decides the rest). */
export interface ReturnRequest {
  kind: ReturnKind;
  orderRef: string;
  /** The input field naming the order, for errors (`orderReference`, `orderRef`). */
  orderField: string;
  /** RETURN by items. */
  items?: readonly ReturnedItem[] | null;
  /** RETURN or REFUND by amount; a REFUND without one takes the rest of the order. */
  amount?: Decimal | null;
  /** The input field of the amount, for errors (`amount`, `amount.amount`). */
  amountField?: string;
  /**
   * The currency the amount was given in, and its input field; without one the amount is in the program's
   * currency (the deprecated decimal-string fields). It must be the order's, which an order earned before the
   * program's currency changed keeps.
   */
  currency?: { value: string; field: string } | null;
  /** The ledger entries' idempotency key (`cancelOrder:<key>`), unique per member. */
  entryKey: string;
  actor: Actor;
}

/** A return's outcome, stored for idempotent replay (ids only). */
export interface OrderReturnResult {
  memberId: string;
  orderId: string;
  returnId: string;
  /** Earned points taken back. */
  pointsReversed: number;
  /** Earned points the return should have taken back but the member had spent. */
  pointsUnrecovered: number;
  /** Redeemed points given back. */
  pointsRestored: number;
  reversalEntryId: string | null;
  restoreEntryId: string | null;
  /** Vouchers redeemed on the order that are ISSUED again. */
  vouchersRestored: string[];
  /** Vouchers redeemed on the order that were past their validity: not reissued (EXPIRED). */
  vouchersExpired: string[];
}

interface LockedOrder {
  id: string;
  currency: string;
  order_total: string | null;
  amount_refunded: string;
  points_earned: number;
  points_reversed: number;
  points_redeemed: number;
  points_restored: number;
  lot_id: string | null;
  /** What the order's own lot lost to its expiry (its `expire:<lot>` entry): 0 while it has not expired. */
  lot_expired: number;
  earned: boolean;
  cancelled: boolean;
}

interface LockedLine {
  id: string;
  sku: string;
  quantity: number;
  returned_quantity: number;
  share: string;
}

/**
 * Takes an order (or part of it) back, in the ledger kernel's transaction (the
 * member locked, the request's idempotency key reserved): the one recipe behind
 * `cancelOrder`, `returnOrderItems` and `refundOrder`.
 *
 * The order row is locked (FOR UPDATE) and everything is cumulative, so a
 * second return sees the first and rounding never drifts:
 * - the value returned adds to the order's refunded amount (never past its
 *   total — CHECK); items are worth their line's share × returned / ordered,
 *   cumulative per line (`returnedLineValue`), and the last items back bring
 *   the rest of the total;
 * - the returned share s = refunded ÷ total (by units when the order has no
 *   total, 1 on a cancel and once everything is back);
 * - redeemed points restored so far = floor(redeemed × s), as a new available
 *   lot (RESTORE), never more than redeemed (CHECK), given back before the
 *   reversal below, so that a member who spent what the order earned pays the
 *   reversal out of them rather than keeping both; the lot expires a full
 *   expiry period from now, or — `restoredPointsExpiry: ORIGINAL` — when the
 *   first lot the redemption spent would have. Only when the member's status
 *   allows it (eligibility `RESTORE`): a CLOSED member gets none (0 restored,
 *   the order's restored points unchanged), the rest of the return goes ahead;
 * - earned points reversed so far = floor(earned × s), from the order's own
 *   lot first (REVERSAL), then from other available points (the restored ones
 *   among them), never more than earned (CHECK);
 * - vouchers are indivisible: they come back when the order is fully returned
 *   or cancelled, ISSUED again while within their validity, else EXPIRED
 *   (recorded as such on the redemption); each redemption is rolled back once
 *   (`rolled_back_at`, CHECK and the unique live redemption per voucher) —
 *   whatever the member's status, as a voucher is redeemable whatever it is.
 * A cancel is final: a cancelled order takes no more returns, earns, redemptions.
 */
export async function returnOnOrder(
  tx: RawSql,
  member: LockedMember,
  settings: ProgramSettings,
  now: Date,
  request: ReturnRequest,
): Promise<OrderReturnResult> {
  const { orderRef, orderField, kind } = request;
  const amountField = request.amountField ?? 'amount';
  const [order] = await tx.$queryRaw<LockedOrder[]>`
    SELECT o.id::text, o.currency, o.order_total::text, o.amount_refunded::text, o.points_earned, o.points_reversed,
           o.points_redeemed, o.points_restored, o.lot_id::text, o.earned_at IS NOT NULL AS earned,
           o.cancelled_at IS NOT NULL AS cancelled,
           ${lotExpiredPointsSql(Prisma.sql`o.member_id`, Prisma.sql`o.lot_id`)} AS lot_expired
    FROM point_orders o WHERE o.member_id = ${member.id}::uuid AND o.order_ref = ${orderRef} FOR UPDATE OF o`;
  // refundOrder has always known only orders that earned.
  if (!order || (kind === 'REFUND' && !order.earned)) throw new NotFoundError('Order', orderRef);
  if (order.cancelled) throw new ValidationError(orderField, 'this order is cancelled');
  if (request.amount != null && (request.currency?.value ?? settings.currency) !== order.currency) {
    throw new ValidationError(
      request.currency?.field ?? amountField,
      `this order is in ${order.currency}: give the amount in ${order.currency}`,
    );
  }

  const lines =
    kind === 'REFUND' || request.amount != null
      ? []
      : await tx.$queryRaw<LockedLine[]>`
          SELECT id::text, sku, quantity, returned_quantity, share::text FROM order_lines
          WHERE order_id = ${order.id}::uuid ORDER BY position FOR UPDATE`;
  const total = order.order_total === null ? null : new Decimal(order.order_total);
  const refundedBefore = new Decimal(order.amount_refunded);
  const refundable = total === null ? new Decimal(0) : total.minus(refundedBefore);

  // What comes back of each line, and its value.
  const back = new Map<string, number>();
  let value = new Decimal(0);
  if (kind === 'CANCEL') {
    for (const line of lines) if (line.returned_quantity < line.quantity) back.set(line.id, line.quantity - line.returned_quantity);
    value = refundable;
  } else if (kind === 'REFUND') {
    if (refundable.lte(0)) throw new ValidationError(orderField, 'this order is already fully refunded');
    value = request.amount ?? refundable;
    if (value.gt(refundable)) throw new ValidationError(amountField, `at most ${refundable.toFixed(2)} of this order is left to refund`);
  } else if (request.amount != null) {
    if (total === null) {
      throw new ValidationError(amountField, 'this order has not earned: it has no total to return from; cancel it instead');
    }
    if (request.amount.gt(refundable)) {
      throw new ValidationError(amountField, `at most ${refundable.toFixed(2)} of this order is left to return`);
    }
    value = request.amount;
  } else {
    const items = request.items ?? [];
    const bySku = new Map(lines.map((line) => [line.sku, line]));
    items.forEach((item, index) => {
      const line = bySku.get(item.sku);
      if (!line) throw new ValidationError(`items[${index}].sku`, 'is not on this order');
      if (back.has(line.id)) throw new ValidationError(`items[${index}].sku`, 'appears twice: one entry per SKU');
      const left = line.quantity - line.returned_quantity;
      if (item.quantity > left) {
        throw new ValidationError(`items[${index}].quantity`, `at most ${left} of ${item.sku} ${left === 1 ? 'is' : 'are'} left to return`);
      }
      back.set(line.id, item.quantity);
    });
    for (const line of lines) {
      const quantity = back.get(line.id);
      if (quantity === undefined) continue;
      const share = { share: new Decimal(line.share), quantity: line.quantity };
      value = value
        .plus(returnedLineValue(share, line.returned_quantity + quantity))
        .minus(returnedLineValue(share, line.returned_quantity));
    }
    value = Decimal.min(value, refundable);
  }
  const allLinesBack = lines.length > 0 && lines.every((line) => line.returned_quantity + (back.get(line.id) ?? 0) === line.quantity);
  // The last items back bring the rest of the total (an earlier amount return may have taken part of it).
  if (allLinesBack && kind === 'RETURN') value = refundable;
  const refundedAfter = refundedBefore.plus(value);
  const unitsBack = lines.reduce((sum, line) => sum + line.returned_quantity + (back.get(line.id) ?? 0), 0);
  const units = lines.reduce((sum, line) => sum + line.quantity, 0);
  const full = kind === 'CANCEL' || allLinesBack || (total !== null && total.gt(0) && refundedAfter.eq(total));
  // The returned share as an exact fraction (cents or units): floor(points × s) must not lose a point to
  // a rounded quotient — 10.00 of 30.00 is a third, and a third of 30 points is 10, not 9.
  const share: readonly [bigint, bigint] = full
    ? [1n, 1n]
    : total !== null && total.gt(0)
      ? [cents(refundedAfter), cents(total)]
      : units > 0
        ? [BigInt(unitsBack), BigInt(units)]
        : [0n, 1n];
  if (kind === 'RETURN' && !full && value.eq(0) && unitsBack === lines.reduce((sum, line) => sum + line.returned_quantity, 0)) {
    throw new ValidationError('items', 'nothing to return: name the items returned or an amount');
  }

  // Redeemed points, cumulative: floor(redeemed × s), as a new lot — only to a member who may receive them
  // (a closed member receives nothing: the order keeps what it had restored, the reversal below still posts).
  // Given back before the reversal below takes back what the order earned: a member who spent those points
  // pays the reversal out of the points this return gives back, rather than keeping both (docs/orders.md).
  const restoreTarget = partOf(order.points_redeemed, share);
  const mayReceive = eligibility(member.status, 'RESTORE').decision === 'ALLOW';
  const toRestore = mayReceive ? Math.max(restoreTarget - order.points_restored, 0) : 0;
  let restoreEntryId: string | null = null;
  if (toRestore > 0) {
    const expiresAt = await restoredExpiry(tx, order.id, settings, now);
    const entry = await postEntry(
      tx,
      member,
      {
        kind: 'RESTORE',
        amount: toRestore,
        availableDelta: toRestore,
        pendingDelta: 0,
        causeType: 'REFUND',
        causeRef: orderRef,
        actor: request.actor,
        // A prefix no key derived from a client's has (they start with the operation): `${entryKey}:restore`, as
        // it was, is the reversal key of a request whose own key ends in ":restore".
        idempotencyKey: `restore:${request.entryKey}`,
        amountField: orderField,
        now,
      },
      [lotCte(member.id, { points: toRestore, availableAt: now, expiresAt, now })],
    );
    restoreEntryId = entry.id;
    // Given back with the expiry they had (ORIGINAL), the points may be past it: they expire now, in this
    // transaction, so that the balance this return commits and answers holds no expired points.
    if (expiresAt <= now) await settleDueLots(tx, member, now, SYSTEM_ACTOR);
  }

  // Earned points, cumulative: floor(earned × s), what refundOrder always did — less what of the order's own lot
  // expired unspent (its EXPIRE entry): the expiry took those points already, and they are not taken again from
  // the member's other points, as a contract's claw-back does not take an expired bonus twice.
  const reverseTarget = partOf(order.points_earned, share);
  const toReverse = Math.max(reverseTarget - order.points_reversed - order.lot_expired, 0);
  let reversed = 0;
  let reversalEntryId: string | null = null;
  if (toReverse > 0) {
    const consumed = await consumeLots(tx, member.id, toReverse, now, order.lot_id);
    reversed = consumed.fromAvailable + consumed.fromPending;
    if (reversed > 0) {
      const entry = await postEntry(tx, member, {
        kind: 'REVERSAL',
        amount: -reversed,
        availableDelta: -consumed.fromAvailable,
        pendingDelta: -consumed.fromPending,
        causeType: 'REFUND',
        causeRef: orderRef,
        actor: request.actor,
        idempotencyKey: request.entryKey,
        note: toReverse > reversed ? `${toReverse - reversed} points had already been spent` : null,
        now,
      });
      reversalEntryId = entry.id;
    }
  }

  const returnId = newRowId();
  const eventType = kind === 'CANCEL' ? 'order.cancelled' : 'order.returned';
  const event = {
    memberId: member.id,
    orderId: order.id,
    orderRef,
    returnId,
    kind,
    amount: { amount: value.toFixed(2), currency: order.currency },
    pointsReversed: reversed,
    pointsUnrecovered: toReverse - reversed,
    pointsRestored: toRestore,
  };
  // The event rides in the return's statement, or — when vouchers come back, which it lists — in theirs.
  const eventHere = full ? [] : [webhookEventsCte(eventRows([{ type: eventType, data: { ...event, vouchers: [] } }]), now)];
  await tx.$executeRaw`
    WITH recorded AS (
      INSERT INTO order_returns
        (id, order_id, kind, amount, points_reversed, points_unrecovered, points_restored, reversal_entry_id, restore_entry_id,
         actor_type, actor_id, idempotency_key, created_at)
      VALUES (${returnId}::uuid, ${order.id}::uuid, ${kind}, ${value.toFixed(2)}::numeric, ${reversed}::int, ${toReverse - reversed}::int,
              ${toRestore}::int, ${reversalEntryId}::uuid, ${restoreEntryId}::uuid, ${request.actor.type}::"ActorType",
              ${request.actor.id}, ${request.entryKey}, ${now}::timestamptz)
      RETURNING id),
    returned_lines AS (
      INSERT INTO order_return_lines (return_id, line_id, quantity)
      SELECT recorded.id, b.line_id, b.quantity
      FROM recorded, unnest(${[...back.keys()]}::uuid[], ${[...back.values()]}::int[]) AS b(line_id, quantity)
      RETURNING line_id),
    lines_back AS (
      UPDATE order_lines l SET returned_quantity = l.returned_quantity + b.quantity
      FROM unnest(${[...back.keys()]}::uuid[], ${[...back.values()]}::int[]) AS b(line_id, quantity)
      WHERE l.id = b.line_id
      RETURNING l.id)${eventHere.length > 0 ? Prisma.sql`, ${Prisma.join(eventHere, ', ')}` : Prisma.empty}
    UPDATE point_orders SET amount_refunded = ${refundedAfter.toFixed(2)}::numeric, points_reversed = ${order.points_reversed + toReverse}::int,
      points_restored = ${order.points_restored + toRestore}::int,
      cancelled_at = CASE WHEN ${kind === 'CANCEL'}::boolean THEN ${now}::timestamptz ELSE cancelled_at END
    WHERE id = ${order.id}::uuid`;

  const vouchers = full
    ? await rollBackVouchers(tx, order.id, returnId, now, { type: eventType, data: event })
    : { restored: [], expired: [] };
  const result: OrderReturnResult = {
    memberId: member.id,
    orderId: order.id,
    returnId,
    pointsReversed: reversed,
    pointsUnrecovered: toReverse - reversed,
    pointsRestored: toRestore,
    reversalEntryId,
    restoreEntryId,
    vouchersRestored: vouchers.restored.map((v) => v.id),
    vouchersExpired: vouchers.expired.map((v) => v.id),
  };
  return result;
}

/** An amount of money (at most two decimals, as every order amount is checked) in cents. */
const cents = (amount: Decimal): bigint => BigInt(amount.mul(100).toFixed(0));

/** floor(points × part ÷ whole), exactly. */
const partOf = (points: number, [part, whole]: readonly [bigint, bigint]): number => Number((BigInt(points) * part) / whole);

/** When restored points expire: a full expiry period from now, or (ORIGINAL) when the first lot the order's redemptions spent would have. */
async function restoredExpiry(tx: RawSql, orderId: string, settings: ProgramSettings, now: Date): Promise<Date> {
  if (settings.restoredPointsExpiry !== 'ORIGINAL') return lotExpiryDate(settings, now);
  const [row] = await tx.$queryRaw<{ expires_at: Date | null }[]>`
    SELECT min(original_expires_at) AS expires_at FROM order_point_redemptions WHERE order_id = ${orderId}::uuid`;
  return row?.expires_at ? new Date(row.expires_at) : lotExpiryDate(settings, now);
}

/**
 * Rolls back every live voucher redemption of the order, once each: the
 * redemption keeps its row, marked rolled back by this return with the outcome;
 * the voucher is ISSUED again while within its validity, else EXPIRED.
 *
 * A rollback is dated `now`, but never at or before the voucher's previous
 * rollback: the clock was read before the member's lock was granted, so a return
 * that waited behind another rollback of the voucher (and the redemption that
 * used it again) may hold the same instant, which the unique (voucher_id,
 * rolled_back_at) refused. That earlier rollback committed under the member's
 * lock, which this return holds: this statement sees it.
 */
async function rollBackVouchers(
  tx: RawSql,
  orderId: string,
  returnId: string,
  now: Date,
  event: { type: 'order.cancelled' | 'order.returned'; data: Record<string, unknown> },
): Promise<{ restored: { id: string; code: string }[]; expired: { id: string; code: string }[] }> {
  // The return's event, with the vouchers this statement rolls back (`vouchers`: id, code, status after).
  const eventRow = Prisma.sql`SELECT ${event.type}::text AS type,
      ${JSON.stringify(event.data)}::jsonb || jsonb_build_object('vouchers', COALESCE((
        SELECT jsonb_agg(jsonb_build_object('voucherId', live.id::text, 'code', live.code,
                                            'status', CASE WHEN live.outcome = 'RESTORED' THEN 'ISSUED' ELSE 'EXPIRED' END)
                         ORDER BY live.code)
        FROM live), '[]'::jsonb)) AS data,
      NULL::text AS dedupe_key`;
  const rows = await tx.$queryRaw<{ id: string; code: string; outcome: 'RESTORED' | 'EXPIRED' }[]>`
    WITH live AS (
      SELECT r.id AS redemption_id, v.id, v.code, CASE WHEN v.expires_at > ${now}::timestamptz THEN 'RESTORED' ELSE 'EXPIRED' END AS outcome,
             GREATEST(${now}::timestamptz, (SELECT max(p.rolled_back_at) + interval '1 millisecond'
                                           FROM voucher_redemptions p WHERE p.voucher_id = v.id)) AS rolled_back_at
      FROM voucher_redemptions r JOIN vouchers v ON v.id = r.voucher_id
      WHERE r.order_id = ${orderId}::uuid AND r.rolled_back_at IS NULL
      FOR UPDATE OF r, v),
    rolled_back AS (
      UPDATE voucher_redemptions r SET rolled_back_at = live.rolled_back_at, rollback_return_id = ${returnId}::uuid,
        rollback_outcome = live.outcome
      FROM live WHERE r.id = live.redemption_id AND r.rolled_back_at IS NULL
      RETURNING r.id),
    vouchers_back AS (
      UPDATE vouchers v SET status = (CASE WHEN live.outcome = 'RESTORED' THEN 'ISSUED' ELSE 'EXPIRED' END)::"VoucherStatus",
        redeemed_at = NULL
      FROM live WHERE v.id = live.id AND v.status = 'REDEEMED'
      RETURNING v.id),
    ${webhookEventsCte(eventRow, now)}
    SELECT live.id::text, live.code, live.outcome FROM live ORDER BY live.code`;
  return {
    restored: rows.filter((row) => row.outcome === 'RESTORED'),
    expired: rows.filter((row) => row.outcome === 'EXPIRED'),
  };
}
