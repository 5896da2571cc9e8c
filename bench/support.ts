import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * What the seeder, the load generator and the baselines agree on: member i's
 * id, voucher codes, the bench API key, and where the bench databases live.
 * Ids are md5-derived (PostgreSQL's `md5(text)::uuid` gives the same), so the
 * load generator can address any seeded member without reading the database.
 */

/** The machine's PostgreSQL, as the issue asks: only 127.0.0.1. */
export const BENCH_POSTGRES = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const BENCH_REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Every database the bench creates starts with this. */
export const BENCH_DB_PREFIX = 'treue_bench_';

/**
 * The bench measures throughput, far above any production budget: the limiter stays
 * on (its Redis round trip is part of what is measured) with budgets no run reaches.
 */
export const BENCH_RATE_LIMITS: Record<string, string> = Object.fromEntries(
  ['API_KEY', 'MEMBER', 'ADDRESS'].flatMap((kind) =>
    ['MUTATIONS', 'VOUCHER_LOOKUPS'].map((bucket) => [`RATE_LIMIT_${kind}_${bucket}`, '1000000000']),
  ),
);

/**
 * The tick of an event-loop delay monitor, ms: Node's `monitorEventLoopDelay` records the whole time between two
 * ticks, so a loop that is never late reads this much. prom-client's monitor on the service (its default
 * `eventLoopMonitoringPrecision`, src/metrics.ts) ticks at the same 10 ms.
 */
export const LOOP_MONITOR_TICK_MS = 10;

/** How late a loop ran, in ms, from what such a monitor recorded (ms). */
export const loopLatenessMs = (recordedMs: number): number => Math.max(0, recordedMs - LOOP_MONITOR_TICK_MS);

export function md5Uuid(text: string): string {
  const hex = createHash('md5').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Seeded member `i` (1-based). SQL: `md5('m' || i)::uuid`. */
export const memberId = (i: number): string => md5Uuid(`m${i}`);

/** Hex digit → voucher alphabet letter: the same `translate` the seeder does in SQL. */
const HEX_TO_CODE: Record<string, string> = Object.fromEntries(
  [...'0123456789abcdef'].map((hex, index) => [hex, 'ABCDEFGHJKMNPQRS'[index]!]),
);

/** Voucher `k` (1-based) of member `i`. SQL: see `voucherCodeSql`. */
export function voucherCode(i: number, k: number): string {
  const hex = createHash('md5').update(`v${i}.${k}`).digest('hex').slice(0, 16);
  const chars = [...hex].map((c) => HEX_TO_CODE[c]!).join('');
  return `TRU-${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}-${chars.slice(12, 16)}`;
}

/** SQL for the same codes: `chars` is `voucherCharsSql(i, k)`, computed once per row (a LATERAL). */
export function voucherCharsSql(i: string, k: string): string {
  return `translate(substr(md5('v' || ${i} || '.' || ${k}), 1, 16), '0123456789abcdef', 'ABCDEFGHJKMNPQRS')`;
}

export function voucherCodeSql(chars: string): string {
  return `'TRU-' || substr(${chars}, 1, 4) || '-' || substr(${chars}, 5, 4) || '-' || substr(${chars}, 9, 4) || '-' || substr(${chars}, 13, 4)`;
}

export function databaseUrl(name: string): string {
  const url = new URL(BENCH_POSTGRES);
  url.pathname = `/${name}`;
  return url.toString();
}

export function assertBenchDatabase(name: string): void {
  if (!/^treue_bench_[a-z0-9_]+$/.test(name)) throw new Error(`not a bench database name: ${name}`);
}

/** One connection for `work`: to the server's admin database, or to the bench database `database`. */
export async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const client = new pg.Client({ connectionString: database ? databaseUrl(database) : BENCH_POSTGRES });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  assertBenchDatabase(name);
  await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

export async function databaseExists(name: string): Promise<boolean> {
  return withAdminClient(async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return (rowCount ?? 0) > 0;
  });
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** User + system CPU time of a process on this machine so far, in ms (/proc/<pid>/stat); rejects when it is gone. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, USER_HZ = 100
}

/**
 * What a process's main thread and the process did so far (/proc/<pid>/status and /proc/<pid>/io): `wakeups`, the
 * main thread's voluntary context switches — each time it blocked and was woken, mostly its event loop sleeping in
 * epoll, timer ticks included (prom-client's loop monitor wakes an idle loop every 10 ms); `preempted`, its
 * involuntary ones (taken off a core while it had work); `reads` and `writes`, the whole process's read/readv and
 * write/writev system calls (`syscr`, `syscw`: sockets included, sendmsg/recvmsg and epoll not).
 */
export interface ProcessActivity {
  wakeups: number;
  preempted: number;
  reads: number;
  writes: number;
}

export async function processActivity(pid: number): Promise<ProcessActivity> {
  const [status, io] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/io`, 'utf8')]);
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    wakeups: field(status, 'voluntary_ctxt_switches'),
    preempted: field(status, 'nonvoluntary_ctxt_switches'),
    reads: field(io, 'syscr'),
    writes: field(io, 'syscw'),
  };
}

/** `processActivity` of each process; one that is gone or unreadable is left out. */
export async function totalActivity(pids: number[]): Promise<Map<number, ProcessActivity>> {
  const read = await Promise.all(pids.map(async (pid) => [pid, await processActivity(pid).catch(() => null)] as const));
  return new Map(read.filter((entry): entry is readonly [number, ProcessActivity] => entry[1] !== null));
}

/**
 * What the processes did between two readings, summed; null unless both readings have every one of `pids` with
 * every count (a process that ended, began or could not be read would make zeros look measured).
 */
export function activityDelta(
  pids: number[],
  before: Map<number, ProcessActivity>,
  after: Map<number, ProcessActivity>,
): ProcessActivity | null {
  const sum: ProcessActivity = { wakeups: 0, preempted: 0, reads: 0, writes: 0 };
  for (const pid of pids) {
    const start = before.get(pid);
    const end = after.get(pid);
    if (!start || !end) return null;
    for (const key of Object.keys(sum) as (keyof ProcessActivity)[]) {
      const delta = end[key] - start[key];
      if (!Number.isFinite(delta) || delta < 0) return null;
      sum[key] += delta;
    }
  }
  return sum;
}

/**
 * The machine's CPU time so far, summed over its cores (the first line of /proc/stat, in USER_HZ ticks): `busy`, what
 * any process ran (user, nice, system, irq, softirq); `stolen`, what the hypervisor gave another guest while this one
 * had work (steal); `total`, everything, idle and iowait included.
 */
export interface MachineCpu {
  busy: number;
  stolen: number;
  total: number;
}

export async function machineCpu(): Promise<MachineCpu | null> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n', 1)[0] ?? '';
  const ticks = line.split(/\s+/).slice(1, 9).map(Number);
  if (!line.startsWith('cpu ') || ticks.length < 8 || ticks.some((n) => !Number.isFinite(n))) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks as [number, number, number, number, number, number, number, number];
  return { busy: user + nice + system + irq + softirq, stolen: steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** The machine's share of CPU time between two readings that went to work and to other guests, in % of all cores; null without both. */
export function machineDelta(before: MachineCpu | null, after: MachineCpu | null): { busyPct: number; stolenPct: number } | null {
  const total = before && after ? after.total - before.total : 0;
  if (!before || !after || total <= 0) return null;
  return { busyPct: (100 * (after.busy - before.busy)) / total, stolenPct: (100 * (after.stolen - before.stolen)) / total };
}

/** Every PostgreSQL process on the machine (the bench's and anyone else's: an upper bound). */
async function postgresPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'postgres') pids.push(Number(name));
  }
  return pids;
}

/** The processes `pid` started (its node:cluster workers), from /proc. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** Each process's CPU time so far (`processCpuMs`; NaN for one that is gone). */
export async function totalCpuMs(pids: number[]): Promise<Map<number, number>> {
  return new Map(await Promise.all(pids.map(async (pid) => [pid, await processCpuMs(pid).catch(() => NaN)] as [number, number])));
}

/** The CPU time the processes of `before` used since, those that ended or began in between left out. */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (start !== undefined && Number.isFinite(start) && Number.isFinite(end)) sum += Math.max(0, end - start);
  }
  return sum;
}

/**
 * Starts counting the CPU time of every PostgreSQL process there is now; the function it resolves with gives the
 * milliseconds they used since (processes that ended or began in between left out).
 */
export async function countPostgresCpu(): Promise<() => Promise<number>> {
  const before = await totalCpuMs(await postgresPids());
  return async () => cpuDelta(before, await totalCpuMs([...before.keys()]));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Deletes a bench run's Redis keys: every key under its private `prefix`. */
export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * The 3 earning rules of the `earn-rules` path (docs/earning-rules.md), in force from now on the bench
 * database (once; a new stamp so every API process reads them): a double on category c except SKU-4,
 * SKU-4 excluded, a bonus of 10 on web orders from 5.00.
 */
export async function activateBenchRules(database: string): Promise<void> {
  await withAdminClient(async (client) => {
    await client.query(`
      INSERT INTO earning_rules (name, kind, starts_at, include_categories, exclude_skus, include_skus, channels, min_order_total,
                                 multiplier, points, created_by, updated_by)
      SELECT r.* FROM (VALUES
        ('Bench double', 'LINE_MULTIPLIER'::"EarningRuleKind", now() - interval '1 day', ARRAY['c'], ARRAY['SKU-4'], ARRAY[]::text[],
         ARRAY[]::text[], NULL::numeric, 2::numeric, NULL::int, 'bench', 'bench'),
        ('Bench exclusion', 'LINE_MULTIPLIER', now() - interval '1 day', ARRAY[]::text[], ARRAY[]::text[], ARRAY['SKU-4'],
         ARRAY[]::text[], NULL, 0, NULL, 'bench', 'bench'),
        ('Bench web bonus', 'ORDER_BONUS', now() - interval '1 day', ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[],
         ARRAY['web'], 5.00, NULL, 10, 'bench', 'bench')) AS r
      WHERE NOT EXISTS (SELECT 1 FROM earning_rules WHERE created_by = 'bench')`);
    await client.query('UPDATE program SET earning_rules_stamp = gen_random_uuid() WHERE id = 1');
  }, database);
}

/** The lower middle of `values` (the middle one for an odd count): a value measured, never the mean of two. NaN for none. */
export function lowerMedian(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

/** BEGIN, `work`, COMMIT on one connection of `pool` (ROLLBACK when it throws): the raw baselines' transactions. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * How `npm start` runs the service of the checkout at `dir`: its package.json `start` script (`node <flags> <entry>`),
 * as the flags and the entry, so that a bench can spawn it without a shell or npm in between.
 */
export async function startCommandOf(dir: string): Promise<{ flags: string[]; entry: string }> {
  const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [command, ...flags] = pkg.scripts.start!.trim().split(/\s+/);
  const entry = flags.pop();
  if (command !== 'node' || !entry || flags.some((arg) => !arg.startsWith('--'))) {
    throw new Error(`cannot launch the start script "${pkg.scripts.start}" directly: expected "node [--flags] <entry>"`);
  }
  return { flags, entry };
}
