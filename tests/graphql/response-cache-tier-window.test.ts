import { execute, parse } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { getSchema } from '../../src/graphql/schema.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createMetrics } from '../../src/metrics.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createTestApp, testLogger, useTestApp, type GraphQLResponse } from '../support/app.js';
import { resetRedis, testRedisUrl } from '../support/db.js';

/**
 * The members' response cache and the clock (docs/caching.md, "Time"), for what the status answer shows besides
 * vouchers: qualifying points are a rolling window (the program's `tierQualifyingMonths`, 12), so they drop, with
 * `pointsToNext`, when the oldest qualifying entry leaves it — no event marks that instant. Pending points and
 * upcoming expiries change only when the maintenance sweep (or a point operation) settles a lot, which reports a
 * change. `uncached` answers the same document at the same instant without a cache.
 */
const { prisma } = useTestApp();
const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** When a test's first entry is written; its window ends 12 calendar months later (`LEAVES`), no month-end clamp. */
const T0 = new Date('2026-03-15T09:30:00.000Z');
const LEAVES = addMonths(T0, 12);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const plus = (instant: Date, ms: number) => new Date(instant.getTime() + ms);
let clock = T0;
const now = () => clock;

const metrics = createMetrics();
let redis: Redis;
let cached: ReturnType<typeof createTestApp>;
let uncached: ReturnType<typeof createTestApp>;

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  cached = createTestApp(prisma, { redis: true, now, metrics });
  uncached = createTestApp(prisma, { now, env: { RESPONSE_CACHE: 'false' } });
});
afterAll(async () => {
  await Promise.all([cached.close(), uncached.close()]);
  await resetRedis(redis);
  redis.disconnect();
});

interface Status {
  balance: { available: number; pending: number; lifetime: number };
  expiringPoints: { expiresAt: string; points: number }[];
  tierProgress: { qualifyingPoints: number; pointsToNext: number | null };
}

/** The status screen through the cache's shortcut (over HTTP: `answer`, then the direct execution or yoga). */
async function overHttp(token: string): Promise<Status> {
  const response = await fetch(await cached.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: STATUS }),
  });
  return meOf((await response.json()) as GraphQLResponse<{ me: Status }>);
}

/** The status screen through yoga in process (`yoga.fetch`: the plugin's own lookup, no shortcut). */
async function inProcess(token: string, app = cached): Promise<Status> {
  return meOf((await app.request<{ me: Status }>(STATUS, {}, { token })).body);
}

function meOf(body: GraphQLResponse<{ me: Status }>): Status {
  expect(body.errors).toBeUndefined();
  return body.data!.me;
}

async function hits(): Promise<number> {
  return (await metrics.responseCache.get()).values.find((value) => value.labels.result === 'hit')?.value ?? 0;
}

let orders = 0;
/** An order of `points` points earned at `when`, by the services' clock (reported: the member's answers are stale). */
async function earn(memberId: string, when: Date, points: number) {
  clock = when;
  orders += 1;
  await earnPoints(
    cached.deps,
    { memberId, orderRef: `o-${orders}`, orderTotal: `${points}.00`, idempotencyKey: `e-${orders}` },
    storefront,
  );
}

async function member() {
  const memberId = await cached.enroll();
  return { memberId, token: await cached.memberToken(memberId) };
}

