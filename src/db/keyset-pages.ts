import type { PrismaClient } from '../generated/prisma/client.js';
import { keysetWhere, type OrderKey } from './keyset-where.js';
import { eachRelation, isObject, MODELS, rewriteReads, type Args, type ModelShape } from './read-args.js';

/**
 * A page of a list under a list of parents reads at most its page from PostgreSQL, for each parent, with or without a
 * cursor.
 *
 * Prisma reads a relation's page (`take`) in its parent's statement, one LATERAL subquery with a LIMIT per parent
 * (`relationJoins`), only when no cursor is anywhere in the read. A cursor — the relation's own (`after`, `before`), or
 * the parents' (the second page of `members`) — makes it load every relation of the read with a statement of its own
 * over all parents (`member_id IN (…)`): a cursor page, or a page of a relation under it, is then read without a LIMIT,
 * every row of every parent from the cursor's place on, and paged in memory. A `members(first: 50)` page asking for
 * `ledger(first: 10, after: …)`, or `members(first: 50, after: …)` asking for `ledger(first: 10)`, read the whole
 * ledger of fifty members (tests/graphql/nested-page-bounds.test.ts: three members of 1 500 entries, and a page of 10
 * after the cursor of one's 700th read 2 400 entries; the second page of members, 3 000).
 *
 * Here a read that pages a relation (a `take` in its `select`/`include`) and holds a cursor anywhere has each cursor
 * page rewritten as a keyset filter of the same rows: the cursor's row is looked up by its key (one statement per
 * cursor, by primary key, before the read) for its values of the list's order, and the page becomes the rows strictly
 * after (before, for a negative `take`) that place in the order — `where` and `take` as they were, no `cursor`, no
 * `skip`. The read then has no cursor, and Prisma reads it in one statement, each page of each parent with its LIMIT.
 * The rows are the same as Prisma's cursor page: Prisma places the cursor by its row's key alone, whatever the list's
 * `where`, and skips that row (`skip: 1`), so the page is the rows after the cursor's place whether or not its row is
 * still in the list (src/db/cursor-pages.ts keeps that promise for the reads this leaves alone). A cursor of a row
 * that exists nowhere answers an empty page, as Prisma's does; a cursor of another parent's row places the page as
 * Prisma did, and src/graphql/cursor-ownership.ts answers it as one of nothing.
 *
 * The order is the list's `orderBy` of plain columns, then `id` (a total order: no two rows share a place), as every
 * connection's order ends; one that does not (`Contract.renewals`, by `sequence`, unique within its contract) gets
 * `id` added after its own columns, which changes nothing where they are unique. The filter leads with the first
 * column's bound (`created_at <= $place AND (…)`), which an index on the parent's key and that column reads as a range.
 * Order columns must read back exactly (timestamps of milliseconds, as every `DateTime` here, `timestamptz(3)`).
 *
 * Anything else is left to Prisma as it was: a read without a paged relation or without a cursor (most reads, which
 * pay one walk of their relations here, nothing allocated by it; src/db/cursor-pages.ts runs both in one query
 * extension, so Prisma copies a read's arguments once), and a page this cannot place exactly, which stays Prisma's
 * cursor page (the read's other pages are still rewritten) — an order by a relation, by `_count` or with `nulls`, a
 * `skip` other than plugin-prisma's 1, a cursor row whose order value is null (it has no place), a cursor that is not
 * plain values with `id` among them: a position cursor (src/db/position-cursors.ts) is one, and src/db/cursor-pages.ts
 * makes a filter of it itself, from the place it holds, without a lookup.
 *
 * The lookups use the client the extension was built on, outside any transaction the read is in: a cursor's place is
 * a row's order values, which its writers do not change within a request. Inside an interactive transaction a lookup
 * would take a second connection of the pool and read outside the transaction's snapshot; no service pages a
 * relation under a cursor in one (the connections' resolvers read outside transactions), and one that does must say
 * why that is safe.
 */

/** `scan`'s findings: a cursor anywhere (at the top too), a `take` in a relation. */
const CURSOR = 1;
const PAGED_RELATION = 2;

/** What the read of `model` with `args` holds: CURSOR | PAGED_RELATION, as far as it is walked (both found: stop). */
function scan(model: string, args: Args, nested: boolean): number {
  let found = (args['cursor'] !== undefined ? CURSOR : 0) | (nested && args['take'] !== undefined ? PAGED_RELATION : 0);
  eachRelation(model, args, (related, relation) => (found |= scan(related, relation, true)) === (CURSOR | PAGED_RELATION));
  return found;
}

/** A cursor page of the read: the arguments that hold a `cursor`, and their model. */
interface CursorPage {
  model: string;
  args: Args;
}

function cursorPages(model: string, args: Args, pages: CursorPage[]): CursorPage[] {
  if (args['cursor'] !== undefined) pages.push({ model, args });
  eachRelation(model, args, (related, relation) => {
    cursorPages(related, relation, pages);
    return false;
  });
  return pages;
}

