import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { createPrisma } from '../src/db/prisma.js';
import { createWebhookEndpoint } from '../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents, type WebhookEventInput } from '../src/domain/webhooks/webhook-events.js';
import { createLogger } from '../src/logger.js';
import { createBenchDatabase } from './seed.js';
import { BENCH_REDIS, deleteRedisKeys, dropDatabase, sleep } from './support.js';

/**
 * `npm run bench:webhooks`: 10 000 events to 3 endpoints, one of which never
 * answers (every request runs into WEBHOOK_TIMEOUT_MS), delivered by the worker
 * process as production runs it (`workers/main.ts`, a child process), which is
 * SIGKILLed mid-run and started again. Reports how long the two healthy
 * endpoints took to get all their deliveries, and checks that none was lost:
 * every healthy delivery SUCCEEDED and arrived (verified with standardwebhooks'
 * Webhook.verify), every delivery to the dead endpoint is still waiting with a
 * BullMQ job, none dead-lettered.
 *
 * Options: --events N (10000) --kill-at F (0.4: SIGKILL when this share of the
 * healthy deliveries is done) --keep (keep the bench database).
 * Settings of the worker process: the defaults (WEBHOOK_TIMEOUT_MS 10 s,
 * WEBHOOK_CONCURRENCY 32, WEBHOOK_ENDPOINT_CONCURRENCY 8), with
 * WORKER_LOCK_DURATION_MS 10 s so that the killed process's jobs come back
 * sooner than the 30 s default.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    'kill-at': { type: 'string', default: '0.4' },
    keep: { type: 'boolean', default: false },
  },
});
const EVENTS = Number(args.events);
const KILL_AT = Number(args['kill-at']);
const LOCK_MS = 10_000;
const logger = createLogger('warn', { bench: 'webhooks' });

interface Receiver {
  server: Server;
  url: string;
  received: { headers: IncomingHttpHeaders; body: string }[];
}

/** A receiver on 127.0.0.1: answers 200, or never answers (`hang`). */
async function receiver(hang: boolean): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (hang) return; // the sender's timeout ends it
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received };
}

function startWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, ...env },
  });
}

