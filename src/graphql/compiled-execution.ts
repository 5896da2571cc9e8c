import {
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLError,
  isAbstractType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type SelectionNode,
  type SelectionSetNode,
  type Source,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './context.js';

/**
 * Queries and mutations of authenticated callers run compiled (graphql-jit): each operation is compiled once
 * into a function that walks the answer's shape directly, where graphql-js interprets the document for every
 * object of every answer (a resolve info and an argument map per field). A member-status answer has ~180 fields.
 *
 * What makes this possible is that nothing in the schema needs the request's context in `isTypeOf`, which the
 * compiled code calls without it: who may see an object is decided by the field that returns it
 * (src/graphql/visibility.ts).
 *
 * The answers are graphql-js's, to the order of the fields (tests/graphql/compiled-execution.test.ts sends the
 * same documents to both). Where the compiler could not keep that, the operation runs interpreted:
 * - anonymous requests: compiling costs more than one execution, and a caller without credentials should not make
 *   the process compile documents of their choosing;
 * - operations that ask, beneath a list, for a field plugin-prisma resolves from what it planned for the rows
 *   above (a relation, or a field with its own `select`): plugin-prisma finds that plan by the identity of
 *   graphql-js's response-path objects, which the compiled code builds anew for each field, so each such field
 *   would load its rows again (batched and correct, but a statement more). The status screen and the mutations'
 *   payloads ask for none;
 * - operations whose fields the compiler would put in another order: it collects a selection set's fields
 *   before the fragments in it, and the fragments last to first. `documentToCompile` writes fragments that
 *   apply to every object of the set in place, as their fields (the member app's colocated fragments); one whose
 *   order would still differ (a field after a fragment with a type condition, two such fragments for one type,
 *   a directive) is interpreted;
 * - subscriptions (one event at a time), and anything the compiler does not take.
 *
 * An operation is compiled on its second execution, not its first: compiling costs about twice an execution
 * (2–2.5 ms for the status query), so a caller sending a new document with every request costs no more than
 * before. (yoga's parse cache hands the same document object to every request with the same text.)
 * An operation is compiled per document *and* operation name: a document may hold several (a client's checkout
 * document holds its earn, validate and redeem). (@envelop/graphql-jit keys its cache by the document alone and
 * runs the first operation compiled for every other one of the document, which is why it is not used.)
 * Variables that do not coerce are reported by graphql-js, as without compilation: the compiled code refuses
 * them before any field runs (its answer has no `data`), and the interpreter then refuses them with the messages
 * and codes clients know (docs/errors.md).
 */
export function compiledExecution({
  enabled,
  executed,
}: {
  enabled: boolean;
  executed: (executor: 'compiled' | 'interpreted') => void;
}): Plugin<GraphQLContext> {
  // One schema per handler: its operations by document (yoga's parse cache hands out one object per text) and name.
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null | typeof ONCE>>();
  const compiledFor = (args: ExecutionArgs): CompiledQuery | null => {
    let byOperation = compiled.get(args.document);
    if (!byOperation) compiled.set(args.document, (byOperation = new Map()));
    const name = args.operationName ?? '';
    const known = byOperation.get(name);
    if (known === undefined) {
      byOperation.set(name, ONCE);
      return null;
    }
    if (known !== ONCE) return known;
    const query = compileOperation(args.schema, args.document, args.operationName);
    byOperation.set(name, query);
    return query;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const query = enabled && (args.contextValue as GraphQLContext).principal.kind !== 'anonymous' ? compiledFor(args) : null;
      if (!query) {
        executed('interpreted');
        return;
      }
      executed('compiled');
      const answer = (run: ExecutionArgs) => (result: ExecutionResult) =>
        'data' in result ? asGraphQLJs(run.document, result) : executeFn(run);
      setExecuteFn((run) => {
        const result = query.query(run.rootValue, run.contextValue, run.variableValues);
        return result instanceof Promise ? result.then(answer(run)) : answer(run)(result);
      });
    },
  };
}

/** The operation compiled as the service runs it, or null when it runs interpreted (see `compiledExecution`). */
export function compileOperation(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): CompiledQuery | null {
  const toCompile = documentToCompile(schema, document, operationName);
  const result = toCompile ? compileQuery(schema, toCompile, operationName ?? undefined) : null;
  return result && isCompiledQuery(result) ? result : null;
}

/** An operation seen once: it is compiled on its second execution. */
const ONCE = Symbol('executed once');

