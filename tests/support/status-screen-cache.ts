import { execute, parse } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { getSchema } from '../../src/graphql/schema.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestApp, testLogger, type GraphQLResponse } from './app.js';
import { resetRedis, testRedisUrl } from './db.js';

type TestApp = ReturnType<typeof createTestApp>;

/** The member app's status screen, as its trusted document asks for it. */
export const STATUS_SCREEN = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;

/**
 * The member app's status screen answered by two handlers on the test's clock (`now`, the services' clock too):
 * `cached` with the response cache in Redis (its own metrics, to count hits), `uncached` without one, so a test
 * compares the cached answer with what the same document answers at the same instant. `S` is the part of `me` the
 * test reads. Redis is emptied before and after.
 */
export function useStatusScreenCache<S>(prisma: PrismaClient, now: () => Date) {
  const metrics = createMetrics();
  let redis: Redis | undefined;
  let cached: TestApp | undefined;
  let uncached: TestApp | undefined;
  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    await resetRedis(redis);
    cached = createTestApp(prisma, { redis: true, now, metrics });
    uncached = createTestApp(prisma, { now, env: { RESPONSE_CACHE: 'false' } });
  });
  afterAll(async () => {
    await Promise.all([cached?.close(), uncached?.close()]);
    if (redis) {
      await resetRedis(redis);
      redis.disconnect();
    }
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the handlers start in beforeAll: use them inside a test');
    return value;
  };
  const meOf = (body: GraphQLResponse<{ me: S }>): S => {
    expect(body.errors).toBeUndefined();
    return body.data!.me;
  };
  const cachedApp = () => started(cached);
  return {
    metrics,
    get redis(): Redis {
      return started(redis);
    },
    get cached(): TestApp {
      return cachedApp();
    },
    get uncached(): TestApp {
      return started(uncached);
    },
    /** The status screen through the cache's shortcut (over HTTP: `answer`, then the direct execution or yoga). */
    overHttp: async (token: string): Promise<S> => {
      const response = await fetch(await cachedApp().url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: STATUS_SCREEN }),
      });
      return meOf((await response.json()) as GraphQLResponse<{ me: S }>);
    },
    /** The status screen through yoga in process (`yoga.fetch`: the plugin's own lookup, no shortcut). */
    inProcess: async (token: string, app: TestApp = cachedApp()): Promise<S> =>
      meOf((await app.request<{ me: S }>(STATUS_SCREEN, {}, { token })).body),
    /** A member enrolled through the cached handler, and a token of theirs for the status screen. */
    member: async (input?: Parameters<TestApp['enroll']>[0]): Promise<{ memberId: string; token: string }> => {
      const memberId = await cachedApp().enroll(input);
      return { memberId, token: await cachedApp().memberToken(memberId) };
    },
    /** Lookups of the cached handler with this result so far. */
    lookups: async (result: 'hit' | 'miss'): Promise<number> =>
      (await metrics.responseCache.get()).values.find((value) => value.labels.result === result)?.value ?? 0,
  };
}

/**
 * The instants a query told (`answerChangesAt`: when its answer changes with the clock alone), as ISO strings, sorted
 * and distinct: the query executed on the services' clock `now` as the response cache's plugin has it on a miss.
 */
export async function answerChangesTold(
  deps: { prisma: PrismaClient; now: () => Date },
  document: string,
  principal: GraphQLContext['principal'],
): Promise<string[]> {
  const instants: Date[] = [];
  const contextValue: GraphQLContext = {
    principal,
    deps: { prisma: deps.prisma, logger: testLogger, now: deps.now },
    logger: testLogger,
    requestId: 'clock',
    answerChangesAt: (instant) => instants.push(instant),
  };
  const result = await execute({ schema: getSchema(), document: parse(document), contextValue });
  expect(result.errors).toBeUndefined();
  return [...new Set(instants.map((instant) => instant.toISOString()))].sort();
}
