import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createGraphQLHandler } from '../src/app.js';
import { signStaffToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config/env.js';
import { createPrisma, poolOf, type PrismaClient } from '../src/db/prisma.js';
import { createLogger } from '../src/logger.js';
import { createOutboxPublisher } from '../src/queues/outbox-queues.js';
import { BENCH_RATE_LIMITS, BENCH_REDIS, deleteRedisKeys, dropDatabase, sleep } from './support.js';
import { createBenchDatabase } from './seed.js';

/**
 * `npm run bench:compensation`: compensation throughput end to end —
 * `reportServiceFailure` over GraphQL (yoga in this process) → failure and
 * outbox row committed → immediate enqueue → BullMQ → the compensation worker
 * (`workers/main.ts`, as production runs it, in a child process) → voucher
 * issued — in vouchers per second. Measured in the same run, on the same
 * machine and in the same shape (PRODUCERS concurrent producers here, one
 * worker process with the same concurrency), two baselines:
 *   - raw BullMQ: a job that does nothing;
 *   - BullMQ + PostgreSQL: a job that does one round trip, `SELECT 1` on the
 *     node-postgres pool the service's hot paths use (db/sql.ts) — the cheapest
 *     round trip, so the strictest baseline — and, for comparison, the same
 *     through Prisma's engine.
 * Ratios are printed; the target is ≥ 30 % of BullMQ + one PostgreSQL round trip.
 *
 * The machine is shared (two cores, other work on them): every measurement runs
 * --rounds times, interleaved, and the best and the median round are reported.
 *
 * Options: --jobs N (default 2000) --rounds R (3) --producers P (32)
 * --concurrency C (8, the WORKER_CONCURRENCY default) --keep (keep the bench database).
 * It creates a database `treue_bench_comp_*` on BENCH_POSTGRES_URL (default the
 * local PostgreSQL) and a private key prefix on BENCH_REDIS_URL; both are removed.
 */

const HERE = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    producers: { type: 'string', default: '32' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    // Internal: this file is also the baseline worker (a child process).
    role: { type: 'string' },
    queue: { type: 'string' },
    prefix: { type: 'string' },
    database: { type: 'string' },
  },
});
const JOBS = Number(args.jobs);
const PRODUCERS = Number(args.producers);
const CONCURRENCY = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const WARMUP = Math.min(200, Math.ceil(JOBS / 10));
const POOL_SIZE = 20; // the DATABASE_POOL_SIZE default
const logger = createLogger('warn', { bench: 'compensation' });

interface Measurement {
  name: string;
  jobs: number;
  seconds: number;
  perSecond: number;
  note?: string;
}

/** Runs `produce(i)` for i in [from, from + n) with PRODUCERS concurrent loops. */
async function produceAll(from: number, n: number, produce: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: Math.min(PRODUCERS, n) }, async () => {
      while (next < from + n) await produce(next++);
    }),
  );
}

/** Waits until the queue has completed `count` jobs in total. */
async function completedJobs(queue: Queue, count: number): Promise<void> {
  while ((await queue.getCompletedCount()) < count) await sleep(10);
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

type BaselineKind = 'noop' | 'pg' | 'prisma';
const BASELINE_NAMES: Record<BaselineKind, string> = {
  noop: 'raw BullMQ (no-op job)',
  pg: 'BullMQ + 1 PostgreSQL round trip',
  prisma: 'BullMQ + 1 round trip through Prisma',
};

/** A baseline: jobs that do nothing, or one PostgreSQL round trip, through a worker process like ours. */
async function baseline(kind: BaselineKind, redisUrl: string, prefix: string, databaseUrl: string): Promise<Measurement> {
  const queueName = `bench-${kind}`;
  const child = fork(
    HERE,
    ['--role', `worker-${kind}`, '--queue', queueName, '--prefix', prefix, '--database', databaseUrl, '--concurrency', String(CONCURRENCY)],
    {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_REDIS_URL: redisUrl },
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`baseline worker exited with ${code}`)));
  });
  const producer = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const queue = new Queue(queueName, { connection: producer, prefix });
  const round = async (from: number, n: number) => {
    const started = performance.now();
    await produceAll(from, n, (i) => queue.add('job', { i }, { jobId: `j${i}` }).then(() => undefined));
    await completedJobs(queue, from + n);
    return (performance.now() - started) / 1000;
  };
  await round(0, WARMUP);
  const seconds = await round(WARMUP, JOBS);
  child.send('stop');
  await exited(child);
  await queue.obliterate({ force: true });
  await queue.close();
  producer.disconnect();
  return { name: BASELINE_NAMES[kind], jobs: JOBS, seconds, perSecond: JOBS / seconds };
}

