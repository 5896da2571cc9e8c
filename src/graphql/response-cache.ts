import { createHash } from 'node:crypto';
import { getOperationAST, type ExecutionResult } from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import { roleOf } from '../auth/principal.js';
import type { ResponseCacheStore } from '../cache/response-cache-store.js';
import type { Metrics } from '../metrics.js';
import type { GraphQLContext } from './context.js';
import type { TrustedDocuments } from './trusted-documents.js';

/**
 * Mutations that change what every member's answer may show (program settings, tiers, rewards,
 * earning rules): after one succeeds, every cached answer is stale.
 */
const PROGRAM_MUTATIONS: ReadonlySet<string> = new Set([
  'updateProgram',
  'createReward',
  'updateReward',
  'retireReward',
  'createEarningRule',
  'updateEarningRule',
  'retireEarningRule',
]);

type Context = GraphQLContext & YogaInitialContext;

/** What a request's answer is, for its HTTP headers: its entity tag, and whether the client already holds it. */
interface Cached {
  etag: string;
}

/** A strong entity tag of an answer's JSON. */
const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** Whether an If-None-Match header names this tag (a list, weak tags compared weakly, `*`). */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`;
  });
}

/**
 * The members' response cache and its HTTP side (docs/caching.md).
 *
 * - A query from a member token whose document is one of the member app's trusted query documents
 *   is answered from the shared cache when the member has not changed since (and the program
 *   neither); otherwise it runs and its answer is stored, unless it has errors. Staff, API keys,
 *   mutations, subscriptions and any other document are never cached. The cache key is the member
 *   (from the verified token), the document's hash, the operation name and the variables.
 * - Every operation waits, before its answer goes out, until the members it changed have had their
 *   cached answers made stale (`memberChangesSettled`); a program-wide mutation makes all stale.
 * - A cacheable answer carries an `ETag` (its content's hash) and `Cache-Control: private, no-cache`;
 *   a request whose `If-None-Match` names the current tag gets 304 without a body.
 */
export function useResponseCache(deps: {
  /** Where answers live and are made stale (none without Redis). */
  store: ResponseCacheStore | undefined;
  /** Whether answers are served and stored (RESPONSE_CACHE); invalidation happens either way. */
  serve: boolean;
  trusted: TrustedDocuments;
  metrics: Metrics;
}): Plugin<Context> {
  const { store, trusted, metrics } = deps;
  const serving = deps.serve ? store : undefined;
  const answers = new WeakMap<Request, Cached>();
  const keyOf = (documentHash: string, operationName: string | null | undefined, variables: unknown) =>
    createHash('sha256')
      .update(`${documentHash}\n${operationName ?? ''}\n${JSON.stringify(variables ?? {})}`)
      .digest('base64url');

  return {
    onExecute: async ({ args, setResultAndStopExecution }) => {
      const context = args.contextValue;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'query') {
        return {
          onExecuteDone: async ({ result }) => {
            await context.memberChangesSettled?.();
            if (operation?.operation !== 'mutation' || !store || roleOf(context.principal) !== 'ADMIN') return;
            if ('errors' in result && result.errors?.length) return;
            const fields = operation.selectionSet.selections.flatMap((selection) =>
              selection.kind === 'Field' ? [selection.name.value] : [],
            );
            if (!fields.some((field) => PROGRAM_MUTATIONS.has(field))) return;
            await store.invalidateAll().catch((error: unknown) => {
              context.logger.warn({ err: error }, 'could not make cached answers stale after a program change: they expire with their TTL');
            });
          },
        };
      }
      const principal = context.principal;
      const documentHash = trusted.cacheableQuery(context.params.query);
      if (!serving || principal.kind !== 'member' || documentHash === undefined) return;
      const key = keyOf(documentHash, args.operationName, args.variableValues);
      let lookup;
      try {
        lookup = await serving.lookup(principal.memberId, key);
      } catch (error) {
        metrics.responseCache.inc({ result: 'error' });
        context.logger.warn({ err: error }, 'response cache unavailable: answering without it');
        return;
      }
      if (lookup.body !== undefined) {
        const separator = lookup.body.indexOf(' ');
        answers.set(context.request, { etag: lookup.body.slice(0, separator) });
        metrics.responseCache.inc({ result: 'hit' });
        setResultAndStopExecution(JSON.parse(lookup.body.slice(separator + 1)) as ExecutionResult);
        return;
      }
      metrics.responseCache.inc({ result: 'miss' });
      const { versions } = lookup;
      return {
        onExecuteDone: async ({ result }) => {
          // Errors and partial answers are never stored (nor streams, which a query here never is).
          if (!('data' in result) || result.errors?.length || result.data == null) return;
          const json = JSON.stringify(result);
          const etag = etagOf(json);
          answers.set(context.request, { etag });
          await serving.store(principal.memberId, key, versions, `${etag} ${json}`).catch((error: unknown) => {
            context.logger.warn({ err: error }, 'could not store an answer in the response cache');
          });
        },
      };
    },
    onResponse: ({ request, response, setResponse, fetchAPI }) => {
      const cached = answers.get(request);
      if (!cached || response.status !== 200) return;
      response.headers.set('etag', cached.etag);
      // Only this caller may reuse it, and only after asking again (the member may have changed meanwhile).
      response.headers.set('cache-control', 'private, no-cache');
      response.headers.append('vary', 'authorization');
      if (matches(request.headers.get('if-none-match'), cached.etag)) {
        // The same headers (CORS, Vary, the tag) without the body and what describes it.
        const headers = new fetchAPI.Headers(response.headers);
        for (const name of ['content-type', 'content-length', 'content-encoding']) headers.delete(name);
        setResponse(new fetchAPI.Response(null, { status: 304, headers }));
      }
    },
  };
}
