import type { PrismaClient } from '../generated/prisma/client.js';
import { cursorRow, keysetPages, pagesUnderACursor } from './keyset-pages.js';
import { positionPage } from './position-cursors.js';
import { rewriteReads, type Args } from './read-args.js';

/**
 * A page after (before) a cursor is the rows strictly after (before) the cursor's place in the list, the cursor's own
 * row left out whether or not it is still in the list.
 *
 * Every connection (plugin-prisma's `t.prismaConnection` and `t.relatedConnection`) pages with Prisma's cursor:
 * `{ cursor: { id }, take, skip: 1 }` (a negative `take` for `last`/`before`). Prisma places the page at the cursor's
 * row, looked up by its key alone whatever the list's `where`, and `skip: 1` then drops the first row from there: the
 * cursor's own row when it is still in the list, but the next row of the list when it is not. So a gesture approved
 * while a supervisor paged `goodwillGestures(filter: { status: PENDING_APPROVAL })`, a voucher redeemed while an app
 * paged `vouchers(status: ISSUED)`, or a reward retired between two pages of the catalogue made the next page silently
 * lack a row that is in the list. A relation under a list of parents (the `vouchers` of a `members` page's members)
 * Prisma pages in memory instead, from the cursor's row among the rows it read: there such a cursor answered an empty
 * page. (`ServiceIncident.failures` is read by a statement of its own, `serviceIncidentFailures`, which pages from the
 * cursor's id itself, the same rows; nothing here touches it.)
 *
 * Here such a page reads the list's rows and the cursor's own row (`where: { OR: [where, cursor] }`, written so that
 * Prisma keeps both branches), and `skip: 1` drops exactly that row: in an order that ends in `id`, no other row
 * shares its place, so it is the first from there, whether Prisma pages in SQL or in memory. (`NOT: { id }` with
 * `skip: 0` is right in SQL, but Prisma's in-memory paging then finds no cursor row and answers nothing.) At the top
 * of a read, and in a relation's arguments anywhere in its `select` or `include` (a `relatedConnection` is read in its
 * parent's query). `take`, and so plugin-prisma's `hasNextPage` and `hasPreviousPage`, stay as they were, and so does
 * `totalCount` (counted with the list's own `where`). A cursor of a row that exists nowhere still answers an empty
 * page (Prisma finds no place), and a cursor of another parent's row one of nothing (src/graphql/cursor-ownership.ts).
 * tests/graphql/filtered-list-cursors.test.ts.
 *
 * Only the shape plugin-prisma makes is rewritten: a cursor with `skip: 1` (plugin-prisma skips 0 without a cursor and
 * 1 with one, no other offset); a cursor of plain values with `id` among them (the key every list here is paged by,
 * src/graphql/cursors.ts; `serviceIncidentsPage` adds the caller's reporter columns, which only narrow which row it
 * is); an order that ends in `id`. Anything else is left as it was: a compound-unique cursor (`{ a_b: { a, b } }`),
 * and an order that could put another row at the cursor's place, which `skip: 1` could drop instead of the cursor's
 * row, so that this row, outside the list, would be answered (`Program.changes`, ordered by `version`, and
 * `Contract.renewals`, by `sequence`: neither list is filtered, a row never leaves them).
 *
 * A row's id can only name its row, and Prisma places it at that row's place NOW: a row that keeps its values of the
 * order keeps its place, but one whose values changed (`heldRenewalBonuses`' bonus released, its `bonusHeldAt`
 * cleared; a reward's price changed; an order's `placedAt` corrected) has no place or another one. Lists ordered by such
 * a value hand out position cursors instead (src/db/position-cursors.ts): plugin-prisma passes one on as `cursor: {
 * id: [list, ...values, id] }`, and here its page becomes the rows beyond that place (`positionPage`: no cursor, no
 * row of it read), before the cursor-row rewrite below, at the top and in relations alike.
 *
 * A read without a cursor page is walked (the relations of its selection, not its `where`) and handed on as it is:
 * nothing copied, nothing allocated. Prisma itself copies a read's arguments, and walks its result, once any query
 * extension is registered (about 30 µs of CPU for a read of a member with two relations, a no-op extension the
 * same); the member status, earnPoints and redeemVoucher answer with raw SQL, no model read (the first request of an
 * API key reads the key, later ones find it cached).
 */

