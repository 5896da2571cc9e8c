import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signMemberToken } from '../../src/auth/tokens.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { serviceEnv } from '../support/built-service-env.js';
import { createTestApp, TEST_JWT_SECRET, useTestApp } from '../support/app.js';
import { createTestPrisma, resetDatabase, resetRedis, testRedisUrl } from '../support/db.js';
import { freePort, killServiceProcesses, startServiceProcess } from '../support/processes.js';
import { readSse, subscriptionRequest, type SseSubscription } from '../support/sse.js';
import { until } from '../support/until.js';

/**
 * The open-stream limit per caller (LIVE_MAX_STREAMS_PER_CALLER, docs/live-status.md) holds across API processes:
 * the places are counted in Redis, each with a lease its process renews, so that N processes behind a load balancer
 * give a caller the limit once, not N times; a process that dies without closing its streams frees their places
 * when their leases run out.
 */
const STATUS = 'subscription { memberStatusChanged { change { kind } } }';
const QUEUE = 'subscription { approvalQueueChanged { change { kind } } }';

/** What the first message of a stream says: OK (the stream's first event) or the error's code. */
const firstOf = async (stream: SseSubscription): Promise<string> => {
  const first = await stream.result(0);
  return (first.errors?.[0]?.extensions?.code as string | undefined) ?? (first.data ? 'OK' : 'NOTHING');
};

describe('open streams per caller across API processes (handlers sharing Redis)', () => {
  const { prisma: db } = useTestApp();
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  const closing: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
    await resetRedis(redis);
  });
  afterAll(() => redis.disconnect());

  const twoApiProcesses = async (metrics: Metrics[] = []) => {
    const processes = [0, 1].map((i) =>
      createTestApp(db, { redis: true, env: { LIVE_MAX_STREAMS_PER_CALLER: '3' }, ...(metrics[i] ? { metrics: metrics[i] } : {}) }),
    );
    for (const app of processes) closing.push(app.close);
    await Promise.all(processes.map((app) => app.yoga.streamPlacesReady));
    return processes as [ReturnType<typeof createTestApp>, ReturnType<typeof createTestApp>];
  };
  const open = async (app: ReturnType<typeof createTestApp>, query: string, token: string): Promise<SseSubscription> => {
    const stream = await app.subscribe(query, {}, token);
    closing.push(() => stream.close());
    return stream;
  };

  it('memberStatusChanged: a caller holds the limit once across two API processes; a stream closed on one frees a place on the other', async () => {
    const [a, b] = await twoApiProcesses();
    const memberId = await a.enroll();
    const token = await a.memberToken(memberId);
    const onA = [await open(a, STATUS, token), await open(a, STATUS, token)];
    const onB = await open(b, STATUS, token);
    expect(await Promise.all([...onA, onB].map(firstOf))).toEqual(['OK', 'OK', 'OK']);
    // The limit is 3 for the caller, whichever process the load balancer picks.
    expect(await firstOf(await open(a, STATUS, token))).toBe('RATE_LIMITED');
    expect(await firstOf(await open(b, STATUS, token))).toBe('RATE_LIMITED');
    // Another caller has places of its own on both.
    const other = await a.memberToken(await a.enroll());
    expect(await firstOf(await open(b, STATUS, other))).toBe('OK');

    // The client of a stream on A goes away: B may open one more, and then no more.
    await onA[0]!.close();
    await until(async () => (await firstOf(await open(b, STATUS, token))) === 'OK', 5_000, 20, 'a place freed on A for B');
    expect(await firstOf(await open(b, STATUS, token))).toBe('RATE_LIMITED');
    expect(await firstOf(await open(a, STATUS, token))).toBe('RATE_LIMITED');
  });

  it('approvalQueueChanged: a supervisor holds the limit once across two API processes; a stream closed frees a place on the other', async () => {
    const [a, b] = await twoApiProcesses();
    const supervisor = await a.staffToken('SUPERVISOR', 'supervisor-limits');
    const onA = await open(a, QUEUE, supervisor);
    const onB = [await open(b, QUEUE, supervisor), await open(b, QUEUE, supervisor)];
    expect(await Promise.all([onA, ...onB].map(firstOf))).toEqual(['OK', 'OK', 'OK']);
    expect(await firstOf(await open(a, QUEUE, supervisor))).toBe('RATE_LIMITED');
    expect(await firstOf(await open(b, QUEUE, supervisor))).toBe('RATE_LIMITED');
    // The member status streams are counted apart, as in one process: the queues do not use up their places.
    const memberId = await a.enroll();
    const status = await a.subscribe(
      'subscription($m: ID) { memberStatusChanged(memberId: $m) { change { kind } } }',
      { m: memberId },
      supervisor,
    );
    closing.push(() => status.close());
    expect(await firstOf(status)).toBe('OK');

    await onB[1]!.close();
    await until(async () => (await firstOf(await open(a, QUEUE, supervisor))) === 'OK', 5_000, 20, 'a place freed on B for A');
    expect(await firstOf(await open(a, QUEUE, supervisor))).toBe('RATE_LIMITED');
    expect(await firstOf(await open(b, QUEUE, supervisor))).toBe('RATE_LIMITED');
  });

  it('streams opened at once through both processes: the caller gets exactly its limit, each refusal counted by kind', async () => {
    const metrics = [createMetrics(), createMetrics()];
    const [a, b] = await twoApiProcesses(metrics);
    const token = await a.memberToken(await a.enroll());
    const firsts = await Promise.all(Array.from({ length: 10 }, async (_, i) => firstOf(await open(i % 2 ? b : a, STATUS, token))));
    expect(firsts.filter((first) => first === 'OK')).toHaveLength(3);
    expect(firsts.filter((first) => first === 'RATE_LIMITED')).toHaveLength(7);
    const refusals = await Promise.all(metrics.map((one) => one.liveStreamRefusals.get()));
    const counted = (stream: string) =>
      refusals.flatMap((metric) => metric.values).reduce((sum, value) => sum + (value.labels.stream === stream ? value.value : 0), 0);
    expect({ member_status: counted('member_status'), approval_queue: counted('approval_queue') }).toEqual({
      member_status: 7,
      approval_queue: 0,
    });
  });

  it('with Redis away, each API process still holds the caller to the limit on its own, and no stream fails for it', async () => {
    const port = await freePort();
    const away = createTestApp(db, { redis: `redis://127.0.0.1:${port}`, env: { LIVE_MAX_STREAMS_PER_CALLER: '2' } });
    closing.push(away.close);
    const token = await away.memberToken(await away.enroll());
    const streams = [await open(away, STATUS, token), await open(away, STATUS, token)];
    expect(await Promise.all(streams.map(firstOf))).toEqual(['OK', 'OK']);
    expect(await firstOf(await open(away, STATUS, token))).toBe('RATE_LIMITED');
    await streams[0]!.close();
    await until(async () => (await firstOf(await open(away, STATUS, token))) === 'OK', 5_000, 20, 'the freed place');
  });
});

