import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Refuses, before anything runs, an operation that carries U+0000 in any string it sends — in its variables or
 * written in its document: PostgreSQL's text cannot hold it, so such a value would fail in whichever statement it
 * reached first, as an INTERNAL error, after whatever ran before it. It is a top-level BAD_USER_INPUT naming where
 * the NUL was (docs/errors.md: variables that do not fit), for queries, mutations and subscriptions alike.
 */
export function refuseNulCharacters(): Plugin {
  // The documents are the parser cache's: each is scanned once.
  const literalsWithNul = new WeakMap<DocumentNode, boolean>();
  const inDocument = (document: DocumentNode): boolean => {
    let found = literalsWithNul.get(document);
    if (found === undefined) {
      found = false;
      visit(document, {
        [Kind.STRING]: (node) => {
          if (node.value.includes('\u0000')) found = true;
        },
      });
      literalsWithNul.set(document, found);
    }
    return found;
  };
  const refusal = (where: string) =>
    new GraphQLError(`${where} holds the NUL character (U+0000), which no text may contain.`, {
      extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
  const check = (document: DocumentNode, variables: unknown): GraphQLError | undefined => {
    if (inDocument(document)) return refusal('A string in the document');
    const path = nulPath(variables);
    return path && refusal(path.length > 0 ? `Variable $${path.join('.')}` : 'A variable');
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const error = check(args.document, args.variableValues);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const error = check(args.document, args.variableValues);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

/**
 * Where in a variables object the first string holding U+0000 is (keys and indexes, outermost first), or
 * undefined. Every request's variables are walked: nothing is allocated unless one is found, the path is built
 * on the way back.
 */
function nulPath(value: unknown): (string | number)[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? [] : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = nulPath(value[index]);
      if (found) return [index, ...found];
    }
    return undefined;
  }
  for (const key in value) {
    // A key is sent by the client as well: a NUL in one would reach a JSON column as it is.
    if (key.includes('\u0000')) return [key];
    const found = nulPath((value as Record<string, unknown>)[key]);
    if (found) return [key, ...found];
  }
  return undefined;
}
