import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin, { RequestCache } from '@pothos/plugin-scope-auth';
import { createYoga } from 'graphql-yoga';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { releaseScopeCache } from '../../src/graphql/scope-cache-release.js';
import { createTestApp, useTestApp } from '../support/app.js';

/**
 * plugin-scope-auth keeps a request's cache (its context, and the scopes it decided for each object) in a WeakMap of
 * its module keyed by the context; Node 20's V8 scavenges treat that WeakMap's values as live, so the request's
 * objects outlived it into the old generation (src/graphql/scope-cache-release.ts). The service deletes the entry
 * when the execution is done: a later lookup for the same context finds no cache and builds a new one.
 */
const { prisma } = useTestApp();

afterEach(() => {
  vi.restoreAllMocks();
});

/** A schema of its own with scope-auth, whose authScopes counts the caches built, and the contexts it saw. */
function countingSchema() {
  let built = 0;
  const contexts: object[] = [];
  // (Cast: the service's plugin-prisma declares its options required for every builder of this program.)
  const builder = new SchemaBuilder<{ Context: object; AuthScopes: { anyone: boolean } }>({
    plugins: [ScopeAuthPlugin],
    scopeAuth: {
      authScopes: () => {
        built += 1;
        return { anyone: true };
      },
    },
  } as never);
  builder.queryType({
    fields: (t) => ({
      hello: t.string({
        authScopes: { anyone: true },
        resolve: (_root, _args, context) => {
          contexts.push(context);
          return 'hi';
        },
      }),
    }),
  });
  return { builder, schema: builder.toSchema(), built: () => built, contexts };
}

describe("an execution's scope-auth cache", () => {
  it('is gone once the execution is done, with the plugin; kept without it', async () => {
    for (const released of [true, false]) {
      const { builder, schema, built, contexts } = countingSchema();
      const yoga = createYoga({ schema, plugins: released ? [releaseScopeCache()] : [], logging: false });
      const response = await yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ hello }' }),
      });
      expect(await response.json()).toEqual({ data: { hello: 'hi' } });
      expect(built()).toBe(1);
      // The same context asks for its scopes again: a cache that is gone is built anew.
      await RequestCache.fromContext(contexts[0]!, builder as never).getScopes();
      expect(built()).toBe(released ? 2 : 1);
    }
  });

  it('of a streamed result is released when the stream ends, not before', () => {
    const { builder } = countingSchema();
    const context = {};
    const original = RequestCache.fromContext(context, builder as never);
    const hooks = releaseScopeCache().onExecute!({ args: { contextValue: context } } as never) as {
      onExecuteDone: (payload: { result: unknown }) => { onEnd?: () => void } | undefined;
    };
    const streamed = { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };
    const done = hooks.onExecuteDone({ result: streamed });
    expect(RequestCache.fromContext(context, builder as never)).toBe(original);
    done!.onEnd!();
    expect(RequestCache.fromContext(context, builder as never)).not.toBe(original);
  });

  it("is released by the service's handler for the context its execution used: through yoga, directly, compiled", async () => {
    const app = createTestApp(prisma);
    try {
      const memberId = await app.enroll();
      const id = encodeGlobalID('Member', memberId);
      const token = await app.apiKeyToken(['members:read']);
      const query = `query($id: ID!) { member(id: $id) { id balance { available } } }`;
      const fromContext = vi.spyOn(RequestCache, 'fromContext');
      const clearForContext = vi.spyOn(RequestCache, 'clearForContext');
      // This test's requests only: the worker may hold other files' streams (isolate: false).
      const ours = (calls: unknown[][]) =>
        calls.map(([context]) => context as { requestId?: string }).filter((context) => requests.has(context.requestId ?? ''));
      const requests = new Set<string>();
      const send = async (how: 'yoga' | 'node:http') => {
        const requestId = `scope-cache-${how}-${requests.size}`;
        requests.add(requestId);
        const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': requestId };
        const body = JSON.stringify({ query, variables: { id } });
        const response =
          how === 'yoga'
            ? await app.yoga.fetch('http://yoga/graphql', { method: 'POST', headers, body })
            : await fetch(await app.url(), { method: 'POST', headers, body });
        expect(await response.json()).toEqual({ data: { member: { id, balance: { available: 0 } } } });
      };
      // Through yoga, then twice straight from node:http (API keys' direct execution); the document's first execution is
      // interpreted, the next ones compiled.
      await send('yoga');
      await send('node:http');
      await send('node:http');
      expect(app.directly()).toBe(2);
      const used = ours(fromContext.mock.calls);
      expect(new Set(used.map((context) => context.requestId))).toEqual(requests);
      const released = ours(clearForContext.mock.calls);
      expect(released).toHaveLength(3);
      expect(new Set(released.map((context) => context.requestId))).toEqual(requests);
      for (const context of released)
        expect(used.filter((one) => one.requestId === context.requestId).every((one) => one === context)).toBe(true);
    } finally {
      await app.close();
    }
  });
});