// Two API processes as production runs them; one is killed with its streams open.
describe('open streams of an API process that died', () => {
  let prisma: ReturnType<typeof createTestPrisma>;
  let redis: Redis;
  beforeAll(async () => {
    prisma = createTestPrisma();
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    await resetDatabase(prisma);
    await resetRedis(redis);
  });
  afterEach(() => killServiceProcesses());
  afterAll(async () => {
    await resetRedis(redis);
    redis.disconnect();
    await prisma.$disconnect();
  });

  const startApi = async () => {
    const port = await freePort();
    const api = startServiceProcess('src/main.ts', {
      ...serviceEnv({ DATABASE_POOL_SIZE: '3' }),
      TREUE_ROLE: 'api',
      PORT: String(port),
      HOST: '127.0.0.1',
      WEB_CONCURRENCY: '1',
      LIVE_MAX_STREAMS_PER_CALLER: '3',
      LIVE_STREAM_LEASE_MS: '3000',
    });
    await api.waitForLine(/Treue ready: GraphQL at/, 60_000);
    return { api, url: `http://127.0.0.1:${port}/graphql` };
  };

  it('holds the limit across both, and frees the places of the killed one after their lease', { timeout: 180_000 }, async () => {
    const [a, b] = await Promise.all([startApi(), startApi()]);
    const member = await prisma.member.create({ data: { externalId: 'limits-1', email: 'limits-1@example.com', name: 'Limits' } });
    const token = await signMemberToken(TEST_JWT_SECRET, { memberId: member.id });
    const streams: SseSubscription[] = [];
    const open = async (url: string) => {
      const stream = readSse(await fetch(url, subscriptionRequest(STATUS, {}, token)));
      streams.push(stream);
      return firstOf(stream);
    };
    try {
      expect([await open(a.url), await open(a.url), await open(b.url)]).toEqual(['OK', 'OK', 'OK']);
      expect(await open(a.url)).toBe('RATE_LIMITED');
      expect(await open(b.url)).toBe('RATE_LIMITED');

      // A dies with its two streams open: nobody releases their places; their leases run out.
      a.api.kill('SIGKILL');
      await a.api.exited;
      // Their leases were taken a moment apart and end a moment apart: B takes both places as they come free.
      let taken = 0;
      await until(
        async () => {
          if ((await open(b.url)) === 'OK') taken += 1;
          return taken === 2;
        },
        30_000,
        200,
        "the killed process's two places",
      );
      // B's own place, renewed all along, still counts: the caller is at the limit again.
      expect(await open(b.url)).toBe('RATE_LIMITED');
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
    }
  });
});