/**
 * The list's order as plain columns up to `id` (added, in the last column's direction, when the order lacks it; alone,
 * ascending, when there is none, as Prisma orders a cursor page then); null for an order this cannot place a row in.
 */
function orderKeys(orderBy: unknown, shape: ModelShape): OrderKey[] | null {
  const entries = orderBy === undefined ? [] : Array.isArray(orderBy) ? (orderBy as unknown[]) : [orderBy];
  const keys: OrderKey[] = [];
  for (const entry of entries) {
    if (!isObject(entry)) return null;
    const fields = Object.keys(entry);
    const field = fields[0];
    if (fields.length !== 1 || field === undefined || !shape.scalars.has(field)) return null;
    const direction = entry[field];
    if (direction !== 'asc' && direction !== 'desc') return null;
    keys.push({ field, direction });
    if (field === 'id') return keys;
  }
  if (!shape.scalars.has('id')) return null;
  keys.push({ field: 'id', direction: keys.at(-1)?.direction ?? 'asc' });
  return keys;
}

/** Whether `value` is a column's plain value (not a filter, not a compound key's columns, not a position). */
function isPlain(value: unknown): boolean {
  return (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'bigint' ||
    typeof value === 'boolean' ||
    value instanceof Date
  );
}

/** The cursor as a `where` of its row: plain values, `id` among them; null otherwise (src/db/cursor-pages.ts too). */
export function cursorRow(cursor: unknown): Args | null {
  if (!isObject(cursor) || !isPlain(cursor['id'])) return null;
  for (const key in cursor) if (!isPlain(cursor[key])) return null;
  return cursor;
}

/** No row: the page of a cursor whose row exists nowhere. */
const NO_ROW: Args = { id: { in: [] } };

type FindFirst = (args: { where: Args; select: Record<string, true> }) => Promise<Args | null>;

/** The Prisma delegate of a model: `LedgerEntry` → `prisma.ledgerEntry`. */
function delegate(client: PrismaClient, model: string): { findFirst: FindFirst } | undefined {
  return (client as unknown as Record<string, { findFirst: FindFirst } | undefined>)[model.charAt(0).toLowerCase() + model.slice(1)];
}

/** The page's arguments as a keyset filter (no `cursor`, no `skip`); null when this cannot place its cursor exactly. */
async function keysetPage(client: PrismaClient, { model, args }: CursorPage): Promise<Args | null> {
  const shape = MODELS.get(model);
  const lookup = delegate(client, model);
  const take = args['take'];
  const cursor = cursorRow(args['cursor']);
  const keys = shape ? orderKeys(args['orderBy'], shape) : null;
  if (!lookup || !cursor || !keys || args['skip'] !== 1 || (take !== undefined && (typeof take !== 'number' || take === 0))) return null;
  // Read even for an order by `id` alone (`members`), whose place the cursor already holds: a cursor of a row that
  // exists nowhere answers an empty page, as Prisma's own cursor page does.
  const row = await lookup.findFirst({ where: cursor, select: Object.fromEntries(keys.map((key) => [key.field, true] as const)) });
  const values = row === null ? [] : keys.map((key) => row[key.field]);
  if (values.some((value) => value === null || value === undefined)) return null;
  const keyset = row === null ? NO_ROW : keysetWhere(keys, values, take === undefined || take > 0);
  const { cursor: _cursor, skip: _skip, ...page } = args;
  page['where'] = args['where'] == null ? keyset : { AND: [args['where'], keyset] };
  const entries = args['orderBy'] === undefined ? 0 : Array.isArray(args['orderBy']) ? (args['orderBy'] as unknown[]).length : 1;
  if (keys.length > entries) page['orderBy'] = keys.map((key) => ({ [key.field]: key.direction }));
  return page;
}

/**
 * The read's arguments with every cursor page a keyset page, when the read pages a relation and holds a cursor;
 * `args` itself otherwise. A page this cannot place exactly stays Prisma's cursor page, as before (a position cursor,
 * src/db/position-cursors.ts, among them: src/db/cursor-pages.ts makes a keyset page of it without reading its row).
 */
export async function keysetPages(client: PrismaClient, model: string, args: Args): Promise<Args> {
  if (!pagesUnderACursor(model, args)) return args;
  const pages = cursorPages(model, args, []);
  const keysets = await Promise.all(pages.map((page) => keysetPage(client, page)));
  const rewritten = new Map<Args, Args>();
  for (const [i, page] of pages.entries()) {
    const keyset = keysets[i];
    if (keyset) rewritten.set(page.args, keyset);
  }
  return rewritten.size === 0 ? args : rewriteReads(model, args, (_model, page) => rewritten.get(page) ?? page);
}

/** Whether the read of `model` with `args` pages a relation and holds a cursor: a read `keysetPages` rewrites. */
export function pagesUnderACursor(model: string, args: Args): boolean {
  return scan(model, args, false) === (CURSOR | PAGED_RELATION);
}
