import { RequestCache } from '@pothos/plugin-scope-auth';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Ends an execution's scope-auth cache with the execution.
 *
 * plugin-scope-auth keeps each request's `RequestCache` (the request's context, and the scopes it decided for each
 * object of the answer) in a WeakMap of its module, keyed by the context. On Node 20 (V8 11.3) a young-generation GC
 * (a scavenge) treats the values of an old WeakMap's entries as live whatever their keys, and this WeakMap is as old
 * as the process; the value holds the context, which holds the rest of the request. So every request answered since
 * the last scavenge was copied by it whole, and most moved on to the old generation, where only a full GC frees
 * them (src/attached.ts: the same, for the service's own state). `bench/micro.ts --alloc-profile --survivors` showed
 * whole requests among the bytes that outlived a scavenge, rows first; deleting the entry when the execution is done
 * halved the bytes moved to the old generation and the scavenges' median pause (bench/README.md, the stop of
 * 2026-12-07 16:36 – 19:36 UTC). Other Pothos plugins keep per-request state the same way, without a way to
 * release it (plugin-prisma's model loaders, each plugin's request data): that is the rest.
 *
 * Last among the plugins, so that no `onExecuteDone` after it reads scopes (one would only build a new cache).
 * Best effort: an execution that throws, a stream that fails, or a resolver still running after a sibling's error
 * ended the execution leaves its cache to the WeakMap, as before. A streamed result (`@defer`, `@stream`, which the
 * service does not enable) would resolve fields after `onExecuteDone`: its cache is released when the stream ends.
 * Subscriptions do not go through `onExecute`, and keep theirs for their lifetime, as before.
 */
export function releaseScopeCache(): Plugin {
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result }) => {
        const context = args.contextValue as object;
        if (isAsyncIterable(result)) return { onEnd: () => RequestCache.clearForContext(context) };
        RequestCache.clearForContext(context);
        return undefined;
      },
    }),
  };
}
