import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLField, GraphQLFieldResolver } from 'graphql';
import { encodePosition, type PositionOrder } from '../db/position-cursors.js';

/**
 * The cursors of a list ordered by a column that can change for a row in it are positions (src/db/position-cursors.ts):
 * the values of the order's columns a row has when its page is answered, and its id. A connection field says so with
 * `positionCursors(order)` among its options (`heldRenewalBonuses`, `rewards`, `Member.orders`), the order its rows are
 * read in; plugin-prisma reads the page (a position given as `after`/`before` becomes the `where` of the rows beyond
 * it, src/db/cursor-pages.ts) and writes each edge's cursor from the row's id, which this plugin, outside
 * plugin-prisma, writes anew from the row's values of the order's columns: the edges' cursors and the page's start
 * and end cursors. checkListCursors (src/graphql/cursors.ts) reads the same option from the schema: a cursor of such
 * a list is a position of it, or a row id handed out before stop 54. The rows must hold the order's columns: the types
 * of these lists load every column of their rows (none has a `select` of its own); a row without one is an internal
 * error, never a cursor of another place.
 */

const POSITION_ORDER = 'positionOrder';

/** A connection field's option: its cursors are positions in `order`, the order its resolver reads the rows in. */
export function positionCursors(order: PositionOrder): { extensions: Record<typeof POSITION_ORDER, PositionOrder> } {
  return { extensions: { [POSITION_ORDER]: order } };
}

/** The position order of a connection field of the schema, or null when its cursors are row ids. */
export function positionOrderOf(
  field: { readonly extensions?: GraphQLField<unknown, unknown>['extensions'] | null } | null | undefined,
): PositionOrder | null {
  return (field?.extensions?.[POSITION_ORDER] as PositionOrder | undefined) ?? null;
}

interface Connection {
  edges: ({ cursor: string; node: Record<string, unknown> } | null)[];
  pageInfo: { startCursor: string | null; endCursor: string | null };
}

const isThenable = <T>(value: T | PromiseLike<T>): value is PromiseLike<T> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

/** The connection with every edge's cursor, and the page's start and end cursors, a position of its row. */
function positioned(order: PositionOrder, connection: Connection | null | undefined): Connection | null | undefined {
  if (connection == null) return connection;
  for (const edge of connection.edges) if (edge) edge.cursor = encodePosition(order, edge.node);
  connection.pageInfo.startCursor = connection.edges[0]?.cursor ?? null;
  connection.pageInfo.endCursor = connection.edges.at(-1)?.cursor ?? null;
  return connection;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Pothos' plugin API extends its option types through this namespace.
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      positionCursors: PothosPositionCursorsPlugin<Types>;
    }
  }
}

export class PothosPositionCursorsPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const order = fieldConfig.extensions?.[POSITION_ORDER] as PositionOrder | undefined;
    if (!order) return resolver;
    return (parent, args, context, info) => {
      const page = resolver(parent, args, context, info) as Connection | PromiseLike<Connection> | null;
      return isThenable(page) ? page.then((connection) => positioned(order, connection)) : positioned(order, page);
    };
  }
}

SchemaBuilder.registerPlugin('positionCursors', PothosPositionCursorsPlugin);
