import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createGraphQLHandler } from '../src/app.js';
import { signStaffToken } from '../src/auth/tokens.js';
import { DEFAULT_DATABASE_POOL_SIZE, loadConfig } from '../src/config/env.js';
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
 * worker process with the same concurrency: the compensation queue's,
 * WORKER_COMPENSATION_CONCURRENCY), two baselines:
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
 * `--mode queued` measures the two sides apart instead (`compensationQueued`):
 * the API's ingest with the workers stopped, then the worker process draining
 * the jobs already queued — issue 15's target is that worker-side rate, ≥ 30 %
 * of BullMQ + one PostgreSQL round trip. `--mode both` runs both in each round.
 *
 * `--compare-alone` (with queued) drains a second queue in each round with every job
 * decided alone (WORKER_COMPENSATION_GROUP_SIZE=1), the two in alternating order,
 * and prints the grouped rate over the alone rate of each round: a before/after
 * that the shared machine's swings hit alike.
 *
 * Options: --jobs N (default 2000) --rounds R (3) --producers P (32)
 * --concurrency C (32, the WORKER_COMPENSATION_CONCURRENCY default) --mode end-to-end|queued|both
 * (end-to-end) --compare-alone --keep (keep the bench database).
 * It creates a database `treue_bench_comp_*` on BENCH_POSTGRES_URL (default the
 * local PostgreSQL) and a private key prefix on BENCH_REDIS_URL; both are removed.
 */

const HERE = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    producers: { type: 'string', default: '32' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'end-to-end' },
    keep: { type: 'boolean', default: false },
    'compare-alone': { type: 'boolean', default: false },
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
if (!['end-to-end', 'queued', 'both'].includes(args.mode!)) throw new Error('--mode must be end-to-end, queued or both');
const END_TO_END = args.mode !== 'queued';
const QUEUED = args.mode !== 'end-to-end';
const WARMUP = Math.min(200, Math.ceil(JOBS / 10));
const POOL_SIZE = DEFAULT_DATABASE_POOL_SIZE; // as the service runs by default, for the baseline's worker too
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

/** `total` members named `bench-<tag>-0000000`…, and their ids in that order. */
async function benchMembers(prisma: PrismaClient, tag: string, total: number): Promise<{ ids: string[]; name: (i: number) => string }> {
  const name = (i: number) => `bench-${tag}-${String(i).padStart(7, '0')}`;
  await prisma.member.createMany({
    data: Array.from({ length: total }, (_, i) => ({ externalId: name(i), email: `${name(i)}@example.com`, name: name(i) })),
  });
  const ids = (
    await prisma.member.findMany({
      where: { externalId: { startsWith: `bench-${tag}-` } },
      select: { id: true },
      orderBy: { externalId: 'asc' },
    })
  ).map((m) => m.id);
  return { ids, name };
}

/**
 * `report(i)`: member i's failure reported over GraphQL (yoga in this process, as an agent), as a storefront asks
 * it — did it go through, and was it a repeat? Throws unless it was a new failure. Close `outbox` when done.
 */
