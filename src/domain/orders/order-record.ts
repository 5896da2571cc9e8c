import type { RawSql } from '../../db/sql.js';
import { ValidationError } from '../errors.js';

/**
 * The id of the member's order `orderRef`, created (without a total: it has
 * not earned) when this is the first operation to name it, and locked for the
 * rest of the transaction. A cancelled order takes nothing more: a
 * ValidationError on `field`. One order per (member, reference), by the unique
 * index: two operations naming a new order at once both end up on the one row.
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
  const [order] = await tx.$queryRaw<{ id: string; cancelled: boolean }[]>`
    INSERT INTO point_orders (member_id, order_ref, currency, placed_at, created_at)
    VALUES (${memberId}::uuid, ${orderRef}, ${currency}, ${now}::timestamptz, ${now}::timestamptz)
    ON CONFLICT (member_id, order_ref) DO UPDATE SET order_ref = EXCLUDED.order_ref
    RETURNING id::text, cancelled_at IS NOT NULL AS cancelled`;
  if (!order) throw new Error(`order ${orderRef} of member ${memberId} was neither inserted nor found`);
  if (order.cancelled) throw new ValidationError(field, 'this order is cancelled');
  return order.id;
}
