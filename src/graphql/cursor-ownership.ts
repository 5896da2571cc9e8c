import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import { groupedBatches } from './batches.js';
import type { GraphQLContext } from './context.js';
import { decodePosition } from '../db/position-cursors.js';
import { listCursorKey } from './cursors.js';
import { positionOrderOf } from './position-cursors.js';

/**
 * A cursor of a row outside a connection's parent answers exactly as a cursor of a row that exists nowhere.
 *
 * Every list under an object but one (`t.relatedConnection`: a member's ledger, vouchers, orders, …, a contract's
 * renewals) is a plugin-prisma relation query with Prisma cursor pagination, and Prisma looks the cursor's row up by
 * its id alone, not within the parent: a cursor of member B's ledger entry, in member A's ledger, paged A's entries
 * from B's entry's place, where a cursor of nothing answers an empty page. So the answer told A that B's entry exists
 * and when it was written (docs/errors.md promises that another member's data answers as data that does not exist).
 *
 * The one: an incident's `failures` is no relation field. Its page is read by a statement of its own
 * (`serviceIncidentFailures`, src/domain/service-failures/incident-failures.service.ts), which pages from a cursor only
 * when the cursor's failure is the incident's, and otherwise answers the empty page of a cursor of nothing. This
 * plugin leaves it alone; checkListCursors (src/graphql/cursors.ts) still refuses a string that is no cursor of it
 * before execution, as for every list.
 *
 * This plugin wraps every such connection field (plugin-prisma's relation fields that take `after`): when `after` or
 * `before` is given, a lookup by primary keys asks whether the cursor's row is one of the parent's rows of that
 * relation, alongside the field's own resolver; when it is not, the page is replaced by the empty page a cursor of
 * nothing gets from plugin-prisma (no edges, null start and end cursors, `hasPreviousPage` for `after`,
 * `hasNextPage` for `before`, the same `totalCount`). The lookups of one turn of the event loop are one statement per
 * cursor row and relation (`owners`): under a page of 50 members, `ledger(after: …)` asks once for all 50, not 50
 * times. A page without a cursor (the status screen's first page) pays only the two argument checks.
 * tests/graphql/cursor-ownership.test.ts compares both answers for every connection, and counts the statement.
 *
 * Why here and not in a domain service: this decides what a cursor means, not who may read what — for every caller
 * alike (staff and keys included), since the same answer for a foreign row and a missing one is the point. Who may
 * read the parent and its rows is still the services' rules (`visibleTo`, the node loaders); the relation query itself
 * is plugin-prisma's, planned in this layer, so the cursor's meaning is settled next to it. Listed before
 * PrismaPlugin in the builder's plugins, so it sees the page whichever way plugin-prisma loaded it (planned into the
 * parent's query, or its fallback query) and a row a domain read preloaded (src/graphql/preloaded.ts).
 */

interface Connection {
  edges: unknown[];
  pageInfo: { startCursor: string | null; endCursor: string | null; hasPreviousPage: boolean; hasNextPage: boolean };
}

interface PageArgs {
  after?: unknown;
  before?: unknown;
}

/** The Prisma delegate of a model: `LedgerEntry` → `prisma.ledgerEntry`. */
function delegateName(model: string): string {
  return model.charAt(0).toLowerCase() + model.slice(1);
}

type FindMany = (args: { where: Record<string, unknown>; select: { id: true } }) => Promise<{ id: string }[]>;

function delegateOf(context: GraphQLContext, model: string): { findMany: FindMany } | undefined {
  return (context.deps.prisma as unknown as Record<string, { findMany: FindMany } | undefined>)[delegateName(model)];
}

/**
 * Which of a turn's parents have the row `rowId` in their relation: one statement per cursor row and relation for all
 * the parents that asked about it in the turn (`groupedBatches`: the resolvers of a list page's parents run in the same
 * turn), the ids of those that have it.
 */
type CursorRow = { model: string; relation: string; rowId: string };
const owners = groupedBatches(
  ({ model, relation, rowId }: CursorRow) => `${model}\u0000${relation}\u0000${rowId}`,
  async (ctx, parentIds, { model, relation, rowId }: CursorRow) => {
    const rows = await delegateOf(ctx, model)!.findMany({
      where: { id: { in: parentIds }, [relation]: { some: { id: rowId } } },
      select: { id: true },
    });
    return new Map(rows.map((row) => [row.id, true] as const));
  },
);

/**
 * Whether the parent row (its `id`) has the row `rowId` in its relation `relation`: a lookup by both primary keys,
 * asked together with the other parents' of the same turn (`owners`).
 */
function ownsRow(context: GraphQLContext, model: string, relation: string, parentId: unknown, rowId: string): Promise<boolean> {
  if (!delegateOf(context, model) || typeof parentId !== 'string') {
    return Promise.reject(new Error(`cursor ownership: no ${model} delegate or parent id for ${relation}`));
  }
  return owners(context, parentId, { model, relation, rowId }).then((owns) => owns === true);
}

/** The page plugin-prisma answers for a cursor of nothing (`wrapConnectionResult` of no rows), keeping the rest. */
function emptyPage<C extends Connection>(connection: C, args: PageArgs): C {
  return {
    ...connection,
    edges: [],
    pageInfo: { startCursor: null, endCursor: null, hasPreviousPage: args.after != null, hasNextPage: args.before != null },
  };
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Pothos' plugin API extends its option types through this namespace.
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      cursorOwnership: PothosCursorOwnershipPlugin<Types>;
    }
  }
}

export class PothosCursorOwnershipPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const relation = fieldConfig.extensions?.['pothosPrismaRelationField'] as { name: string } | undefined;
    if (!relation || !('after' in fieldConfig.args)) return resolver;
    const model = this.buildCache.getTypeConfig(fieldConfig.parentType).extensions?.['pothosPrismaModel'];
    if (typeof model !== 'string') return resolver;
    const order = positionOrderOf(fieldConfig);
    return (parent, args, context, info) => {
      const { after, before } = args as PageArgs;
      if (after == null && before == null) return resolver(parent, args, context, info);
      const checks = [after, before]
        .filter((cursor) => cursor != null)
        .map((cursor) => {
          // checkListCursors (src/graphql/cursors.ts) refused any other cursor before execution. A position of this
          // list (src/db/position-cursors.ts: `Member.orders`) names a place, no row: its page is the parent's rows
          // from there, none looked up, so there is no row to own. Anything else owns nothing: an empty page.
          const rowId = listCursorKey(cursor);
          if (rowId !== null) return ownsRow(context as GraphQLContext, model, relation.name, (parent as { id?: unknown }).id, rowId);
          return Promise.resolve(order !== null && decodePosition(order, cursor) !== null);
        });
      const page = resolver(parent, args, context, info);
      return Promise.all([Promise.all(checks), page]).then(([owned, connection]) =>
        owned.every(Boolean) || connection == null ? connection : emptyPage(connection as Connection, args as PageArgs),
      );
    };
  }
}

SchemaBuilder.registerPlugin('cursorOwnership', PothosCursorOwnershipPlugin);
