import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver, GraphQLResolveInfo } from 'graphql';
import type { GraphQLContext } from './context.js';

/**
 * When a field's answer changes with the clock alone, told to the request (`context.answerChangesAt`) as the field
 * resolves: for the response cache, which serves a stored answer only before the earliest such instant.
 *
 * A field names its rule with `extensions: { answerChangesAt }`, a function of its parent as its own resolver gets
 * it: the rows a planned query loaded are on that parent (a relation's rows under the relation's name, a count
 * under `_count`), so the rule dates what was read and reads nothing more. This plugin sits inside plugin-prisma, so
 * the parent is the loaded one whichever way it was loaded. A row a domain read loaded whole (src/graphql/preloaded.ts)
 * skips both: that read tells its own instant (`resolveMember`, src/graphql/members/member-read.ts). A field whose
 * own resolver reads what dates its answer tells the instant there: `Member.tierProgress`, whose qualifying points
 * (and the oldest entry among them) a batch reads after the parent resolved (src/graphql/tiers/tiers.graphql.ts).
 */
export type AnswerChangesAt = (parent: never, args: never, context: GraphQLContext, info: GraphQLResolveInfo) => Date | null;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Pothos' plugin API extends its option types through this namespace.
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      answerChanges: PothosAnswerChangesPlugin<Types>;
    }
  }
}

type Rule = (parent: unknown, args: unknown, context: GraphQLContext, info: GraphQLResolveInfo) => Date | null;

export class PothosAnswerChangesPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const rule = fieldConfig.extensions?.['answerChangesAt'] as Rule | undefined;
    if (!rule) return resolver;
    return (parent, args, context, info) => {
      const ctx = context as GraphQLContext;
      // Only a read whose answer is stored listens: the others skip the rule.
      if (ctx.answerChangesAt) {
        const instant = rule(parent, args, ctx, info);
        if (instant) ctx.answerChangesAt(instant);
      }
      return resolver(parent, args, context, info);
    };
  }
}

SchemaBuilder.registerPlugin('answerChanges', PothosAnswerChangesPlugin);