/**
 * The result as graphql-js writes it: errors first, and errors made as graphql-js makes them. The compiled
 * code's errors carry their line and column but neither the AST nodes nor the source graphql-js derives those
 * from, and yoga rebuilds every error from these when it writes the response (they would lose their locations).
 */
function asGraphQLJs(document: DocumentNode, result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  const source = document.loc?.source;
  const lineStarts = source ? lineStartsOf(source) : [];
  const errors = result.errors.map(
    (error) =>
      new GraphQLError(error.message, {
        source,
        positions: source ? error.locations?.map(({ line, column }) => (lineStarts[line - 1] ?? 0) + column - 1) : undefined,
        path: error.path,
        originalError: error.originalError,
        extensions: error.extensions,
      }),
  );
  const { data, extensions } = result;
  return extensions === undefined ? { errors, data } : { errors, data, extensions };
}

const lineStartsCache = new WeakMap<Source, number[]>();

/** Where each line of a document's text starts (read once per text: a client may fail the same way on every request). */
function lineStartsOf(source: Source): number[] {
  let starts = lineStartsCache.get(source);
  if (!starts) {
    starts = [0, ...[...source.body.matchAll(/\r\n|[\n\r]/g)].map((match) => match.index + match[0].length)];
    lineStartsCache.set(source, starts);
  }
  return starts;
}

/**
 * The operation as the compiler should see it — one operation, the fragments that apply to every object of their
 * selection set written in place as their fields — or null when it should run interpreted (see
 * `compiledExecution`: a plugin-prisma-planned field beneath a list, or fields whose order the compiler would
 * change).
 */
export function documentToCompile(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): DocumentNode | null {
  const operation = getOperationAST(document, operationName);
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }

  /** The selections of `set` on `type` as the compiler should see them, or null. */
  const flatten = (
    type: GraphQLNamedType,
    set: SelectionSetNode,
    beneathList: boolean,
    spreads: readonly string[],
  ): SelectionNode[] | null => {
    const selections: SelectionNode[] = [];
    const conditions: GraphQLNamedType[] = []; // of the fragments kept as fragments
    for (const selection of set.selections) {
      if (selection.directives?.length) return null;
      if (selection.kind === Kind.FIELD) {
        if (conditions.length > 0) return null; // the compiler would put this field before that fragment's
        const field = isObjectType(type) || isInterfaceType(type) ? type.getFields()[selection.name.value] : undefined;
        if (!field || !selection.selectionSet) {
          selections.push(selection); // a leaf, or __typename
          continue;
        }
        const planned =
          field.extensions.pothosPrismaRelationField || (field.extensions.pothosPrismaSelect && !field.extensions.pothosPrismaVariant);
        if (beneathList && planned) return null;
        const inner = flatten(
          getNamedType(field.type),
          selection.selectionSet,
          beneathList || isListType(getNullableType(field.type)),
          spreads,
        );
        if (!inner) return null;
        selections.push({ ...selection, selectionSet: { ...selection.selectionSet, selections: inner } });
        continue;
      }
      const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value) : selection;
      if (!fragment || (selection.kind === Kind.FRAGMENT_SPREAD && spreads.includes(selection.name.value))) return null;
      const on = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : type;
      if (!on) return null;
      const within = selection.kind === Kind.FRAGMENT_SPREAD ? [...spreads, selection.name.value] : spreads;
      const inner = flatten(on, fragment.selectionSet, beneathList, within);
      if (!inner) return null;
      if (on === type) {
        if (conditions.length > 0) return null;
        selections.push(...inner);
        continue;
      }
      conditions.push(on);
      selections.push({
        kind: Kind.INLINE_FRAGMENT,
        typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: on.name } },
        selectionSet: { kind: Kind.SELECTION_SET, selections: inner },
      });
    }
    // The compiler takes a set's fragments last to first: at most one of them may apply to any one object.
    const objects = isAbstractType(type) ? schema.getPossibleTypes(type) : isObjectType(type) ? [type] : [];
    const applying = (object: GraphQLNamedType) =>
      conditions.filter((on) => on === object || (isAbstractType(on) && isObjectType(object) && schema.isSubType(on, object)));
    return objects.some((object) => applying(object).length > 1) ? null : selections;
  };

  const selections = flatten(root, operation.selectionSet, false, []);
  if (!selections) return null;
  return { kind: Kind.DOCUMENT, definitions: [{ ...operation, selectionSet: { ...operation.selectionSet, selections } }] };
}
