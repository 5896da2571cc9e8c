import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/redis-client.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import type { OutboxQueue } from '../../src/domain/outbox/outbox.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { createOutboxPublisher, createProducerConnection, OutboxQueues } from '../../src/queues/outbox-queues.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { relayOutboxOnce } from '../../workers/outbox-relay.js';
import { outboxProcessors } from '../../workers/registry.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createTestApp, TEST_JWT_SECRET, testLogger, useTestApp } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

/**
 * Compensation through the real worker wiring (workers/index.ts) on the test
 * Redis: GraphQL → outbox → immediate enqueue or relay → BullMQ → voucher; and
 * the relay's re-drive of jobs that failed for good or went missing — but not
 * of jobs refused for good, whose outbox events the refusal closes.
 */
const { prisma } = useTestApp();
let redis: Redis;
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const config = loadConfig({
  NODE_ENV: 'test',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'silent',
  QUEUE_PREFIX: testQueuePrefix(),
  WORKER_CONCURRENCY: '4',
});

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await resetRedis(redis);
  redis.disconnect();
});
beforeEach(async () => resetRedis(redis));

const compensated = (failureId: string) => () => prisma.serviceFailure.findFirst({ where: { id: failureId, status: 'COMPENSATED' } });

describe('end to end: GraphQL + BullMQ worker', () => {
  let workers: WorkersHandle;
  let publisher: ReturnType<typeof createOutboxPublisher>;
  let app: ReturnType<typeof createTestApp>;
  let storefrontToken: string;

  beforeAll(async () => {
    workers = await startWorkers(
      { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
      { maintenance: false, relay: { intervalMs: 100, freshGraceMs: 300 } },
    );
    publisher = createOutboxPublisher({ redisUrl: testRedisUrl(), prefix: testQueuePrefix(), logger: testLogger });
    app = createTestApp(prisma, { outbox: publisher });
  });
  afterAll(async () => {
    await workers.close();
    await publisher.close();
  });
  beforeEach(async () => {
    storefrontToken = await app.apiKeyToken(['failures:report', 'members:read']);
  });

  const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
    __typename ... on ReportServiceFailurePayload { duplicate failure { id } } } }`;
  const FAILURE = `query($id: ID!) { node(id: $id) { ... on ServiceFailure { status voucher { kind code value { amount } } } } }`;

  it('a reported failure gets its voucher from the worker, with the value of the policy', async () => {
    const cases = [
      { severity: 'LOW', tier: 'BRONZE', value: '5.00' },
      { severity: 'MEDIUM', tier: 'SILVER', value: '12.00' },
      { severity: 'HIGH', tier: 'GOLD', value: '37.50' },
      { severity: 'CRITICAL', tier: 'PLATINUM', value: '100.00' },
    ] as const;
    for (const { severity, tier, value } of cases) {
      const memberId = await app.enroll();
      await prisma.member.update({ where: { id: memberId }, data: { tier } });
      const response = await app.gql(
        REPORT,
        { i: { memberId, type: 'LATE_DELIVERY', severity, orderRef: `order-${severity}`, idempotencyKey: `k-${severity}` } },
        storefrontToken,
      );
      const globalId = response.data!.reportServiceFailure.failure.id as string;
      const node = await until(async () => {
        const result = await app.gql(FAILURE, { id: globalId }, storefrontToken);
        return result.data?.node?.status === 'COMPENSATED' ? result.data.node : null;
      });
      expect(node.voucher).toMatchObject({ kind: 'COMPENSATION', value: { amount: value } });
    }
  });

  it('the same failure reported 5× concurrently: one failure, one voucher', async () => {
    const memberId = await app.enroll();
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        app.gql(
          REPORT,
          { i: { memberId, type: 'WRONG_ITEM', severity: 'MEDIUM', orderRef: 'order-5x', idempotencyKey: `five-${i}` } },
          storefrontToken,
        ),
      ),
    );
    const ids = new Set(responses.map((response) => response.data!.reportServiceFailure.failure.id));
    expect(ids.size).toBe(1);
    const failure = await prisma.serviceFailure.findFirstOrThrow({ where: { memberId } });
    await until(compensated(failure.id));
    // Give any stray duplicate a chance to show up before counting.
    await until(async () => (await workers.queues.queue('compensation').getJobCounts('active', 'waiting')).waiting === 0);
    expect(await prisma.serviceFailure.count({ where: { memberId } })).toBe(1);
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
  });

  it("a suspended member's failure is held, and compensated by the worker once a supervisor reactivates the member", async () => {
    const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename } }`;
    const supervisor = await app.staffToken('SUPERVISOR');
    const memberId = await app.enroll();
    expect((await app.gql(UPDATE, { i: { id: memberId, status: 'SUSPENDED' } }, supervisor)).data?.updateMember.__typename).toBe(
      'UpdateMemberPayload',
    );
    const response = await app.gql(
      REPORT,
      { i: { memberId, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'held-1', idempotencyKey: 'held-1' } },
      storefrontToken,
    );
    const globalId = response.data!.reportServiceFailure.failure.id as string;
    await until(async () => (await app.gql(FAILURE, { id: globalId }, storefrontToken)).data?.node?.status === 'HELD');
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(0);

    // The failure's first job (job id = failure id) is done; the release goes out as a job of its own.
    await app.gql(UPDATE, { i: { id: memberId, status: 'ACTIVE' } }, supervisor);
    const node = await until(async () => {
      const result = await app.gql(FAILURE, { id: globalId }, storefrontToken);
      return result.data?.node?.status === 'COMPENSATED' ? result.data.node : null;
    });
    expect(node.voucher).toMatchObject({ kind: 'COMPENSATION', value: { amount: '25.00' } });
    await until(async () => (await prisma.outboxEvent.count({ where: { completedAt: null } })) === 0);
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
  });

  it('a compensation an agent voided takes none of the cap: the worker compensates the next failure (stop 53)', async () => {
    const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename ... on VoidVoucherPayload { voucher { status } } } }`;
    const memberId = await app.enroll();
    // PLATINUM: CRITICAL is 50.00 × 2 = 100.00, the whole default cap; a LOW repeat 5.00 × 2 × 1.5 = 15.00.
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
    const reportAs = async (severity: string, orderRef: string) => {
      const response = await app.gql(
        REPORT,
        { i: { memberId, type: 'LATE_DELIVERY', severity, orderRef, idempotencyKey: `cap-${orderRef}` } },
        storefrontToken,
      );
      const globalId = response.data!.reportServiceFailure.failure.id as string;
      return until(async () => {
        const result = await app.gql(FAILURE, { id: globalId }, storefrontToken);
        return result.data?.node?.status !== 'RECORDED' ? result.data!.node : null;
      });
    };
    const first = await reportAs('CRITICAL', 'cap-1');
    expect(first).toMatchObject({ status: 'COMPENSATED', voucher: { value: { amount: '100.00' } } });
    const voided = await app.gql(
      VOID,
      { i: { code: first.voucher.code, reason: 'issued in error', idempotencyKey: 'void-cap-1' } },
      await app.staffToken('AGENT'),
    );
    expect(voided.data?.voidVoucher).toEqual({ __typename: 'VoidVoucherPayload', voucher: { status: 'VOIDED' } });

    const second = await reportAs('LOW', 'cap-2');
    expect(second).toMatchObject({ status: 'COMPENSATED', voucher: { kind: 'COMPENSATION', value: { amount: '15.00' } } });
    expect(await prisma.voucher.count({ where: { memberId, status: { not: 'VOIDED' } } })).toBe(1);
  });

  it('a failure recorded just before the API died (no enqueue) is compensated through the relay', async () => {
    const memberId = await app.enroll();
    // No publisher: what is left after a crash between commit and enqueue.
    const reported = await reportServiceFailure(
      { prisma, logger: testLogger },
      { memberId, type: 'OUTAGE', severity: 'HIGH', orderRef: null, idempotencyKey: 'crash-1' },
      storefront,
    );
    expect(await workers.queues.queue('compensation').getJobState(reported.failureId)).toBe('unknown');
    await until(compensated(reported.failureId), 10_000);
    expect(await prisma.voucher.count({ where: { causeRef: reported.failureId } })).toBe(1);
  });
});

describe('the relay and its re-drive', () => {
  let producer: RedisClient;
  let queues: OutboxQueues;
  const deps = () => ({ prisma, logger: testLogger });

  beforeAll(() => {
    producer = createProducerConnection(testRedisUrl(), testLogger);
    queues = new OutboxQueues(producer, testQueuePrefix(), testLogger);
  });
  afterAll(async () => {
    await queues.close();
    producer.disconnect();
  });
  afterEach(async () => resetRedis(redis));

  async function recordedFailure(orderRef: string): Promise<string> {
    const memberId = (await prisma.member.create({ data: { externalId: orderRef, email: `${orderRef}@example.com`, name: orderRef } })).id;
    const reported = await reportServiceFailure(
      deps(),
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef, idempotencyKey: orderRef },
      storefront,
    );
    return reported.failureId;
  }
  const ageEvent = (id: string) =>
    prisma.$executeRaw`UPDATE outbox_events SET enqueued_at = now() - interval '5 minutes', enqueues = 1 WHERE id = ${id}::uuid`;

  it('enqueues fresh events once (job id = event id) and leaves young ones to the API', async () => {
    const failureId = await recordedFailure('fresh');
    expect((await relayOutboxOnce(deps(), queues, { freshGraceMs: 60_000 })).claimed).toBe(0);
    const report = await relayOutboxOnce(deps(), queues, { freshGraceMs: 0 });
    expect(report).toMatchObject({ claimed: 1, enqueued: 1, failed: 0 });
    const queue = queues.queue('compensation');
    expect(await queue.getJobState(failureId)).toBe('waiting');
    // A second hand-over of the same event is the same job.
    await queues.enqueue([{ id: failureId, queue: 'compensation', jobName: 'compensate', payload: { failureId } }]);
    expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 1 });
    // Not stale yet: not claimed again.
    expect((await relayOutboxOnce(deps(), queues, { freshGraceMs: 0 })).claimed).toBe(0);
  });

  it('re-drives a job that failed for good, one that went missing, and leaves a live one alone', async () => {
    const failedId = await recordedFailure('failed-job');
    const missingId = await recordedFailure('missing-job');
    const waitingId = await recordedFailure('waiting-job');
    const queue = queues.queue('compensation');
    // A job that used up its attempts (say the database was down all along).
    await queue.add('compensate', { failureId: failedId }, { jobId: failedId, attempts: 1 });
    const grabber = new Worker('compensation', null, { connection: redis, prefix: testQueuePrefix() });
    const job = await grabber.getNextJob('test-token');
    expect(job?.id).toBe(failedId);
    await job!.moveToFailed(new Error('database unreachable'), 'test-token');
    await grabber.close();
    expect(await queue.getJobState(failedId)).toBe('failed');
    await queue.add('compensate', { failureId: waitingId }, { jobId: waitingId });
    for (const id of [failedId, missingId, waitingId]) await ageEvent(id);

    const report = await relayOutboxOnce(deps(), queues, { staleAfterMs: 60_000 });
    expect(report).toMatchObject({ claimed: 3, enqueued: 0, failed: 0, redriven: { retried: 1, added: 1, alive: 1 } });
    expect(await queue.getJobState(failedId)).toBe('waiting');
    expect(await queue.getJobState(missingId)).toBe('waiting');

    // The re-driven jobs run through the registry's processor: each failure compensated once.
    const worker = new Worker('compensation', (j) => outboxProcessors.compensation(j.data, deps()), {
      connection: redis,
      prefix: testQueuePrefix(),
      concurrency: 3,
    });
    try {
      for (const id of [failedId, missingId, waitingId]) await until(compensated(id));
    } finally {
      await worker.close();
    }
    expect(await prisma.voucher.count()).toBe(3);
    expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
    expect((await relayOutboxOnce(deps(), queues, { staleAfterMs: 0, freshGraceMs: 0 })).claimed).toBe(0);
  });

  it('a backlog drains in groups larger than WORKER_CONCURRENCY, each failure compensated once', async () => {
    const failureIds: string[] = [];
    for (let i = 0; i < 64; i++) failureIds.push(await recordedFailure(`backlog-${i}`));
    expect(await relayOutboxOnce(deps(), queues, { freshGraceMs: 0 })).toMatchObject({ claimed: 64, enqueued: 64 });
    // The jobs wait in the queue; the worker process starts on the backlog.
    const workersHandle = await startWorkers(
      { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
      { maintenance: false, relay: false },
    );
    try {
      const decided = () => prisma.serviceFailure.count({ where: { id: { in: failureIds }, status: 'COMPENSATED' } });
      await until(async () => (await decided()) === 64, 20_000);
    } finally {
      await workersHandle.close();
    }
    expect(await prisma.voucher.count({ where: { causeRef: { in: failureIds } } })).toBe(64);
    // A group completes its jobs' outbox events (event id = failure id) with one timestamp; a job alone, with its own.
    const groups = await prisma.outboxEvent.groupBy({ by: ['completedAt'], where: { id: { in: failureIds } }, _count: true });
    const largest = Math.max(...groups.map((group) => group._count));
    expect(config.workers.concurrency).toBe(4);
    expect(largest).toBeGreaterThan(config.workers.concurrency);
    expect(largest).toBeLessThanOrEqual(config.workers.compensationConcurrency);
  });

  it('a job for a failure that does not exist fails at once, without retries', async () => {
    const workersHandle = await startWorkers(
      { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
      { maintenance: false, relay: false },
    );
    try {
      const missing = '00000000-0000-4000-8000-00000000abcd';
      const queue = workersHandle.queues.queue('compensation');
      await queue.add('compensate', { failureId: missing }, { jobId: missing });
      await until(async () => (await queue.getJobState(missing)) === 'failed');
      const job = await queue.getJob(missing);
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toMatch(/does not exist/);
    } finally {
      await workersHandle.close();
    }
  });

  const refusedJobs: { name: string; queue: OutboxQueue; jobName: string; payload: (id: string) => Record<string, string> }[] = [
    {
      name: 'a renewal-bonus job whose renewal does not exist',
      queue: 'renewal-bonus',
      jobName: 'renewal-bonus',
      payload: (id) => ({ renewalId: id }),
    },
    {
      name: 'a compensation job with a malformed failureId',
      queue: 'compensation',
      jobName: 'compensate',
      payload: () => ({ failureId: 'not-a-uuid' }),
    },
    {
      name: 'a webhook job whose delivery does not exist',
      queue: 'webhooks',
      jobName: 'deliver',
      payload: (id) => ({ deliveryId: id }),
    },
  ];

  it.each(refusedJobs)(
    '$name fails once, closes its outbox event, and the relay does not run it again',
    async ({ queue, jobName, payload }) => {
      const id = randomUUID();
      await prisma.outboxEvent.create({ data: { id, queue, jobName, payload: payload(id) } });
      expect(await relayOutboxOnce(deps(), queues, { freshGraceMs: 0 })).toMatchObject({ claimed: 1, enqueued: 1 });

      // The real worker wiring: PermanentJobError becomes UnrecoverableError, the job fails on its first attempt.
      const workersHandle = await startWorkers(
        { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
        { maintenance: false, relay: false, queues: [queue] },
      );
      let refused: { value: number; labels: { queue?: string | number } }[];
      try {
        await until(async () => (await queues.queue(queue).getJobState(id)) === 'failed', 15_000, 50, 'the job to fail');
        refused = (await workersHandle.metrics.getSingleMetric('treue_jobs_refused_total')?.get())?.values ?? [];
      } finally {
        await workersHandle.close();
      }
      const failed = await queues.queue(queue).getJob(id);
      expect(failed?.attemptsMade).toBe(1);
      expect(failed?.failedReason).toMatch(/does not exist|without a valid/);

      // A minute later the relay's next pass: a job refused for good stays refused.
      await ageEvent(id);
      const pass = await relayOutboxOnce(deps(), queues, { staleAfterMs: 60_000, freshGraceMs: 0 });
      expect(pass.redriven).toEqual({});
      expect(await queues.queue(queue).getJobState(id)).toBe('failed');
      // ... and it no longer counts as pending work (the outbox lag gauge reads the rows not completed).
      expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id } })).completedAt).not.toBeNull();
      // Counted under its queue (a fixed set: every outbox queue, from 0), nowhere else.
      expect(refused.map((series) => series.labels.queue).sort()).toEqual(['compensation', 'incidents', 'renewal-bonus', 'webhooks']);
      expect(refused.filter((series) => series.value > 0)).toEqual([{ value: 1, labels: { queue } }]);
    },
  );
});
