import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { DomainError } from '../domain/errors.js';
import type { Logger } from '../logger.js';

/** graphql-js's `didYouMean` hints: ` Did you mean "a"?`, `… "a" or "b"?`, `… the enum value "A"?`. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

/** The error without "Did you mean …" hints (the same error when it has none). */
function withoutSuggestions(error: GraphQLError): GraphQLError {
  const message = error.message.replace(SUGGESTION, '');
  if (message === error.message) return error;
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.nodes ? undefined : error.source,
    positions: error.nodes ? undefined : error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/**
 * Strips "Did you mean …" from validation errors. Suggestions name schema
 * members the caller did not send, so they leak the schema exactly as
 * introspection would: they go whenever introspection is off. (Errors raised
 * during execution, such as a misspelt enum value in a variable, are cleaned by
 * the error masker.)
 */
export function hideSchemaSuggestions(): Plugin {
  return {
    onValidate: () => ({ valid, result, setResult }) => {
      if (!valid) setResult(result.map((error: Error) => (error instanceof GraphQLError ? withoutSuggestions(error) : error)));
    },
  };
}

export interface ErrorMaskingOptions {
  logger: Logger;
  /** Strip "Did you mean …" hints (see hideSchemaSuggestions). */
  hideSuggestions: boolean;
}

/**
 * yoga's `maskError`: every error raised while handling a request passes here.
 * - DomainError: its message and code.
 * - GraphQL's own errors: as they are.
 * - anything else: "Unexpected error." (INTERNAL), logged at error level with the stack.
 */
export function createErrorMasker({ logger, hideSuggestions }: ErrorMaskingOptions) {
  return (error: unknown, message: string): Error => {
    const graphqlError = error instanceof GraphQLError ? error : undefined;
    const original = graphqlError ? graphqlError.originalError : error;
    // Keep path and locations, so a client can tell which field failed.
    const where = { nodes: graphqlError?.nodes, path: graphqlError?.path };
    if (original instanceof DomainError) {
      return new GraphQLError(original.message, { ...where, extensions: { code: original.code } });
    }
    if (graphqlError && !original) return hideSuggestions ? withoutSuggestions(graphqlError) : graphqlError;
    logger.error({ err: original ?? error, path: graphqlError?.path }, 'unexpected error');
    return new GraphQLError(message, { ...where, extensions: { code: 'INTERNAL' } });
  };
}
