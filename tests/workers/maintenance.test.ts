import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { startWorkers, type StartWorkersOptions } from '../../workers/index.js';
import {
  MAINTENANCE_JOB,
  MAINTENANCE_QUEUE,
  PASSIVE_SWEEP_JOB,
  processMaintenance,
  processPassiveSweep,
  RETENTION_JOB,
} from '../../workers/maintenance.processor.js';
import { TEST_JWT_SECRET, testLogger, useTestApp } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

const { prisma, app } = useTestApp();

describe('the maintenance job', () => {
  it('marks vouchers past their expiry EXPIRED, once, and leaves the others alone', async () => {
    const memberId = await app.enroll();
    const T0 = new Date('2026-03-01T00:00:00.000Z');
    await prisma.$transaction(async (tx) => {
      for (const [causeRef, days] of [
        ['soon', 10],
        ['later', 100],
      ] as const) {
        await issueVoucher(tx, {
          memberId,
          kind: 'GOODWILL',
          value: { type: 'FIXED', amount: '5.00' },
          causeType: 'GESTURE',
          causeRef,
          expiresAt: addDays(T0, days),
          now: T0,
        });
      }
    });

    const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });
    expect((await processMaintenance(at(addDays(T0, 30)))).vouchersExpired).toBe(1);
    expect((await processMaintenance(at(addDays(T0, 30)))).vouchersExpired).toBe(0);
    const statuses = await prisma.voucher.findMany({ orderBy: { expiresAt: 'asc' }, select: { status: true } });
    expect(statuses.map((v) => v.status)).toEqual(['EXPIRED', 'ISSUED']);
  });

  it('the five-minute run leaves members without activity to the hourly sweep, which marks them PASSIVE once', async () => {
    const now = new Date('2027-06-01T00:00:00.000Z');
    const idle = await app.enroll();
    const recent = await app.enroll();
    await prisma.member.update({ where: { id: idle }, data: { lastActivityAt: addMonths(now, -13) } });
    await prisma.member.update({ where: { id: recent }, data: { lastActivityAt: addMonths(now, -11) } });
    const at = { prisma, logger: testLogger, now: () => now };

    expect((await processMaintenance(at, { passive: false })).membersMarkedPassive).toBe(0);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: idle } })).status).toBe('ACTIVE');

    expect(await processPassiveSweep(at)).toEqual({ membersMarkedPassive: 1 });
    expect(await processPassiveSweep(at)).toEqual({ membersMarkedPassive: 0 });
    const statuses = await prisma.member.findMany({ where: { id: { in: [idle, recent] } }, select: { id: true, status: true } });
    expect(Object.fromEntries(statuses.map((m) => [m.id, m.status]))).toEqual({ [idle]: 'PASSIVE', [recent]: 'ACTIVE' });
    // Without options (the other tests, the fuzz run) one run still does everything.
    await prisma.member.update({ where: { id: recent }, data: { lastActivityAt: addMonths(now, -14) } });
    expect((await processMaintenance(at)).membersMarkedPassive).toBe(1);
  });

  /** The workers started with `options` on a clean Redis, and the maintenance queue to look at; all closed after `run`. */
  async function withMaintenanceQueue(options: StartWorkersOptions, run: (queue: Queue) => Promise<void>): Promise<void> {
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    await resetRedis(redis);
    const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', QUEUE_PREFIX: testQueuePrefix() });
    const workers = await startWorkers(
      { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
      { queues: [], relay: false, ...options },
    );
    const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis, prefix: testQueuePrefix() });
    try {
      await run(queue);
    } finally {
      await queue.close();
      await workers.close();
      await resetRedis(redis);
      redis.disconnect();
    }
  }
  const everyOf = (schedulers: { name: string; every?: string | number | null }[]) =>
    Object.fromEntries(schedulers.map((s) => [s.name, Number(s.every)]));
  const SCHEDULED = { [MAINTENANCE_JOB]: 5 * 60_000, [PASSIVE_SWEEP_JOB]: 60 * 60_000, [RETENTION_JOB]: 60 * 60_000 };

  it('the workers schedule the maintenance every 5 minutes, the passive sweep and retention every hour', async () => {
    await withMaintenanceQueue({}, async (queue) => {
      expect(everyOf(await queue.getJobSchedulers())).toEqual(SCHEDULED);
    });
  });

  it('the workers put back a schedule that vanished from Redis without a reconnect (flushed, a new server behind a proxy)', async () => {
    await withMaintenanceQueue({ maintenanceScheduleCheckMs: 100 }, async (queue) => {
      await queue.removeJobScheduler(MAINTENANCE_JOB);
      await queue.removeJobScheduler(PASSIVE_SWEEP_JOB);
      await queue.removeJobScheduler(RETENTION_JOB);
      const back = await until(
        async () => {
          const schedulers = await queue.getJobSchedulers();
          return schedulers.length === 3 ? schedulers : null;
        },
        10_000,
        50,
        'the schedule back in Redis',
      );
      expect(everyOf(back)).toEqual(SCHEDULED);
    });
  });
});
