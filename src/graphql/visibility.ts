import SchemaBuilder, {
  BasePlugin,
  isThenable,
  type PothosOutputFieldConfig,
  type PothosOutputFieldType,
  type SchemaTypes,
} from '@pothos/core';
import type { AuthScopeMap } from '@pothos/plugin-scope-auth';
import { getNamedType, isAbstractType, type GraphQLAbstractType, type GraphQLFieldResolver, type GraphQLResolveInfo } from 'graphql';

/**
 * Who may see the objects of a type, decided once per object, by the field that puts the object into an answer.
 *
 * A type names its rule with `visibleTo` (a scope map, or a function of the object giving one), in the scope
 * language of scope-auth, and scope-auth evaluates it (`builder.runAuthScopes`, with its per-request cache). This
 * plugin wraps every field whose type is such a type, a list of it, or an interface or union with such a type among
 * its members (`node(id)`; a payload union has none, so its fields stay plain): after the field resolves, each
 * object it returns is checked, and a refused one makes the field fail with `refusal(context)`. So nothing of an
 * object reaches an answer before its rule allowed it, whichever field led to it (a query, a relation, a page's
 * edge, a payload, a subscription's event).
 *
 * scope-auth's own type-level `authScopes` decides either in `isTypeOf` (`runScopesOnType`) or in a wrapper
 * around every field of the type. The first needs the request's context in `isTypeOf`, which a compiled executor
 * (graphql-jit) does not pass; the second runs the check on each of the ~180 fields of a member-status answer.
 * Here the fields of a visible object are plain (graphql-jit reads them inline), and the check runs once per object.
 *
 * A list whose items include a refused object fails as a whole (the executors would null a refused item and then
 * the list, whose items are non-null throughout this schema).
 */

export type VisibilityRule<Types extends SchemaTypes, Shape> =
  AuthScopeMap<Types> | ((parent: Shape, context: Types['Context']) => AuthScopeMap<Types>);

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Pothos' plugin API extends its option types through this namespace.
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      visibility: PothosVisibilityPlugin<Types>;
    }

    export interface SchemaBuilderOptions<Types extends SchemaTypes> {
      visibility?: {
        /** The error a refused object raises: who is asking decides which (no credentials, or not allowed). */
        refusal: (context: Types['Context']) => Error;
      };
    }

    export interface ObjectTypeOptions<Types extends SchemaTypes, Shape> {
      /** Who may see an object of this type (see src/graphql/visibility.ts). */
      visibleTo?: VisibilityRule<Types, Shape>;
    }
  }
}

type Check<Types extends SchemaTypes> = (value: object, context: Types['Context'], info: GraphQLResolveInfo) => unknown;

export class PothosVisibilityPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  /** The rule of each object type by name, for the members of interfaces and unions, read at run time. */
  private readonly rules = new Map<string, VisibilityRule<Types, unknown> | undefined>();

  /** The error of a refused object (the builder's `visibility.refusal`; scope-auth's ForbiddenError without one). */
  private readonly refusal = this.builder.options.visibility?.refusal;

  /** Marks the fields that check what they return (`extensions.checksVisibility`), for the test that every field returning a visible type does. */
  override onOutputFieldConfig(fieldConfig: PothosOutputFieldConfig<Types>): PothosOutputFieldConfig<Types> {
    if (!this.checkFor(fieldConfig.type)) return fieldConfig;
    return { ...fieldConfig, extensions: { ...fieldConfig.extensions, checksVisibility: true } };
  }

  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const check = this.checkFor(fieldConfig.type);
    if (!check) return resolver;
    const admit = (value: unknown, context: Types['Context'], info: GraphQLResolveInfo): unknown => {
      if (value == null) return value;
      // A list may hold promises of its items (graphql-js awaits them): the check is of what they resolve to.
      if (isThenable(value)) return Promise.resolve(value).then((item) => admit(item, context, info));
      if (!Array.isArray(value)) return after(check(value as object, context, info), value);
      const pending: Promise<unknown>[] = [];
      for (const item of value) {
        const checked = admit(item, context, info);
        if (isThenable(checked)) pending.push(Promise.resolve(checked));
      }
      return pending.length === 0 ? value : Promise.all(pending).then(() => value);
    };
    return (parent, args, context, info) => {
      const result: unknown = resolver(parent, args, context, info);
      return isThenable(result) ? Promise.resolve(result).then((value) => admit(value, context, info)) : admit(result, context, info);
    };
  }

  /** How a field of this type checks what it returns; undefined when nothing it can return has a rule. */
  private checkFor(type: PothosOutputFieldType<Types>): Check<Types> | undefined {
    const named = type.kind === 'List' ? this.innermost(type) : type;
    if (named.kind === 'Union') {
      // A payload union (a mutation's result and its errors) has no member with a rule: nothing to check.
      const members = this.buildCache.getTypeConfig(named.ref, 'Union').types;
      if (!members.some((member) => this.ruleOfObject(member))) return undefined;
    }
    if (named.kind === 'Interface' || named.kind === 'Union') return (value, context, info) => this.checkAbstract(value, context, info);
    if (named.kind !== 'Object') return undefined;
    const rule = this.ruleOfObject(named.ref);
    return rule && ((value, context) => this.run(rule, value, context));
  }

  private ruleOfObject(ref: Parameters<typeof this.buildCache.getTypeConfig>[0]): VisibilityRule<Types, unknown> | undefined {
    return this.buildCache.getTypeConfig(ref, 'Object').pothosOptions.visibleTo as VisibilityRule<Types, unknown> | undefined;
  }

  private innermost(type: PothosOutputFieldType<Types>): Exclude<PothosOutputFieldType<Types>, { kind: 'List' }> {
    return type.kind === 'List' ? this.innermost(type.type) : type;
  }

  /** An interface's or union's object: its runtime type decides which rule applies, if any. */
  private checkAbstract(value: object, context: Types['Context'], info: GraphQLResolveInfo): unknown {
    const abstract = getNamedType(info.returnType) as GraphQLAbstractType;
    if (!isAbstractType(abstract) || !abstract.resolveType) return undefined;
    const resolved = abstract.resolveType(value, context, info, abstract);
    const decide = (name: string | undefined) => {
      const rule = name === undefined ? undefined : this.ruleOf(name, info);
      return rule ? this.run(rule, value, context) : undefined;
    };
    return isThenable(resolved) ? Promise.resolve(resolved).then(decide) : decide(resolved);
  }

  /** A type's rule by name, from its Pothos options (kept once read, a type without one too). */
  private ruleOf(name: string, info: GraphQLResolveInfo): VisibilityRule<Types, unknown> | undefined {
    if (!this.rules.has(name)) {
      const options = info.schema.getType(name)?.extensions.pothosOptions as { visibleTo?: VisibilityRule<Types, unknown> } | undefined;
      this.rules.set(name, options?.visibleTo);
    }
    return this.rules.get(name);
  }

  private run(rule: VisibilityRule<Types, unknown>, value: object, context: Types['Context']): unknown {
    const scopes = typeof rule === 'function' ? rule(value, context) : rule;
    const refusal = this.refusal;
    return this.builder.runAuthScopes(context, scopes, refusal && (() => refusal(context)));
  }
}

/** `undefined`, or a promise of it, then the value itself: what the wrapped field resolves to once allowed. */
function after(checked: unknown, value: unknown): unknown {
  return isThenable(checked) ? Promise.resolve(checked).then(() => value) : value;
}

SchemaBuilder.registerPlugin('visibility', PothosVisibilityPlugin);
