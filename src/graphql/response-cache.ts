import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, parse, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import { attached } from '../attached.js';
import { claimsMemberToken } from '../auth/authenticate.js';
import { mediaTypeOf, readGraphQLParams, type GraphQLParams } from '../http/graphql-params.js';
import type { Principal } from '../auth/principal.js';
import type { CacheLookup, ResponseCacheStore } from '../cache/response-cache-store.js';
import type { Metrics } from '../metrics.js';
import type { GraphQLContext } from './context.js';
import { rootFieldsOf } from './operation-metrics.js';
import { requestedDocumentId, type TrustedDocuments } from './trusted-documents.js';

type Context = GraphQLContext & YogaInitialContext & { req?: IncomingMessage };

/** What a request's answer is, for its HTTP headers: its entity tag, and whether the client already holds it. */
interface Cached {
  etag: string;
}

/** A stored answer (`<etag> <json>`, as the plugin stores it) apart. */
function storedAnswer(body: string): { etag: string; json: string } {
  const separator = body.indexOf(' ');
  return { etag: body.slice(0, separator), json: body.slice(separator + 1) };
}

/** A strong entity tag of an answer's JSON. */
const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** Whether an If-None-Match header names this tag (a list, weak tags compared weakly, `*`). */
function matches(ifNoneMatch: string | null | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`;
  });
}

/**
 * An answer's key within its member's cached answers: the document, the operation and the variables as the client
 * sent them. The answer is a function of these (and of the member and program versions the store checks), so the
 * shortcut, which never parses variables against the schema, and the plugin agree on it.
 */
const keyOf = (documentHash: string, operationName: string | null | undefined, variables: unknown): string =>
  createHash('sha256')
    .update(`${documentHash}\n${operationName ?? ''}\n${JSON.stringify(variables ?? {})}`)
    .digest('base64url');

/** A request the shortcut looked up and left to yoga: the plugin uses its lookup instead of asking Redis again. */
interface Prefetched {
  key: string;
  lookup: CacheLookup;
}

export interface ResponseCache {
  /** The yoga plugin: serves and stores cached answers, makes them stale after changes, sets the HTTP headers. */
  plugin: Plugin<Context>;
  /**
   * Answers a member's repeated read straight from the cache, before yoga builds a fetch Request for it
   * (docs/caching.md, "The shortcut"). False when the request is not one it answers: yoga then handles it,
   * with the body already read (`req.body`, which yoga's Node adapter takes instead of the stream).
   */
  answer(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * For an answer written outside yoga (src/graphql/direct-execution.ts): the headers the plugin's `onResponse`
   * adds to a cacheable answer of this request, and whether `If-None-Match` already names it (304). Undefined when
   * the request's answer is not a cacheable one.
   */
  headersFor(
    request: Request,
    ifNoneMatch: string | undefined,
  ): { headers: Record<'etag' | 'cache-control' | 'vary', string>; notModified: boolean } | undefined;
}

/**
 * The members' response cache and its HTTP side (docs/caching.md).
 *
 * - A query from a member token whose document is one of the member app's trusted query documents
 *   is answered from the shared cache when the member has not changed since (and the program
 *   neither); otherwise it runs and its answer is stored, unless it has errors. Staff, API keys,
 *   mutations, subscriptions and any other document are never cached. The cache key is the member
 *   (from the verified token), the document's hash, the operation name and the variables.
 * - An answer whose resolvers told that it changes with the clock alone (`answerChangesAt`: a listed voucher
 *   expires, the oldest qualifying entry of a tier progress leaves the rolling window) is served only before the
 *   earliest such instant, by the services' clock.
 * - Every operation waits, before its answer goes out, until the members it changed have had their
 *   cached answers made stale (`memberChangesSettled`); a program change, reported by its service, makes all stale.
 * - A cacheable answer carries an `ETag` (its content's hash) and `Cache-Control: private, no-cache`;
 *   a request whose `If-None-Match` names the current tag gets 304 without a body.
 * - A hit is answered by `answer` before yoga when it can be (no Origin, a known Accept, a small body), with the
 *   same status, headers and bytes yoga would send; everything else about it (authentication, which documents
 *   and callers are cached, the key) is the same code as the plugin's.
 */
export function createResponseCache(deps: {
  /** Where answers live and are made stale (none without Redis). */
  store: ResponseCacheStore | undefined;
  /** Whether answers are served and stored (RESPONSE_CACHE); invalidation happens either way. */
  serve: boolean;
  trusted: TrustedDocuments;
  metrics: Metrics;
  schema: GraphQLSchema;
  /** The request's one authentication, shared with the direct execution and the context (src/app.ts). */
  principalOf: (req: IncomingMessage) => Promise<Principal>;
  /** Whether every answer carries `Vary: Origin` (src/http/cors.ts). */
  varyOrigin: boolean;
  /** MAX_BODY_BYTES: a larger body is yoga's to refuse. */
  maxBodyBytes: number;
  /** Whether hits may skip yoga; off while tracing, so that every operation has its span. */
  shortcut: boolean;
  /**
   * The services' clock (the context's `deps.now`): an answer that changes with it (a listed voucher expires,
   * qualifying points drop as the window moves) is served only before that instant, by the plugin and the shortcut
   * alike.
   */
  now: () => Date;
}): ResponseCache {
  const { store, trusted, metrics } = deps;
  const serving = deps.serve ? store : undefined;
  const answers = attached<Request, Cached>('cached answer');
  const prefetched = attached<IncomingMessage, Prefetched>('cache lookup');
  // The root fields of each cached operation, for treue_graphql_operations_total (bounded: trusted documents only).
  const rootFields = new Map<string, string[]>();
  const rootFieldsFor = (text: string, documentHash: string, operationName: string | undefined): string[] | undefined => {
    const id = `${documentHash}\n${operationName ?? ''}`;
    let fields = rootFields.get(id);
    if (!fields) {
      const document = parse(text);
      const operation = getOperationAST(document, operationName);
      if (!operation) return undefined;
      fields = rootFieldsOf(deps.schema, document, operation);
      rootFields.set(id, fields);
    }
    return fields;
  };

  const plugin: Plugin<Context> = {
    onExecute: async ({ args, setResultAndStopExecution, extendContext }) => {
      const context = args.contextValue;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'query') {
        // What the operation changed was reported by the services, members' and the program's alike: their
        // cached answers are stale before its answer goes out.
        return { onExecuteDone: () => context.memberChangesSettled?.() };
      }
      const principal = context.principal;
      const documentHash = trusted.cacheableQuery(context.params.query);
      if (!serving || principal.kind !== 'member' || documentHash === undefined) return;
      const key = keyOf(documentHash, args.operationName, context.params.variables);
      const handedOver = context.req && prefetched.get(context.req);
      let lookup: CacheLookup;
      if (handedOver?.key === key) {
        lookup = handedOver.lookup;
      } else {
        try {
          lookup = await serving.lookup(principal.memberId, key, deps.now());
        } catch (error) {
          metrics.responseCache.inc({ result: 'error' });
          context.logger.warn({ err: error }, 'response cache unavailable: answering without it');
          return;
        }
      }
      if (lookup.body !== undefined) {
        const { etag, json } = storedAnswer(lookup.body);
        answers.set(context.request, { etag });
        metrics.responseCache.inc({ result: 'hit' });
        setResultAndStopExecution(JSON.parse(json) as ExecutionResult);
        return;
      }
      metrics.responseCache.inc({ result: 'miss' });
      const { versions } = lookup;
      // The earliest instant the resolvers tell at which the answer changes with the clock alone (src/graphql/answer-changes.ts).
      let validUntil: Date | undefined;
      extendContext({
        answerChangesAt: (instant) => {
          if (validUntil === undefined || instant < validUntil) validUntil = instant;
        },
      });
      return {
        onExecuteDone: async ({ result }) => {
          // Errors and partial answers are never stored (nor streams, which a query here never is).
          if (!('data' in result) || result.errors?.length || result.data == null) return;
          const json = JSON.stringify(result);
          const etag = etagOf(json);
          answers.set(context.request, { etag });
          // An answer that may change at any moment (or has by now) is not worth a write no lookup would serve.
          if (validUntil !== undefined && validUntil <= deps.now()) return;
          await serving.store(principal.memberId, key, versions, `${etag} ${json}`, validUntil).catch((error: unknown) => {
            context.logger.warn({ err: error }, 'could not store an answer in the response cache');
          });
        },
      };
    },
    onResponse: ({ request, response, setResponse, fetchAPI }) => {
      const cached = answers.get(request);
      if (!cached || response.status !== 200) return;
      for (const [name, value] of Object.entries(cacheHeaders(cached.etag))) {
        if (name === 'vary') response.headers.append(name, value);
        else response.headers.set(name, value);
      }
      if (matches(request.headers.get('if-none-match'), cached.etag)) {
        // The same headers (CORS, Vary, the tag) without the body and what describes it.
        const headers = new fetchAPI.Headers(response.headers);
        for (const name of ['content-type', 'content-length', 'content-encoding']) headers.delete(name);
        setResponse(new fetchAPI.Response(null, { status: 304, headers }));
      }
    },
  };

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (!serving || !deps.shortcut || req.headers.origin !== undefined) return false;
    const mediaType = mediaTypeOf(req.headers.accept);
    // Only a request whose token says it is a member's is read here: staff and API keys (storefronts) are never served
    // from the cache, their requests go on unread and are authenticated once.
    if (mediaType === undefined || !claimsMemberToken(req.headers.authorization)) return false;
    let params;
    try {
      params = await readGraphQLParams(req, deps.maxBodyBytes);
    } catch {
      // The client went away while sending its body: nobody to answer.
      res.destroy();
      return true;
    }
    // Authenticated once the body is in, as yoga authenticates: a member closed while the client was still sending it
    // is refused. A token that does not verify is yoga's to refuse (401 with the body read here).
    const principal = await deps.principalOf(req).catch(() => undefined);
    if (principal?.kind !== 'member' || !params) return false;
    const text = documentOf(params, trusted);
    const documentHash = trusted.cacheableQuery(text);
    const operationName = typeof params.operationName === 'string' ? params.operationName : undefined;
    if (text === undefined || documentHash === undefined || (params.operationName != null && operationName === undefined)) return false;
    // No operation is named "" (yoga refuses the request), while its key is that of the operation sent without a name.
    if (operationName === '') return false;
    const key = keyOf(documentHash, operationName, params.variables);
    let lookup: CacheLookup;
    try {
      lookup = await serving.lookup(principal.memberId, key, deps.now());
    } catch {
      // The plugin tries again, and counts and logs what it meets.
      return false;
    }
    const fields = lookup.body !== undefined ? rootFieldsFor(text, documentHash, operationName) : undefined;
    if (lookup.body === undefined || !fields) {
      prefetched.set(req, { key, lookup });
      return false;
    }
    metrics.responseCache.inc({ result: 'hit' });
    for (const field of fields) metrics.graphqlOperations.inc({ field, outcome: 'ok' });
    const { etag, json } = storedAnswer(lookup.body);
    const headers = cacheHeaders(etag);
    // In the order yoga's response hooks write them: Vary: Origin (src/http/cors.ts) before the cache's.
    if (deps.varyOrigin) headers.vary = `Origin, ${headers.vary}`;
    if (matches(req.headers['if-none-match'], etag)) {
      res.writeHead(304, headers).end();
      return true;
    }
    res
      .writeHead(200, { 'content-type': `${mediaType}; charset=utf-8`, 'content-length': String(Buffer.byteLength(json)), ...headers })
      .end(json);
    return true;
  }

  function headersFor(request: Request, ifNoneMatch: string | undefined) {
    const cached = answers.get(request);
    return cached && { headers: cacheHeaders(cached.etag), notModified: matches(ifNoneMatch, cached.etag) };
  }

  return { plugin, answer, headersFor };
}

/** The parameters yoga takes beside a document's text; it refuses any other (a `documentId` among them) with 400. */
const TEXT_PARAMS: ReadonlySet<string> = new Set(['query', 'operationName', 'variables', 'extensions']);

/**
 * The document a request runs, as yoga's persisted-operations plugin (src/app.ts) decides it: a text, whenever one is
 * sent, whatever id is beside it (yoga then runs that text, refuses it under TRUSTED_DOCUMENTS=members unless it is
 * trusted, or refuses the `documentId` beside it); else the trusted document its id names. Undefined when yoga would
 * refuse the request or run no trusted document: the shortcut answers none of those, so that a text sent beside the
 * status screen's id never gets the status screen's cached answer.
 */
function documentOf(params: GraphQLParams, trusted: Pick<TrustedDocuments, 'byId'>): string | undefined {
  if (!params.query) {
    const id = requestedDocumentId(params);
    return id === undefined ? undefined : trusted.byId(id);
  }
  if (typeof params.query !== 'string') return undefined;
  for (const [name, value] of Object.entries(params)) if (value != null && !TEXT_PARAMS.has(name)) return undefined;
  return params.query;
}

/** What every cacheable answer carries: only this caller may reuse it, and only after asking again (the member may have changed meanwhile). */
function cacheHeaders(etag: string): Record<'etag' | 'cache-control' | 'vary', string> {
  return { etag, 'cache-control': 'private, no-cache', vary: 'authorization' };
}
