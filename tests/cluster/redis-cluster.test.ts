import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { createStreamPlaces } from '../../src/live/stream-places.js';
import { createOutboxPublisher } from '../../src/queues/outbox-queues.js';
import { connectRedis, onEveryPrimary, type RedisClient } from '../../src/redis/redis-client.js';
import { parseClusterUrl } from '../../src/redis/redis-url.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { createTestApp, TEST_JWT_SECRET, testLogger, useTestApp } from '../support/app.js';
import { apiKeyCaller } from '../support/callers.js';
import { testQueuePrefix } from '../support/db.js';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster.js';
import { until } from '../support/until.js';

/**
 * The parts that must hold when API and worker processes share a Redis Cluster instead of one
 * Redis: a private cluster of three primaries (tests/support/redis-cluster.ts), started once for
 * this file, with the queue prefix in a hash tag. Handlers made with `createTestApp` on the
 * cluster stand for API processes, `startWorkers` for a worker process — the same wiring the
 * processes run. tests/faults/scale-out.fault.ts runs real processes on a cluster.
 */
const { prisma, app } = useTestApp();
let cluster: RedisClusterHandle;
let redis: RedisClient;
const prefix = `{${testQueuePrefix()}}`;
const clusterEnv = () => ({ QUEUE_PREFIX: prefix });
const onCluster = (env: Record<string, string> = {}) => createTestApp(prisma, { redis: cluster.url, env: { ...clusterEnv(), ...env } });

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  redis = connectRedis(cluster.url, { maxRetriesPerRequest: 3 });
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

