import type { Caller } from '../../auth/principal.js';
import { positionOrder } from '../../db/position-cursors.js';
import type { PointOrder, Prisma } from '../../generated/prisma/client.js';
import { assertMayCall } from '../authorization.js';
import type { ServiceDeps } from '../deps.js';
import { ValidationError } from '../errors.js';
import { checkIdempotencyKey } from '../idempotency.js';
import { assertEligible } from '../members/eligibility.js';
import { memberRowsWhere } from '../members/members.service.js';
import { inLedgerTransaction } from '../points/ledger-kernel.js';
import * as check from '../validation.js';
import { MAX_LINE_QUANTITY, MAX_ORDER_LINES, placedLineSku, placedOrderReference } from './order-lines.js';
import { returnOnOrder, type OrderReturnResult, type ReturnedItem } from './order-returns.js';

export type { OrderReturnResult } from './order-returns.js';

/** What a read loads with the order row: plugin-prisma's selection for the GraphQL field, nothing else by default. */
export type OrderSelection = Pick<Prisma.PointOrderFindUniqueArgs, 'select' | 'include'>;

/**
 * A member's orders, newest first: when each was placed, then its id. An order first named by a redemption is placed
 * when it was named, and the earn that completes it may say it was placed earlier (src/domain/points/ledger.ts): it
 * moves down the list. So its cursors are positions (src/db/position-cursors.ts): the next page follows the place the
 * cursor was handed out at.
 */
export const MEMBER_ORDERS_NEWEST_FIRST = positionOrder(
  'Member.orders',
  [{ column: 'placedAt', direction: 'desc', kind: 'moment' }],
  'desc',
);

/**
 * A member's order by its reference (`order(memberId, reference)`), or null
 * when there is none. Whoever may read the member may read their orders
 * (SERVICE_CALLERS.readMembers); a member reads only their own: another
 * member's order is null, whatever the reference, as an order nobody placed.
 * The reference is checked as every operation naming an order checks it
 * (ValidationError on `reference`), and looked up as it is stored. `selection`
 * is what the caller wants loaded with the row (the GraphQL field's
 * plugin-prisma query).
 */
export async function orderByReference(
  deps: Pick<ServiceDeps, 'prisma'>,
  input: { memberId: string; reference: string },
  caller: Caller,
  selection: OrderSelection = {},
): Promise<PointOrder | null> {
  assertMayCall(caller, 'readMembers');
  const memberId = check.uuid('memberId', input.memberId);
  if (caller.actor.type === 'MEMBER' && caller.actor.id !== memberId) return null;
  const orderRef = placedOrderReference('reference', input.reference);
  return deps.prisma.pointOrder.findUnique({ ...selection, where: { memberId_orderRef: { memberId, orderRef } } });
}

/**
 * An order by its id (`node(id)`), with what `selection` loads with it, or null when there is none. Whoever may read
 * the member may read their orders (`memberRowsWhere`: anyone else is refused before anything is read); a member
 * token finds only their own: another member's order is not returned, as one nobody placed. The id must be a UUID
 * (ValidationError).
 */
export async function readOrder(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  selection: OrderSelection,
  caller: Caller,
): Promise<PointOrder | null> {
  const mayRead = memberRowsWhere(caller);
  return deps.prisma.pointOrder.findUnique({ ...selection, where: { id: check.uuid('id', id), ...mayRead } });
}

export interface CancelOrderInput {
  memberId: string;
  orderReference: string;
  idempotencyKey: string;
}

/**
 * Cancels an order: everything that happened on it is undone, once. The
 * points it earned are reversed, the points redeemed on it restored as a new
 * lot, the vouchers redeemed on it ISSUED again while still valid
 * (`returnOnOrder`). Idempotent by key (the kernel: concurrent repeats wait
 * for the first and replay its answer); a cancelled order refuses a second
 * cancel with another key, and any further return, earn or redemption.
 */
export async function cancelOrder(deps: ServiceDeps, input: CancelOrderInput, caller: Caller) {
  assertMayCall(caller, 'cancelOrder');
  const memberId = check.uuid('memberId', input.memberId);
  const orderRef = placedOrderReference('orderReference', input.orderReference);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const operation = {
    memberId,
    request: { scope: `cancelOrder:${memberId}`, key, body: { orderReference: orderRef } },
    change: { kind: 'ORDER_RETURNED' as const, reference: orderRef },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    assertEligible(member, 'CORRECTION');
    const result = await returnOnOrder(tx, member, settings, now, {
      kind: 'CANCEL',
      orderRef,
      orderField: 'orderReference',
      entryKey: `cancelOrder:${key}`,
      actor: caller.actor,
    });
    return { result };
  });
}

export interface ReturnOrderItemsInput {
  memberId: string;
  orderReference: string;
  /** The items returned, by SKU … */
  items?: readonly ReturnedItem[] | null;
  /** … or an amount of money returned. */
  amount?: { amount: string; currency: string } | null;
  idempotencyKey: string;
}

/**
 * Returns part of an order (or the rest of it): items by SKU and quantity, or
 * an amount. Gives back in proportion to the value returned — earned points
 * reversed, redeemed points restored, cumulative over returns so rounding never
 * drifts — and the order's vouchers once all of it is back (`returnOnOrder`).
 * A return can never exceed what is left of the order (ValidationError naming
 * the item or amount). Idempotent by key.
 */
export async function returnOrderItems(deps: ServiceDeps, input: ReturnOrderItemsInput, caller: Caller) {
  assertMayCall(caller, 'returnOrderItems');
  const memberId = check.uuid('memberId', input.memberId);
  const orderRef = placedOrderReference('orderReference', input.orderReference);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const hasItems = input.items != null && input.items.length > 0;
  if (hasItems === (input.amount != null)) {
    throw new ValidationError('items', 'give either the items returned or an amount');
  }
  let items: ReturnedItem[] | null = null;
  let amount = null;
  if (hasItems) {
    if (input.items!.length > MAX_ORDER_LINES) throw new ValidationError('items', `at most ${MAX_ORDER_LINES} items per return`);
    items = input.items!.map((item, index) => {
      // A line of the placed order, by its SKU as stored: a line stored before the key rule can still come back.
      const sku = placedLineSku(`items[${index}].sku`, item.sku);
      if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_LINE_QUANTITY) {
        throw new ValidationError(`items[${index}].quantity`, `must be a whole number between 1 and ${MAX_LINE_QUANTITY}`);
      }
      return { sku, quantity: item.quantity };
    });
  } else {
    amount = check.money('amount.amount', input.amount!.amount);
    check.currency('amount.currency', input.amount!.currency);
  }
  const currency = input.amount?.currency ?? null;
  const body = { orderReference: orderRef, items, amount: amount?.toFixed(2) ?? null, currency };
  const operation = {
    memberId,
    request: { scope: `returnOrderItems:${memberId}`, key, body },
    change: { kind: 'ORDER_RETURNED' as const, reference: orderRef },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    assertEligible(member, 'CORRECTION');
    const result = await returnOnOrder(tx, member, settings, now, {
      kind: 'RETURN',
      orderRef,
      orderField: 'orderReference',
      items,
      amount,
      amountField: 'amount.amount',
      currency: currency === null ? null : { value: currency, field: 'amount.currency' },
      entryKey: `returnOrderItems:${key}`,
      actor: caller.actor,
    });
    return { result };
  });
}

/** What a cancel or return answers: its stored outcome (`replayed` on a repeat). */
export type OrderReturnOutcome = OrderReturnResult & { replayed: boolean };