async function main(): Promise<void> {
  const database = `treue_bench_wh_${randomBytes(3).toString('hex')}`;
  const prefix = `treue-bench-wh-${randomBytes(3).toString('hex')}`;
  const url = await createBenchDatabase(database);
  const prisma = createPrisma(url, 10);
  const redis = new Redis(BENCH_REDIS, { maxRetriesPerRequest: null });
  const queue = new Queue('webhooks', { connection: redis, prefix });
  const [healthyA, healthyB, dead] = await Promise.all([receiver(false), receiver(false), receiver(true)]);
  let worker: ChildProcess | undefined;
  try {
    const deps = { prisma, logger, webhookUrls: { allowHttp: true, allowPrivateAddresses: true } };
    const admin = { actor: { type: 'STAFF' as const, id: 'bench-admin' }, role: 'ADMIN' as const };
    const endpoints = [];
    for (const target of [healthyA, healthyB, dead]) {
      endpoints.push(await createWebhookEndpoint(deps, { url: target.url, eventTypes: ['points.earned'] }, admin));
    }
    const [a, b, d] = endpoints as [(typeof endpoints)[0], (typeof endpoints)[0], (typeof endpoints)[0]];

    let started = performance.now();
    for (let from = 0; from < EVENTS; from += 500) {
      const batch: WebhookEventInput[] = Array.from({ length: Math.min(500, EVENTS - from) }, (_unused, k) => ({
        type: 'points.earned',
        data: {
          memberId: '00000000-0000-4000-8000-000000000001',
          entryId: `bench-${from + k}`,
          orderRef: `o-${from + k}`,
          points: 10,
          status: 'PENDING',
        },
      }));
      await recordWebhookEvents(prisma, batch, new Date());
    }
    const writeSeconds = (performance.now() - started) / 1000;
    console.log(`wrote ${EVENTS} events → ${EVENTS * 3} deliveries in ${writeSeconds.toFixed(1)} s`);

    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: url,
      REDIS_URL: BENCH_REDIS,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WORKER_LOCK_DURATION_MS: String(LOCK_MS),
    };
    const healthyDone = async () =>
      prisma.webhookDelivery.count({ where: { endpointId: { in: [a.endpoint.id, b.endpoint.id] }, status: 'SUCCEEDED' } });

    started = performance.now();
    worker = startWorker(env);
    const killAt = Math.floor(EVENTS * 2 * KILL_AT);
    while ((await healthyDone()) < killAt) await sleep(100);
    const beforeKill = await healthyDone();
    const killedAfter = (performance.now() - started) / 1000;
    worker.kill('SIGKILL');
    await once(worker, 'exit');
    console.log(`SIGKILLed the worker after ${killedAfter.toFixed(1)} s with ${beforeKill} of ${EVENTS * 2} healthy deliveries done`);
    const restartedAt = performance.now();
    worker = startWorker(env);
    let done = 0;
    while ((done = await healthyDone()) < EVENTS * 2) {
      if (worker.exitCode !== null) throw new Error(`worker exited with ${worker.exitCode}`);
      await sleep(200);
    }
    const allHealthy = (performance.now() - started) / 1000;
    const afterRestart = (performance.now() - restartedAt) / 1000;

    // Nothing lost: each healthy delivery arrived (verified), the dead endpoint's all still waiting with a job.
    const check = (target: Receiver, secret: string) => {
      const ids = new Set<string>();
      for (const request of target.received) {
        new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
        ids.add(String(request.headers['webhook-id']));
      }
      return { requests: target.received.length, distinct: ids.size };
    };
    const receivedA = check(healthyA, a.secret);
    const receivedB = check(healthyB, b.secret);
    const deadStates = await prisma.webhookDelivery.groupBy({
      by: ['status'],
      where: { endpointId: d.endpoint.id },
      _count: { _all: true },
    });
    const deadAttempts = await prisma.webhookDeliveryAttempt.count({ where: { delivery: { endpointId: d.endpoint.id } } });
    const counts = await queue.getJobCounts('wait', 'delayed', 'active', 'prioritized', 'failed');
    const waitingJobs = (counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0);
    const lost = EVENTS - receivedA.distinct + (EVENTS - receivedB.distinct);
    const report = {
      events: EVENTS,
      deliveries: EVENTS * 3,
      writeSeconds: Number(writeSeconds.toFixed(1)),
      healthyDeliveredSeconds: Number(allHealthy.toFixed(1)),
      killedAfterSeconds: Number(killedAfter.toFixed(1)),
      healthyDoneBeforeKill: beforeKill,
      secondsFromRestartToAllHealthy: Number(afterRestart.toFixed(1)),
      healthyPerSecond: Math.round((EVENTS * 2) / allHealthy),
      endpointA: receivedA,
      endpointB: receivedB,
      lostHealthy: lost,
      deadEndpoint: {
        statuses: Object.fromEntries(deadStates.map((row) => [row.status, row._count._all])),
        attempts: deadAttempts,
        jobsWaiting: waitingJobs,
        jobsFailed: counts.failed ?? 0,
      },
    };
    console.log(JSON.stringify(report, null, 2));
    if (lost !== 0 || done !== EVENTS * 2) throw new Error('healthy deliveries were lost');
    const deadWaiting = (report.deadEndpoint.statuses.PENDING ?? 0) + (report.deadEndpoint.statuses.FAILED ?? 0);
    if (deadWaiting !== EVENTS || waitingJobs < EVENTS) throw new Error('deliveries to the dead endpoint were lost or dead-lettered');
  } finally {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
    for (const target of [healthyA, healthyB, dead]) {
      target.server.closeAllConnections();
      target.server.close();
    }
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    redis.disconnect();
    // The rest under the run's prefix: the worker's other queues (its maintenance schedule) and the outbox's keys.
    if (!args.keep) await deleteRedisKeys(BENCH_REDIS, prefix);
    await prisma.$disconnect();
    if (!args.keep) await dropDatabase(database);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
