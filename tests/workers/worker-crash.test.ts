// No useTestApp(): the worker runs as a child process on this worker's database; one reset for the file, and the test counts vouchers itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase, resetRedis, testDatabaseUrl, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

/**
 * The worker process (`workers/main.ts`, as `npm run workers` runs it) killed
 * with SIGKILL in the middle of 500 compensation jobs, then started again:
 * every failure ends with exactly one voucher. Jobs it held are recovered by
 * BullMQ's stalled-job check, events it had claimed but not handed over by the
 * outbox re-drive; effects are guarded by the unique voucher per failure.
 */
const FAILURES = 500;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let prisma: PrismaClient;
let redis: Redis;
const children: ChildProcess[] = [];

beforeAll(async () => {
  prisma = createTestPrisma();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetDatabase(prisma);
  await resetRedis(redis);
});
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await resetRedis(redis);
  redis.disconnect();
  await prisma.$disconnect();
});

/** `node --import tsx workers/main.ts`: one process (the tsx CLI would fork a second one that SIGKILL misses). */
function startWorkerProcess(): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: testQueuePrefix(),
      LOG_LEVEL: 'warn',
      DATABASE_POOL_SIZE: '10',
      WORKER_CONCURRENCY: '8',
      // Recover a killed worker's jobs and claims within seconds, not the production minute.
      WORKER_LOCK_DURATION_MS: '3000',
      OUTBOX_STALE_AFTER_MS: '5000',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  children.push(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      if (code) console.error(`worker process exited with ${code}: ${stderr}`);
      resolve({ code, signal });
    }),
  );
  return { child, exited };
}

const countCompensated = () => prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } });

describe('a worker killed mid-way', () => {
  it(
    `SIGKILL in the middle of ${FAILURES} compensation jobs, restart: every failure has exactly one voucher`,
    { timeout: 180_000 },
    async () => {
      // 500 failures of 500 members (one each: no cap, no review), accepted while no worker runs.
      const members = Array.from({ length: FAILURES }, (_, i) => ({
        externalId: `crash-${i}`,
        email: `crash-${i}@example.com`,
        name: `Crash ${i}`,
      }));
      await prisma.member.createMany({ data: members });
      const memberIds = (await prisma.member.findMany({ select: { id: true } })).map((member) => member.id);
      const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
      const deps = { prisma, logger: testLogger };
      for (let i = 0; i < memberIds.length; i += 10) {
        await Promise.all(
          memberIds
            .slice(i, i + 10)
            .map((memberId, j) =>
              reportServiceFailure(
                deps,
                { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: `order-${i + j}`, idempotencyKey: `crash-${i + j}` },
                storefront,
              ),
            ),
        );
      }
      expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(FAILURES);

      const first = startWorkerProcess();
      await until(async () => (await countCompensated()) >= 60, 60_000, 20);
      first.child.kill('SIGKILL');
      const killed = await first.exited;
      expect(killed.signal).toBe('SIGKILL');
      const atKill = await countCompensated();
      const queue = new Queue('compensation', { connection: redis, prefix: testQueuePrefix() });
      const jobs = await queue.getJobCounts('active', 'waiting', 'completed');
      await queue.close();
      const unclaimed = await prisma.outboxEvent.count({ where: { enqueuedAt: null } });
      console.log(
        `killed the worker process with ${atKill}/${FAILURES} compensated; jobs left active ${jobs.active}, waiting ${jobs.waiting}; events not yet handed over ${unclaimed}`,
      );
      expect(atKill).toBeLessThan(FAILURES);

      const second = startWorkerProcess();
      const restarted = performance.now();
      await until(async () => (await countCompensated()) === FAILURES, 120_000, 200);
      console.log(`restarted worker finished the rest in ${((performance.now() - restarted) / 1000).toFixed(1)} s`);

      // Graceful stop: SIGTERM → exit 0, which the process gives only when it closed everything within
      // its own shutdown deadline (past it, it exits 1); the test's timeout catches a hang.
      second.child.kill('SIGTERM');
      expect(await second.exited).toEqual({ code: 0, signal: null });

      const vouchers = await prisma.voucher.findMany({ where: { kind: 'COMPENSATION' }, select: { id: true, causeRef: true } });
      expect(vouchers).toHaveLength(FAILURES);
      expect(new Set(vouchers.map((voucher) => voucher.causeRef)).size).toBe(FAILURES);
      const failures = await prisma.serviceFailure.findMany({ select: { id: true, voucherId: true, status: true } });
      const voucherByFailure = new Map(vouchers.map((voucher) => [voucher.causeRef, voucher.id]));
      for (const failure of failures) {
        expect(failure.status).toBe('COMPENSATED');
        expect(failure.voucherId).toBe(voucherByFailure.get(failure.id));
      }
      expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
    },
  );
});
