import {
  Kind,
  getOperationAST,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../metrics.js';

/**
 * The root fields an operation selects, once per selection (aliases count
 * apart), through fragments; names the schema's root type does not have (only
 * `__typename` and introspection can get past validation) are "other".
 * Labels come from the schema, never from what a client names: the series
 * stay bounded whatever operation names are sent.
 */
export function rootFieldsOf(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const root = schema.getRootType(operation.operation);
  const known = root?.getFields() ?? {};
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const fields: string[] = [];
  const visited = new Set<string>();
  const walk = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        fields.push(Object.hasOwn(known, name) ? name : 'other');
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment && !visited.has(fragment.name.value)) {
          visited.add(fragment.name.value);
          walk(fragment.selectionSet);
        }
      }
    }
  };
  walk(operation.selectionSet);
  return fields;
}

/** Counts executed operations per root field and outcome (treue_graphql_operations_total). */
export function countOperations(metrics: Metrics): Plugin {
  const byOperation = new WeakMap<OperationDefinitionNode, string[]>();
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result }) => {
        const operation = getOperationAST(args.document, args.operationName);
        if (!operation) return;
        let fields = byOperation.get(operation);
        if (!fields) {
          fields = rootFieldsOf(args.schema, args.document, operation);
          byOperation.set(operation, fields);
        }
        const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
        for (const field of fields) metrics.graphqlOperations.inc({ field, outcome: failed ? 'error' : 'ok' });
      },
    }),
  };
}