async function failureReporter(
  prisma: PrismaClient,
  redisUrl: string,
  prefix: string,
  members: { ids: string[]; name: (i: number) => string },
): Promise<{ report: (i: number) => Promise<void>; outbox: ReturnType<typeof createOutboxPublisher> }> {
  const jwtSecret = randomBytes(32).toString('hex');
  const config = loadConfig({
    NODE_ENV: 'production',
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    QUEUE_PREFIX: prefix,
    ...BENCH_RATE_LIMITS,
  });
  const outbox = createOutboxPublisher({ redisUrl, prefix, logger });
  const yoga = createGraphQLHandler({ config, logger, prisma, outbox });
  const token = await signStaffToken(jwtSecret, { staffId: 'bench-agent', role: 'AGENT' });
  const query = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
    __typename ... on ReportServiceFailurePayload { duplicate } } }`;
  const report = async (i: number) => {
    const response = await yoga.fetch('http://bench/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query,
        variables: {
          i: { memberId: members.ids[i], type: 'LATE_DELIVERY', severity: 'LOW', orderRef: `order-${i}`, idempotencyKey: members.name(i) },
        },
      }),
    });
    const body = (await response.json()) as { data?: { reportServiceFailure?: { duplicate?: boolean } } };
    if (body.data?.reportServiceFailure?.duplicate !== false) throw new Error(`report ${i} failed: ${JSON.stringify(body)}`);
  };
  return { report, outbox };
}

/** The workers (workers/main.ts) in a process of their own, on the bench's database and queues. */
function startWorkers(databaseUrl: string, redisUrl: string, prefix: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
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
      WORKER_COMPENSATION_CONCURRENCY: String(CONCURRENCY),
      ...env,
    },
  });
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
  const total = WARMUP + JOBS;
  const members = await benchMembers(prisma, `r${r}`, total);
  const before = { vouchers: await prisma.voucher.count(), completed: 0 };

  const child = startWorkers(databaseUrl, redisUrl, prefix);
  const producer = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const queue = new Queue('compensation', { connection: producer, prefix });
  while ((await queue.getWorkersCount()) === 0) {
    if (child.exitCode !== null) throw new Error(`worker process exited with ${child.exitCode}`);
    await sleep(50);
  }
  before.completed = await queue.getCompletedCount();

  const { report, outbox } = await failureReporter(prisma, redisUrl, prefix, members);
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

/**
 * The same report → voucher path in two separate steps (`--mode queued`): first --jobs failures
 * (+ warm-up) are reported over GraphQL with no worker process running — the API side alone, as a
 * `TREUE_ROLE=api` process runs it: commit, then the immediate enqueue to BullMQ, where the jobs
 * wait — and that ingest rate is one figure; then `workers/main.ts` (what a `TREUE_ROLE=workers`
 * deployment runs) is started and drains the queue. The worker-side rate is taken from BullMQ's own
 * `finishedOn` stamps: the measured jobs from the end of the warm-up jobs (the first WARMUP to
 * finish, while the worker's JIT and pool warm) to the last one, so the process's start-up is not
 * in it. The baseline is the same: BullMQ + one round trip per job, in a worker process alike.
 */
async function compensationQueued(
  prisma: PrismaClient,
  databaseUrl: string,
  redisUrl: string,
  prefix: string,
  r: number,
  alone = false,
): Promise<{ ingest: Measurement; drain: Measurement }> {
  const total = WARMUP + JOBS;
  const members = await benchMembers(prisma, `${alone ? 'a' : 'q'}${r}`, total);
  const vouchersBefore = await prisma.voucher.count();
  const producer = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const queue = new Queue('compensation', { connection: producer, prefix });
  if ((await queue.getWorkersCount()) > 0) throw new Error('a compensation worker is still running: the jobs would not wait');
  // BullMQ keeps at most 10 000 completed jobs (src/queues/outbox-queues.ts): count this drain's from none.
  await queue.clean(0, 0, 'completed');
  const completedBefore = await queue.getCompletedCount();

  const { report, outbox } = await failureReporter(prisma, redisUrl, prefix, members);
  await produceAll(0, WARMUP, report);
  const started = performance.now();
  await produceAll(WARMUP, JOBS, report);
  const ingestSeconds = (performance.now() - started) / 1000;
  const deadline = Date.now() + 120_000;
  while ((await queue.getWaitingCount()) < total) {
    if (Date.now() > deadline) throw new Error(`only ${await queue.getWaitingCount()} of ${total} jobs waiting`);
    await sleep(20);
  }

  const workerStarted = Date.now();
  const child = startWorkers(databaseUrl, redisUrl, prefix, alone ? { WORKER_COMPENSATION_GROUP_SIZE: '1' } : {});
  try {
    while ((await queue.getCompletedCount()) < completedBefore + total) {
      if (child.exitCode !== null) throw new Error(`worker process exited with ${child.exitCode}`);
      if (Date.now() > deadline + 300_000) throw new Error('the queue was not drained within the time limit');
      await sleep(20);
    }
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
  const finished = (await queue.getJobs(['completed'], 0, -1))
    .map((job) => job.finishedOn ?? 0)
    .filter((at) => at >= workerStarted)
    .sort((a, b) => a - b);
  if (finished.length !== total) throw new Error(`${finished.length} jobs finished after the worker started, ${total} expected`);
  const from = WARMUP > 0 ? finished[WARMUP - 1]! : workerStarted;
  const drainSeconds = (finished.at(-1)! - from) / 1000;
  const vouchers = (await prisma.voucher.count()) - vouchersBefore;
  if (vouchers !== total) throw new Error(`expected ${total} vouchers, found ${vouchers}`);
  await outbox.close();
  await queue.close();
  producer.disconnect();
  return {
    ingest: { name: 'compensation API ingest (workers stopped)', jobs: JOBS, seconds: ingestSeconds, perSecond: JOBS / ingestSeconds },
    drain: {
      name: `compensation worker-side (jobs queued${alone ? ', each alone' : ''})`,
      jobs: JOBS,
      seconds: drainSeconds,
      perSecond: JOBS / drainSeconds,
      note: `first job ${(((finished[0] ?? workerStarted) - workerStarted) / 1000).toFixed(1)} s after the worker process was spawned`,
    },
  };
}

async function main(): Promise<void> {
  const dbName = `treue_bench_comp_${randomBytes(4).toString('hex')}`;
  const prefix = `treue-bench-${randomBytes(4).toString('hex')}`;
  const redisUrl = BENCH_REDIS;
  console.log(
    `compensation bench (${args.mode}): ${JOBS} jobs (+${WARMUP} warm-up), ${PRODUCERS} concurrent producers, one worker process with concurrency ${CONCURRENCY}`,
  );
  const databaseUrl = await createBenchDatabase(dbName);
  const prisma = createPrisma(databaseUrl, POOL_SIZE);
  try {
    const rounds: Record<'raw' | 'pg' | 'prisma' | 'compensation' | 'ingest' | 'queued' | 'alone', Measurement[]> = {
      raw: [],
      pg: [],
      prisma: [],
      compensation: [],
      ingest: [],
      queued: [],
      alone: [],
    };
    for (let r = 1; r <= ROUNDS; r++) {
      rounds.raw.push(await baseline('noop', redisUrl, prefix, databaseUrl));
      rounds.pg.push(await baseline('pg', redisUrl, prefix, databaseUrl));
      rounds.prisma.push(await baseline('prisma', redisUrl, prefix, databaseUrl));
      if (END_TO_END) rounds.compensation.push(await compensationEndToEnd(prisma, databaseUrl, redisUrl, prefix, r));
      if (QUEUED) {
        // Grouped and alone in alternating order, so that neither always runs on the warmer machine.
        const aloneFirst = args['compare-alone'] && r % 2 === 0;
        if (aloneFirst) rounds.alone.push((await compensationQueued(prisma, databaseUrl, redisUrl, prefix, r, true)).drain);
        const { ingest, drain } = await compensationQueued(prisma, databaseUrl, redisUrl, prefix, r);
        rounds.ingest.push(ingest);
        rounds.queued.push(drain);
        if (args['compare-alone'] && !aloneFirst) {
          rounds.alone.push((await compensationQueued(prisma, databaseUrl, redisUrl, prefix, r, true)).drain);
        }
      }
      const line = Object.entries(rounds)
        .filter(([, list]) => list.length > 0)
        .map(([key, list]) => `${key} ${list.at(-1)!.perSecond.toFixed(0)}/s`)
        .join(', ');
      const detail = [rounds.compensation.at(-1)?.note, rounds.queued.at(-1)?.note].filter(Boolean).join('; ');
      console.log(`round ${r}: ${line}  (${detail})`);
    }

    const best = (list: Measurement[]) => Math.max(...list.map((m) => m.perSecond));
    const median = (list: Measurement[]) => list.map((m) => m.perSecond).sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
    console.log('');
    console.log(`${''.padEnd(38)} ${'best'.padStart(7)} ${'median'.padStart(7)}  (per second)`);
    for (const list of Object.values(rounds).filter((l) => l.length > 0)) {
      console.log(`${list[0]!.name.padEnd(38)} ${best(list).toFixed(0).padStart(7)} ${median(list).toFixed(0).padStart(7)}`);
    }
    const ratio = (of: Measurement[], base: Measurement[]) =>
      `${((best(of) / best(base)) * 100).toFixed(1).padStart(6)} % ${'(best)'} ` +
      `${((median(of) / median(base)) * 100).toFixed(1).padStart(6)} % (median)`;
    console.log('');
    for (const [label, list] of [
      ['compensation', rounds.compensation],
      ['worker-side (queued)', rounds.queued],
      ['worker-side, each alone', rounds.alone],
    ] as const) {
      if (list.length === 0) continue;
      console.log(`${`${label} / raw BullMQ`.padEnd(45)} ${ratio(list, rounds.raw)}`);
      console.log(`${`${label} / BullMQ + 1 PG round trip`.padEnd(45)} ${ratio(list, rounds.pg)}`);
      console.log(`${`${label} / BullMQ + 1 Prisma query`.padEnd(45)} ${ratio(list, rounds.prisma)}`);
    }
    if (rounds.alone.length > 0) {
      const perRound = rounds.queued.map((grouped, i) => grouped.perSecond / rounds.alone[i]!.perSecond);
      console.log(
        `${'worker-side grouped / each alone'.padEnd(45)} ${perRound.map((x) => x.toFixed(2)).join(', ')} per round; ` +
          `median ${[...perRound].sort((a, b) => a - b)[Math.floor(perRound.length / 2)]!.toFixed(2)}`,
      );
    }
    // Issue 15's target is worker-side (jobs already queued); end to end when that was not measured.
    const measured = QUEUED ? rounds.queued : rounds.compensation;
    const headline = best(measured) / best(rounds.pg);
    console.log(
      `target: ${QUEUED ? 'worker-side ' : ''}≥ 30 % of BullMQ + 1 PostgreSQL round trip — ${headline >= 0.3 ? 'met' : 'NOT met'} (best rounds)`,
    );
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
