import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import {
  GraphQLError,
  Kind,
  validate,
  visit,
  type DocumentNode,
  type OperationDefinitionNode,
  type ValueNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * The query cost limit (graphql-armor's): fields count, lists weigh their page size (`first`/`last`). The same
 * options for armor's check at validation and for `weighVariablePageSizes` at execution.
 */
export const COST_LIMIT = { maxCost: 20_000, flattenFragments: true } as const;

const PAGE_SIZE_ARGUMENTS = new Set(['first', 'last']);
const variablePageSizes = new WeakMap<DocumentNode, boolean>();

/** Whether any `first`/`last` of the document is a variable (once per parsed document: documents are cached). */
function hasVariablePageSizes(document: DocumentNode): boolean {
  let found = variablePageSizes.get(document);
  if (found === undefined) {
    found = false;
    visit(document, {
      Argument(node) {
        if (PAGE_SIZE_ARGUMENTS.has(node.name.value) && node.value.kind === Kind.VARIABLE) found = true;
      },
    });
    variablePageSizes.set(document, found);
  }
  return found;
}

/** A variable's page size as given, or its default; null when it is not a whole number (the field refuses it). */
function pageSize(
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

/**
 * graphql-armor weighs a list by its page size only where the document writes it (`first: 100`): at validation the
 * variables are not known, and `first: $n` weighed as one page item, so the limit was passed by sending the same
 * query through variables (`members(first: $n) { … ledger(first: $m) … }`, 100 × 100 rows). At execution, for a
 * document with page sizes in variables, this weighs it again with the values sent written in, by armor's own rule,
 * and refuses it as armor does (a validation error, HTTP 400) before anything runs.
 */
export function weighVariablePageSizes(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const { variableValues, schema } = args;
      const document = args.document as DocumentNode;
      if (!hasVariablePageSizes(document)) return;
      const operations = document.definitions.filter(
        (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
      );
      const definitions = operations.flatMap((operation) => operation.variableDefinitions ?? []);
      const weighed = visit(document, {
        Argument(node) {
          if (!PAGE_SIZE_ARGUMENTS.has(node.name.value) || node.value.kind !== Kind.VARIABLE) return undefined;
          const size = pageSize(node.value.name.value, variableValues ?? undefined, definitions);
          return size === null ? undefined : { ...node, value: { kind: Kind.INT, value: String(size) } };
        },
      });
      let refusal: GraphQLError | undefined;
      validate(schema, weighed, [
        costLimitRule({ ...COST_LIMIT, propagateOnRejection: false, onReject: [(_context, error) => (refusal = error)] }),
      ]);
      if (refusal) {
        setResultAndStopExecution({
          errors: [new GraphQLError(refusal.message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } })],
        });
      }
    },
  };
}
