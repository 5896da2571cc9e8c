import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { memberId, percentile } from './support.js';

/**
 * BullMQ baselines: how many jobs per second one worker process completes,
 * and their latency from `add` to completed, for a job that does nothing
 * (`noop`) and a job that does one primary-key query (`query`). The producer
 * (this process) keeps a bounded backlog; the worker runs in a child process,
 * like the service's workers. Jobs are removed on completion; the queue is
 * obliterated at the end.
 */

export interface BullmqResult {
  job: 'noop' | 'query';
  rps: number;
  p50: number;
  p99: number;
  jobs: number;
  concurrency: number;
}

export interface BullmqOptions {
  job: 'noop' | 'query';
  redisUrl: string;
  databaseUrl: string;
  prefix: string;
  members: number;
  concurrency: number;
  duration: number;
  warmup: number;
}

type FromWorker = { type: 'ready' } | { type: 'completed'; count: number } | { type: 'stats'; latencies: number[] };
type ToWorker = { type: 'measure'; from: number; to: number } | { type: 'stop' };

const QUEUE = 'bench-baseline';

export async function runBullmqBaseline(options: BullmqOptions): Promise<BullmqResult> {
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE, { connection, prefix: options.prefix });
  await queue.obliterate({ force: true }).catch(() => undefined);
  const child = fork(fileURLToPath(import.meta.url), ['--role', 'worker', '--options', JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let completed = 0;
  let latencies: number[] | null = null;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('BullMQ bench worker did not start within 30 s')), 30_000);
    child.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve();
      } else if (message.type === 'completed') completed = message.count;
      else if (message.type === 'stats') latencies = message.latencies;
    });
    child.once('exit', () => reject(new Error('BullMQ bench worker exited')));
  });
  try {
    await ready;
    const start = Date.now();
    const from = start + options.warmup * 1000;
    const to = from + options.duration * 1000;
    child.send({ type: 'measure', from, to } satisfies ToWorker);
    const backlog = options.concurrency * 10;
    let added = 0;
    while (Date.now() < to) {
      if (added - completed < backlog) {
        const batch = Array.from({ length: 50 }, (_, n) => ({
          name: options.job,
          data: { memberId: memberId(1 + ((added + n) % options.members)) },
          opts: { removeOnComplete: true, removeOnFail: 100 },
        }));
        await queue.addBulk(batch);
        added += batch.length;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    child.send({ type: 'stop' } satisfies ToWorker);
    const deadline = Date.now() + 15_000;
    while (latencies === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const measured = (latencies as number[] | null) ?? [];
    measured.sort((a, b) => a - b);
    return {
      job: options.job,
      rps: measured.length / options.duration,
      p50: percentile(measured, 50),
      p99: percentile(measured, 99),
      jobs: measured.length,
      concurrency: options.concurrency,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
  }
}

async function runWorker(options: BullmqOptions): Promise<void> {
  const send = (message: FromWorker) => process.send?.(message);
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.concurrency });
  let window = { from: Infinity, to: -Infinity };
  const latencies: number[] = [];
  let count = 0;
  const worker = new Worker(
    QUEUE,
    async (job) => {
      if (job.name === 'query') {
        await pool.query({ name: 'member', text: 'SELECT id, available_points FROM members WHERE id = $1', values: [job.data.memberId] });
      }
      return null;
    },
    { connection, prefix: options.prefix, concurrency: options.concurrency },
  );
  worker.on('completed', (job) => {
    count += 1;
    const finished = job.finishedOn ?? Date.now();
    if (finished >= window.from && finished <= window.to) latencies.push(finished - job.timestamp);
  });
  const ticker = setInterval(() => send({ type: 'completed', count }), 20);
  process.on('message', (message: ToWorker) => {
    if (message.type === 'measure') window = { from: message.from, to: message.to };
    if (message.type === 'stop') {
      clearInterval(ticker);
      send({ type: 'stats', latencies });
      void worker.close(true).finally(async () => {
        await pool.end();
        connection.disconnect();
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  await worker.waitUntilReady();
  send({ type: 'ready' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { role: { type: 'string' }, options: { type: 'string' } } });
  if (values.role === 'worker' && values.options) void runWorker(JSON.parse(values.options) as BullmqOptions);
}
