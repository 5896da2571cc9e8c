import { PothosValidationError } from '@pothos/core';
import { GraphQLError } from 'graphql';
import { handleStreamOrSingleExecutionResult, type Plugin } from 'graphql-yoga';
import { DomainError } from '../domain/errors.js';
import type { Logger } from '../logger.js';

/**
 * A read refused to its caller, on a field whose result union also lists
 * ForbiddenError / UnauthenticatedError (kept there for documents that spread
 * them): thrown in place of the DomainError so the errors plugin does not turn it
 * into a typed result, and answered as every refused read is — null with the
 * refusal's code (docs/errors.md).
 */
export class ReadRefusal extends Error {
  constructor(readonly refusal: DomainError) {
    super(refusal.message);
  }
}

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
    onValidate:
      () =>
      ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map((error: Error) => (error instanceof GraphQLError ? withoutSuggestions(error) : error)));
      },
  };
}

/** The request each execution error came from: recorded when execution ends, read when it is masked, after that. */
const requestOfError = new WeakMap<object, string>();

/**
 * Remembers the request id of every error an execution ends with, so the masker's "unexpected error"
 * line carries it (yoga's maskError sees no context). Yoga masks after the user's plugins, so this
 * plugin's onExecuteDone runs first; a WeakMap keeps nothing alive.
 */
export function requestIdOnErrors(): Plugin<{ requestId: string }> {
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: (payload) =>
        handleStreamOrSingleExecutionResult(payload, ({ result }) => {
          for (const error of result.errors ?? []) {
            const original = error.originalError ?? error;
            if (typeof original === 'object' && original !== null) requestOfError.set(original, args.contextValue.requestId);
          }
        }),
    }),
  };
}

export interface ErrorMaskingOptions {
  logger: Logger;
  /** Strip "Did you mean …" hints (see hideSchemaSuggestions). */
  hideSuggestions: boolean;
}

/**
 * The caller's mistake, if `error` is one: a variable that does not coerce to
 * its type (graphql's message names the variable and the path inside it), or
 * an argument Pothos refuses (`first: -1`, a global id that is not one).
 */
function clientMistake(graphqlError: GraphQLError | undefined, original: unknown): string | undefined {
  if (original instanceof PothosValidationError) return original.message;
  if (!graphqlError || graphqlError.path) return undefined; // an error at a path is execution's, not input's
  // Variable coercion: GraphQL errors all the way down, raised before any field ran. A query's come without a code;
  // a subscription's already say BAD_USER_INPUT (@graphql-tools/executor's `subscribe` marks them).
  if (original === undefined || original instanceof GraphQLError) {
    const { code } = graphqlError.extensions;
    return code === undefined || code === 'BAD_USER_INPUT' ? graphqlError.message : undefined;
  }
  return undefined;
}

/** Reasons of graphql-js's input coercion that name fields and types only, never the value refused. */
const VALUELESS_REASON =
  /(?:Field "[^"]+" of required type "[^"]+" was not provided\.|Field "[^"]+" is not defined by type "[^"]+"\.|Expected type "[^"]+" to be an object\.|Expected non-nullable type "[^"]+" not to be null\.|Exactly one key must be specified for OneOf type "[^"]+"\.|Field "[^"]+" must be non-null\.)/;
const ENDS_WITH_VALUELESS_REASON = new RegExp(`; (${VALUELESS_REASON.source})$`);
const WHERE = / at "([_A-Za-z][_0-9A-Za-z]*(?:\.[_A-Za-z][_0-9A-Za-z]*|\[\d+\])*)"$/;

/**
 * A client mistake's message as logs and traces keep it: without the value the caller sent, which can be a voucher
 * code, an e-mail or a name. graphql-js writes `Variable "$v" got invalid value <the value> at "v.path"; <reason>`,
 * the reason being the inner error (`original`, when known), which for a scalar quotes the value again; kept: the
 * variable, the path, and a reason that names only fields and types. Pothos quotes a global id it could not read.
 */
export function withoutInputValues(message: string, original: unknown): string {
  const variable = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /.exec(message);
  if (variable) {
    const inner = original instanceof GraphQLError ? original.message.replace(SUGGESTION, '') : undefined;
    const text = message.replace(SUGGESTION, '');
    const reason = inner !== undefined && text.endsWith(`; ${inner}`) ? inner : ENDS_WITH_VALUELESS_REASON.exec(text)?.[1];
    const at = reason === undefined ? undefined : WHERE.exec(text.slice(0, -reason.length - 2))?.[1];
    const kept = reason !== undefined && new RegExp(`^${VALUELESS_REASON.source}$`).test(reason) ? reason : undefined;
    return `Variable "$${variable[1]}" got an invalid value${at ? ` at "${at}"` : ''}${kept ? `; ${kept}` : ''} (value left out)`;
  }
  return message.replace(/^(Invalid global ID): .*$/s, '$1').replace(/^ID: .* (is not of type: [^:]*)$/s, 'ID $1');
}

/**
 * yoga's `maskError`: every error raised while handling a request passes here.
 * - DomainError: its message and code.
 * - the caller's mistake (see clientMistake): BAD_USER_INPUT, logged at debug level.
 * - GraphQL's own errors: as they are.
 * - anything else: "Unexpected error." (INTERNAL), logged at error level with the stack.
 * Nothing a client sends produces an error-level line unless the server is at fault.
 */
export function createErrorMasker({ logger, hideSuggestions }: ErrorMaskingOptions) {
  return (error: unknown, message: string): Error => {
    const graphqlError = error instanceof GraphQLError ? error : undefined;
    const original = graphqlError ? graphqlError.originalError : error;
    // Keep path and locations, so a client can tell which field failed.
    // (Errors of compiled execution have a source and positions instead of AST nodes: src/graphql/compiled-execution.ts.)
    const at = (text: string, extensions: Record<string, unknown>) =>
      new GraphQLError(text, {
        nodes: graphqlError?.nodes,
        source: graphqlError?.nodes ? undefined : graphqlError?.source,
        positions: graphqlError?.nodes ? undefined : graphqlError?.positions,
        path: graphqlError?.path,
        extensions,
      });
    if (original instanceof DomainError || original instanceof ReadRefusal) {
      const domainError = original instanceof ReadRefusal ? original.refusal : original;
      return at(domainError.message, { code: domainError.code });
    }
    const mistake = clientMistake(graphqlError, original);
    if (mistake !== undefined) {
      const text = hideSuggestions ? mistake.replace(SUGGESTION, '') : mistake;
      // The client gets the message; the log only where the mistake is: graphql quotes the value it refused.
      logger.debug({ path: graphqlError?.path, error: withoutInputValues(text, original) }, 'client error');
      // yoga's `http` extension (the status of a request that cannot run) stays; yoga strips it from the response.
      return at(text, { ...graphqlError?.extensions, code: 'BAD_USER_INPUT' });
    }
    if (graphqlError && !original) return hideSuggestions ? withoutSuggestions(graphqlError) : graphqlError;
    const cause = original ?? error;
    const requestId = typeof cause === 'object' && cause !== null ? requestOfError.get(cause) : undefined;
    logger.error({ err: cause, path: graphqlError?.path, requestId }, 'unexpected error');
    return at(message, { code: 'INTERNAL' });
  };
}