describe('cached member status and the qualifying window', () => {
  it.each([
    ['the shortcut', overHttp],
    ['the plugin', inProcess],
  ])('qualifying points drop on a cached status when the oldest entry leaves the window, read through %s', async (_, read) => {
    const { memberId, token } = await member();
    await earn(memberId, T0, 300);
    await earn(memberId, addMonths(T0, 1), 200);

    clock = plus(LEAVES, -MINUTE);
    const first = await read(token);
    expect(first.tierProgress).toMatchObject({ qualifyingPoints: 500, pointsToNext: 500 });
    const before = await hits();
    clock = plus(LEAVES, -SECOND);
    expect(await read(token)).toEqual(first);
    expect(await hits()).toBe(before + 1);

    clock = plus(LEAVES, SECOND);
    const after = await read(token);
    expect(after.tierProgress).toMatchObject({ qualifyingPoints: 200, pointsToNext: 800 });
    expect(after).toEqual(await inProcess(token, uncached));
  });

  it('pending points and expiries do not change with the clock alone: the sweep that settles them reports it', async () => {
    const { memberId, token } = await member();
    await earn(memberId, T0, 300);
    const expiresAt = addMonths(T0, 24);

    // Past the return window (14 days), before the sweep: the same answer as without the cache, from the cache.
    clock = plus(T0, MINUTE);
    const first = await overHttp(token);
    expect(first.balance).toEqual({ available: 0, pending: 300, lifetime: 300 });
    const before = await hits();
    clock = addDays(T0, 15);
    expect(await overHttp(token)).toEqual(first);
    expect(await hits()).toBe(before + 1);
    expect(await inProcess(token, uncached)).toEqual(first);
    await runPointsMaintenance(cached.deps);
    expect((await overHttp(token)).balance).toEqual({ available: 300, pending: 0, lifetime: 300 });

    // Past the expiry (and the qualifying window), before the sweep: the same.
    clock = plus(expiresAt, -MINUTE);
    const late = await overHttp(token);
    expect(late.expiringPoints).toEqual([{ expiresAt: expiresAt.toISOString(), points: 300 }]);
    expect(late.tierProgress.qualifyingPoints).toBe(0);
    const hitsLate = await hits();
    clock = plus(expiresAt, SECOND);
    expect(await overHttp(token)).toEqual(late);
    expect(await hits()).toBe(hitsLate + 1);
    expect(await inProcess(token, uncached)).toEqual(late);
    await runPointsMaintenance(cached.deps);
    expect(await overHttp(token)).toMatchObject({ balance: { available: 0 }, expiringPoints: [] });
  });
});

describe('what the tier progress tells of the clock', () => {
  const schema = getSchema();

  /** The instants a query told (`answerChangesAt`), executed as the cache's plugin has it on a miss. */
  async function told(memberId: string, document: string, principal: GraphQLContext['principal'] = { kind: 'member', memberId }) {
    const instants: Date[] = [];
    const contextValue: GraphQLContext = {
      principal,
      deps: { prisma, logger: testLogger, now },
      logger: testLogger,
      requestId: 'clock',
      answerChangesAt: (instant) => instants.push(instant),
    };
    const result = await execute({ schema, document: parse(document), contextValue });
    expect(result.errors).toBeUndefined();
    return [...new Set(instants.map((instant) => instant.toISOString()))].sort();
  }

  const progress = 'tierProgress { qualifyingPoints pointsToNext }';
  // The status statement answers the first; the second's tier history is no page of it: plugin-prisma and the batch.
  const documents = [`{ me { ${progress} } }`, `{ me { ${progress} tierHistory(first: 1) { edges { node { reason } } } } }`];

  it('tells when the oldest qualifying entry leaves the window, on the status read and the Prisma path alike', async () => {
    const { memberId } = await member();
    await earn(memberId, T0, 300);
    await earn(memberId, addMonths(T0, 1), 200);
    clock = plus(T0, 40 * 24 * 60 * MINUTE);
    for (const document of documents) expect(await told(memberId, document)).toEqual([LEAVES.toISOString()]);
    clock = plus(LEAVES, SECOND);
    for (const document of documents) expect(await told(memberId, document)).toEqual([addMonths(T0, 13).toISOString()]);
    clock = plus(addMonths(T0, 13), SECOND);
    for (const document of documents) expect(await told(memberId, document)).toEqual([]);
    // A tier alone reads no points, and tells nothing.
    expect(await told(memberId, '{ me { tier { key } } }')).toEqual([]);
  });

  it('tells nothing for a member without qualifying entries', async () => {
    const { memberId } = await member();
    clock = T0;
    for (const document of documents) expect(await told(memberId, document)).toEqual([]);
  });
});
