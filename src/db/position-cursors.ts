import { decodeBase64, decodeCursorChunk, encodeBase64, encodeCursorTuple } from '@pothos/core';
import { isUuid } from '../domain/validation.js';
import { keysetWhere, type OrderKey } from './keyset-where.js';

/**
 * Position cursors: the cursors of a list ordered by a column that can change for a row while it is in the list.
 *
 * Every connection pages with Prisma's cursor, which Prisma places at its row's place NOW (src/db/cursor-pages.ts).
 * That is the row's place when the page was answered as long as the row keeps the values it is ordered by; but some
 * rows change them: a held renewal bonus released back to PENDING has no `bonusHeldAt` any more, and one held again has
 * a later one; a reward's price (`pointsCost`) is changed by an admin; an order first named by a redemption is placed
 * `now`, and the earn that completes it may say it was placed earlier (`placedAt`). The cursor of such a row had no
 * place (an empty next page though more rows follow) or another one (the rows between its old and new place never
 * shown, or shown twice). A position cursor holds the values the list is ordered by, as they were when the cursor was
 * handed out, and the row's id (the order's last column, which makes a place unique): the next page is the rows after
 * (before) that place in the list as it is now, whatever happened to that row since. It reads nothing of the row.
 *
 * A cursor is `base64("GPC:" + tuple)`, the tuple of `@pothos/core`'s tagged cursor chunks (`T:["S:<list>",
 * "D:<ms>", "S:<id>"]`) plugin-prisma reads for a list paged by `id`: it hands it to Prisma as `cursor: { id: [list,
 * ...values, id] }`, which the query extension turns into a `where` of the rows after (before) the place
 * (`positionPage`), Prisma's own cursor left out. The list's name in it makes a cursor of one list no cursor of another.
 * It is opaque to clients, and hostile input like any argument: `decodePosition` accepts only the exact bytes
 * `encodePosition` writes for a place of that list (every value of its column's kind and range, an id that is a UUID);
 * src/graphql/cursors.ts refuses anything else before anything runs. A position a client writes by hand is a place
 * in the list like any other: the page after it holds rows of the list the caller reads anyway, nothing about a row
 * it names (no row is read for it).
 *
 * The order's columns must hold a value for every row in the list (a held bonus has a `bonusHeldAt`): a position
 * holds no null.
 */

/** What a column of a position holds: a moment (a `DateTime` column, to the millisecond), or points (an `Int` ≥ 0). */
export type PositionKind = 'moment' | 'points';

export interface PositionColumn<C extends string = string> {
  readonly column: C;
  readonly direction: 'asc' | 'desc';
  readonly kind: PositionKind;
}

/** A list ordered by `columns` and then by `id`, paged with position cursors. */
export interface PositionOrder<C extends string = string> {
  /** The list's name in its cursors (a cursor of another list is refused). */
  readonly list: string;
  readonly columns: readonly PositionColumn<C>[];
  readonly idDirection: 'asc' | 'desc';
  /** The order as Prisma takes it (a model's `orderBy`): the columns, then `id`. */
  readonly orderBy: Partial<Record<C | 'id', 'asc' | 'desc'>>[];
}

/** A position order: `list` named in its cursors, ordered by `columns` and then by `id` in `idDirection`. */
export function positionOrder<C extends string>(
  list: string,
  columns: readonly PositionColumn<C>[],
  idDirection: 'asc' | 'desc',
): PositionOrder<C> {
  const orderBy = [
    ...columns.map(({ column, direction }) => ({ [column]: direction }) as Partial<Record<C | 'id', 'asc' | 'desc'>>),
    { id: idDirection } as Partial<Record<C | 'id', 'asc' | 'desc'>>,
  ];
  return Object.freeze({ list, columns: Object.freeze([...columns]), idDirection, orderBy });
}

/** A place in a position-ordered list: its columns' values, then the row's id. */
export interface Position {
  readonly values: readonly (Date | number)[];
  readonly id: string;
}

/** The earliest and the latest moment a position holds: the years 1 to 9999, which PostgreSQL stores. */
const FIRST_MOMENT = -62_135_596_800_000;
const LAST_MOMENT = 253_402_300_799_999;
const MAX_POINTS = 2_147_483_647;
/** Longer than any cursor `encodePosition` writes (a list's name, a few values, a UUID). */
const MAX_CURSOR_LENGTH = 512;

