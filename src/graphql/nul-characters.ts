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
    // Every request's variables are walked: without allocating, and the path only for a refusal.
    if (!holdsNul(variables)) return undefined;
    const path = nulPath(variables, []);
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

/** Whether any string in a variables object (its keys included) holds U+0000. */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (const item of value) if (holdsNul(item)) return true;
    return false;
  }
  for (const key in value) {
    if (key.includes('\u0000') || holdsNul((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Where in a variables object the first string holding U+0000 is (keys and indexes), or undefined. */
function nulPath(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = nulPath(item, [...path, index]);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      // A key is sent by the client as well: a NUL in one would reach a JSON column as it is.
      if (key.includes('\u0000')) return [...path, key];
      const found = nulPath(item, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}
