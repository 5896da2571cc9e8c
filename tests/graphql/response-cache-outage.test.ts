import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { createTestApp, useTestApp, type GraphQLResponse } from '../support/app.js';
import { resetRedis, testRedisUrl } from '../support/db.js';
import { startRedisRelay } from '../support/redis-relay.js';
import { until } from '../support/until.js';

/**
 * A member changes while one API process cannot reach Redis: the change's bump is refused, and the answer
 * cached before the change is still in Redis when it comes back. Once that process uses the cache again, no
 * process serves that answer (src/cache/response-cache-store.ts: every answer is made stale first).
 */
const { prisma } = useTestApp();
const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;

let redis: Redis;
let relay: Awaited<ReturnType<typeof startRedisRelay>>;
/** Reaches Redis through the relay, which the test cuts. */
let a: ReturnType<typeof createTestApp>;
/** Reaches Redis directly all along. */
let b: ReturnType<typeof createTestApp>;
let metricsOfA: Metrics;
/** What A logs at warn and above: the messages. */
const warningsOfA: string[] = [];

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  relay = await startRedisRelay(testRedisUrl());
  metricsOfA = createMetrics();
  const loggerOfA = pino({ level: 'warn' }, { write: (line: string) => void warningsOfA.push((JSON.parse(line) as { msg: string }).msg) });
  a = createTestApp(prisma, { redis: relay.url, metrics: metricsOfA, logger: loggerOfA });
  b = createTestApp(prisma, { redis: true });
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  await relay.close();
  await resetRedis(redis);
  redis.disconnect();
});

async function pendingPoints(app: ReturnType<typeof createTestApp>, token: string): Promise<number> {
  const response = await fetch(await app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: STATUS, variables: {} }),
  });
  const body = (await response.json()) as GraphQLResponse<{ me: { balance: { pending: number } } }>;
  expect(body.errors).toBeUndefined();
  return body.data!.me.balance.pending;
}

/** A's lookups that reached the cache (hits and misses; not the ones that failed). */
async function lookupsOfA(): Promise<number> {
  const { values } = await metricsOfA.responseCache.get();
  return values.filter((value) => value.labels.result !== 'error').reduce((sum, value) => sum + value.value, 0);
}

describe('a member change whose bump Redis refused', () => {
  it('is served by no process once the process that made it uses the cache again', async () => {
    const memberId = await a.enroll();
    const token = await a.memberToken(memberId);
    const shop = await a.apiKeyToken(['points:earn']);
    // A's connection is up once its reads reach the cache; the answer is then cached for both.
    await until(async () => (await pendingPoints(a, token)) === 0 && (await lookupsOfA()) > 0, 10_000, 50, 'A using the cache');
    expect(await pendingPoints(b, token)).toBe(0);

    relay.cut();
    const order = { reference: 'o-1', total: { amount: '25.00', currency: 'EUR' } };
    const earned = await a.gql(
      'mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }',
      {
        i: { memberId, order, idempotencyKey: 'o-1' },
      },
      shop,
    );
    expect(earned.data).toEqual({ earnPoints: { __typename: 'EarnPointsPayload' } });
    // One command would have made the member stale and told live screens: its failure is logged once, for both.
    expect(warningsOfA.filter((message) => message.startsWith('could not'))).toEqual([
      'could not make cached answers stale nor publish member changes: they expire with their TTL, live screens catch up with the next change',
    ]);
    // A answers from the database while Redis is away.
    expect(await pendingPoints(a, token)).toBe(25);

    relay.restore();
    const before = await lookupsOfA();
    await until(
      async () => (await pendingPoints(a, token)) === 25 && (await lookupsOfA()) > before,
      15_000,
      100,
      'A using the cache again',
    );
    // Neither process serves the answer from before the earn, nor stores it again.
    expect(await pendingPoints(a, token)).toBe(25);
    expect(await pendingPoints(b, token)).toBe(25);
    expect(await pendingPoints(b, token)).toBe(25);
  });
});
