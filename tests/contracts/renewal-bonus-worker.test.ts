import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/redis-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { PermanentJobError } from '../../src/domain/errors.js';
import { addMonths } from '../../src/domain/time.js';
import { createOutboxPublisher, createProducerConnection, OutboxQueues } from '../../src/queues/outbox-queues.js';
import { relayOutboxOnce } from '../../workers/outbox-relay.js';
import { outboxProcessors } from '../../workers/registry.js';
import { apiKeyCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

/**
 * The renewal bonus end to end, through a real BullMQ Worker on the test Redis:
 * the extension commits its outbox event, the API's immediate enqueue (or the
 * relay) hands it to the `renewal-bonus` queue, the registry's processor grants
 * the bonus. Duplicated hand-overs and a re-run job still grant once.
 */
const { prisma, app } = useTestApp();
let redis: Redis;
let worker: Worker;
let producer: RedisClient;
let queues: OutboxQueues;
const billing = apiKeyCaller('billing', ['contracts:write']);

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  const deps: ServiceDeps = { prisma, logger: testLogger };
  worker = new Worker(
    'renewal-bonus',
    async (job) => {
      try {
        return await outboxProcessors['renewal-bonus'](job.data, deps);
      } catch (error) {
        throw error instanceof PermanentJobError ? new UnrecoverableError(error.message) : error;
      }
    },
    { connection: redis, prefix: testQueuePrefix(), concurrency: 4 },
  );
  producer = createProducerConnection(testRedisUrl(), testLogger);
  queues = new OutboxQueues(producer, testQueuePrefix(), testLogger);
});
afterAll(async () => {
  await worker.close();
  await queues.close();
  producer.disconnect();
  await resetRedis(redis);
  redis.disconnect();
});

const completed = (eventId: string) => () =>
  prisma.outboxEvent.findUnique({ where: { id: eventId } }).then((event) => event?.completedAt ?? null);

async function goldMemberWithContract(externalRef: string) {
  const memberId = await app.enroll();
  await prisma.member.update({ where: { id: memberId }, data: { tier: 'GOLD' } });
  // Ends on the first of next month: up for renewal on the real clock.
  const startsAt = addMonths(new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1)), -11);
  const { contractId } = await registerContract(app.deps, { memberId, externalRef, plan: 'p', startsAt, termMonths: 12 }, billing);
  return { memberId, contractId };
}

/** Service deps whose clock reads `months` later, so that the extended contract is up for renewal again. */
const monthsLater = (deps: ServiceDeps, months: number): ServiceDeps => ({ ...deps, now: () => addMonths(new Date(), months) });

describe('renewal bonus through BullMQ', () => {
  it('an extension sent five times reaches the worker through the immediate enqueue and grants once, even when the job runs again', async () => {
    const { memberId, contractId } = await goldMemberWithContract('C-e2e');
    const publisher = createOutboxPublisher({ redisUrl: testRedisUrl(), prefix: testQueuePrefix(), logger: testLogger });
    const api: ServiceDeps = { prisma, logger: testLogger, outbox: publisher };
    try {
      // Two earlier renewals, then the 24-month one, sent five times at once.
      // Each a year after the one before, when the term comes up for renewal.
      for (const [index, key] of ['r1', 'r2'].entries()) {
        const { renewalId } = await extendContract(
          monthsLater(api, 12 * index),
          { contractId, termMonths: 12, idempotencyKey: key },
          billing,
        );
        await until(completed(renewalId));
      }
      const third = monthsLater(api, 24);
      const sent = await Promise.all(
        Array.from({ length: 5 }, () => extendContract(third, { contractId, termMonths: 24, idempotencyKey: 'r3' }, billing)),
      );
      const renewalId = sent[0]!.renewalId;
      await until(completed(renewalId));
    } finally {
      await publisher.close();
    }
    const renewals = await prisma.contractRenewal.findMany({ where: { contractId }, orderBy: { sequence: 'asc' } });
    // GOLD: 500 × 1.5, then × 1.1, then 24 months with two earlier renewals: 500 × 2 × 1.5 × 1.2.
    expect(renewals.map((r) => r.bonusPoints)).toEqual([750, 825, 1800]);

    // The job for the third renewal runs again (removed and re-added): nothing more.
    const third = renewals[2]!.id;
    const queue = queues.queue('renewal-bonus');
    await queue.remove(third);
    const rerun = await queue.add('renewal-bonus', { renewalId: third }, { jobId: third });
    await until(async () => (await rerun.getState()) === 'completed');
    expect((await queue.getJob(third))?.returnvalue).toMatchObject({ outcome: 'ALREADY_DONE' });
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'RENEWAL_BONUS' }, orderBy: { amount: 'asc' } });
    expect(entries.map((e) => e.amount)).toEqual([750, 825, 1800]);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(3375);
  });

  it('an extension accepted while no enqueue happened is handed over by the relay, once', async () => {
    const { memberId, contractId } = await goldMemberWithContract('C-relay');
    // No publisher: as if Redis had been down when the API committed.
    const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: 'r1' }, billing);
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: renewalId } })).enqueuedAt).toBeNull();

    const report = await relayOutboxOnce(app.deps, queues, { freshGraceMs: 0 });
    expect(report).toMatchObject({ claimed: 1, enqueued: 1, failed: 0 });
    await queues.enqueue([{ id: renewalId, queue: 'renewal-bonus', jobName: 'renewal-bonus', payload: { renewalId } }]);
    await until(completed(renewalId));
    expect(await relayOutboxOnce(app.deps, queues, { freshGraceMs: 0, staleAfterMs: 0 })).toMatchObject({ claimed: 0 });
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'RENEWAL_BONUS' } });
    expect(entries.map((e) => e.amount)).toEqual([750]);
  });

  it('a job for a renewal that does not exist fails at once, without retries', async () => {
    const queue = queues.queue('renewal-bonus');
    const job = await queue.add('renewal-bonus', { renewalId: '00000000-0000-4000-8000-000000000000' }, { attempts: 5 });
    await until(async () => (await job.getState()) === 'failed');
    const failed = await queue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toContain('does not exist');
  });
});
