import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { processRegularResult, type YogaServerInstance } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import { mediaTypeOf, readGraphQLParams, type GraphQLParams } from '../http/graphql-params.js';
import type { GraphQLContext } from './context.js';
import type { ResponseCache } from './response-cache.js';
import { mayRunText, type TrustedDocuments } from './trusted-documents.js';

type ServerContext = { req?: IncomingMessage; res?: ServerResponse };
type Yoga = YogaServerInstance<ServerContext, GraphQLContext>;

/**
 * Queries and mutations of API keys, staff and members, run through the handler's envelop (every plugin that
 * parses, validates, builds the context and executes: the caches, armor, the compiled executor, rate limits, error
 * masking, the operation metrics, the members' response cache) without yoga's HTTP layer around it (a fetch
 * Request and Response per request, yoga's request and result hooks). Measured in the service, the same build side
 * by side with GRAPHQL_DIRECT=false (bench/ab.ts): 7.6–8.5 % less API CPU per member-status answer, 3.4–6.3 % per
 * earn. (bench/micro.ts's `status` against `status-envelop` shows 0.17–0.24 ms, a quarter to a third: its requests
 * through yoga start as fetch Requests built in full by `yoga.fetch`, presumably dearer than node:http's adapter.)
 *
 * What it answers is what yoga answers, to the byte (tests/graphql/direct-execution.test.ts): the same envelop,
 * yoga's own `processRegularResult` for any answer with errors, and the headers yoga's response hooks add (Vary:
 * Origin; a cacheable answer's ETag, Cache-Control and Vary, or its 304; `Cache-Control: no-store` on any other).
 * It takes a request only when nothing else of yoga's HTTP layer would act on it:
 * - a POST (yoga refuses a mutation by GET) with a JSON body of at most 16 KiB (and MAX_BODY_BYTES) and its
 *   Content-Length, no Origin (CORS is yoga's), an Accept yoga answers in one known media type;
 * - credentials that verify once the body is in, as yoga checks them after reading it (anonymous requests and a 401
 *   are yoga's, with the body read here);
 * - `query`, or the `documentId` of a trusted document (`usePersistedOperations`' rule), `operationName` and
 *   `variables`, each of its type; a member's document must be a trusted one under TRUSTED_DOCUMENTS=members
 *   (yoga refuses the others); Apollo's extension and any other parameter: yoga;
 * - a document that parses and validates, with a query or mutation to run.
 * A member's repeated read is answered before this, by the response cache's shortcut; a miss comes here, and the
 * cache's plugin stores its answer as under yoga.
 * Everything else, and every request refused before execution, goes to yoga (with the body already read), which
 * answers it as before; once an operation ran here, its answer is written here, errors included.
 * Off while tracing (yoga's plugin opens the operation's span) and with GRAPHQL_DIRECT=false.
 */
