import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSchema } from 'graphql';
import { Redis } from 'ioredis';
import { DEFAULT_DATABASE_POOL_SIZE } from '../src/config/env.js';
import { runBullmqBaseline, type BullmqResult } from './bullmq-baseline.js';
import type { LoadKind, LoadResult, LoadSpec } from './load.js';
import { watchWalWaits, type WalWaits } from './wal-waits.js';
import { createBenchDatabase, seed } from './seed.js';
import { statusQuery } from './status-query.js';
import {
  activateBenchRules,
  BENCH_RATE_LIMITS,
  BENCH_REDIS,
  childPids,
  countPostgresCpu,
  activityDelta,
  cpuDelta,
  machineCpu,
  machineDelta,
  type MachineCpu,
  databaseExists,
  databaseUrl,
  dropDatabase,
  loopLatenessMs,
  memberId,
  percentile,
  sleep,
  startCommandOf,
  totalActivity,
  totalCpuMs,
  withAdminClient,
  type ProcessActivity,
} from './support.js';

/**
 * `npm run bench`: seeds a bench database, starts the service as a user would
 * (its own process, NODE_ENV=production, `WEB_CONCURRENCY` API processes) and
 * the baselines (bench/baseline-server.ts, pgbench, BullMQ), loads each path
 * with autocannon from a separate process, and prints and writes a table of
 * req/s, p50, p99, API RSS and each path's ratio to its baseline at the same
 * number of processes. `npm run bench -- --scale` compares member-status and
 * earnPoints at 10 thousand and 1 million members. See bench/README.md.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = path.join(ROOT, 'bench');

const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '10000' },
    entries: { type: 'string', default: '20' },
    /**
     * Issued vouchers seeded per member (at least the 5 the status query shows). Default: 6, or 3 for every round
     * of redeemVoucher (`--repeat` × process counts) when that is more: a round redeems up to ~20 000 codes, none twice.
     */
    vouchers: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    /**
     * Seconds each service path runs, unmeasured, once per process count before its first round: a fresh API process
     * spends thousands of requests per path reaching its steady CPU per request (JIT, heap sizing), more than the
     * 5 s warm-up of a path gives it with two processes. 0: none.
     */
    'service-warmup': { type: 'string', default: '15' },
    connections: { type: 'string', default: '50' },
    processes: { type: 'string' },
    paths: { type: 'string' },
    /** Connections per process, the service's and the baselines' alike; default: the service's own default. */
    'pool-size': { type: 'string' },
    'job-concurrency': { type: 'string', default: '8' },
    /** Jobs per round of bench/compensation.bench.ts. */
    'compensation-jobs': { type: 'string', default: '1000' },
    scale: { type: 'boolean', default: false },
    'scale-members': { type: 'string', default: '1000000' },
    'scale-small': { type: 'string', default: '10000' },
    'scale-entries': { type: 'string', default: '5' },
    /** The scale run's fixed load (req/s, 10 connections): p50 then shows latency, not queueing at saturation. */
    'scale-rate': { type: 'string', default: '50' },
    /** Small and large are measured in turns, this many times; each round's growth is shown, the target needs every round under 1.5×. */
    'scale-rounds': { type: 'string', default: '3' },
    /** Members of the incident measured by bench/incident.bench.ts (path `incident`). */
    'incident-members': { type: 'string', default: '100000' },
    reuse: { type: 'boolean', default: false },
    /**
     * Scale runs: before the rounds, load the member data the status read and earn touch into
     * `shared_buffers` (pg_prewarm), as far as they fit: the server's own memory, which the kernel's
     * page-cache reclaim cannot take (docs/scaling.md). Size shared_buffers first (bench/README.md).
     */
    prewarm: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    /** Extra environment for the service, `NAME=value,NAME=value` (experiments: MALLOC_ARENA_MAX=2, …). */
    'service-env': { type: 'string' },
    /** Extra node flags for the service, space-separated (experiments: --max-semi-space-size=32, …). */
    'service-flags': { type: 'string' },
    /**
     * Rounds: each round measures every service path right after its baseline, and member status and earnPoints
     * also open loop at half of the req/s their closed loop just measured; a ratio pairs the same round's req/s (the
     * verdict: the median round's ratio, and the median round's open-loop p99). Also shows a leak, as RSS that keeps
     * growing round after round.
     */
    repeat: { type: 'string', default: '1' },
    out: { type: 'string', default: path.join(BENCH, 'results') },
  },
});

const num = (name: keyof typeof args) => {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number`);
  return value;
};

const cores = availableParallelism();
const duration = num('duration');
const warmup = num('warmup');
const serviceWarmup = num('service-warmup');
const connections = num('connections');
const poolSize = args['pool-size'] === undefined ? DEFAULT_DATABASE_POOL_SIZE : num('pool-size');
const processCounts = (args.processes ?? [...new Set([1, cores])].join(',')).split(',').map(Number);
const ALL_PATHS = [
  'bare',
  'lookup',
  'raw-earn',
  'raw-earn-rows',
  'pgbench',
  'status',
  'cached-status',
  'earn',
  'earn-rules',
  'redeem',
  'voucher',
  'open',
  'tracing',
  'compensation',
  'bullmq',
  'incident',
];
const selected = new Set(args.paths ? args.paths.split(',') : ALL_PATHS);
const runId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15).toLowerCase()}_${randomBytes(2).toString('hex')}`;
const SERVICE_PORT = 4781;
/** The service's JWT secret for this run (member tokens of the cached-status path are signed with it). */
const SERVICE_JWT_SECRET = randomBytes(32).toString('base64url');
const BASELINE_PORT = 4791;
/** The OTLP/HTTP sink the traced service exports to (path `tracing`). */
const OTLP_SINK_PORT = 4811;

// ---------------------------------------------------------------------------
// Processes: every child is tracked and stopped on the way out.

const children = new Set<ChildProcess>();
let logDir = '';

function startProcess(name: string, command: string, argv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const log = path.join(logDir, `${name}.log`);
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.once('exit', () => void writeFile(log, Buffer.concat(chunks)).catch(() => undefined));
  return child;
}

async function stopProcess(child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function stopAllNow(): void {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', stopAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`bench: ${signal}, stopping`);
    stopAllNow();
    process.exit(130);
  });
}

