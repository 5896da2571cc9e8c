import { Decimal } from 'decimal.js';
import { ValidationError } from '../errors.js';
import * as check from '../validation.js';
import { withFields } from '../../with-fields.js';

/** At most this many line items per order. */
export const MAX_ORDER_LINES = 200;
/** At most this many units of one line. */
export const MAX_LINE_QUANTITY = 1_000_000;
/** At most this many characters of a line's SKU or category (an earning rule's lists take no longer ones). */
export const MAX_LINE_LABEL = 64;
/** A channel key: lower-case, short, as rules match on it ("web", "app", "store"). */
const CHANNEL = /^[a-z][a-z0-9_-]{0,31}$/;

/** An order as a storefront sends it (GraphQL `OrderInput`, amounts as decimal strings). */
export interface OrderInput {
  reference: string;
  total: { amount: string; currency: string };
  channel?: string | null;
  placedAt?: Date | null;
  lines?: readonly OrderLineInput[] | null;
}

export interface OrderLineInput {
  sku: string;
  category?: string | null;
  quantity: number;
  unitPrice: string;
}

/** A line item, checked, with its earning base. */
export interface OrderLine {
  /** 1-based, in the order given. */
  position: number;
  sku: string;
  category: string | null;
  quantity: number;
  unitPrice: Decimal;
  /** quantity × unit price. */
  amount: Decimal;
  /** The line's part of the order total (see `prorateTotal`): its earning base, and what returning it gives back. */
  share: Decimal;
}

/** An order, checked: every part valid, the lines' shares adding up to the total to the cent. */
export interface CheckedOrder {
  reference: string;
  /**
   * What the key rule refuses in the order's keys, to throw once the write knows its request is no replay
   * (`refuseNewOrderKeys`): the reference's refusal unless the member's order holds it already; the first SKU or
   * category of a line refused (lines are always new rows).
   */
  keyRefusals: OrderKeyRefusals;
  total: Decimal;
  currency: string;
  channel: string | null;
  placedAt: Date | null;
  lines: OrderLine[];
}

/** The key rule's refusals of an order's keys (`CheckedOrder.keyRefusals`). */
export interface OrderKeyRefusals {
  reference: check.StorableKey;
  /** The first line's SKU or category the rule refuses (in line order, the SKU before the category), or null. */
  line: ValidationError | null;
}

/**
 * An order reference as given by a storefront to a write that may open the order (an earn, a redemption of points or
 * of a voucher): 1–200 characters after trimming, a key (`check.storableKey`: nothing a name may not hold, no format
 * character, Unicode NFC) unless the member's order holds it already (`refuseNewOrderReference`). Used by every
 * operation that may open an order, so that any reference one of them accepts, the others accept too.
 */
export function orderReference(field: string, value: string): check.StorableKey {
  return check.storableKey(field, value);
}

/**
 * A reference that names an order already placed (a lookup, a cancel, a return, a refund): as it is stored, 1–200
 * characters, any character a stored one may hold (`check.lookupKey`), so an order placed before the naming and key
 * rules stays reachable.
 */
export function placedOrderReference(field: string, value: string): string {
  return check.lookupKey(field, value);
}

/** A channel key, or null; the field named when it is not one. */
export function orderChannel(field: string, value: string | null | undefined): string | null {
  if (value == null) return null;
  if (!CHANNEL.test(value)) {
    throw new ValidationError(field, 'must be a short lower-case key such as "web", "app" or "store" (a–z, 0–9, _ and -, at most 32)');
  }
  return value;
}

/** A line's SKU as an order brings it: a key (`check.storableKey`; rules and returns match it character for character). */
export function lineSku(field: string, value: string): check.StorableKey {
  return check.storableKey(field, value, { max: MAX_LINE_LABEL });
}

/**
 * A line's category as an order brings it: a key, as its SKU is (`check.storableKey`): earning rules match it
 * character for character, and "Books" with a no-break space or in full-width letters would silently miss the rule
 * on "Books".
 */
export function lineCategory(field: string, value: string): check.StorableKey {
  return check.storableKey(field, value, { max: MAX_LINE_LABEL });
}

/** A SKU that names a line of an order placed (a return): as it is stored (`check.lookupKey`). */
export function placedLineSku(field: string, value: string): string {
  return check.lookupKey(field, value, { max: MAX_LINE_LABEL });
}

/**
 * Checks every part of an order (`field` is the input's path, e.g. `order`),
 * naming the first bad part by its path (`order.lines[3].quantity`): the
 * reference, the total (≥ 0, in the program `currency` when given — else the
 * caller compares it once it knows the program), the channel, when it
 * was placed (not in the future: `now` plus a minute of clock skew; not before
 * the year 0001, which PostgreSQL stores), at most
 * `MAX_ORDER_LINES` lines with a SKU (one line per SKU), an optional category (a key, as the SKU),
 * a whole quantity > 0 and a unit price ≥ 0. Pure: nothing is read or written.
 */
