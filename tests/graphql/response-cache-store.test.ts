// No useTestApp(): the store alone, on the test Redis; no database is read.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResponseCacheStore, type ResponseCacheStore } from '../../src/cache/response-cache-store.js';
import { createLogger } from '../../src/logger.js';
import { testRedisUrl } from '../support/db.js';
import { monitorRedis, subscribedListener } from '../support/redis-monitor.js';
import { until } from '../support/until.js';

/**
 * The store's own rule for a read that stores long after it looked (src/cache/response-cache-store.ts): a member's
 * version falls back to "0" once the member's hash expired, so a read that looked before a change and stores after
 * that hash expired would find the version it saw and store its answer from before the change.
 */
const TTL_SECONDS = 1;
let redis: Redis;
let store: ResponseCacheStore;
let prefix: string;

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  prefix = `{treue-test-store-${randomUUID()}}`;
  store = createResponseCacheStore({ redis, prefix, ttlSeconds: TTL_SECONDS, logger: createLogger('silent') });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('an answer stored a TTL or more after its lookup', () => {
  it('is not written, though the version it saw is current again: its member changed meanwhile', async () => {
    const memberId = randomUUID();
    const before = await store.lookup(memberId, 'status', new Date());
    expect(before.body).toBeUndefined();
    expect(before.versions.member).toBe('0');
    // The member changes; once the member's hash has expired (as it does after twice the TTL), the version is "0" again.
    await store.invalidateMembers([memberId]);
    await redis.del(`${prefix}:response-cache:member:${memberId}`);
    // The read that looked before the change stores its answer one TTL after its lookup, by Redis's clock.
    const late = { ...before.versions, readAt: String(Number(before.versions.readAt) - TTL_SECONDS * 1000) };
    await store.store(memberId, 'status', late, 'the answer from before the change');
    expect((await store.lookup(memberId, 'status', new Date())).body).toBeUndefined();
  });

  it('within the TTL of its lookup is written and served, as before', async () => {
    const memberId = randomUUID();
    const { versions } = await store.lookup(memberId, 'status', new Date());
    await store.store(memberId, 'status', versions, 'the answer');
    expect((await store.lookup(memberId, 'status', new Date())).body).toBe('the answer');
  });
});

describe('a member change with messages to publish', () => {
  it('publishes them in order from the invalidation script, once, after every member of the batch is stale', async () => {
    const channel = `${prefix}:member-changes`;
    const listener = await subscribedListener(redis, channel);
    const { heard } = listener;
    const monitor = await monitorRedis(testRedisUrl());
    const { seen } = monitor;
    // More members than one script takes (500): two scripts, the messages with the second.
    const members = Array.from({ length: 600 }, () => randomUUID());
    try {
      await store.invalidateMembers(members, { channel, messages: ['first', 'second'] });
      await until(() => heard.length === 2 && seen.filter(({ args }) => args[1] === channel).length === 2, 5_000, 20, 'both messages');
    } finally {
      monitor.stop();
      listener.stop();
    }
    expect(heard).toEqual(['first', 'second']);
    const lua = seen.filter(({ source }) => source === 'lua').map(({ args }) => [args[0]!.toLowerCase(), args[1], args[2]]);
    const lastBump = lua.findLastIndex(([command, key]) => command === 'hset' && key === `${prefix}:response-cache:member:${members[599]}`);
    const firstPublish = lua.findIndex(([command]) => command === 'publish');
    expect(lastBump).toBeGreaterThanOrEqual(0);
    expect(firstPublish).toBeGreaterThan(lastBump);
    expect(lua.filter(([command]) => command === 'publish')).toEqual([
      ['publish', channel, 'first'],
      ['publish', channel, 'second'],
    ]);
    expect(seen.filter(({ source, args }) => source !== 'lua' && args[0]!.toLowerCase() === 'publish')).toEqual([]);
  });
});
