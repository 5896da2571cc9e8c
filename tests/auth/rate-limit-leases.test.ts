// No useTestApp(): the budgets themselves against the test Redis; tests/auth/rate-limit.test.ts sends requests.
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, leasedBudget, leaseSize } from '../../src/http/rate-limit.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';

/**
 * An API key's budgets are spent from Redis in leases (src/http/rate-limit.ts, `leasedBudget`): two budgets on one
 * Redis stand for two API processes. The lease commands are counted on the client they go through.
 */
let redis: Redis;
let keys = 0;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = new Redis(testRedisUrl());
  await resetRedis(redis);
});
afterAll(async () => {
  await resetRedis(redis);
  for (const client of [redis, ...clients]) client.disconnect();
});

type Budget = ReturnType<typeof leasedBudget>;

/**
 * A budget of `points` a minute in leases of `lease`, on a Redis client of its own whose lease commands are counted,
 * and the key of its subject `key-1`. `processes` budgets share the client and the key, as API processes share Redis.
 */
async function redisBudgets(points: number, lease: number, options: { processes?: number; now?: () => number } = {}) {
  const client = new Redis(testRedisUrl());
  clients.push(client);
  await client.ping();
  const keyPrefix = `${testQueuePrefix()}:rate:lease-test-${++keys}`;
  const fallback = new RateLimiterMemory({ points, duration: 60 });
  const make = () =>
    leasedBudget({ redis: client, keyOf: (id) => `${keyPrefix}:${id}`, points, windowSeconds: 60, lease, fallback, now: options.now });
  const budgets = Array.from({ length: options.processes ?? 1 }, make);
  const scripted = client as unknown as { rateLimitLease: (...args: unknown[]) => Promise<unknown> };
  const lease_ = scripted.rateLimitLease.bind(client);
  const calls = { leases: 0 };
  scripted.rateLimitLease = (...args) => (calls.leases++, lease_(...args));
  return { budgets, calls, key: `${keyPrefix}:key-1`, counter: async () => Number(await redis.get(`${keyPrefix}:key-1`)) };
}

/** Spends `requests` single points at once; how many were granted and refused. */
async function spendAtOnce(budget: Budget, requests: number) {
  const outcomes = await Promise.allSettled(Array.from({ length: requests }, () => budget('key-1', 1)));
  for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(RateLimiterRes);
  const granted = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
  return { granted, refused: requests - granted };
}