export function checkOrder(field: string, input: OrderInput, context: { currency: string | null; now: Date }): CheckedOrder {
  const referenceKey = orderReference(`${field}.reference`, input.reference);
  const reference = referenceKey.value;
  const total = check.money(`${field}.total.amount`, input.total.amount, { positive: false });
  const currency = check.currency(`${field}.total.currency`, input.total.currency);
  if (context.currency !== null && currency !== context.currency)
    throw new ValidationError(`${field}.total.currency`, `the program runs in ${context.currency}`);
  const channel = orderChannel(`${field}.channel`, input.channel);
  const placedAt = input.placedAt == null ? null : check.dateTime(`${field}.placedAt`, input.placedAt);
  // Not held to the enrolment: a customer who joins after buying may still claim the order.
  if (placedAt !== null && placedAt.getTime() > context.now.getTime() + 60_000) {
    throw new ValidationError(`${field}.placedAt`, 'must not be in the future');
  }
  const given = input.lines ?? [];
  if (given.length > MAX_ORDER_LINES) throw new ValidationError(`${field}.lines`, `at most ${MAX_ORDER_LINES} lines per order`);
  const skus = new Set<string>();
  let lineRefusal: ValidationError | null = null;
  const parts = given.map((line, index) => {
    const path = `${field}.lines[${index}]`;
    const skuKey = lineSku(`${path}.sku`, line.sku);
    lineRefusal ??= skuKey.refusal;
    const sku = skuKey.value;
    if (skus.has(sku)) throw new ValidationError(`${path}.sku`, 'appears on an earlier line: one line per SKU, with its whole quantity');
    skus.add(sku);
    const categoryKey = line.category == null ? null : lineCategory(`${path}.category`, line.category);
    lineRefusal ??= categoryKey?.refusal ?? null;
    const category = categoryKey?.value ?? null;
    if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_LINE_QUANTITY) {
      throw new ValidationError(`${path}.quantity`, `must be a whole number between 1 and ${MAX_LINE_QUANTITY}`);
    }
    const unitPrice = check.money(`${path}.unitPrice`, line.unitPrice, { positive: false });
    return { position: index + 1, sku, category, quantity: line.quantity, unitPrice, amount: unitPrice.mul(line.quantity) };
  });
  const shares = prorateTotal(
    total,
    parts.map((line) => line.amount),
    parts.map((line) => line.quantity),
  );
  return {
    reference,
    keyRefusals: { reference: referenceKey, line: lineRefusal },
    total,
    currency,
    channel,
    placedAt,
    lines: parts.map((line, i) => withFields(line, { share: shares[i]! })),
  };
}

/**
 * Splits `total` over lines in proportion to their `amounts` (quantity × unit
 * price), to the cent, by the largest remainder: every line gets its exact
 * share rounded down, and the cents left go one each to the lines with the
 * largest remainders (the earlier line on a tie). The shares add up to `total`
 * exactly. When every amount is 0 (free items) the split is by `weights`
 * (quantities) instead. No lines: no shares.
 */
export function prorateTotal(total: Decimal, amounts: readonly Decimal[], weights: readonly number[]): Decimal[] {
  if (amounts.length === 0) return [];
  const byAmount = amounts.some((amount) => amount.gt(0));
  const basis = byAmount ? amounts : weights.map((weight) => new Decimal(weight));
  const sum = basis.reduce((a, b) => a.plus(b), new Decimal(0));
  const cents = total.mul(100);
  const exact = basis.map((part) => cents.mul(part).div(sum));
  const floors = exact.map((value) => value.floor());
  let left = cents.minus(floors.reduce((a, b) => a.plus(b), new Decimal(0))).toNumber();
  const order = exact
    .map((value, index) => ({ index, remainder: value.minus(floors[index]!) }))
    .sort((a, b) => b.remainder.comparedTo(a.remainder) || a.index - b.index);
  for (const { index } of order) {
    if (left <= 0) break;
    floors[index] = floors[index]!.plus(1);
    left -= 1;
  }
  return floors.map((value) => value.div(100));
}

/**
 * The value of `returned` of a line's `quantity` units, cumulative: the line's
 * share × returned / quantity, rounded down to the cent — the whole share when
 * every unit is back, so returns of a line add up to exactly its share.
 */
export function returnedLineValue(line: { share: Decimal; quantity: number }, returned: number): Decimal {
  if (returned >= line.quantity) return line.share;
  return line.share.mul(returned).div(line.quantity).toDecimalPlaces(2, Decimal.ROUND_DOWN);
}
