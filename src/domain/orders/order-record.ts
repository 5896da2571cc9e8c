import { refusalOf, refusalSql, type RawSql } from '../../db/sql.js';
import { Prisma } from '../../generated/prisma/client.js';
import { ValidationError } from '../errors.js';
import { refuseUnlessStored, type StorableKey } from '../validation.js';
import type { OrderKeyRefusals } from './order-lines.js';

/** Where an order stands, as `Order.status` shows it. */
export type OrderStatus = 'OPEN' | 'PARTIALLY_RETURNED' | 'RETURNED' | 'CANCELLED';

/**
 * The order's status from its row and its lines' returned quantities: CANCELLED once cancelled; RETURNED once every
 * item is back or (an order that paid something) its whole total was returned or refunded; PARTIALLY_RETURNED once
 * anything came back. `finalOrderStateSql` is the same rule in SQL, for the statements that lock the order.
 */
export function orderStatusOf(
  order: { cancelledAt: Date | null; orderTotal: Prisma.Decimal | null; amountRefunded: Prisma.Decimal },
  lines: readonly { quantity: number; returnedQuantity: number }[],
): OrderStatus {
  if (order.cancelledAt) return 'CANCELLED';
  const total = order.orderTotal;
  const allBack = lines.length > 0 && lines.every((line) => line.returnedQuantity === line.quantity);
  if (allBack || (total !== null && total.gt(0) && order.amountRefunded.eq(total))) return 'RETURNED';
  if (lines.some((line) => line.returnedQuantity > 0) || order.amountRefunded.gt(0)) return 'PARTIALLY_RETURNED';
  return 'OPEN';
}

/** Why an order takes nothing more (its `orderStatusOf` is CANCELLED or RETURNED); null while it is open. */
export type FinalOrderState = 'CANCELLED' | 'RETURNED' | null;

/**
 * SQL: the `FinalOrderState` of the point_orders row `order` (its name or alias in the statement), by the rule of
 * `orderStatusOf` (no lines: `bool_and` is null, not all back). The lines are read in the statement's snapshot: it
 * must run after the member's lock, which every return holds, so that it sees the last return committed before it.
 */
export function finalOrderStateSql(order: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`CASE
      WHEN ${order}.cancelled_at IS NOT NULL THEN 'CANCELLED'
      WHEN (${order}.order_total > 0 AND ${order}.amount_refunded = ${order}.order_total)
        OR (SELECT bool_and(l.returned_quantity = l.quantity) FROM order_lines l WHERE l.order_id = ${order}.id)
        THEN 'RETURNED'
    END`;
}

/** The ValidationError (on `field`) refusing anything more on an order in `state`; null for an open order. */
export function finalOrderRefusal(state: FinalOrderState, field: string): ValidationError | null {
  if (state === 'CANCELLED') return new ValidationError(field, 'this order is cancelled');
  if (state === 'RETURNED') return new ValidationError(field, 'this order is returned in full');
  return null;
}

/** The refusal (`refusalSql`) of a write whose statement met a final order, before the order's state. */
const FINAL_ORDER = 'FINAL_ORDER:';

/**
 * SQL: `true` when `written` holds, else the statement fails with the order's `FinalOrderState` (`final`, an
 * expression of the statement: the state its write found under the row's lock) — a write that names the member's
 * order refuses a final order in its own statement, all or nothing (it may be its transaction's last, sent with
 * COMMIT: `lastStatement`). Read back by `finalOrderRefusalOf`.
 */
export function finalOrderRefusalSql(written: Prisma.Sql, final: Prisma.Sql): Prisma.Sql {
  return refusalSql(written, Prisma.sql`${FINAL_ORDER}::text || COALESCE(${final}, 'OPEN')`);
}

/**
 * The error of a statement that failed by `finalOrderRefusalSql`: the order's refusal on `field` (an order that was
 * open after all is an internal error); null for any other failure.
 */
export function finalOrderRefusalOf(error: unknown, field: string): Error | null {
  const refusal = refusalOf(error);
  if (!refusal?.startsWith(FINAL_ORDER)) return null;
  const state = refusal.slice(FINAL_ORDER.length);
  const final = state === 'CANCELLED' || state === 'RETURNED' ? state : null;
  return finalOrderRefusal(final, field) ?? new Error(`an open order refused a write (${state})`, { cause: error });
}

/**
 * Throws the key rule's refusal of an order reference (`orderReference`) unless the member has an order under it,
 * stored before the rule: that order is found, not opened. Only a refused reference costs the read.
 */
export async function refuseNewOrderReference(tx: RawSql, memberId: string, reference: StorableKey | null): Promise<void> {
  await refuseUnlessStored(reference, async () => {
    const [row] = await tx.$queryRaw<{ found: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM point_orders WHERE member_id = ${memberId}::uuid AND order_ref = ${reference!.value}) AS found`;
    return row?.found === true;
  });
}

/** Whether the key rule refuses anything in an order's keys (`refuseNewOrderKeys` then has work): checked before awaiting it. */
export const orderKeysRefused = (refusals: OrderKeyRefusals): boolean => refusals.reference.refusal !== null || refusals.line !== null;

/**
 * What the key rule refuses in an order an earn brings (`CheckedOrder.keyRefusals`), once the earn knows it is no
 * replay: the reference unless the member's order holds it already, then a line's SKU or category (lines are always
 * new rows: a replay, answered before this, is the one way an order's stored SKU or category comes back). Callers on
 * the earn's path ask `orderKeysRefused` first, so that a key that passes costs no await.
 */
export async function refuseNewOrderKeys(tx: RawSql, memberId: string, refusals: OrderKeyRefusals): Promise<void> {
  await refuseNewOrderReference(tx, memberId, refusals.reference);
  if (refusals.line) throw refusals.line;
}

/**
 * The id of the member's order `orderRef`, created (without a total: it has
 * not earned) when this is the first operation to name it, and locked for the
 * rest of the transaction. A final order — cancelled, or returned in full —
 * takes nothing more: a ValidationError on `field`, decided in the statement
 * that locks the row (the caller holds the member's lock, as every return does).
 * One order per (member, reference), by the unique index: two operations naming
 * a new order at once both end up on the one row.
 */
export async function openOrder(
  tx: RawSql,
  memberId: string,
  orderRef: string,
  currency: string,
  now: Date,
  field: string,
): Promise<string> {
  // DO UPDATE (a no-op write) rather than DO NOTHING: it locks the row and returns it either way.
  const [order] = await tx.$queryRaw<{ id: string; final: FinalOrderState }[]>`
    INSERT INTO point_orders (member_id, order_ref, currency, placed_at, created_at)
    VALUES (${memberId}::uuid, ${orderRef}, ${currency}, ${now}::timestamptz, ${now}::timestamptz)
    ON CONFLICT (member_id, order_ref) DO UPDATE SET order_ref = EXCLUDED.order_ref
    RETURNING id::text, ${finalOrderStateSql(Prisma.sql`point_orders`)} AS final`;
  if (!order) throw new Error(`order ${orderRef} of member ${memberId} was neither inserted nor found`);
  const refusal = finalOrderRefusal(order.final, field);
  if (refusal) throw refusal;
  return order.id;
}
