import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import {
  GraphQLError,
  Kind,
  TypeInfo,
  validate,
  visit,
  visitWithTypeInfo,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValueNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { builder } from './builder.js';

/**
 * The query cost limit (graphql-armor's): fields count, lists weigh their page size (`first`/`last`, or the default
 * page size when a paged field asks for none). The same options for armor's check at validation and for
 * `weighVariablePageSizes` at execution.
 */
export const COST_LIMIT = { maxCost: 20_000, flattenFragments: true } as const;

const PAGE_SIZE_ARGUMENTS = new Set(['first', 'last']);

/** What a paged field without `first`/`last` reads (the connections' default, src/graphql/builder.ts). */
const DEFAULT_PAGE_SIZE = builder.options.prisma.defaultConnectionSize ?? 20;

/**
 * The paged fields of a document (fields whose definition takes `first`), and whether any of them takes its page
 * size from a variable. Worked out once per parsed document (documents are cached).
 */
interface PagedFields {
  fields: ReadonlySet<FieldNode>;
  variable: boolean;
}
const pagedFieldsOf = new WeakMap<DocumentNode, PagedFields>();
/** The refusal of a document whose page sizes do not depend on variables (null: within the limit), once per document. */
const fixedVerdicts = new WeakMap<DocumentNode, GraphQLError | null>();

function pagedFields(schema: GraphQLSchema, document: DocumentNode): PagedFields {
  let found = pagedFieldsOf.get(document);
  if (found === undefined) {
    const fields = new Set<FieldNode>();
    let variable = false;
    const typeInfo = new TypeInfo(schema);
    visit(
      document,
      visitWithTypeInfo(typeInfo, {
        Field(node) {
          if (!typeInfo.getFieldDef()?.args.some((argument) => argument.name === 'first')) return;
          fields.add(node);
          if (node.arguments?.some((argument) => PAGE_SIZE_ARGUMENTS.has(argument.name.value) && argument.value.kind === Kind.VARIABLE)) {
            variable = true;
          }
        },
      }),
    );
    found = { fields, variable };
    pagedFieldsOf.set(document, found);
  }
  return found;
}

/** A variable's page size as given, or its default; null when it is none or not a whole number (the field refuses that). */
function variablePageSize(
  name: string,
  values: Record<string, unknown> | undefined,
  definitions: readonly VariableDefinitionNode[],
): number | null {
  const value = values?.[name];
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (value !== undefined && value !== null) return null;
  const fallback: ValueNode | undefined = definitions.find((definition) => definition.variable.name.value === name)?.defaultValue;
  return fallback?.kind === Kind.INT ? Number(fallback.value) : null;
}

/** The page size a `first`/`last` argument asks for; null when it asks for none (null, or not a whole number). */
function pageSize(value: ValueNode, values: Record<string, unknown> | undefined, definitions: readonly VariableDefinitionNode[]) {
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) return variablePageSize(value.name.value, values, definitions);
  return null;
}

/**
 * The document with every paged field's page size written in as `first: n` (armor weighs only a literal `first` or
 * `last`): the literal, the variable's value (or its default), or — when the field asks for no size — the size it
 * reads anyway, the connections' default.
 */
function withPageSizes(document: DocumentNode, paged: PagedFields, values: Record<string, unknown> | undefined): DocumentNode {
  const definitions = document.definitions
    .filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)
    .flatMap((operation) => operation.variableDefinitions ?? []);
  return visit(document, {
    Field(node) {
      if (!paged.fields.has(node)) return undefined;
      const sizes = (node.arguments ?? [])
        .filter((argument) => PAGE_SIZE_ARGUMENTS.has(argument.name.value))
        .map((argument) => pageSize(argument.value, values, definitions))
        .filter((size): size is number => size !== null);
      const size = sizes.length > 0 ? Math.max(...sizes) : DEFAULT_PAGE_SIZE;
      const others = (node.arguments ?? []).filter((argument) => !PAGE_SIZE_ARGUMENTS.has(argument.name.value));
      const first: ArgumentNode = {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'first' },
        value: { kind: Kind.INT, value: String(size) },
      };
      return { ...node, arguments: [first, ...others] };
    },
  });
}

/** Armor's cost rule over a document whose page sizes are written in; the refusal as armor gives it, or null. */
function costRefusal(schema: GraphQLSchema, weighed: DocumentNode): GraphQLError | null {
  let refusal: GraphQLError | undefined;
  validate(schema, weighed, [
    costLimitRule({ ...COST_LIMIT, propagateOnRejection: false, onReject: [(_context, error) => (refusal = error)] }),
  ]);
  return refusal ? new GraphQLError(refusal.message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } }) : null;
}

/**
 * graphql-armor weighs a list by its page size only where the document writes it (`first: 100`): at validation the
 * variables are not known, and `first: $n` weighed as one page item, so the limit was passed by sending the same
 * query through variables (`members(first: $n) { … ledger(first: $m) … }`, 100 × 100 rows); and a paged field that
 * asks for no page size weighed as one item while it reads the default 20, so leaving `first` out passed the limit
 * too (`members { … ledger { … } orders { … } }`, 20 × 20 rows each). At execution (and when a subscription starts),
 * this weighs the document again with every page size written in, by armor's own rule, and refuses it as armor does
 * (a validation error, HTTP 400) before anything runs. A document whose page sizes do not come from variables is
 * weighed once.
 */
export function weighVariablePageSizes(): Plugin {
  const refusalOf = (schema: GraphQLSchema, document: DocumentNode, values: Record<string, unknown> | undefined) => {
    const paged = pagedFields(schema, document);
    if (paged.fields.size === 0) return null;
    if (paged.variable) return costRefusal(schema, withPageSizes(document, paged, values));
    let verdict = fixedVerdicts.get(document);
    if (verdict === undefined) {
      verdict = costRefusal(schema, withPageSizes(document, paged, undefined));
      fixedVerdicts.set(document, verdict);
    }
    return verdict;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refusal = refusalOf(args.schema, args.document as DocumentNode, args.variableValues ?? undefined);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = refusalOf(args.schema, args.document as DocumentNode, args.variableValues ?? undefined);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}