export interface DirectExecution {
  /** Answers the request and resolves true, or resolves false and leaves it to yoga. */
  answer(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export function createDirectExecution(deps: {
  yoga: Pick<Yoga, 'getEnveloped' | 'fetchAPI'>;
  /** The member app's documents: by id for anyone, and the only ones member tokens may send under `members`. */
  trusted: Pick<TrustedDocuments, 'byId' | 'idOf'>;
  /** TRUSTED_DOCUMENTS. */
  trustedDocuments: 'off' | 'members';
  /** The members' response cache: its headers for a cacheable answer. */
  cacheHeaders: ResponseCache['headersFor'];
  /** The handler's one authentication per request (the context's), by this request object and the node request it answers. */
  principalOf: (request: Request, incoming: IncomingMessage) => Promise<Principal>;
  /** Whether every answer carries `Vary: Origin` (src/http/cors.ts, `varyByOrigin`). */
  varyOrigin: boolean;
  /** MAX_BODY_BYTES: a larger body is yoga's to refuse. */
  maxBodyBytes: number;
  /** Masks an error thrown outside the executor's own masking, as yoga's handler does. */
  maskError: (error: unknown, message: string) => Error;
  /** GRAPHQL_DIRECT, and no tracing. */
  enabled: boolean;
}): DirectExecution {
  const { yoga } = deps;
  return {
    async answer(req, res) {
      // POST only: yoga refuses a mutation sent by GET.
      if (!deps.enabled || req.method !== 'POST' || req.headers.origin !== undefined) return false;
      const mediaType = mediaTypeOf(req.headers.accept);
      if (mediaType === undefined || !req.headers.authorization) return false;
      let read: GraphQLParams | undefined;
      try {
        read = await readGraphQLParams(req, deps.maxBodyBytes);
      } catch {
        // The client went away while sending its body: nobody to answer.
        res.destroy();
        return true;
      }
      if (!read) return false;
      // Authenticated once the body is in, as yoga authenticates: credentials withdrawn while the client was still
      // sending it (an API key revoked, a member closed) are refused, and nothing runs.
      const request = requestOf(req);
      const principal = await deps.principalOf(request, req).catch(() => undefined);
      if (principal?.kind !== 'apiKey' && principal?.kind !== 'staff' && principal?.kind !== 'member') return false;
      const params = operationOf(read, deps.trusted);
      // A document by an id yoga would not find, and a member's document the program does not trust: yoga refuses them.
      if (!params) return false;
      if (!mayRunText(deps.trustedDocuments, principal.kind, params.trusted)) return false;
      const run = prepareThroughEnvelop(yoga, { request, req, res }, params);
      if (!run) return false;
      let result: ExecutionResult;
      try {
        result = await run();
      } catch (error) {
        result = { errors: [deps.maskError(error, 'Unexpected error.') as GraphQLError] };
      }
      await write(req, res, request, result, mediaType);
      return true;
    },
  };

  async function write(
    req: IncomingMessage,
    res: ServerResponse,
    request: Request,
    result: ExecutionResult,
    mediaType: string,
  ): Promise<void> {
    let status = 200;
    let body: string;
    let headers: Record<string, string>;
    if (!result.errors?.length && !result.extensions?.http) {
      body = JSON.stringify(result);
      headers = { 'content-type': `${mediaType}; charset=utf-8` };
    } else {
      const response = processRegularResult(result, yoga.fetchAPI, mediaType);
      body = await response.text();
      status = response.status;
      headers = Object.fromEntries(response.headers);
    }
    headers['content-length'] = String(Buffer.byteLength(body));
    // What yoga's response hooks add, in their order: Vary: Origin (src/http/cors.ts), then the cache's headers.
    if (deps.varyOrigin) headers.vary = headers.vary ? `${headers.vary}, Origin` : 'Origin';
    const cached = status === 200 ? deps.cacheHeaders(request, req.headers['if-none-match']) : undefined;
    if (cached) {
      headers.etag = cached.headers.etag;
      headers['cache-control'] = cached.headers['cache-control'];
      headers.vary = headers.vary ? `${headers.vary}, ${cached.headers.vary}` : cached.headers.vary;
      if (cached.notModified) {
        // The same headers without the body and what describes it.
        delete headers['content-type'];
        delete headers['content-length'];
        res.writeHead(304, headers).end();
        return;
      }
    }
    // As yoga's answers (src/app.ts, noStoreUnlessCacheable): never stored unless the response cache made it cacheable.
    headers['cache-control'] ??= 'no-store';
    res.writeHead(status, headers).end(body);
  }
}

/**
 * An operation through the handler's envelop, as yoga's own `processRequest` runs it: parsed and validated now
 * (undefined when either fails or throws — a syntax error, armor's limits — or when the document holds no query or
 * mutation to run by that name: yoga answers those), then the context built and the operation executed when the
 * returned function is called. bench/micro.ts runs its `-envelop` splits through it.
 */
export function prepareThroughEnvelop(
  yoga: Pick<Yoga, 'getEnveloped'>,
  server: { request: Request; req?: IncomingMessage; res?: ServerResponse },
  params: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
): (() => Promise<ExecutionResult>) | undefined {
  const { query, operationName, variables } = params;
  let enveloped: ReturnType<Yoga['getEnveloped']>;
  let document: DocumentNode;
  try {
    // Named one by one, not `{ ...server, params }`: envelop adds the context's fields to this object, and a spread
    // followed by a new property gives every request's object a map of its own (src/with-fields.ts).
    const initial = { request: server.request, req: server.req, res: server.res, params: { query, operationName, variables } };
    enveloped = yoga.getEnveloped(initial as never);
    document = enveloped.parse(query);
    if (enveloped.validate(enveloped.schema, document).length > 0) return undefined;
  } catch {
    return undefined;
  }
  const operation = getOperationAST(document, operationName ?? undefined);
  if (operation?.operation !== 'query' && operation?.operation !== 'mutation') return undefined;
  return async () =>
    (await enveloped.execute({
      schema: enveloped.schema,
      document,
      contextValue: await enveloped.contextFactory(),
      variableValues: variables ?? undefined,
      operationName: operationName ?? undefined,
    })) as ExecutionResult;
}

/** What the context and the plugins read of a fetch Request: its headers, method and URL. */
function requestOf(req: IncomingMessage): Request {
  const headers = {
    get: (name: string): string | null => {
      const value = req.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
    has: (name: string): boolean => req.headers[name.toLowerCase()] !== undefined,
  };
  return { headers, method: req.method, url: `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}` } as unknown as Request;
}

interface Operation {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  /** Whether the document is one of the trusted ones (sent by its id, or as its text). */
  trusted: boolean;
}

/**
 * The operation the parameters ask for, when they hold nothing else yoga would act on: `query` or a trusted
 * document's `documentId` (one of the two), `operationName` and `variables`, each of its type. Undefined otherwise
 * (yoga answers: an unknown id, Apollo's extension, a parameter of the wrong type or one yoga does not know).
 */
function operationOf(params: GraphQLParams | undefined, trusted: Pick<TrustedDocuments, 'byId' | 'idOf'>): Operation | undefined {
  if (!params) return undefined;
  for (const key of Object.keys(params)) {
    if (key !== 'query' && key !== 'documentId' && key !== 'operationName' && key !== 'variables') return undefined;
  }
  const { query, documentId, operationName, variables } = params;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
  const rest = { operationName, variables: variables as Record<string, unknown> | null | undefined };
  if (typeof query === 'string' && documentId === undefined) return { query, ...rest, trusted: trusted.idOf(query) !== undefined };
  if (typeof documentId !== 'string' || query !== undefined) return undefined;
  const text = trusted.byId(documentId);
  return text === undefined ? undefined : { query: text, ...rest, trusted: true };
}