function isValueOf(kind: PositionKind, value: unknown): value is Date | number {
  if (kind === 'moment') {
    if (!(value instanceof Date)) return false;
    const ms = value.getTime();
    return Number.isInteger(ms) && ms >= FIRST_MOMENT && ms <= LAST_MOMENT;
  }
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_POINTS;
}

/** The cursor of `row`'s place in the list: its values of the order's columns now, and its id. */
export function encodePosition(order: PositionOrder, row: Record<string, unknown>): string {
  const values = order.columns.map(({ column, kind }) => {
    const value = row[column];
    if (!isValueOf(kind, value)) {
      // The list's rows all hold one (PositionOrder), and plugin-prisma's rows every column the type selects.
      throw new Error(`position cursor of ${order.list}: the row's ${column} is not a ${kind}`);
    }
    return value;
  });
  if (typeof row['id'] !== 'string') throw new Error(`position cursor of ${order.list}: the row has no id`);
  return encodeBase64(`GPC:${encodeCursorTuple([order.list, ...values, row['id']])}`);
}

/**
 * The place a cursor of `order`'s list names, or null when `cursor` is not one `encodePosition` writes for it: not a
 * string, not base64, another prefix or list, a part too many or too few, a value of another kind or out of range,
 * an id that is no UUID, or any other bytes than the ones it writes for those values.
 */
export function decodePosition(order: PositionOrder, cursor: unknown): Position | null {
  if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR_LENGTH) return null;
  let parts: unknown;
  try {
    const decoded = decodeBase64(cursor);
    if (!decoded.startsWith('GPC:T:')) return null;
    parts = decodeCursorChunk(decoded.slice('GPC:'.length));
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length !== order.columns.length + 2 || parts[0] !== order.list) return null;
  const values = parts.slice(1, -1) as unknown[];
  const id = parts.at(-1) as unknown;
  if (!order.columns.every(({ kind }, i) => isValueOf(kind, values[i])) || typeof id !== 'string' || !isUuid(id)) return null;
  const position: Position = { values: values as (Date | number)[], id };
  const row = Object.fromEntries([...order.columns.map(({ column }, i) => [column, values[i]]), ['id', id]]);
  // The bytes it writes, and no other spelling of the same values (`N:3e2`, a padded chunk, other JSON spacing).
  return encodePosition(order, row) === cursor ? position : null;
}

type Args = Record<string, unknown>;

/** The order's keys when it is a list of `{ column: direction }` ending in `id`; null otherwise. */
function orderKeys(orderBy: unknown): OrderKey[] | null {
  if (!Array.isArray(orderBy) || orderBy.length === 0) return null;
  const keys: OrderKey[] = [];
  for (const entry of orderBy as unknown[]) {
    if (entry === null || typeof entry !== 'object') return null;
    const fields = Object.keys(entry);
    const direction = (entry as Args)[fields[0]!];
    if (fields.length !== 1 || (direction !== 'asc' && direction !== 'desc')) return null;
    keys.push({ field: fields[0]!, direction });
  }
  return keys.at(-1)!.field === 'id' ? keys : null;
}

/**
 * A page of a position-ordered list as plugin-prisma asks for it (`cursor: { id: [list, ...values, id] }`, `skip:
 * 1`, `take` negative for a page before the cursor), as a page of the rows beyond the place: Prisma's cursor left
 * out, `skip: 0`, the place's `where` added to the list's. Null when `args` is not such a page (a cursor of a row's
 * id, an order that is not its columns and then `id`, a cursor of other width): the caller leaves it as it is.
 */
export function positionPage(args: Args): Args | null {
  const cursor = args['cursor'];
  if (cursor === null || typeof cursor !== 'object' || Array.isArray(cursor) || args['skip'] !== 1) return null;
  const parts = (cursor as Args)['id'];
  if (Object.keys(cursor).length !== 1 || !Array.isArray(parts)) return null;
  const keys = orderKeys(args['orderBy']);
  if (!keys || parts.length !== keys.length + 1 || typeof parts[0] !== 'string') return null;
  const values = (parts as unknown[]).slice(1);
  if (!values.every((value) => value instanceof Date || typeof value === 'number' || typeof value === 'string')) return null;
  const forward = typeof args['take'] !== 'number' || args['take'] >= 0;
  const place = keysetWhere(keys, values, forward);
  const where = args['where'];
  const { cursor: _cursor, ...rest } = args;
  return { ...rest, skip: 0, where: where == null ? place : { AND: [where, place] } };
}
