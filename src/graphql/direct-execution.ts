import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { processRegularResult, type YogaServerInstance } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import { mediaTypeOf, readGraphQLParams, type GraphQLParams } from '../http/graphql-params.js';
import type { GraphQLContext } from './context.js';

type ServerContext = { req?: IncomingMessage; res?: ServerResponse };
type Yoga = YogaServerInstance<ServerContext, GraphQLContext>;

/**
 * Queries and mutations of API keys and staff, run through the handler's envelop (every plugin that parses,
 * validates, builds the context and executes: the caches, armor, the compiled executor, rate limits, error
 * masking, the operation metrics) without yoga's HTTP layer around it. That layer (a fetch Request and Response
 * per request, yoga's request and result hooks) cost 0.17–0.24 ms of CPU per member-status answer in process
 * (bench/micro.ts, `status` against `status-envelop`: a quarter to a third of the answer) and 0.17–0.23 ms per
 * earn; it allocates ~60 kB per request, most of it alive across the request's database wait.
 *
 * What it answers is what yoga answers, to the byte (tests/graphql/direct-execution.test.ts): the same envelop,
 * and yoga's own `processRegularResult` for any answer with errors. It takes a request only when nothing of
 * yoga's HTTP layer would act on it:
 * - a POST with a JSON body of at most 16 KiB (and MAX_BODY_BYTES) and its Content-Length, no Origin (CORS is
 *   yoga's), an Accept yoga answers in one known media type;
 * - credentials that verify and are an API key's or a staff member's (a member's request may be the response
 *   cache's, and must be a trusted document: both live in yoga's request hooks); anonymous requests neither;
 * - `query`, `operationName` and `variables` only, each of its type (documents by id, extensions: yoga);
 * - a document that parses and validates, with a query or mutation to run.
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
  /** The handler's one authentication per request (the context's): keyed by the request object given here. */
  principalOf: (request: Request) => Promise<Principal>;
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
      if (!deps.enabled || req.headers.origin !== undefined) return false;
      const mediaType = mediaTypeOf(req.headers.accept);
      if (mediaType === undefined || !req.headers.authorization) return false;
      const request = requestOf(req);
      const principal = await deps.principalOf(request).catch(() => undefined);
      if (principal?.kind !== 'apiKey' && principal?.kind !== 'staff') return false;
      let params: GraphQLParams | undefined;
      try {
        params = await readGraphQLParams(req, deps.maxBodyBytes);
      } catch {
        // The client went away while sending its body: nobody to answer.
        res.destroy();
        return true;
      }
      if (!isPlainOperation(params)) return false;
      let enveloped: ReturnType<Yoga['getEnveloped']>;
      let document: DocumentNode;
      try {
        enveloped = yoga.getEnveloped({ request, params, req, res } as never);
        // Parsing and validation may throw (a syntax error, armor's limits): yoga answers those.
        document = enveloped.parse(params.query);
        if (enveloped.validate(enveloped.schema, document).length > 0) return false;
      } catch {
        return false;
      }
      const operation = getOperationAST(document, params.operationName ?? undefined);
      if (operation?.operation !== 'query' && operation?.operation !== 'mutation') return false;
      let result: ExecutionResult;
      try {
        const contextValue = await enveloped.contextFactory();
        result = (await enveloped.execute({
          schema: enveloped.schema,
          document,
          contextValue,
          variableValues: params.variables ?? undefined,
          operationName: params.operationName ?? undefined,
        })) as ExecutionResult;
      } catch (error) {
        result = { errors: [deps.maskError(error, 'Unexpected error.') as GraphQLError] };
      }
      await write(res, result, mediaType);
      return true;
    },
  };

  async function write(res: ServerResponse, result: ExecutionResult, mediaType: string): Promise<void> {
    const vary = deps.varyOrigin ? { vary: 'Origin' } : undefined;
    if (!result.errors?.length && !result.extensions?.http) {
      const body = JSON.stringify(result);
      res
        .writeHead(200, { 'content-type': `${mediaType}; charset=utf-8`, 'content-length': String(Buffer.byteLength(body)), ...vary })
        .end(body);
      return;
    }
    const response = processRegularResult(result, yoga.fetchAPI, mediaType);
    const body = await response.text();
    const headers: Record<string, string> = { ...Object.fromEntries(response.headers), ...vary };
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(response.status, headers).end(body);
  }
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

/** Parameters with a query to run and nothing else yoga would act on. */
function isPlainOperation(
  params: GraphQLParams | undefined,
): params is { query: string; operationName?: string | null; variables?: Record<string, unknown> | null } {
  if (!params || typeof params.query !== 'string') return false;
  for (const key of Object.keys(params)) if (key !== 'query' && key !== 'operationName' && key !== 'variables') return false;
  const { operationName, variables } = params;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return false;
  if (variables === undefined || variables === null) return true;
  return typeof variables === 'object' && !Array.isArray(variables);
}
