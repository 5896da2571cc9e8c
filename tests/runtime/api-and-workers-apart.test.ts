// No useTestApp(): the API and the workers run as child processes on this worker's database.
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { serviceEnv } from '../support/built-service-env.js';
import { testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase, resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { freePort, killServiceProcesses, startServiceProcess, until } from '../support/processes.js';

// Production runs the API and the workers as separate processes: `npm run api`
// (src/main.ts with TREUE_ROLE=api) and `npm run workers` (workers/main.ts), here as
// child processes on this test worker's database and Redis prefix.

let prisma: PrismaClient;
let redis: Redis;
let compensationQueue: Queue;

beforeAll(async () => {
  prisma = createTestPrisma();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetDatabase(prisma);
  await resetRedis(redis);
  compensationQueue = new Queue('compensation', { connection: redis, prefix: testQueuePrefix() });
});
afterEach(() => killServiceProcesses());
afterAll(async () => {
  await compensationQueue.close();
  await resetRedis(redis);
  redis.disconnect();
  await prisma.$disconnect();
});

function sharedEnv(): Record<string, string> {
  return serviceEnv({ DATABASE_POOL_SIZE: '5' });
}

describe('API and workers in separate processes', () => {
  it('an API-only process runs no workers and enqueues; a separate worker process compensates', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const api = startServiceProcess('src/main.ts', {
      ...sharedEnv(),
      TREUE_ROLE: 'api',
      PORT: String(port),
      HOST: '127.0.0.1',
      WEB_CONCURRENCY: '1',
    });
    await api.waitForLine(/Treue ready: GraphQL at/, 60_000);
    expect(api.output()).toMatch(/running the api only/);
    expect(api.output()).not.toMatch(/workers started/);

    const deps = { prisma, logger: testLogger };
    const { token } = await createApiKey(
      deps,
      { name: 'shop', scopes: ['failures:report'] },
      { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
    );
    const member = await prisma.member.create({ data: { externalId: 'apart-1', email: 'apart-1@example.com', name: 'Apart' } });
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
          __typename ... on ReportServiceFailurePayload { failure { id status } } ... on Error { message } } }`,
        variables: {
          i: { memberId: member.id, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'order-apart', idempotencyKey: 'apart-1' },
        },
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      data: { reportServiceFailure: { __typename: string; failure: { id: string; status: string } } };
    };
    expect(body.data.reportServiceFailure).toMatchObject({ __typename: 'ReportServiceFailurePayload', failure: { status: 'RECORDED' } });
    const failure = await prisma.serviceFailure.findFirstOrThrow({ where: { memberId: member.id } });

    // The API process enqueued the job itself (no relay runs anywhere yet), and nothing consumes it.
    await until(async () => (await compensationQueue.getJobState(failure.id)) === 'waiting', 10_000, 50, 'the compensation job');
    expect(await compensationQueue.getWorkersCount()).toBe(0);

    const workers = startServiceProcess('workers/main.ts', sharedEnv());
    await workers.waitForLine(/worker process ready/, 60_000);
    await until(
      async () => (await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failure.id } })).status === 'COMPENSATED',
      30_000,
      100,
      'the compensation',
    );
    const vouchers = await prisma.voucher.findMany({ where: { causeRef: failure.id } });
    expect(vouchers).toHaveLength(1);
    expect(vouchers[0]).toMatchObject({ kind: 'COMPENSATION', memberId: member.id });
    expect(await compensationQueue.getWorkersCount()).toBeGreaterThan(0);

    api.kill('SIGTERM');
    workers.kill('SIGTERM');
    expect(await api.exited).toEqual({ code: 0, signal: null });
    expect(await workers.exited).toEqual({ code: 0, signal: null });
  });

  it('an API-only process refuses to start without DATABASE_URL and REDIS_URL', { timeout: 60_000 }, async () => {
    const { DATABASE_URL: _database, ...env } = sharedEnv();
    // Were the role ignored, this would start embedded servers: keep them out of the way.
    const elsewhere = {
      DATA_DIR: path.join(tmpdir(), `treue-api-role-${process.pid}`),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      EMBEDDED_REDIS_PORT: String(await freePort()),
    };
    const api = startServiceProcess('src/main.ts', { ...env, ...elsewhere, TREUE_ROLE: 'api', PORT: String(await freePort()) });
    expect(await api.exited).toEqual({ code: 1, signal: null });
    expect(api.output()).toMatch(/TREUE_ROLE=api runs one side of a deployment: set DATABASE_URL and REDIS_URL/);
  });
});