describe("an API key's budget, leased", () => {
  it('is half a percent of the budget, at most 50 points; 1 (no lease) below 400', () => {
    expect(leaseSize(6_000)).toBe(30);
    expect(leaseSize(1_000_000)).toBe(50);
    expect(leaseSize(399)).toBe(1);
    expect(leaseSize(400)).toBe(2);
  });

  it('two processes spending one budget at once never grant more than it, with a few lease commands', async () => {
    const { budgets, calls, counter } = await redisBudgets(2_000, 10, { processes: 2 });
    const [a, b] = await Promise.all([spendAtOnce(budgets[0]!, 1_100), spendAtOnce(budgets[1]!, 1_100)]);
    const granted = a.granted + b.granted;
    expect(granted).toBeLessThanOrEqual(2_000);
    // What one process leased and had no request left for: less than one lease.
    expect(granted).toBeGreaterThanOrEqual(2_000 - 9);
    expect(a.refused + b.refused).toBe(2_200 - granted);
    // A lease is as large as the requests waiting for it: a handful of commands for 2 200 requests, not 2 200.
    expect(calls.leases).toBeLessThanOrEqual(10);
    expect(await counter()).toBe(2_000);
  });

  it('takes only what is left for its last lease, then refuses without asking Redis until the window ends', async () => {
    const { budgets, calls, counter } = await redisBudgets(25, 10);
    const budget = budgets[0]!;
    for (let i = 0; i < 25; i++) await budget('key-1', 1);
    expect(await counter()).toBe(25);
    expect(calls.leases).toBe(3);
    const refused = await budget('key-1', 1).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(RateLimiterRes);
    expect((refused as RateLimiterRes).msBeforeNext).toBeGreaterThan(0);
    expect((refused as RateLimiterRes).msBeforeNext).toBeLessThanOrEqual(60_000);
    for (let i = 0; i < 20; i++) await expect(budget('key-1', 1)).rejects.toBeInstanceOf(RateLimiterRes);
    expect(calls.leases).toBe(3);
    expect(await counter()).toBe(25);
  });

  it('grants a request dearer than a lease from a lease of its size; one dearer than what is left takes nothing', async () => {
    const { budgets, counter } = await redisBudgets(40, 10);
    const budget = budgets[0]!;
    await budget('key-1', 15);
    expect(await counter()).toBe(15);
    await budget('key-1', 20);
    expect(await counter()).toBe(35);
    // 5 are left: a request of 15 is refused and leaves them in Redis, for cheaper requests of any process.
    await expect(budget('key-1', 15)).rejects.toBeInstanceOf(RateLimiterRes);
    expect(await counter()).toBe(35);
    for (let i = 0; i < 5; i++) await budget('key-1', 1);
    expect(await counter()).toBe(40);
    await expect(budget('key-1', 1)).rejects.toBeInstanceOf(RateLimiterRes);
  });

  it("holds its points no longer than Redis's window: it leases again once the key's TTL has passed", async () => {
    let clock = 0;
    const { budgets, calls, key } = await redisBudgets(1_000, 10, { now: () => clock });
    // A window with 5 s left in Redis (of the minute): the process's clock is the test's, so only the lease's command
    // has to reach Redis within those 5 s, however slow the machine.
    await redis.set(key, 0, 'PX', 5_000);
    await budgets[0]!('key-1', 1);
    await budgets[0]!('key-1', 1);
    expect(calls.leases).toBe(1);
    clock += 150;
    await budgets[0]!('key-1', 1);
    expect(calls.leases).toBe(1);
    // Past the TTL Redis answered (at most 5 s): the held points are dropped and a new lease is taken.
    clock += 4_851;
    await budgets[0]!('key-1', 1);
    expect(calls.leases).toBe(2);
  });

  it('spends each request from its fallback (the Redis limiter with the in-memory insurance) while Redis does not answer', async () => {
    // Port 1: nothing listens; the client never becomes ready.
    const away = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    clients.push(away);
    const fallback = new RateLimiterMemory({ points: 2, duration: 60 });
    const budget = leasedBudget({ redis: away, keyOf: (id) => id, points: 1_000, windowSeconds: 60, lease: 10, fallback });
    await budget('key-1', 1);
    await budget('key-1', 1);
    await expect(budget('key-1', 1)).rejects.toBeInstanceOf(RateLimiterRes);
  });

  it('is what createRateLimiter gives API keys with Redis; members and addresses spend every request from Redis', async () => {
    const prefix = `${testQueuePrefix()}-leases-${++keys}`;
    const budgets = { mutations: 1_000, voucherLookups: 1_000 };
    const limits = { windowSeconds: 60, apiKey: budgets, member: budgets, address: budgets, failedAuthentications: 0 };
    const limiter = createRateLimiter({ limits, redis, prefix });
    const cost = { mutations: 1, voucherLookups: 0 };
    for (let i = 0; i < 3; i++) {
      expect(await limiter.consume({ kind: 'apiKey', id: 'k' }, cost)).toBeNull();
      expect(await limiter.consume({ kind: 'member', id: 'm' }, cost)).toBeNull();
    }
    // A lease of 5 (half a percent of 1 000) for the key, on rate-limiter-flexible's own key; each request for the member.
    expect(Number(await redis.get(`${prefix}:rate:apiKey:mutations:k`))).toBe(5);
    expect(Number(await redis.get(`${prefix}:rate:member:mutations:m`))).toBe(3);
  });
});