/** Whether the order ends in `id`: no two rows share a place, and the cursor's row is the first at its own. */
function endsInId(orderBy: unknown): boolean {
  const last = Array.isArray(orderBy) ? (orderBy as unknown[]).at(-1) : orderBy;
  if (last === null || typeof last !== 'object') return false;
  const keys = Object.keys(last);
  return keys.length === 1 && keys[0] === 'id';
}

/**
 * A page's arguments reading the cursor's row too, which `skip: 1` drops (a cursor page: `cursor`, `skip: 1`, an order
 * ending in `id`), or the rows beyond a position cursor's place; `args` itself otherwise.
 */
function exclusivePage(args: Args): Args {
  // A position cursor (src/db/position-cursors.ts): the rows beyond the place it names, no cursor row to read.
  const positioned = positionPage(args);
  if (positioned) return positioned;
  if (args['cursor'] === undefined || args['skip'] !== 1 || !endsInId(args['orderBy'])) return args;
  const row = cursorRow(args['cursor']);
  const where = args['where'];
  // Without a `where` every row is in the list, the cursor's too: nothing to add. The list's branch holds `NOT` the
  // cursor's row, so that it is never empty: Prisma drops an empty branch (`{}`, `{ status: undefined }`) of an `OR`,
  // which would leave the cursor's row alone.
  return row && where != null ? { ...args, where: { OR: [{ AND: [where, { NOT: row }] }, row] } } : args;
}

/**
 * The read of `model`'s arguments with every cursor page made exclusive (`exclusivePage`): at the top and in the
 * relations of its `select`/`include`, recursively (`rewriteReads`). The same object when there is none: only the
 * objects on the way to a rewritten page are copied.
 */
export function exclusiveCursorPage<A extends Args>(model: string, args: A): A {
  return rewriteReads(model, args, (_model, page) => exclusivePage(page)) as A;
}

/** The reads whose arguments may hold a cursor page, at the top or in a relation's arguments. */
const READS = ['findMany', 'findFirst', 'findFirstOrThrow', 'findUnique', 'findUniqueOrThrow'] as const;

type Read = (typeof READS)[number];
type ReadHook = (params: { model: string; args: Args; query: (args: Args) => Promise<unknown> }) => Promise<unknown>;

/**
 * The client, every read of every model through one query extension (its transactions' clients too): a read that
 * pages a relation under a cursor first has its cursor pages made keyset pages (`keysetPages`, src/db/keyset-pages.ts:
 * each parent's page with its LIMIT; the cursors' rows looked up through `client` itself), then every read
 * `exclusiveCursorPage`. One extension, not two: Prisma copies a read's arguments once per query extension. Typed as
 * the client it extends: the extension changes arguments only, never a method, a result or a type — it must stay a
 * query extension alone, for a method or a result field added here would be hidden by that type. Prisma batches a
 * `findUnique` only when its `where` has no OR: a rewritten page has one, but a page is a `findMany`'s (or a
 * relation's inside a read), never a `findUnique`'s own `where`.
 */
export function withCursorPages(client: PrismaClient): PrismaClient {
  const page: ReadHook = ({ model, args, query }) =>
    pagesUnderACursor(model, args)
      ? keysetPages(client, model, args).then((keyset) => query(exclusiveCursorPage(model, keyset)))
      : query(exclusiveCursorPage(model, args));
  const $allModels = Object.fromEntries(READS.map((read) => [read, page])) as Record<Read, ReadHook>;
  return client.$extends({ name: 'cursorPages', query: { $allModels } }) as unknown as PrismaClient;
}