/** The child side of a baseline: a BullMQ worker with the service's concurrency. */
async function baselineWorker(): Promise<void> {
  const connection = new Redis(BENCH_REDIS, { maxRetriesPerRequest: null });
  const prisma = args.role === 'worker-noop' ? undefined : createPrisma(args.database!, POOL_SIZE);
  const pool = prisma && poolOf(prisma)!;
  const work =
    args.role === 'worker-pg'
      ? () => pool!.query('SELECT 1')
      : args.role === 'worker-prisma'
        ? () => prisma!.$queryRaw`SELECT 1`
        : async () => undefined;
  await work();
  const worker = new Worker(args.queue!, () => work(), { connection, prefix: args.prefix!, concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  process.on('message', async () => {
    await worker.close();
    await prisma?.$disconnect();
    connection.disconnect();
    process.exit(0);
  });
  process.send!('ready');
}

/**
 * reportServiceFailure over GraphQL here → voucher issued by `workers/main.ts`
 * in a child process. Round `r` reports failures of its own fresh members.
 */
async function compensationEndToEnd(
  prisma: PrismaClient,
  databaseUrl: string,
  redisUrl: string,
  prefix: string,
  r: number,
): Promise<Measurement> {
  const jwtSecret = randomBytes(32).toString('hex');
  const config = loadConfig({
    NODE_ENV: 'production',
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    QUEUE_PREFIX: prefix,
    ...BENCH_RATE_LIMITS,
  });
  const total = WARMUP + JOBS;
  const name = (i: number) => `bench-r${r}-${String(i).padStart(7, '0')}`;
  await prisma.member.createMany({
    data: Array.from({ length: total }, (_, i) => ({ externalId: name(i), email: `${name(i)}@example.com`, name: name(i) })),
  });
  const memberIds = (
    await prisma.member.findMany({
      where: { externalId: { startsWith: `bench-r${r}-` } },
      select: { id: true },
      orderBy: { externalId: 'asc' },
    })
  ).map((m) => m.id);
  const before = { vouchers: await prisma.voucher.count(), completed: 0 };

  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      WORKER_CONCURRENCY: String(CONCURRENCY),
    },
  });
  const producer = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const queue = new Queue('compensation', { connection: producer, prefix });
  while ((await queue.getWorkersCount()) === 0) {
    if (child.exitCode !== null) throw new Error(`worker process exited with ${child.exitCode}`);
    await sleep(50);
  }
  before.completed = await queue.getCompletedCount();

  const outbox = createOutboxPublisher({ redisUrl, prefix, logger });
  const yoga = createGraphQLHandler({ config, logger, prisma, outbox });
  const token = await signStaffToken(jwtSecret, { staffId: 'bench-agent', role: 'AGENT' });
  // What a storefront asks: did it go through, and was it a repeat report?
  const query = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
    __typename ... on ReportServiceFailurePayload { duplicate } } }`;
  const report = async (i: number) => {
    const response = await yoga.fetch('http://bench/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query,
        variables: {
          i: { memberId: memberIds[i], type: 'LATE_DELIVERY', severity: 'LOW', orderRef: `order-${i}`, idempotencyKey: name(i) },
        },
      }),
    });
    const body = (await response.json()) as { data?: { reportServiceFailure?: { __typename: string; duplicate?: boolean } } };
    if (body.data?.reportServiceFailure?.duplicate !== false) throw new Error(`report ${i} failed: ${JSON.stringify(body)}`);
  };
  const round = async (from: number, n: number) => {
    const started = performance.now();
    await produceAll(from, n, report);
    const accepted = (performance.now() - started) / 1000;
    // A job completes after its transaction (voucher + COMPENSATED + outbox done) committed.
    await completedJobs(queue, before.completed + from + n);
    return { accepted, seconds: (performance.now() - started) / 1000 };
  };
  await round(0, WARMUP);
  const { accepted, seconds } = await round(WARMUP, JOBS);
  const lag = seconds - accepted;

  child.kill('SIGTERM');
  await exited(child);
  const [row] = await prisma.$queryRaw<{ vouchers: number; compensated: number }[]>`
    SELECT (SELECT count(*)::int FROM vouchers WHERE kind = 'COMPENSATION') AS vouchers,
           (SELECT count(*)::int FROM service_failures WHERE status = 'COMPENSATED') AS compensated`;
  const expected = before.vouchers + total;
  if (row?.vouchers !== expected || row.compensated !== expected) {
    throw new Error(`expected ${expected} vouchers and compensated failures, found ${JSON.stringify(row)}`);
  }
  await outbox.close();
  await queue.close();
  producer.disconnect();
  return {
    name: 'compensation end to end',
    jobs: JOBS,
    seconds,
    perSecond: JOBS / seconds,
    note: `API accepted ${(JOBS / accepted).toFixed(0)}/s; last voucher ${lag.toFixed(2)} s after the last report`,
  };
}

async function main(): Promise<void> {
  const dbName = `treue_bench_comp_${randomBytes(4).toString('hex')}`;
  const prefix = `treue-bench-${randomBytes(4).toString('hex')}`;
  const redisUrl = BENCH_REDIS;
  console.log(
    `compensation bench: ${JOBS} jobs (+${WARMUP} warm-up), ${PRODUCERS} concurrent producers, one worker process with concurrency ${CONCURRENCY}`,
  );
  const databaseUrl = await createBenchDatabase(dbName);
  const prisma = createPrisma(databaseUrl, POOL_SIZE);
  try {
    const rounds: Record<'raw' | 'pg' | 'prisma' | 'compensation', Measurement[]> = { raw: [], pg: [], prisma: [], compensation: [] };
    for (let r = 1; r <= ROUNDS; r++) {
      rounds.raw.push(await baseline('noop', redisUrl, prefix, databaseUrl));
      rounds.pg.push(await baseline('pg', redisUrl, prefix, databaseUrl));
      rounds.prisma.push(await baseline('prisma', redisUrl, prefix, databaseUrl));
      rounds.compensation.push(await compensationEndToEnd(prisma, databaseUrl, redisUrl, prefix, r));
      const line = Object.values(rounds)
        .map((list) => `${list.at(-1)!.perSecond.toFixed(0)}/s`)
        .join(', ');
      console.log(`round ${r}: raw, pg, prisma, compensation = ${line}  (${rounds.compensation.at(-1)!.note})`);
    }

    const best = (list: Measurement[]) => Math.max(...list.map((m) => m.perSecond));
    const median = (list: Measurement[]) => list.map((m) => m.perSecond).sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
    console.log('');
    console.log(`${''.padEnd(38)} ${'best'.padStart(7)} ${'median'.padStart(7)}  (per second)`);
    for (const list of Object.values(rounds)) {
      console.log(`${list[0]!.name.padEnd(38)} ${best(list).toFixed(0).padStart(7)} ${median(list).toFixed(0).padStart(7)}`);
    }
    const ratio = (of: (list: Measurement[]) => number, base: Measurement[]) =>
      `${((of(rounds.compensation) / of(base)) * 100).toFixed(1).padStart(6)} % ${'(best)'} ` +
      `${((median(rounds.compensation) / median(base)) * 100).toFixed(1).padStart(6)} % (median)`;
    console.log('');
    console.log(`compensation / raw BullMQ                ${ratio(best, rounds.raw)}`);
    console.log(`compensation / BullMQ + 1 PG round trip  ${ratio(best, rounds.pg)}`);
    console.log(`compensation / BullMQ + 1 Prisma query   ${ratio(best, rounds.prisma)}`);
    const headline = best(rounds.compensation) / best(rounds.pg);
    console.log(`target: ≥ 30 % of BullMQ + 1 PostgreSQL round trip — ${headline >= 0.3 ? 'met' : 'NOT met'} (best rounds)`);
  } finally {
    await prisma.$disconnect();
    await deleteRedisKeys(redisUrl, prefix);
    if (!args.keep) await dropDatabase(dbName);
  }
}

const run = args.role ? baselineWorker() : main().then(() => process.exit(0));
run.catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