/** Runs a command to completion (bounded), returning stdout; `onLine` sees its stderr lines. */
function runToEnd(
  command: string,
  argv: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
  onLine?: (line: string) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (onLine) for (const line of chunk.toString().split('\n')) if (line) onLine(line);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(command)} ${argv.slice(0, 2).join(' ')} exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited (${child.exitCode}); see ${logDir}`);
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`${url} not ready within ${timeoutMs / 1000} s; see ${logDir}`);
}

// ---------------------------------------------------------------------------
// RSS of the API processes: the process itself, or its cluster workers.

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Largest RSS among the API processes (the cluster workers when there are several). */
async function apiRss(server: ChildProcess, processes: number): Promise<number> {
  const pid = server.pid!;
  const pids = processes > 1 ? await childPids(pid) : [pid];
  const sizes = await Promise.all(pids.map(rssMb));
  return Math.max(...sizes.filter(Number.isFinite));
}

async function apiPids(server: ChildProcess, processes: number): Promise<number[]> {
  return processes > 1 ? childPids(server.pid!) : [server.pid!];
}

/** `activity` (the API processes' in a window) per request. */
function perRequest(activity: ProcessActivity, requests: number): ProcessActivity {
  return {
    wakeups: activity.wakeups / requests,
    preempted: activity.preempted / requests,
    reads: activity.reads / requests,
    writes: activity.writes / requests,
  };
}

function describeMachine(m: NonNullable<Row['machine']>): string {
  return `${m.busyPct.toFixed(0)} % busy, ${m.stolenPct.toFixed(1)} % stolen`;
}

function describeActivity(a: ProcessActivity): string {
  return `per request in the API: ${a.wakeups.toFixed(2)} wake-ups, ${a.preempted.toFixed(2)} preempted, ${a.reads.toFixed(1)} reads, ${a.writes.toFixed(1)} writes`;
}

/** A cumulative histogram: observations at most each bucket's bound (ms; Infinity for +Inf). */
type Buckets = Map<number, number>;

interface ServiceReading {
  /** Answers of /graphql at most each bucket's bound (ms), every status code. */
  durations: Buckets;
  /** Waits for a database connection (`treue_db_pool_wait_seconds`), and how long each was held (`…_hold_seconds`). */
  poolWaits: Buckets;
  poolHolds: Buckets;
  /** The holds' total (`…_hold_seconds_sum`, every process summed), ms, and when it was read (`performance.now()`). */
  poolHeldMs: number;
  at: number;
  /**
   * How late the event loop ran since the reading before (prom-client resets its monitor on every scrape), ms:
   * the monitor's p99 and max less its 10 ms tick (`loopLatenessMs`).
   */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /**
   * PostgreSQL's `pg_stat_bgwriter.checkpoint_sync_time` (ms, cumulative; the whole server): a checkpoint adds its
   * fsync phase when it ends. COMMITs wait on the WAL while the disk syncs, which shows as long holds of a
   * connection and then waits for one.
   */
  checkpointSyncMs: number;
}

/**
 * The service's /metrics (with several API processes, their sum: docs/operations.md): the histograms
 * `treue_http_request_duration_seconds` for /graphql and `treue_db_pool_{wait,hold}_seconds`, and the event-loop delay since the last scrape
 * (`nodejs_eventloop_lag_p99_seconds`, averaged over the processes, and `…_max_seconds`, their maximum).
 */
async function readService(server: Server): Promise<ServiceReading> {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  const lines = text.split('\n');
  const histogram = (name: string, only = ''): Buckets => {
    const buckets: Buckets = new Map();
    const pattern = new RegExp(`^${name}_bucket\\{(.*)\\} (\\d+)$`);
    for (const line of lines) {
      const bucket = pattern.exec(line);
      if (!bucket || !bucket[1]!.includes(only)) continue;
      const bound = /le="([^"]+)"/.exec(bucket[1]!)![1]!;
      const ms = bound === '+Inf' ? Infinity : Number(bound) * 1000;
      buckets.set(ms, (buckets.get(ms) ?? 0) + Number(bucket[2]));
    }
    return buckets;
  };
  return {
    durations: histogram('treue_http_request_duration_seconds', 'route="/graphql"'),
    poolWaits: histogram('treue_db_pool_wait_seconds'),
    poolHolds: histogram('treue_db_pool_hold_seconds'),
    poolHeldMs: gauge('treue_db_pool_hold_seconds_sum'),
    at: performance.now(),
    loopDelayP99Ms: loopLatenessMs(gauge('nodejs_eventloop_lag_p99_seconds')),
    loopDelayMaxMs: loopLatenessMs(gauge('nodejs_eventloop_lag_max_seconds')),
    checkpointSyncMs: await checkpointSyncTotalMs(),
  };
}

/** PostgreSQL's `pg_stat_bgwriter.checkpoint_sync_time`: the fsync time of every checkpoint since the server's statistics reset, ms. */
async function checkpointSyncTotalMs(): Promise<number> {
  return withAdminClient(async (client) => {
    const { rows } = await client.query<{ ms: number }>('SELECT checkpoint_sync_time::float8 AS ms FROM pg_stat_bgwriter');
    return rows[0]?.ms ?? 0;
  });
}

/** A service reading as the results print it. */
function describeService(service: NonNullable<Row['service']>, generator?: Row['generator']): string {
  return (
    `in the service: p99 ≤ ${service.p99AtMostMs ?? '> 5000'} ms, ${pct(service.over50Ms, 1)} over 50 ms, ` +
    `event loop late by p99 ${service.loopDelayP99Ms.toFixed(0)} / max ${service.loopDelayMaxMs.toFixed(0)} ms, ` +
    `waited for a database connection p99 ≤ ${service.poolWaitP99AtMostMs ?? '> 5000'} ms, held one p99 ≤ ${service.poolHoldP99AtMostMs ?? '> 5000'} ms` +
    (service.poolConnectionsBusy !== undefined
      ? ` (${service.poolConnectionsBusy.toFixed(1)} of the pools' connections held on average)`
      : '') +
    (service.checkpointSyncMs > 0
      ? `, a PostgreSQL checkpoint ended in the window (its fsync ${service.checkpointSyncMs.toFixed(0)} ms)`
      : ', no PostgreSQL checkpoint ended in the window') +
    (service.walWaits
      ? `, a statement waiting on the WAL's write or flush after running for up to ${service.walWaits.longestMs.toFixed(0)} ms` +
        ` (${service.walWaits.samplesOver50Ms} of ${service.walWaits.samples} samples over 50 ms)`
      : '') +
    (generator
      ? `; the load generator's own loop late by p99 ${generator.delayP99Ms.toFixed(0)} / max ${generator.delayMaxMs.toFixed(0)} ms` +
        (generator.connectionsOpened === undefined
          ? ''
          : `, ${generator.connectionsOpened} connection${generator.connectionsOpened === 1 ? '' : 's'} opened in the window beyond the ${connections} kept open`)
      : '')
  );
}

