import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';

/**
 * Rows a domain read loaded whole, for the fields plugin-prisma would otherwise plan.
 *
 * plugin-prisma answers a relation or a `select` field from the rows its planned query loaded: the
 * root field plans the whole selection into one query (walking every field of it, per request),
 * and each relation field looks up that plan's record for its path before it reads the row. A row
 * that a domain read of our own loaded with everything the selection asks of it (the member status
 * screen's one statement, `readMemberStatus`) needs neither: marked here, its fields resolve with
 * their own resolvers, which read the row as they read a planned one (a page from the relation's
 * rows, a tier from its column). Unmarked rows go through plugin-prisma as before.
 *
 * Whoever marks a row promises what the planned query would have promised: every column the
 * selection's fields read, and each relation the selection asks for, loaded as the field's own query
 * defines it. `member-read.ts` marks only when the selection is one its statement answers whole (its
 * pages' rows with the status screen's columns alone when their fields read no other), and a test
 * compares its answers with plugin-prisma's for every shape it accepts and every field of a page.
 */
const preloadedRows = new WeakSet<object>();

/** Marks `row` as loaded whole for the fields asked of it in this answer (see above). */
export function markPreloaded(row: object): void {
  preloadedRows.add(row);
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Pothos' plugin API extends its option types through this namespace.
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      preloaded: PothosPreloadedPlugin<Types>;
    }
  }
}

/**
 * Wraps the fields plugin-prisma wraps (those with its `pothosPrismaSelect` extension): a marked
 * parent resolves with the field's own resolver. Listed before PrismaPlugin in the builder's
 * plugins, so this wrapper runs before plugin-prisma's.
 */
export class PothosPreloadedPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const own = fieldConfig.resolve as GraphQLFieldResolver<unknown, Types['Context'], object> | undefined;
    if (!own || !fieldConfig.extensions?.['pothosPrismaSelect']) return resolver;
    return (parent, args, context, info) =>
      typeof parent === 'object' && parent !== null && preloadedRows.has(parent)
        ? own(parent, args, context, info)
        : resolver(parent, args, context, info);
  }
}

SchemaBuilder.registerPlugin('preloaded', PothosPreloadedPlugin);