describe('configuration', () => {
  it('takes a redis+cluster:// URL of seed nodes and puts the queue prefix in a hash tag', () => {
    const base = { NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET };
    expect(loadConfig({ ...base, REDIS_URL: cluster.url }).queuePrefix).toBe('{treue}');
    expect(loadConfig({ ...base, REDIS_URL: cluster.url, QUEUE_PREFIX: '{shop-a}' }).queuePrefix).toBe('{shop-a}');
    expect(loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379' }).queuePrefix).toBe('treue');
    expect(() => loadConfig({ ...base, REDIS_URL: cluster.url, QUEUE_PREFIX: 'treue' })).toThrow(
      /QUEUE_PREFIX: on a Redis Cluster the prefix must start with a hash tag/,
    );
    expect(() => loadConfig({ ...base, REDIS_URL: cluster.url, QUEUE_PREFIX: 'a{}b' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, REDIS_URL: 'redis+cluster://127.0.0.1' })).toThrow(/REDIS_URL: "127.0.0.1" is not host:port/);
    expect(() => loadConfig({ ...base, REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/REDIS_URL: expected redis:\/\//);
    expect(parseClusterUrl('rediss+cluster://app:s%40cret@10.0.0.1:7000,[::1]:7001/')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      username: 'app',
      password: 's@cret',
      tls: true,
    });
  });
});

describe('workers and the outbox on the cluster', () => {
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    WORKER_CONCURRENCY: '4',
    ...clusterEnv(),
  });
  let workers: WorkersHandle;
  let publisher: ReturnType<typeof createOutboxPublisher>;
  beforeAll(async () => {
    workers = await startWorkers(
      { config, logger: testLogger, prisma, redisUrl: cluster.url },
      { maintenance: false, relay: { intervalMs: 100, freshGraceMs: 300 } },
    );
    publisher = createOutboxPublisher({ redisUrl: cluster.url, prefix, logger: testLogger });
  });
  afterAll(async () => {
    await workers?.close();
    await publisher?.close();
  });

  const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
    __typename ... on ReportServiceFailurePayload { failure { id } } } }`;

  it('reported failures are handed over at once and compensated once each, their queue in one slot', { timeout: 90_000 }, async () => {
    const api = createTestApp(prisma, { outbox: publisher, env: clusterEnv() });
    const token = await api.apiKeyToken(['failures:report']);
    const members = await Promise.all(Array.from({ length: 6 }, () => api.enroll()));
    // Each failure twice, at once: one failure, one job, one voucher.
    const answers = await Promise.all(
      members.flatMap((memberId, i) =>
        [0, 1].map((copy) =>
          api.gql(
            REPORT,
            { i: { memberId, type: 'LATE_DELIVERY', severity: 'MEDIUM', orderRef: `late-${i}`, idempotencyKey: `late-${i}-${copy}` } },
            token,
          ),
        ),
      ),
    );
    expect(answers.map((answer) => answer.data?.reportServiceFailure.__typename)).toEqual(Array(12).fill('ReportServiceFailurePayload'));
    await until(async () => (await prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } })) === 6, 60_000);
    expect(await prisma.serviceFailure.count()).toBe(6);
    for (const memberId of members) expect(await prisma.voucher.count({ where: { memberId, kind: 'COMPENSATION' } })).toBe(1);
    await until(async () => (await prisma.outboxEvent.count({ where: { completedAt: null } })) === 0);

    // BullMQ's keys of the queue all hash to the prefix's slot, so its scripts run on one node.
    const keys = (await onEveryPrimary(redis, (node) => node.keys(`${prefix}:compensation:*`))).flat();
    expect(keys.length).toBeGreaterThan(0);
    const slots = new Set(await Promise.all(keys.map((key) => redis.cluster('KEYSLOT', key))));
    expect(slots.size).toBe(1);
  });

  it(
    'a failure whose hand-over never happened (the API died after commit) is compensated through the relay',
    { timeout: 60_000 },
    async () => {
      const memberId = await app.enroll();
      const reported = await reportServiceFailure(
        { prisma, logger: testLogger },
        { memberId, type: 'OUTAGE', severity: 'HIGH', orderRef: null, idempotencyKey: 'crash-1' },
        apiKeyCaller('shop', ['failures:report']),
      );
      expect(await workers.queues.queue('compensation').getJobState(reported.failureId)).toBe('unknown');
      await until(() => prisma.serviceFailure.findFirst({ where: { id: reported.failureId, status: 'COMPENSATED' } }), 15_000);
      expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
    },
  );

  it('a job lost with its Redis node is re-driven by the relay and compensated once', { timeout: 60_000 }, async () => {
    const compensation = workers.queues.queue('compensation');
    // Paused, the job waits in the cluster where no worker takes it.
    await compensation.pause();
    const memberId = await app.enroll();
    try {
      const reported = await reportServiceFailure(
        { prisma, logger: testLogger },
        { memberId, type: 'BILLING_ERROR', severity: 'LOW', orderRef: 'lost-1', idempotencyKey: 'lost-1' },
        apiKeyCaller('shop', ['failures:report']),
      );
      await until(async () => (await compensation.getJobState(reported.failureId)) !== 'unknown', 10_000);
      // Gone, as if the node holding it lost its data, and handed over long enough ago to be stale.
      await compensation.remove(reported.failureId);
      await prisma.outboxEvent.update({ where: { id: reported.failureId }, data: { enqueuedAt: new Date(Date.now() - 600_000) } });
      await until(async () => (await compensation.getJobState(reported.failureId)) !== 'unknown', 10_000);
    } finally {
      await compensation.resume();
    }
    await until(async () => (await prisma.serviceFailure.count({ where: { memberId, status: 'COMPENSATED' } })) === 1, 20_000);
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
  });
});

describe('API processes sharing the cluster', () => {
  const LIMITS = { RATE_LIMIT_WINDOW_SECONDS: '60', RATE_LIMIT_API_KEY_VOUCHER_LOOKUPS: '20' };
  let processA: ReturnType<typeof createTestApp>;
  let processB: ReturnType<typeof createTestApp>;
  beforeAll(async () => {
    processA = onCluster(LIMITS);
    processB = onCluster(LIMITS);
    await Promise.all([processA.ready(), processB.ready(), processA.yoga.memberChangesReady, processB.yoga.memberChangesReady]);
  });
  afterAll(async () => {
    await processA?.close();
    await processB?.close();
  });

  it('two API processes share one rate-limit budget; the refusal is 429 with Retry-After', async () => {
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const lookups = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `v${i}: validateVoucher(code: "TRU-AAAA-BBBB-CCCC-DDDD", orderTotal: "10.00") { valid }`).join(' ')} }`;
    expect((await processA.request(lookups(10), {}, { token: key })).status).toBe(200);
    expect((await processB.request(lookups(10), {}, { token: key })).status).toBe(200);
    for (const process of [processA, processB]) {
      const refused = await process.request(lookups(1), {}, { token: key });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Counted in the cluster, not in each process's memory: the budget's key is there.
    const budgets = (
      await onEveryPrimary(redis, (node) => node.keys(`${prefix.replace(/[{}]/g, '')}:rate:apiKey:voucherLookups:*`))
    ).flat();
    expect(budgets).toHaveLength(1);
  });

  it('a subscriber on one API process hears a change made through the other', async () => {
    const memberId = await app.enroll();
    const stream = await processA.subscribe(
      `subscription { memberStatusChanged { change { kind reference } member { balance { pending } } } }`,
      {},
      await processA.memberToken(memberId),
    );
    try {
      expect((await stream.result(0)).data?.memberStatusChanged.change.kind).toBe('CURRENT');
      const shop = await app.apiKeyToken(['points:earn']);
      const earned = await processB.gql(
        `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`,
        { i: { memberId, orderRef: 'order-1', orderTotal: '20.00', idempotencyKey: 'order-1' } },
        shop,
      );
      expect(earned.data?.earnPoints.__typename).toBe('EarnPointsPayload');
      expect((await stream.result(1, 10_000)).data?.memberStatusChanged).toEqual({
        change: { kind: 'EARNED', reference: 'order-1' },
        member: { balance: { pending: 20 } },
      });
    } finally {
      await stream.close();
    }
  });

  it('a caller holds LIVE_MAX_STREAMS_PER_CALLER open streams across both API processes, its places under one key', async () => {
    await Promise.all([processA.yoga.streamPlacesReady, processB.yoga.streamPlacesReady]);
    const memberId = await app.enroll();
    const token = await processA.memberToken(memberId);
    const STATUS = 'subscription { memberStatusChanged { change { kind } } }';
    const streams: Awaited<ReturnType<typeof processA.subscribe>>[] = [];
    const open = async (process: typeof processA) => {
      const stream = await process.subscribe(STATUS, {}, token);
      streams.push(stream);
      const first = await stream.result(0);
      return (first.errors?.[0]?.extensions?.code as string | undefined) ?? 'OK';
    };
    try {
      // The default limit, 5: three through A, two through B, then none through either.
      const firsts = [await open(processA), await open(processA), await open(processA), await open(processB), await open(processB)];
      expect(firsts).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
      expect(await open(processA)).toBe('RATE_LIMITED');
      expect(await open(processB)).toBe('RATE_LIMITED');
      const places = (
        await onEveryPrimary(redis, (node) => node.keys(`${prefix.replace(/[{}]/g, '')}:live-streams:memberStatus:member:${memberId}`))
      ).flat();
      expect(places).toHaveLength(1);
      expect(await redis.zcard(places[0]!)).toBe(5);
      // A stream closed on A frees a place that B may take.
      await streams[0]!.close();
      await until(async () => (await open(processB)) === 'OK', 5_000, 20, 'the place freed on A');
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
    }
  });

  it("renews the places of callers spread over every primary (each node's keys in a pipeline of their own)", async () => {
    const places = createStreamPlaces({ logger: testLogger, redis: { client: redis, prefix }, maxPerWatcher: 2, leaseMs: 1_500 });
    try {
      await places.ready;
      const callers = Array.from({ length: 12 }, (_, i) => `member:spread-${i}`);
      for (const caller of callers) expect(await places.take('memberStatus', caller)).toBeTypeOf('function');
      const keys = callers.map((caller) => `${prefix.replace(/[{}]/g, '')}:live-streams:memberStatus:${caller}`);
      // Keys without a hash tag: on every primary, so no single pipeline could carry them all.
      const held = await onEveryPrimary(
        redis,
        async (node) => (await node.keys(`${prefix.replace(/[{}]/g, '')}:live-streams:memberStatus:member:spread-*`)).length,
      );
      expect(held.filter((count) => count > 0)).toHaveLength(3);
      const leases = () => Promise.all(keys.map(async (key) => Number((await redis.zrange(key, 0, 0, 'WITHSCORES'))[1])));
      const taken = await leases();
      await until(async () => (await leases()).every((lease, i) => lease > taken[i]!), 10_000, 20, 'every lease renewed');
    } finally {
      places.close();
    }
  });

  it('an API key revoked through one API process is refused at once by the other', async () => {
    const key = await app.apiKeyToken(['members:read']);
    const PING = '{ program { currency } }';
    expect((await processA.request(PING, {}, { token: key })).status).toBe(200);
    const apiKey = await prisma.apiKey.findFirstOrThrow({ where: { scopes: { has: 'members:read' } } });
    const admin = await processB.staffToken('ADMIN');
    const revoked = await processB.gql(`mutation($id: ID!) { revokeApiKey(input: { id: $id }) { __typename } }`, { id: apiKey.id }, admin);
    expect(revoked.data?.revokeApiKey.__typename).toBe('RevokeApiKeyPayload');
    // Well below the verifier cache's 30 s: only the credential channel can have told process A.
    await until(async () => (await processA.request(PING, {}, { token: key })).status === 401, 10_000, 20);
  });
});
