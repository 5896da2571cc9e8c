// No useTestApp(): a redis-server of its own that it stops and starts; one reset for the file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { createOutboxPublisher } from '../../src/queues/outbox-queues.js';
import { startEmbeddedRedis, type EmbeddedRedisHandle } from '../../src/runtime/embedded-redis.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { MAINTENANCE_JOB, MAINTENANCE_QUEUE, PASSIVE_SWEEP_JOB, RETENTION_JOB } from '../../workers/maintenance.processor.js';
import { createTestApp, TEST_JWT_SECRET, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase, testQueuePrefix } from '../support/db.js';
import { until } from '../support/until.js';

/**
 * Redis outages, on a private redis-server (the shared test Redis stays up):
 * a failure reported while Redis is stopped is accepted (the outbox row is
 * committed; the immediate enqueue fails silently) and compensated by the
 * relay once Redis is back on the same port. A Redis lost for good (an empty
 * one on the same port) gets back, from the running workers, the jobs the relay
 * re-drives and the maintenance schedule. And the worker refuses a Redis that
 * may evict keys.
 */
let prisma: PrismaClient;
let dataDir: string;
let port: number;
let redis: EmbeddedRedisHandle | undefined;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: found } = server.address() as net.AddressInfo;
      server.close(() => resolve(found));
    });
  });
}

const startRedis = async () => {
  redis = await startEmbeddedRedis({ dataDir, port, logger: testLogger });
  return redis;
};

/** The maintenance queue's job schedulers, by name, as Redis holds them now. */
async function schedulers(redisUrl: string): Promise<string[]> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix: testQueuePrefix() });
  try {
    return (await queue.getJobSchedulers()).map((scheduler) => scheduler.name).sort();
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

const config = loadConfig({
  NODE_ENV: 'test',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'silent',
  QUEUE_PREFIX: testQueuePrefix(),
  WORKER_CONCURRENCY: '2',
});

beforeAll(async () => {
  prisma = createTestPrisma();
  await resetDatabase(prisma);
  dataDir = await mkdtemp(path.join(tmpdir(), 'treue-redis-outage-'));
  port = await freePort();
  await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await prisma.$disconnect();
});

describe('Redis outages', () => {
  it('the worker refuses a Redis whose maxmemory-policy is not noeviction', async () => {
    const admin = new Redis(redis!.redisUrl);
    try {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await expect(startWorkers({ config, logger: testLogger, prisma, redisUrl: redis!.redisUrl }, { maintenance: false })).rejects.toThrow(
        /maxmemory-policy is allkeys-lru/,
      );
    } finally {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      admin.disconnect();
    }
  });

  it('a failure reported while Redis is down is compensated after Redis restarts', { timeout: 90_000 }, async () => {
    const redisUrl = redis!.redisUrl;
    let workers: WorkersHandle | undefined;
    const publisher = createOutboxPublisher({ redisUrl, prefix: testQueuePrefix(), logger: testLogger, timeoutMs: 500 });
    try {
      workers = await startWorkers(
        { config, logger: testLogger, prisma, redisUrl },
        { maintenance: false, relay: { intervalMs: 100, freshGraceMs: 200 } },
      );
      const app = createTestApp(prisma, { outbox: publisher });
      const token = await app.apiKeyToken(['failures:report']);
      const memberId = await app.enroll();

      await redis!.stop();
      const response = await app.gql(
        `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
          __typename ... on ReportServiceFailurePayload { duplicate } ... on Error { message } } }`,
        { i: { memberId, type: 'LATE_DELIVERY', severity: 'MEDIUM', orderRef: 'order-outage', idempotencyKey: 'outage-1' } },
        token,
      );
      expect(response.errors).toBeUndefined();
      expect(response.data!.reportServiceFailure).toEqual({ __typename: 'ReportServiceFailurePayload', duplicate: false });
      const failure = await prisma.serviceFailure.findFirstOrThrow({ where: { memberId } });
      expect(await prisma.outboxEvent.findUnique({ where: { id: failure.id } })).toMatchObject({ completedAt: null });

      // While Redis stays down the relay takes the event up (its claim counts a hand-over, which
      // waits for Redis) and nothing is compensated.
      await until(
        async () => ((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: failure.id } })).enqueues >= 1 ? true : null),
        30_000,
        20,
        'the relay claiming the event',
      );
      expect((await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failure.id } })).status).toBe('RECORDED');
      expect(await prisma.outboxEvent.findUnique({ where: { id: failure.id } })).toMatchObject({ completedAt: null });

      await startRedis();
      await until(
        async () => (await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failure.id } })).status === 'COMPENSATED',
        60_000,
      );
      expect(await prisma.voucher.count({ where: { causeRef: failure.id } })).toBe(1);
      expect(await prisma.outboxEvent.findUnique({ where: { id: failure.id } })).toMatchObject({
        completedAt: expect.any(Date),
      });
    } finally {
      await workers?.close();
      await publisher.close();
    }
  });

  it(
    'running workers put the maintenance schedule back on a new, empty Redis, as the relay puts back the jobs',
    { timeout: 90_000 },
    async () => {
      // docs/operations.md, Backups: a lost Redis is rebuilt from PostgreSQL. The maintenance schedule (expiry,
      // tier review, SLA breaches → compensations, reminders) lives only in Redis: the workers that stay up across
      // the loss must put it back, not only the next one to start.
      let workers: WorkersHandle | undefined;
      try {
        workers = await startWorkers(
          { config, logger: testLogger, prisma, redisUrl: redis!.redisUrl },
          { queues: [], relay: { intervalMs: 100, freshGraceMs: 0 } },
        );
        expect(await schedulers(redis!.redisUrl)).toEqual([MAINTENANCE_JOB, PASSIVE_SWEEP_JOB, RETENTION_JOB].sort());

        // Redis is lost (disk gone, a new instance on the same address); the worker process stays up.
        await redis!.stop();
        await rm(path.join(dataDir, 'redis'), { recursive: true, force: true });
        await startRedis();

        // The workers are back on the new Redis: the relay hands over an event accepted meanwhile.
        const eventId = randomUUID();
        await prisma.outboxEvent.create({
          data: { id: eventId, queue: 'compensation', jobName: 'compensate', payload: { failureId: eventId } },
        });
        await until(
          async () => (await workers!.queues.queue('compensation').getJobState(eventId)) !== 'unknown',
          30_000,
          100,
          'the relay to hand an event to the new Redis',
        );

        // ... and so does the maintenance schedule.
        const back = await until(
          async () => {
            const names = await schedulers(redis!.redisUrl);
            return names.length === 3 ? names : null;
          },
          20_000,
          250,
          'the maintenance schedule on the new Redis',
        ).catch(() => schedulers(redis!.redisUrl));
        expect(back).toEqual([MAINTENANCE_JOB, PASSIVE_SWEEP_JOB, RETENTION_JOB].sort());
      } finally {
        await workers?.close();
      }
    },
  );
});