/** The smallest bucket bound (ms) holding 99 % of what a histogram observed between two readings; null beyond the last. */
function p99Bucket(before: Buckets, after: Buckets): number | null {
  const delta = (bound: number) => (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
  const bounds = [...after.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  return bounds.find((bound) => delta(bound) >= 0.99 * delta(Infinity)) ?? null;
}

/** What the service measured between two readings. */
function serviceLatency(before: ServiceReading, after: ServiceReading): NonNullable<Row['service']> {
  const delta = (bound: number) => (after.durations.get(bound) ?? 0) - (before.durations.get(bound) ?? 0);
  const answers = delta(Infinity);
  const busy = (after.poolHeldMs - before.poolHeldMs) / (after.at - before.at);
  return {
    p99AtMostMs: p99Bucket(before.durations, after.durations),
    poolWaitP99AtMostMs: p99Bucket(before.poolWaits, after.poolWaits),
    poolHoldP99AtMostMs: p99Bucket(before.poolHolds, after.poolHolds),
    ...(Number.isFinite(busy) ? { poolConnectionsBusy: busy } : {}),
    over50Ms: answers ? (answers - delta(50)) / answers : 0,
    answers,
    loopDelayP99Ms: after.loopDelayP99Ms,
    loopDelayMaxMs: after.loopDelayMaxMs,
    checkpointSyncMs: after.checkpointSyncMs - before.checkpointSyncMs,
  };
}

// ---------------------------------------------------------------------------
// Servers

interface Server {
  child: ChildProcess;
  url: string;
  processes: number;
  /** The database it runs on (the service's open loops sample its WAL waits, `watchWalWaits`). */
  database: string;
}

async function startBaseline(database: string, processes: number): Promise<Server> {
  const child = startProcess(
    `baseline-p${processes}`,
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(BENCH, 'baseline-server.ts'),
      '--database-url',
      databaseUrl(database),
      '--port',
      String(BASELINE_PORT),
      '--processes',
      String(processes),
      '--pool',
      String(poolSize),
    ],
    { ...process.env, NODE_ENV: 'production' },
  );
  await waitForHttp(`http://127.0.0.1:${BASELINE_PORT}/healthz`, 60_000, child);
  return { child, url: `http://127.0.0.1:${BASELINE_PORT}/graphql`, processes, database };
}

/**
 * The service exactly as `npm start` runs it: the `start` script of package.json
 * (`node <flags> dist/src/main.js`, built by `prebench` as by `prestart`), spawned
 * without a shell or npm in between, so that its pid is the API process's when
 * WEB_CONCURRENCY=1. `--service-flags` come after the script's own flags (the
 * last of a repeated V8 flag wins).
 */
async function startService(database: string, processes: number, label: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Server> {
  const { flags: startArgv, entry } = await startCommandOf(ROOT);
  if (!existsSync(path.join(ROOT, entry)))
    throw new Error(`${entry} does not exist: run \`npm run build\` (or \`npm run bench\`, which builds first)`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWKS_URL', 'JWT_SECRET', 'GRAPHQL_INTROSPECTION', 'GRAPHIQL']) delete env[name];
  Object.assign(env, {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl(database),
    REDIS_URL: BENCH_REDIS,
    QUEUE_PREFIX: `treue-bench-${runId}`,
    HOST: '127.0.0.1',
    PORT: String(SERVICE_PORT),
    WEB_CONCURRENCY: String(processes),
    DATABASE_POOL_SIZE: String(poolSize),
    JWT_SECRET: SERVICE_JWT_SECRET,
    LOG_LEVEL: 'info',
    ...BENCH_RATE_LIMITS,
    ...extraEnv,
  });
  for (const pair of args['service-env']?.split(',').filter(Boolean) ?? []) {
    const [name, ...value] = pair.split('=');
    env[name!] = value.join('=');
  }
  const execArgv = [...startArgv, ...(args['service-flags']?.split(' ').filter(Boolean) ?? [])];
  if (args['cpu-prof']) execArgv.push('--cpu-prof', `--cpu-prof-dir=${path.join(logDir, `profile-${label}`)}`);
  const child = startProcess(`service-${label}`, process.execPath, [...execArgv, path.join(ROOT, entry)], env);
  await waitForHttp(`http://127.0.0.1:${SERVICE_PORT}/readyz`, 90_000, child);
  return { child, url: `http://127.0.0.1:${SERVICE_PORT}/graphql`, processes, database };
}

// ---------------------------------------------------------------------------
// Measurements

interface Row {
  path: string;
  /** `open`: at a fixed arrival rate (open loop, bench/load.ts with loadtest); the others in a closed loop or outside the API. */
  group: 'path' | 'baseline' | 'scale' | 'open';
  processes: number | null;
  /** Round of `--repeat` (or of `--scale-rounds`) the row was measured in; unset: measured once. */
  round?: number;
  /** Order of measurement in the run (1, 2, …): a ratio takes the baseline measured nearest to its path. */
  seq?: number;
  /** A baseline measured for one path of the round (its name): measured right before it. */
  before?: string;
  rps: number | null;
  /** Open loop: the arrival rate sent (req/s), whatever the service answered. */
  offered?: number;
  p50: number | null;
  p99: number | null;
  rssMb: number | null;
  requests: number | null;
  failures: number | null;
  /** CPU time of the API processes per request, in the measured window. */
  apiCpuMsPerRequest?: number | null;
  /**
   * What the API processes did per request in the measured window (`processActivity`, bench/support.ts), unset when
   * a reading failed. Read as the CPU times are: from the window's start to after the generator exits, so answers
   * still on their way and the connections' closing count too.
   */
  apiActivityPerRequest?: ProcessActivity;
  /** CPU time of all PostgreSQL processes on the machine per request (others' queries included: an upper bound). */
  pgCpuMsPerRequest?: number | null;
  /** CPU time of the load generator per request (bench/load.ts), which shares the cores with the service. */
  generatorCpuMsPerRequest?: number | null;
  /**
   * The whole machine in the same window as the API's CPU times (`machineDelta`): % of all cores busy with any process,
   * and % stolen by the hypervisor for other guests. Unset when /proc/stat could not be read.
   */
  machine?: { busyPct: number; stolenPct: number };
  /**
   * Open loop: the same window as the service measured it (its own histogram,
   * treue_http_request_duration_seconds for /graphql, from when its handler got the request to the
   * last byte): the smallest bucket holding 99 % of the answers and the share slower than 50 ms; and
   * its event-loop delay. What the load generator saw beyond the histogram was spent before the
   * handler ran (in the kernel's queue while the event loop was busy: the delay shows how long it
   * was) or in the load generator itself, which shares the cores.
   */
  service?: {
    p99AtMostMs: number | null;
    over50Ms: number;
    answers: number;
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
    /** The same for the database pool's waits for a connection and holds of one (every statement and transaction). */
    poolWaitP99AtMostMs?: number | null;
    poolHoldP99AtMostMs?: number | null;
    /** Connections held on average over the window, every process's together (held time ÷ the window's time). */
    poolConnectionsBusy?: number;
    /** The fsync time of PostgreSQL checkpoints that ended in the window, ms. */
    checkpointSyncMs: number;
    /** The database's COMMITs waiting on the WAL in the window (`watchWalWaits`), unset when it could not be sampled. */
    walWaits?: WalWaits;
  };
  /**
   * Open loop: how late the load generator's own event loop ran (bench/load.ts), ms. An answer that arrived
   * meanwhile waited before its latency was taken: part of the generator's p99, none of the service's.
   */
  generator?: { delayP99Ms: number; delayMaxMs: number; connectionsOpened?: number };
  baseline?: string;
  ratio?: number | null;
  target?: string;
  met?: boolean | null;
  note?: string;
}

const rows: Row[] = [];
/** Rows measured so far (`Row.seq`). */
let measured = 0;

/**
 * Of a row's baselines (`candidates`), the one measured for it in its round (`--repeat 1` has one round, unnumbered): the
 * one measured right before it (`before`), else the one measured nearest to it. Each service path is measured right
 * after its own baseline (`defaultRun`), so its ratio pairs figures taken seconds apart, not minutes. Undefined when
 * none was measured in its round (a baseline measured once, outside the rounds).
 */
function nearestInRound(row: Row, candidates: Row[]): Row | undefined {
  const sameRound = candidates.filter((c) => c.round === row.round);
  const measuredFor = sameRound.find((c) => c.before === row.path);
  if (measuredFor || row.seq === undefined) return measuredFor ?? sameRound[0];
  const distance = (c: Row) => Math.abs((c.seq ?? 0) - row.seq!);
  return [...sameRound].sort((a, b) => distance(a) - distance(b) || (a.seq ?? 0) - (b.seq ?? 0))[0];
}
const notes: string[] = [];
let voucherCursor = 0;

const ROWS_EARN = "yoga + raw pg earn, the service's rows";

const LABELS: Record<LoadKind, string> = {
  bare: 'yoga bare',
  lookup: 'yoga + raw pg lookup',
  'raw-earn': 'yoga + raw pg earn',
  'raw-earn-rows': ROWS_EARN,
  earn: 'earnPoints',
  'earn-rules': 'earnPoints (5 lines, 3 rules)',
  redeem: 'redeemPoints',
  voucher: 'redeemVoucher',
  status: 'member-status',
  'cached-status': 'member-status, cached',
};

async function load(
  server: Server,
  spec: Omit<LoadSpec, 'url' | 'connections' | 'duration' | 'warmup'> & { connections?: number },
  group: Row['group'] = 'path',
  pathLabel?: string,
  round?: number,
  before?: string,
): Promise<Row> {
  const full: LoadSpec = { url: server.url, connections, duration, warmup, ...spec };
  process.stdout.write(
    `  ${pathLabel ?? LABELS[spec.kind]} × ${server.processes}${round ? `, round ${round}` : ''}${before ? ` (before ${before})` : ''} … `,
  );
  const pids = await apiPids(server.child, server.processes);
  let apiBefore = new Map<number, number>();
  let activityBefore = new Map<number, ProcessActivity>();
  let machineBefore: MachineCpu | null = null;
  let pgCpuSince: (() => Promise<number>) | undefined;
  let serviceBefore: ServiceReading | null = null;
  const readsService = group === 'open';
  const walWaits = readsService ? watchWalWaits(databaseUrl(server.database)) : undefined;
  const sampling: Promise<void>[] = [];
  const out = await runToEnd(
    process.execPath,
    ['--import', 'tsx', path.join(BENCH, 'load.ts'), JSON.stringify(full)],
    (duration + warmup + 60) * 1000,
    process.env,
    (line) => {
      if (line !== 'measuring') return;
      sampling.push(
        (async () => {
          // The CPU times and the counters at one moment, so that both cover the same window.
          [apiBefore, activityBefore, machineBefore] = await Promise.all([totalCpuMs(pids), totalActivity(pids), machineCpu()]);
          pgCpuSince = await countPostgresCpu();
          if (readsService) serviceBefore = await readService(server);
          await walWaits?.start();
        })(),
      );
    },
  );
  await Promise.all(sampling);
  const [apiAfter, activityAfter, machineAfter] = await Promise.all([totalCpuMs(pids), totalActivity(pids), machineCpu()]);
  // After the window's end readings: stopping waits for the sampler's last query.
  const walWaited = (await walWaits?.stop()) ?? null;
  const apiCpu = cpuDelta(apiBefore, apiAfter);
  const machine = machineDelta(machineBefore, machineAfter);
  const activity = activityDelta(pids, activityBefore, activityAfter);
  const pgCpu = pgCpuSince ? await pgCpuSince() : 0;
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  const serviceAfter = readsService ? await readService(server) : null;
  if (spec.kind === 'voucher') voucherCursor += result.vouchersUsed;
  const rss = await apiRss(server.child, server.processes);
  const row: Row = {
    path: pathLabel ?? LABELS[spec.kind],
    group,
    processes: server.processes,
    ...(round ? { round } : {}),
    seq: ++measured,
    ...(before ? { before } : {}),
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    rssMb: rss,
    requests: result.requests,
    failures: result.failures,
    apiCpuMsPerRequest: result.requests ? apiCpu / result.requests : null,
    ...(activity && result.requests ? { apiActivityPerRequest: perRequest(activity, result.requests) } : {}),
    pgCpuMsPerRequest: result.requests ? pgCpu / result.requests : null,
    generatorCpuMsPerRequest: result.generatorCpuMsPerRequest,
    ...(machine ? { machine } : {}),
  };
  if (spec.rate) {
    row.offered = spec.rate;
    row.note = `open loop at ${spec.rate} req/s: ${result.sent} sent, ${result.unanswered} unanswered at the end`;
    if (result.generatorDelayP99Ms !== undefined && result.generatorDelayMaxMs !== undefined) {
      row.generator = {
        delayP99Ms: result.generatorDelayP99Ms,
        delayMaxMs: result.generatorDelayMaxMs,
        connectionsOpened: result.connectionsOpened,
      };
    }
  }
  if (serviceBefore && serviceAfter) {
    row.service = serviceLatency(serviceBefore, serviceAfter);
    if (walWaited) row.service.walWaits = walWaited;
  }
  if (result.failures > 0) row.note = `${result.failures} failed, first: ${result.firstFailure ?? '(transport error)'}`;
  console.log(
    `${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, RSS ${rss.toFixed(0)} MB, ` +
      `CPU/request: API ${row.apiCpuMsPerRequest?.toFixed(2)} ms, PostgreSQL ${row.pgCpuMsPerRequest?.toFixed(2)} ms` +
      `${row.generatorCpuMsPerRequest != null ? `, load generator ${row.generatorCpuMsPerRequest.toFixed(2)} ms` : ''}` +
      `${row.machine ? `; machine ${describeMachine(row.machine)}` : ''}` +
      `${row.apiActivityPerRequest ? ` (${describeActivity(row.apiActivityPerRequest)})` : ''}` +
      `${row.service ? `; ${describeService(row.service, row.generator)}` : ''}` +
      `${result.failures ? `, ${result.failures} FAILED` : ''}`,
  );
  rows.push(row);
  return row;
}

type ServicePathSpec = Parameters<typeof load>[1];

/**
 * One unmeasured run of a service path for `--service-warmup` seconds (no row, no CPU read): only the codes a
 * voucher path redeemed are counted, so that the rounds after it redeem others.
 */
async function warm(server: Server, spec: ServicePathSpec): Promise<void> {
  process.stdout.write(`  ${LABELS[spec.kind]} × ${server.processes}, warming up (not measured) … `);
  const full: LoadSpec = { url: server.url, connections, duration: serviceWarmup, warmup: 0, ...spec };
  const out = await runToEnd(
    process.execPath,
    ['--import', 'tsx', path.join(BENCH, 'load.ts'), JSON.stringify(full)],
    (serviceWarmup + 60) * 1000,
  );
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  if (spec.kind === 'voucher') voucherCursor += result.vouchersUsed;
  console.log(`${result.rps.toFixed(0)} req/s${result.failures ? `, ${result.failures} FAILED` : ''}`);
}

async function pgbench(database: string, members: number): Promise<void> {
  process.stdout.write(`  pgbench earn transaction … `);
  const dir = await mkdtemp(path.join(tmpdir(), 'treue-pgbench-'));
  try {
    const url = new URL(databaseUrl(database));
    const out = await runToEnd(
      '/usr/bin/pgbench',
      [
        '-n',
        '-h',
        url.hostname,
        '-p',
        url.port || '5432',
        '-U',
        decodeURIComponent(url.username) || 'postgres',
        '-c',
        String(connections),
        '-j',
        String(Math.max(1, cores)),
        '-T',
        String(duration),
        '-M',
        'prepared',
        '-D',
        `members=${members}`,
        '-f',
        path.join(BENCH, 'pgbench-earn.sql'),
        '-l',
        '--log-prefix',
        path.join(dir, 'tx'),
        url.pathname.slice(1),
      ],
      (duration + 60) * 1000,
    );
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1] ?? NaN);
    const latencies: number[] = [];
    for (const file of await readdir(dir)) {
      for (const line of (await readFile(path.join(dir, file), 'utf8')).split('\n')) {
        const micros = Number(line.split(' ')[2]);
        if (Number.isFinite(micros) && line) latencies.push(micros / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    const row: Row = {
      path: 'pgbench earn',
      group: 'baseline',
      processes: null,
      rps: tps,
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      rssMb: null,
      requests: latencies.length,
      failures: 0,
      note: `${connections} connections straight to PostgreSQL, prepared`,
    };
    rows.push(row);
    console.log(`${tps.toFixed(0)} tx/s, p50 ${row.p50} ms, p99 ${row.p99} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function bullmq(database: string, members: number): Promise<void> {
  for (const job of ['noop', 'query'] as const) {
    process.stdout.write(`  BullMQ ${job} job … `);
    const result: BullmqResult = await runBullmqBaseline({
      job,
      redisUrl: BENCH_REDIS,
      databaseUrl: databaseUrl(database),
      prefix: `treue-bench-${runId}-bullmq`,
      members,
      concurrency: num('job-concurrency'),
      duration,
      warmup,
    });
    rows.push({
      path: job === 'noop' ? 'BullMQ no-op job' : 'BullMQ one-query job',
      group: 'baseline',
      processes: 1,
      rps: result.rps,
      p50: result.p50,
      p99: result.p99,
      rssMb: null,
      requests: result.jobs,
      failures: 0,
      note: `1 worker process, concurrency ${result.concurrency}; latency from add to completed`,
    });
    console.log(`${result.rps.toFixed(0)} jobs/s, p50 ${result.p50} ms, p99 ${result.p99} ms`);
  }
}

/**
 * `reportServiceFailure` → voucher, end to end: the workers engineer's
 * bench/compensation.bench.ts (`npm run bench:compensation`), run as it is, in
 * its own process. It measures in one go, same shape, same machine: the
 * compensation path (GraphQL report → outbox → BullMQ → compensation worker
 * process → voucher) and BullMQ baselines; we take its best-round rates.
 */
async function compensation(): Promise<void> {
  const file = path.join(BENCH, 'compensation.bench.ts');
  if (!existsSync(file)) {
    notes.push('compensation end to end: not measured — bench/compensation.bench.ts does not exist yet.');
    return;
  }
  process.stdout.write('  reportServiceFailure → voucher (bench/compensation.bench.ts) … ');
  try {
    const out = await runToEnd(
      process.execPath,
      ['--import', 'tsx', file, '--jobs', String(num('compensation-jobs')), '--rounds', '2', '--mode', 'both'],
      600_000,
    );
    const rate = (name: string) => {
      const line = out.split('\n').find((l) => l.startsWith(name) && /\d+\s+\d+\s*$/.test(l));
      const [best, median] = (line?.trim().split(/\s+/).slice(-2) ?? []).map(Number);
      if (!best || !median) throw new Error(`no "${name}" line in its output`);
      return { best, median };
    };
    const measured = rate('compensation end to end');
    const ingest = rate('compensation API ingest (workers stopped)');
    const queued = rate('compensation worker-side (jobs queued)');
    const baseline = rate('BullMQ + 1 PostgreSQL round trip');
    const outside = { group: 'path', processes: 1, p50: null, p99: null, rssMb: null, requests: null, failures: 0 } as const;
    rows.push({
      ...outside,
      path: 'compensation API ingest (workers stopped)',
      rps: ingest.best,
      note: `reportServiceFailure over GraphQL (yoga in process, as a TREUE_ROLE=api process) with no worker running, best of 2 rounds (median ${ingest.median.toFixed(0)}/s)`,
    });
    rows.push({
      ...outside,
      path: 'compensation worker-side (jobs queued)',
      rps: queued.best,
      note: `workers/main.ts draining the jobs already queued (BullMQ's finishedOn stamps), best of 2 rounds (median ${queued.median.toFixed(0)}/s)`,
    });
    rows.push({
      path: 'compensation end to end',
      group: 'path',
      processes: 1,
      rps: measured.best,
      p50: null,
      p99: null,
      rssMb: null,
      requests: null,
      failures: 0,
      note: `bench/compensation.bench.ts, best of 2 rounds (median ${measured.median.toFixed(0)}/s)`,
    });
    rows.push({
      path: 'BullMQ + 1 PG round trip (compensation bench)',
      group: 'baseline',
      processes: 1,
      rps: baseline.best,
      p50: null,
      p99: null,
      rssMb: null,
      requests: null,
      failures: 0,
      note: `its own baseline, same run and shape (median ${baseline.median.toFixed(0)}/s)`,
    });
    console.log(
      `end to end ${measured.best.toFixed(0)} vouchers/s; API ingest ${ingest.best.toFixed(0)}/s; worker-side ${queued.best.toFixed(0)} vouchers/s; ` +
        `its BullMQ + 1 round trip baseline ${baseline.best.toFixed(0)} jobs/s`,
    );
  } catch (error) {
    console.log('failed');
    notes.push(`compensation: not measured — bench/compensation.bench.ts: ${tail((error as Error).message)}`);
  }
}

/** The start of a child's failure and the end of its stderr (where the error is), for a note. */
function tail(message: string): string {
  return message.length <= 600 ? message : `${message.slice(0, 100)} … ${message.slice(-500)}`;
}

/**
 * An incident's batch path: bench/incident.bench.ts (`npm run bench:incident`), run as it is, in its
 * own process: --incident-members members reported over GraphQL in pages, expanded and decided by
 * the worker process (SIGKILLed half-way and restarted, as that bench does). We read its "every
 * member expanded and decided" time and the vouchers issued by then (issue 15: ≥ 2 000 vouchers/s).
 */
async function incident(): Promise<void> {
  const file = path.join(BENCH, 'incident.bench.ts');
  const members = num('incident-members');
  process.stdout.write(`  incident of ${members} members (bench/incident.bench.ts) … `);
  try {
    const out = await runToEnd(process.execPath, ['--import', 'tsx', file, '--members', String(members)], 600_000);
    const decided = /every member expanded and decided\s+([\d.]+) s/.exec(out);
    const vouchers = /held over the budget (\d+), vouchers (\d+),/.exec(out);
    if (!decided || !vouchers) throw new Error('no "every member expanded and decided" line in its output');
    const seconds = Number(decided[1]);
    const issued = Number(vouchers[2]);
    rows.push({
      path: 'incident batch: vouchers issued',
      group: 'path',
      processes: 1,
      rps: issued / seconds,
      p50: null,
      p99: null,
      rssMb: null,
      requests: issued,
      failures: 0,
      target: '≥ 2 000 vouchers/s',
      met: issued / seconds >= 2000,
      note:
        `bench/incident.bench.ts --members ${members}: every member decided in ${seconds} s ` +
        `(${(members / seconds).toFixed(0)} members/s; ${issued} vouchers, ${vouchers[1]} held over the budget), worker SIGKILLed half-way`,
    });
    console.log(`${(issued / seconds).toFixed(0)} vouchers/s (${issued} in ${seconds} s)`);
  } catch (error) {
    console.log('failed');
    notes.push(`incident batch: not measured — bench/incident.bench.ts: ${tail((error as Error).message)}`);
  }
}

// ---------------------------------------------------------------------------
// The member-status query, from what schema.graphql offers today.

/** Members whose own status the `cached-status` path reads again and again (each one a member token). */
const CACHED_STATUS_MEMBERS = 200;

/**
 * The cached path as the member app runs it: member tokens (the service's secret), the app's
 * status screen sent by its trusted document id, the same members over and over, nothing changing.
 */
async function cachedStatus(members: number): Promise<Pick<LoadSpec, 'kind' | 'memberTokens' | 'documentId'>> {
  const { signMemberToken } = await import('../src/auth/tokens.js');
  const { MEMBER_APP_DOCUMENTS } = await import('../src/graphql/trusted-documents.manifest.js');
  const { documentId } = await import('../src/graphql/trusted-documents.js');
  const text = Object.values(MEMBER_APP_DOCUMENTS).find((document) => /query StatusScreen\b/.test(document));
  if (!text) throw new Error("the member app's StatusScreen query is not a trusted document");
  const { z } = await import('zod');
  // A member token names its member by an RFC 9562 UUID (src/auth/jwt.ts); the seed's ids are md5-shaped, and only
  // some of them have the version and variant bits of one: the path reads those members.
  const ids: string[] = [];
  for (let i = 1; i <= members && ids.length < CACHED_STATUS_MEMBERS; i++) {
    if (z.uuid().safeParse(memberId(i)).success) ids.push(memberId(i));
  }
  const memberTokens = await Promise.all(ids.map((id) => signMemberToken(SERVICE_JWT_SECRET, { memberId: id, expiresIn: '2h' })));
  return { kind: 'cached-status', memberTokens, documentId: documentId(text) };
}

// ---------------------------------------------------------------------------
// Report

const round = (value: number | null | undefined, digits = 1) =>
  value == null || !Number.isFinite(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits;

/** The row whose req/s is the median of `list` (the lower middle one for an even count). */
function medianRow(list: Row[]): Row {
  const sorted = [...list].sort((a, b) => (a.rps ?? 0) - (b.rps ?? 0));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * earnPoints against the raw earn with the service's rows (bench/earn-rows.ts), round by round: what the
 * service's code costs beyond its SQL, beside the rows' own ceiling (that baseline's ratio to the raw earn).
 */
function beyondTheRows(): string[] {
  const lines: string[] = [];
  for (const processes of [...new Set(rows.map((r) => r.processes))]) {
    const of = (path: string) => rows.filter((r) => r.path === path && r.processes === processes && r.rps);
    // Each row of `path` ÷ the same round's row of `basePath`.
    const perRound = (path: string, basePath: string) =>
      of(path).flatMap((row) => {
        const base = nearestInRound(row, of(basePath));
        return base ? [row.rps! / base.rps!] : [];
      });
    const ceiling = perRound(ROWS_EARN, 'yoga + raw pg earn');
    const pairs = perRound('earnPoints', ROWS_EARN);
    if (pairs.length === 0 || ceiling.length === 0) continue;
    const percent = (list: number[]) => list.map((v) => `${Math.round(v * 100)} %`).join(', ');
    lines.push(
      `× ${processes}: the service's rows with the raw earn's JavaScript reach ${percent(ceiling)} of the raw earn; ` +
        `earnPoints reaches ${percent(pairs)} of them (round by round)`,
    );
  }
  return lines;
}

/**
 * Each row of `pathName` ÷ its baseline's req/s. A row is paired with the baseline measured for it in its own round
 * (`nearestInRound`: the one measured right before it, else the nearest; `--repeat 1` is one round, unnumbered),
 * never with another round's. A baseline measured once is the baseline of every round; a row measured once against a
 * baseline measured in every round (the traced rows) takes the median of those baselines.
 */
function relate(pathName: string, baselineName: string, target: number | null, sameProcesses = true): void {
  for (const row of rows.filter((r) => r.path === pathName)) {
    const candidates = rows.filter((r) => r.path === baselineName && r.rps && (!sameProcesses || r.processes === row.processes));
    if (!row.rps || candidates.length === 0) continue;
    const sameRound = nearestInRound(row, candidates);
    const base = sameRound ?? (candidates.length > 1 ? medianRow(candidates) : candidates[0]!);
    const which = sameRound
      ? `${base.round ? `, round ${base.round}` : ''}${base.before ? ` (before ${base.before})` : ''}`
      : candidates.length > 1
        ? `, median of ${candidates.length} rounds`
        : '';
    row.baseline = `${baselineName}${sameProcesses && base.processes ? ` × ${base.processes}` : ''}${which}`;
    row.ratio = row.rps / base.rps!;
    if (target !== null) {
      row.target = `≥ ${Math.round(target * 100)} %`;
      row.met = row.ratio >= target && !row.failures;
    }
  }
}

interface Check {
  target: string;
  /** The previous round's figure (bench/README.md, "Latest figures"), for comparison. */
  previous: string;
  value: string;
  met: boolean | null;
}

/**
 * The previous round's figures of each target (runs 20261123t162245_5955 and 20261123t162736_6821 and
 * the runs bench/README.md describes), shown beside the new ones. "1 / 2" = with 1 / 2 API processes.
 */
const PREVIOUS = {
  status: '18 % / 20 %',
  cachedStatus: 'not measured',
  earn: '44 % / 45 %',
  redeem: '38 % / 40 % (no target then)',
  voucher: '51 % / 55 %',
  earnRules: '86 % / 86 % (means of 3 rounds, 2026-12-02 12:08)',
  earnOpen: 'not measured open loop (closed loop, 50 connections: p99 109 / 135 ms)',
  statusOpen: 'not measured open loop (closed loop, 50 connections: p99 118 / 137 ms)',
  compensationWorker: 'not measured worker-side (18 % end to end)',
  compensationEndToEnd: '18 % (522 vouchers/s of 2 870/s)',
  incident: '≈ 2 400–3 050 vouchers/s (90 000 in 29.5–37.2 s, 3 runs)',
  scaleStatus: '1.53× (best of 2 rounds; other runs 1.95×, 1.22×)',
  scaleEarn: '1.29× (best of 2 rounds; other runs 1.25×, 1.37×)',
  tracing: 'not measured',
  rss: '263 / 262 MB',
};

const pct = (ratio: number, digits = 0) => `${(ratio * 100).toFixed(digits)} %`;

function checks(): Check[] {
  const out: Check[] = [];
  const notMeasured = (target: string, previous: string, why = 'not measured in this run') =>
    out.push({ target, previous, value: why, met: null });
  /** One line per process count, or with --repeat one per round and the verdict from the median round's ratio. */
  const ratioCheck = (label: string, pathName: string, target: number | null, previous: string) => {
    const measured = rows.filter((r) => r.path === pathName && r.ratio != null);
    if (measured.length === 0) return notMeasured(label, previous);
    for (const processes of [...new Set(measured.map((r) => r.processes))]) {
      const list = measured.filter((r) => r.processes === processes);
      const where = processes === null ? '' : ` (${processes} proc.)`;
      if (list.length === 1) {
        const row = list[0]!;
        out.push({ target: `${label}${where}`, previous, value: `${pct(row.ratio!)} of ${row.baseline}`, met: row.met ?? null });
        continue;
      }
      for (const row of list) {
        out.push({
          target: `${label}${where}, round ${row.round}`,
          previous: '',
          value: `${pct(row.ratio!)} of ${row.baseline}`,
          met: null,
        });
      }
      const middle = median(list.map((r) => r.ratio!));
      out.push({
        target: `${label}${where}: median of ${list.length} rounds`,
        previous,
        value: pct(middle),
        met: target === null ? null : middle >= target && list.every((r) => !r.failures),
      });
    }
  };
  ratioCheck('member-status (uncached) ≥ 35 % of raw-pg lookup', 'member-status', 0.35, PREVIOUS.status);
  ratioCheck(
    'member-status, repeated reads of unchanged members (cached) ≥ 100 % of raw-pg lookup',
    'member-status, cached',
    1,
    PREVIOUS.cachedStatus,
  );
  ratioCheck('earnPoints ≥ 50 % of raw-pg earn', 'earnPoints', 0.5, PREVIOUS.earn);
  ratioCheck('redeemPoints ≥ 50 % of raw-pg earn', 'redeemPoints', 0.5, PREVIOUS.redeem);
  ratioCheck('redeemVoucher ≥ 50 % of raw-pg earn', 'redeemVoucher', 0.5, PREVIOUS.voucher);
  // Issue 13: round i of the 5-line earn against round i of the plain earn; the verdict from the median pair.
  ratioCheck(
    'earnPoints, 5 lines under 3 rules, ≥ 90 % of plain earnPoints (issue 13)',
    'earnPoints (5 lines, 3 rules)',
    0.9,
    PREVIOUS.earnRules,
  );

  for (const [name, previous] of [
    ['earnPoints', PREVIOUS.earnOpen],
    ['member-status', PREVIOUS.statusOpen],
  ] as const) {
    const label = `${name} p99 ≤ 50 ms at a fixed arrival rate of half its maximum (open loop)`;
    const open = rows.filter((r) => r.group === 'open' && r.path === `${name}, open loop`);
    if (open.length === 0) notMeasured(label, previous);
    const describe = (row: Row) =>
      `p99 ${row.p99} ms at ${row.offered} req/s offered (${row.rps?.toFixed(0)} answered/s, p50 ${row.p50} ms` +
      `${row.service ? `; ${describeService(row.service, row.generator)}` : ''}` +
      `${row.machine ? `; machine ${describeMachine(row.machine)}` : ''}` +
      `${row.generatorCpuMsPerRequest != null ? `, load generator ${row.generatorCpuMsPerRequest.toFixed(2)} ms CPU per request` : ''})`;
    const within = (row: Row) => row.p99 != null && row.p99 <= 50 && !row.failures;
    // One line per process count, or with --repeat one per round (each at half of its own round's maximum) and the
    // verdict from the median round's p99, as the closed-loop targets take the median round's ratio.
    for (const processes of [...new Set(open.map((r) => r.processes))]) {
      const list = open.filter((r) => r.processes === processes);
      if (list.length === 1) {
        out.push({ target: `${label} (${processes} proc.)`, previous, value: describe(list[0]!), met: within(list[0]!) });
        continue;
      }
      for (const row of list)
        out.push({ target: `${label} (${processes} proc.), round ${row.round}`, previous: '', value: describe(row), met: null });
      const middle = median(list.map((r) => r.p99 ?? Number.POSITIVE_INFINITY));
      out.push({
        target: `${label} (${processes} proc.): median of ${list.length} rounds`,
        previous,
        value: `p99 ${Number.isFinite(middle) ? middle.toFixed(1) : '–'} ms (${list.filter(within).length} of ${list.length} rounds within 50 ms)`,
        met: middle <= 50 && list.every((r) => !r.failures),
      });
    }
    for (const row of rows.filter((r) => r.group === 'path' && r.path === name)) {
      out.push({
        target: `(for reference) ${name} p99, closed loop at ${connections} connections (${row.processes} proc.${row.round ? `, round ${row.round}` : ''})`,
        previous: '',
        value: `${row.p99} ms`,
        met: null,
      });
    }
  }

  ratioCheck(
    'compensation worker-side, jobs already queued, ≥ 30 % of BullMQ + 1 PG round trip',
    'compensation worker-side (jobs queued)',
    0.3,
    PREVIOUS.compensationWorker,
  );
  const ingest = rows.find((r) => r.path === 'compensation API ingest (workers stopped)');
  if (ingest)
    out.push({
      target: '(for reference) compensation API ingest, workers stopped',
      previous: '',
      value: `${ingest.rps?.toFixed(0)} reports/s`,
      met: null,
    });
  ratioCheck('(for reference) compensation end to end', 'compensation end to end', null, PREVIOUS.compensationEndToEnd);

  const incidentRow = rows.find((r) => r.path === 'incident batch: vouchers issued');
  if (incidentRow) {
    out.push({
      target: "an incident's batch path ≥ 2 000 vouchers/s",
      previous: PREVIOUS.incident,
      value: `${incidentRow.rps?.toFixed(0)} vouchers/s (${incidentRow.note})`,
      met: incidentRow.met ?? null,
    });
  } else notMeasured("an incident's batch path ≥ 2 000 vouchers/s", PREVIOUS.incident);

  for (const [name, previous] of [
    ['member-status', PREVIOUS.scaleStatus],
    ['earnPoints', PREVIOUS.scaleEarn],
  ] as const) {
    const label = `${name} p50 grows < 1.5× from small to large, in each of 3 consecutive rounds`;
    const scaleRow = (size: string, round: number) =>
      rows.find((r) => r.group === 'scale' && r.path === `${name} @ ${size}` && r.round === round && r.p50);
    const rounds = [...new Set(rows.filter((r) => r.group === 'scale' && r.path.startsWith(`${name} @`)).map((r) => r.round!))];
    const growths: number[] = [];
    for (const round of rounds.sort((a, b) => a - b)) {
      const small = scaleRow('small', round);
      const large = scaleRow('large', round);
      if (!small || !large) continue;
      const growth = large.p50! / small.p50!;
      growths.push(growth);
      out.push({
        target: `${name} p50 growth ${small.note} → ${large.note}, round ${round}`,
        previous: '',
        value: `${growth.toFixed(2)}× (${small.p50} → ${large.p50} ms)`,
        met: growth < 1.5,
      });
    }
    if (growths.length === 0) {
      notMeasured(label, previous, args.scale ? 'not measured' : 'not measured in this run (`npm run bench -- --scale`)');
      continue;
    }
    const all = growths.every((g) => g < 1.5);
    out.push({
      target: label,
      previous,
      value: `${growths.map((g) => `${g.toFixed(2)}×`).join(', ')}${growths.length < 3 ? ` (only ${growths.length} round${growths.length > 1 ? 's' : ''}: no verdict)` : ''}`,
      met: all ? (growths.length >= 3 ? true : null) : false,
    });
  }

  for (const name of ['member-status', 'earnPoints']) {
    const traced = rows.filter((r) => r.path === `${name}, traced` && r.ratio != null);
    if (traced.length === 0) notMeasured(`tracing overhead: ${name} traced ÷ untraced (no target)`, PREVIOUS.tracing);
    for (const row of traced) {
      out.push({
        target: `tracing overhead: ${name} traced ÷ untraced (no target, ${row.processes} proc.)`,
        previous: PREVIOUS.tracing,
        value: `${pct(row.ratio!)} of ${row.baseline} (${row.note ?? ''})`,
        met: null,
      });
    }
  }

  const rssRows = rows.filter((r) => r.rssMb != null && r.group !== 'baseline' && !r.path.startsWith('yoga'));
  if (rssRows.length) {
    const worst = Math.max(...rssRows.map((r) => r.rssMb!));
    out.push({
      target: 'API RSS < 300 MB after load (per process)',
      previous: PREVIOUS.rss,
      value: `${worst.toFixed(0)} MB (largest)`,
      met: worst < 300,
    });
  }
  return out;
}

/** A row's path with its round (`--repeat`, scale rounds) and, open loop, the arrival rate sent. */
function pathCell(r: Row): string {
  return `${r.path}${r.round ? `, round ${r.round}` : ''}${r.before ? ` (before ${r.before})` : ''}${r.offered ? ` @ ${r.offered} req/s` : ''}`;
}

function markdown(meta: Record<string, unknown>, checkList: Check[]): string {
  const fmt = (value: number | null | undefined, digits = 1) => (value == null || !Number.isFinite(value) ? '–' : value.toFixed(digits));
  const lines = [
    `# Treue benchmark ${meta.runId}`,
    '',
    `Machine: ${meta.cpu}, ${meta.cores} cores (nproc), ${meta.ramGb} GB RAM; Node ${meta.node}; PostgreSQL ${meta.postgres}; load average before/after: ${meta.loadBefore} / ${meta.loadAfter}.`,
    `Data: ${meta.data}. Load from a separate process on the same machine (autocannon in a closed loop, loadtest in an open loop), ${serviceWarmup > 0 ? `each service path first run ${serviceWarmup} s unmeasured per process count, then ` : ''}${warmup} s warm-up + ${duration} s per path, ` +
      (args.scale
        ? `at a fixed arrival rate of ${num('scale-rate')} req/s (open loop, loadtest: below capacity, p50 is latency, not queueing); small and large in turns, ${num('scale-rounds')} rounds.`
        : `${connections} connections (closed loop: at saturation, latency ≈ connections ÷ throughput); rows "open loop" at a fixed arrival rate of half the req/s its closed loop measured right before, in the same round (loadtest).`),
    '',
    '| path | proc. | req/s | p50 ms | p99 ms | API RSS MB | baseline | ratio | target | met |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${pathCell(r)} | ${r.processes ?? '–'} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.rssMb, 0)} | ${r.baseline ?? ''} | ${r.ratio != null ? `${(r.ratio * 100).toFixed(0)} %` : ''} | ${r.target ?? ''} | ${r.met == null ? '' : r.met ? 'yes' : '**no**'} |`,
    ),
    '',
    '## Targets',
    '',
    '| target | previous round | this run | met |',
    '| --- | --- | --- | --- |',
    ...checkList.map((c) => `| ${c.target} | ${c.previous} | ${c.value} | ${c.met == null ? '–' : c.met ? 'yes' : '**no**'} |`),
  ];
  const failed = rows.filter((r) => r.note && r.failures);
  if (notes.length || failed.length) {
    lines.push('', '## Notes', '', ...notes.map((n) => `- ${n}`), ...failed.map((r) => `- ${r.path} × ${r.processes}: ${r.note}`));
  }
  return `${lines.join('\n')}\n`;
}

function printTable(checkList: Check[]): void {
  const fmt = (value: number | null | undefined, digits = 1) => (value == null || !Number.isFinite(value) ? '–' : value.toFixed(digits));
  const table = rows.map((r) => ({
    path: pathCell(r),
    proc: r.processes ?? '–',
    'req/s': fmt(r.rps, 0),
    'p50 ms': fmt(r.p50),
    'p99 ms': fmt(r.p99),
    'RSS MB': fmt(r.rssMb, 0),
    baseline: r.baseline ?? '',
    ratio: r.ratio != null ? `${(r.ratio * 100).toFixed(0)} %` : '',
    target: r.target ?? '',
    met: r.met == null ? '' : r.met ? 'yes' : 'NO',
  }));
  console.log('');
  console.table(table);
  console.table(
    checkList.map((c) => ({ target: c.target, previous: c.previous, measured: c.value, met: c.met == null ? '–' : c.met ? 'yes' : 'NO' })),
  );
  for (const note of notes) console.log(`note: ${note}`);
}

// ---------------------------------------------------------------------------
// Runs

interface Seeded {
  database: string;
  token: string;
  members: number;
}

/** A seeded database; with --reuse, one seeded earlier with the same sizes is taken as it is. */
async function seeded(members: number, entries: number, vouchers: number, label: string): Promise<Seeded> {
  const database = args.reuse ? `treue_bench_m${members}_e${entries}_v${vouchers}` : `treue_bench_${runId}_${label}`;
  if (args.reuse && (await databaseExists(database))) {
    const comment = await withAdminClient(async (client) => {
      const { rows: found } = await client.query<{ comment: string | null }>(
        `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
        [database],
      );
      return found[0]?.comment ?? null;
    });
    const meta = comment ? (JSON.parse(comment) as { token?: string }) : {};
    if (meta.token) {
      console.log(`reusing ${database}`);
      return { database, token: meta.token, members };
    }
  }
  console.log(`seeding ${database}: ${members} members × ${entries} ledger entries, ${vouchers} vouchers each`);
  await createBenchDatabase(database);
  const result = await seed({
    database,
    members,
    entriesPerMember: entries,
    vouchersPerMember: vouchers,
    log: (line) => console.log(`  ${line}`),
  });
  console.log(`  seeded in ${result.seconds.toFixed(0)} s`);
  if (args.reuse) {
    const comment = JSON.stringify({ token: result.apiKey, members, entries, vouchers });
    await withAdminClient((client) => client.query(`COMMENT ON DATABASE "${database}" IS '${comment.replace(/'/g, "''")}'`));
  }
  return { database, token: result.apiKey, members };
}

/** The server's version and the settings that decide where a large database's pages are kept. */
async function postgresSettings(): Promise<string> {
  return withAdminClient(async (client) => {
    const { rows: found } = await client.query<{ version: string; shared_buffers: string; effective_cache_size: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('shared_buffers') AS shared_buffers,
              current_setting('effective_cache_size') AS effective_cache_size`,
    );
    const row = found[0]!;
    return `${row.version} (shared_buffers ${row.shared_buffers}, effective_cache_size ${row.effective_cache_size})`;
  });
}

/**
 * What autovacuum does between a live database's busy minutes, done here when the server has it off (this machine's
 * PostgreSQL: `autovacuum = off` in conf.d/90-ci.conf, found 2026-12-07): a round's writes leave tens of thousands of
 * dead member, lot and voucher versions and double the ledger, and with autovacuum off nothing cleans them or renews
 * the statistics before the next round's reads. Off the clock: between loads, never during one.
 */
/** The server's autovacuum setting, read at the first call of a run. */
let autovacuumOff: boolean | undefined;
async function vacuumIfAutovacuumOff(database: string, before: string): Promise<void> {
  if (autovacuumOff === undefined) {
    const setting = await withAdminClient(
      async (client) => (await client.query<{ on: string }>(`SELECT current_setting('autovacuum') AS on`)).rows[0]!.on,
    );
    autovacuumOff = setting !== 'on';
    if (autovacuumOff)
      notes.push("the server's autovacuum is off: VACUUM (ANALYZE) of the bench database before each warm-up pass and round");
  }
  if (!autovacuumOff) return;
  const started = Date.now();
  await withAdminClient((client) => client.query('VACUUM (ANALYZE)'), database);
  console.log(`  vacuum analyze before ${before} (the server's autovacuum is off): ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function defaultRun(): Promise<string> {
  const members = num('members');
  // The warm-up pass redeems codes as a round does.
  const voucherRounds = selected.has('voucher') ? (num('repeat') + (serviceWarmup > 0 ? 1 : 0)) * processCounts.length : 0;
  const vouchers = args.vouchers === undefined ? Math.max(6, 3 * voucherRounds) : num('vouchers');
  const schema = buildSchema(await readFile(path.join(ROOT, 'schema.graphql'), 'utf8'));
  const mutations = schema.getMutationType()?.getFields() ?? {};
  const status = statusQuery(schema);
  if (status.missing.length) notes.push(`member-status: ${status.missing.join(', ')} not in schema.graphql yet, so not queried.`);
  notes.push(`member-status query: member(id) { ${status.fields.join(', ')} }`);
  const hasVoucher = 'redeemVoucher' in mutations;
  if (!hasVoucher) notes.push('redeemVoucher: not measured — no such mutation in schema.graphql yet.');
  if (!('reportServiceFailure' in mutations)) notes.push('reportServiceFailure: not in schema.graphql yet.');

  const db = await seeded(members, num('entries'), vouchers, 'main');
  for (const processes of processCounts) {
    // The baselines and the service run side by side (different ports; the one not loaded idles), and each
    // service path is measured right after its own baseline: a ratio pairs req/s measured seconds apart, while this
    // machine's speed drifts between runs and within one (until 2026-12-06 each round measured every baseline
    // first, then the paths: a minute or two between a baseline and the last of its paths).
    console.log(
      `\n${processes} process${processes > 1 ? 'es' : ''}: the baselines, and the service (npm start, NODE_ENV=production, ` +
        `WEB_CONCURRENCY=${processes})`,
    );
    const baseline = await startBaseline(db.database, processes);
    let started: Server | undefined;
    try {
      const service = (started = await startService(db.database, processes, `p${processes}`));
      const common = { token: db.token, members };
      type BaselineKind = 'bare' | 'lookup' | 'raw-earn' | 'raw-earn-rows';
      // The service's paths in the order every round runs them, each after its baseline (`base`, in a measured round
      // only), member status and earnPoints each followed by its open loop (`open`, the same; the earn's after the
      // earn with rules, which pairs with the plain earn); the warm-up pass runs the paths in the same order.
      const servicePaths = async <Ran>(
        run: (spec: ServicePathSpec) => Promise<Ran>,
        base: (kind: BaselineKind, before: LoadKind) => Promise<unknown> = async () => undefined,
        open: (spec: ServicePathSpec, closed: Ran) => Promise<unknown> = async () => undefined,
      ) => {
        if (selected.has('status')) {
          await base('lookup', 'status');
          const spec = { ...common, kind: 'status', statusQuery: status.query } as const;
          await open(spec, await run(spec));
        }
        if (selected.has('cached-status')) {
          const spec = { ...common, ...(await cachedStatus(members)) };
          await base('lookup', 'cached-status');
          await run(spec);
        }
        let earn: { spec: ServicePathSpec; closed: Ran } | undefined;
        if (selected.has('earn')) {
          // The rows' ceiling beside the raw earn it is a share of, and earnPoints right after both.
          await base('raw-earn-rows', 'earn');
          await base('raw-earn', 'earn');
          const spec = { ...common, kind: 'earn' } as const;
          earn = { spec, closed: await run(spec) };
        }
        if (selected.has('earn-rules')) {
          // Its baseline is the plain earn just measured (issue 13), so the earn's open loop comes after it.
          await activateBenchRules(db.database);
          await run({ ...common, kind: 'earn-rules' });
        }
        if (earn) await open(earn.spec, earn.closed);
        if (selected.has('redeem')) {
          await base('raw-earn', 'redeem');
          await run({ ...common, kind: 'redeem' });
        }
        if (selected.has('voucher') && hasVoucher) {
          await base('raw-earn', 'voucher');
          await run({ ...common, kind: 'voucher', vouchersPerMember: vouchers, voucherStart: voucherCursor });
        }
      };
      if (serviceWarmup > 0) {
        await vacuumIfAutovacuumOff(db.database, 'the warm-up pass');
        await servicePaths((spec) => warm(service, spec));
      }
      const repeat = num('repeat');
      for (let index = 1; index <= repeat; index++) {
        // With --repeat, every row carries its round: a ratio pairs round i with the baseline's round i.
        const round = repeat > 1 ? index : undefined;
        await vacuumIfAutovacuumOff(db.database, `round ${index}`);
        const measuredBaselines = new Set<BaselineKind>();
        const base = async (kind: BaselineKind, before?: LoadKind) => {
          if (!selected.has(kind)) return;
          measuredBaselines.add(kind);
          await load(baseline, { kind, members }, 'baseline', undefined, round, before ? LABELS[before] : undefined);
        };
        // Issue 15's latency target, right after the closed loop that measured the path's maximum: half of that
        // maximum, sent at a fixed rate (the machine's speed drifts within minutes; a rate taken from another round
        // can be more than half of what the machine does now, or less).
        const open = async (spec: ServicePathSpec, closed: Row) => {
          if (!selected.has('open') || !closed.rps) return;
          const rate = Math.max(1, Math.round(closed.rps / 2));
          await load(service, { ...spec, rate }, 'open', `${LABELS[spec.kind]}, open loop`, round);
        };
        await base('bare');
        await servicePaths((spec) => load(service, spec, 'path', undefined, round), base, open);
        // A baseline selected without any of its paths is measured once in the round all the same.
        for (const kind of ['lookup', 'raw-earn', 'raw-earn-rows'] as const) if (!measuredBaselines.has(kind)) await base(kind);
      }
    } finally {
      if (started) await stopProcess(started.child);
      await stopProcess(baseline.child);
    }
    if (selected.has('tracing')) await traced(db, processes, status.query);
  }
  console.log('\nbaselines outside the API');
  if (selected.has('pgbench')) await pgbench(db.database, members);
  if (selected.has('bullmq')) await bullmq(db.database, members);
  if (selected.has('compensation')) await compensation();
  if (selected.has('incident')) await incident();

  relate('earnPoints', 'yoga + raw pg earn', 0.5);
  relate('redeemPoints', 'yoga + raw pg earn', 0.5);
  // Issue 13: an order of 5 lines under 3 active rules within 10 % of the plain earn, in the same run.
  relate('earnPoints (5 lines, 3 rules)', 'earnPoints', 0.9);
  relate('redeemVoucher', 'yoga + raw pg earn', 0.5);
  relate('member-status', 'yoga + raw pg lookup', 0.35);
  relate('member-status, cached', 'yoga + raw pg lookup', 1);
  relate('member-status, traced', 'member-status', null);
  relate('earnPoints, traced', 'earnPoints', null);
  relate('yoga + raw pg earn', 'pgbench earn', null, false);
  // What the rows alone allow: the service's statements with the raw earn's JavaScript, against the raw earn
  // (the ceiling of earnPoints' ratio) and earnPoints against them (what the service's code costs beyond its SQL).
  relate(ROWS_EARN, 'yoga + raw pg earn', null);
  notes.push(...beyondTheRows());
  relate('yoga + raw pg lookup', 'yoga bare', null);
  // Issue 15's target is worker-side (jobs already queued); end to end is kept for comparison with earlier rounds.
  relate('compensation end to end', 'BullMQ + 1 PG round trip (compensation bench)', null, false);
  relate('compensation worker-side (jobs queued)', 'BullMQ + 1 PG round trip (compensation bench)', 0.3, false);
  if (!args.keep && !args.reuse) await dropDatabase(db.database);
  return `${members} members, ${num('entries')} ledger entries and ${vouchers} vouchers each`;
}

/**
 * Tracing's cost: the service again with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a sink in this
 * process that answers 200 to every OTLP/HTTP post (and counts them: a traced run that exported
 * nothing measured nothing), then member-status and earnPoints in the same closed loop. The ratio
 * traced ÷ untraced has no target.
 */
async function traced(db: Seeded, processes: number, statusQuery: string): Promise<void> {
  let posts = 0;
  let bytes = 0;
  const sink = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      posts += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => sink.listen(OTLP_SINK_PORT, '127.0.0.1', resolve));
  console.log(`${processes} process${processes > 1 ? 'es' : ''}: the service traced (OTLP to a sink on 127.0.0.1:${OTLP_SINK_PORT})`);
  const service = await startService(db.database, processes, `p${processes}-traced`, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${OTLP_SINK_PORT}`,
  });
  const tracedRows: Row[] = [];
  try {
    const common = { token: db.token, members: db.members };
    for (const kind of ['status', 'earn'] as const) {
      if (!selected.has(kind)) continue;
      const spec = kind === 'status' ? ({ ...common, kind, statusQuery } as const) : ({ ...common, kind } as const);
      tracedRows.push(await load(service, spec, 'path', `${LABELS[kind]}, traced`));
    }
  } finally {
    // Stopping flushes the spans still buffered (batches go out every 5 s or 512 spans).
    await stopProcess(service.child);
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
  const exported = `the traced service sent ${posts} OTLP posts, ${(bytes / 1024).toFixed(0)} KB, to the sink`;
  for (const row of tracedRows) row.note = row.note ? `${row.note}; ${exported}` : exported;
  if (posts === 0) notes.push(`traced × ${processes}: the sink received nothing — the service did not trace, the rows measured nothing`);
}

async function scaleRun(): Promise<string> {
  const entries = num('scale-entries');
  const sizes = [
    { label: 'small', members: num('scale-small') },
    { label: 'large', members: num('scale-members') },
  ];
  const schema = buildSchema(await readFile(path.join(ROOT, 'schema.graphql'), 'utf8'));
  const status = statusQuery(schema);
  const processes = Math.max(...processCounts);
  const dbs = [];
  for (const size of sizes) dbs.push({ ...size, db: await seeded(size.members, entries, 5, size.label) });
  if (args.prewarm) for (const { db } of dbs) notes.push(await prewarm(db.database));
  for (let round = 1; round <= num('scale-rounds'); round++) {
    for (const { db, ...size } of dbs) {
      console.log(`\nround ${round}, ${size.members} members: the service × ${processes}`);
      const service = await startService(db.database, processes, `scale-${size.label}-${round}`);
      try {
        // A fixed arrival rate below capacity (open loop): p50 is then the service's latency, not the queue at saturation.
        const common = { token: db.token, members: size.members, rate: num('scale-rate') };
        const note = `${size.members.toLocaleString('en')} members`;
        if (selected.has('status')) {
          const spec = { ...common, kind: 'status', statusQuery: status.query } as const;
          (await load(service, spec, 'scale', `member-status @ ${size.label}`, round)).note = note;
        }
        if (selected.has('earn'))
          (await load(service, { ...common, kind: 'earn' }, 'scale', `earnPoints @ ${size.label}`, round)).note = note;
      } finally {
        await stopProcess(service.child);
      }
    }
  }
  if (!args.keep && !args.reuse) for (const { db } of dbs) await dropDatabase(db.database);
  return `${sizes.map((s) => s.members).join(' vs ')} members × ${entries} ledger entries each`;
}

/**
 * What a member's status read and earn use, most used first: every index led by the member's id,
 * and the heaps the status read reads (an earn's new rows go to the end of theirs).
 */
const MEMBER_DATA = [
  { table: 'members', heap: true },
  { table: 'vouchers', heap: true },
  { table: 'ledger_entries', heap: true },
  { table: 'point_lots', heap: true },
  { table: 'point_orders', heap: false },
];

/** Loads MEMBER_DATA into shared_buffers, heap and member indexes, as long as 90 % of it is not used up; says what it loaded. */
async function prewarm(database: string): Promise<string> {
  return withAdminClient(async (client) => {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm');
    const { rows: budget } = await client.query<{ bytes: string }>(
      `SELECT (pg_size_bytes(current_setting('shared_buffers')) * 0.9)::bigint AS bytes`,
    );
    const { rows: relations } = await client.query<{ name: string; bytes: string }>(
      `SELECT r.relname AS name, pg_relation_size(r.oid) AS bytes, t.ord, 0 AS kind
         FROM unnest($2::text[]) WITH ORDINALITY AS t(name, ord) JOIN pg_class r ON r.relname = t.name AND r.relkind = 'r'
       UNION ALL
       SELECT i.relname, pg_relation_size(i.oid), t.ord, 1
         FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord)
         JOIN pg_class r ON r.relname = t.name AND r.relkind = 'r'
         JOIN pg_index x ON x.indrelid = r.oid
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = x.indkey[0]
        WHERE a.attname = CASE WHEN r.relname = 'members' THEN 'id' ELSE 'member_id' END
       ORDER BY ord, kind DESC, name`,
      [MEMBER_DATA.map((d) => d.table), MEMBER_DATA.map((d) => (d.heap ? d.table : null))],
    );
    let left = Number(budget[0]!.bytes);
    const loaded: string[] = [];
    const skipped: string[] = [];
    for (const relation of relations) {
      const bytes = Number(relation.bytes);
      if (bytes > left) {
        skipped.push(relation.name);
        continue;
      }
      await client.query('SELECT pg_prewarm($1::regclass)', [relation.name]);
      left -= bytes;
      loaded.push(`${relation.name} ${Math.round(bytes / 2 ** 20)} MB`);
    }
    return `${database}: prewarmed into shared_buffers: ${loaded.join(', ')}${skipped.length ? `; did not fit: ${skipped.join(', ')}` : ''}.`;
  }, database);
}

/** Deletes this run's Redis keys (the service's queues under its QUEUE_PREFIX, the BullMQ baselines'). */
async function cleanRedis(): Promise<void> {
  const redis = new Redis(BENCH_REDIS, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `treue-bench-${runId}*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * The run's time limit: 60 minutes with --scale; a default run 15 minutes, and 5 more per round of --repeat and
 * process count (three rounds with 1 and 2 processes took 29.4 minutes with 10 s windows on this machine, the open
 * loop measured once per process count; it now runs in every round). Windows longer than 10 s stretch the rounds.
 */
function watchdogMinutes(): number {
  if (args.scale) return 60;
  return 15 + 5 * num('repeat') * processCounts.length * Math.max(1, (duration + warmup) / 15);
}

async function main(): Promise<void> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error('bench: over the time limit, stopping');
    stopAllNow();
    process.exit(1);
  }, watchdogMinutes() * 60_000);
  watchdog.unref();
  logDir = await mkdtemp(path.join(tmpdir(), `treue-bench-${runId}-`));
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(`bench ${runId}: logs in ${logDir}`);
  const data = await (args.scale ? scaleRun() : defaultRun()).finally(() => cleanRedis().catch(() => undefined));
  const checkList = checks();
  const meta = {
    runId,
    mode: args.scale ? 'scale' : 'default',
    cpu: cpus()[0]?.model ?? 'unknown',
    cores,
    ramGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: await postgresSettings(),
    loadBefore,
    loadAfter: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    data,
    connections,
    duration,
    warmup,
    poolSize,
    processCounts,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  printTable(checkList);
  await mkdir(args.out!, { recursive: true });
  const base = path.join(args.out!, `${meta.mode}-${runId}`);
  const json = JSON.stringify(
    {
      meta,
      rows: rows.map((r) => ({ ...r, rps: round(r.rps), ratio: round(r.ratio, 3), rssMb: round(r.rssMb) })),
      targets: checkList,
      notes,
    },
    null,
    2,
  );
  const md = markdown(meta, checkList);
  await writeFile(`${base}.json`, `${json}\n`);
  await writeFile(`${base}.md`, md);
  await writeFile(path.join(args.out!, `latest-${meta.mode}.json`), `${json}\n`);
  await writeFile(path.join(args.out!, `latest-${meta.mode}.md`), md);
  console.log(`\nwritten: ${base}.json, ${base}.md (and latest-${meta.mode}.*) in ${meta.seconds} s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    stopAllNow();
    process.exit(1);
  },
);
