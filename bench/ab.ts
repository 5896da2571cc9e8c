import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSchema } from 'graphql';
import { DEFAULT_DATABASE_POOL_SIZE } from '../src/config/env.js';
import type { LoadKind, LoadResult, LoadSpec } from './load.js';
import { statusQuery } from './status-query.js';
import {
  activateBenchRules,
  BENCH_RATE_LIMITS,
  BENCH_REDIS,
  childPids,
  countPostgresCpu,
  cpuDelta,
  databaseExists,
  databaseUrl,
  lowerMedian,
  startCommandOf,
  totalCpuMs,
  withAdminClient,
} from './support.js';

/**
 * Two builds of the service side by side, for a change to a hot path on a machine that others
 * share: both run at once (A and B, each its checkout's built `dist/src/main.js` with the node
 * flags of its `start` script, one API process; build both first, as below), and the same load
 * goes to one, then the other, in short alternating slices, so that whatever else the machine
 * does falls on both alike. Reports each build's CPU per request — its API process's and
 * PostgreSQL's (user + system, /proc: every postgres process, the idle build's connections
 * included) — and req/s per slice, and B ÷ A of their medians.
 *
 *   npm run -s build && (cd ../other && npm run -s build)
 *   npx tsx bench/ab.ts --a ../other --b . [--paths status,earn] [--rounds 6] [--seconds 4]
 *
 * Or one build under two settings: `--a . --b . --b-env RATE_LIMIT_API_KEY_MUTATIONS=0` (`--a-env`, `--b-env`:
 * `NAME=value` pairs, comma-separated, added to that side's environment). `--processes 2` runs each as two API
 * processes (node:cluster, as `WEB_CONCURRENCY=2`): "API" is then theirs, "primary" the process that forked them
 * (it runs the BullMQ workers and the outbox relay, as with one process, where they are in "API").
 *
 * Before round 1, each side runs each path unmeasured for `--warm-up` seconds (10): a fresh API process's CPU per
 * request settles only after thousands of requests per path (two fresh two-process sides, 2026-12-06: member status
 * 2.4–2.6 ms of API CPU per answer in a first round of 1 + 4 s, 0.9–1.1 from the third).
 *
 * The `voucher` path redeems the seeded codes in order, after those redeemed before (a reused database); the
 * `earn-rules` path activates the bench's three earning rules first, as `npm run bench` does (they stay active).
 *
 * Uses the database that `npm run bench -- --reuse` seeded (default 10 000 members × 20 entries,
 * 6 vouchers: `--database`), and its API key.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    paths: { type: 'string', default: 'status,earn' },
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '10' },
    processes: { type: 'string', default: '1' },
    database: { type: 'string', default: 'treue_bench_m10000_e20_v6' },
    'a-env': { type: 'string', default: '' },
    'b-env': { type: 'string', default: '' },
    /**
     * Flags for both sides' `node` (space-separated; `{label}` becomes A or B), for a look inside the service under
     * this load: `--node-args='--cpu-prof --cpu-prof-dir /tmp/prof-{label}'` (with `=`: the value starts with a
     * dash), or V8's map log, `--node-args='--log-maps --logfile=/tmp/maps-{label}.log --no-logfile-per-isolate'`
     * (bench/profile-summary.ts --maps reads it).
     */
    'node-args': { type: 'string', default: '' },
    /** Seconds each side runs each path, unmeasured, before round 1 (a fresh process's CPU per request settles over thousands of requests). */
    'warm-up': { type: 'string', default: '10' },
  },
});
if (!args.a) throw new Error('--a <checkout> is required (the build to compare against)');

interface Build {
  label: 'A' | 'B';
  dir: string;
  port: number;
  child: ChildProcess;
  /** API processes (`--processes`, or WEB_CONCURRENCY in that side's `--a-env`/`--b-env`). */
  processes: number;
}

async function main(): Promise<void> {
  const database = args.database;
  if (!(await databaseExists(database))) throw new Error(`${database} does not exist: run \`npm run bench -- --reuse\` once`);
  const token = await withAdminClient(async (client) => {
    const { rows } = await client.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [database],
    );
    return (JSON.parse(rows[0]?.comment ?? '{}') as { token?: string }).token;
  });
  if (!token) throw new Error(`${database} has no API key recorded (seeded without --reuse?)`);
  const members = Number(/_m(\d+)_/.exec(database)?.[1] ?? 10_000);
  const vouchersPerMember = Number(/_v(\d+)$/.exec(database)?.[1] ?? 0);
  // Seeded codes are spent in order (bench/load.ts): begin after those an earlier run redeemed.
  let voucherCursor = await withAdminClient(async (client) => {
    const { rows } = await client.query<{ spent: number }>(`SELECT count(*)::int AS spent FROM vouchers WHERE status <> 'ISSUED'`);
    return rows[0]!.spent;
  }, database);
  const schema = buildSchema(await readFile(path.join(ROOT, 'schema.graphql'), 'utf8'));
  const query = statusQuery(schema).query;

  const builds: Build[] = [];
  try {
    for (const [label, dir, port, extra] of [
      ['A', path.resolve(args.a!), 4811, args['a-env']],
      ['B', path.resolve(args.b), 4812, args['b-env']],
    ] as const) {
      const env = envPairs(extra);
      const processes = Number(env['WEB_CONCURRENCY'] ?? args.processes);
      builds.push({ label, dir, port, processes, child: await start(dir, port, database, label, env) });
    }
    const rows: { path: string; label: string; round: number; rps: number; cpu: number; pg: number; primary: number }[] = [];
    const kinds = args.paths.split(',') as LoadKind[];
    // As `npm run bench` does before its earn with rules: the three rules it is measured under (they stay active).
    if (kinds.includes('earn-rules')) await activateBenchRules(database);
    const loadOf = (kind: LoadKind, build: Build, duration: number, warmup: number) =>
      load({
        kind,
        url: `http://127.0.0.1:${build.port}/graphql`,
        connections: Number(args.connections),
        duration,
        warmup,
        members,
        token,
        statusQuery: query,
        vouchersPerMember,
        voucherStart: voucherCursor,
      });
    if (Number(args['warm-up']) > 0) {
      for (const kind of kinds) {
        for (const build of builds) {
          const result = await loadOf(kind, build, Number(args['warm-up']), 0);
          voucherCursor += result.vouchersUsed;
          console.log(`${kind} ${build.label} warmed up: ${result.rps.toFixed(0)} req/s (not measured)`);
        }
      }
    }
    for (let round = 1; round <= Number(args.rounds); round++) {
      for (const kind of kinds) {
        // A first in odd rounds, B first in even ones: a drift in the machine's speed falls on both.
        const order = round % 2 === 1 ? builds : [...builds].reverse();
        for (const build of order) {
          const apiPids = build.processes > 1 ? await childPids(build.child.pid!) : [build.child.pid!];
          const before = await totalCpuMs(apiPids);
          const primaryBefore = await totalCpuMs([build.child.pid!]);
          const pgCpuSince = await countPostgresCpu();
          const result = await loadOf(kind, build, Number(args.seconds), 1);
          voucherCursor += result.vouchersUsed;
          const used = cpuDelta(before, await totalCpuMs(apiPids));
          const primaryUsed = build.processes > 1 ? cpuDelta(primaryBefore, await totalCpuMs([build.child.pid!])) : 0;
          const pgUsed = await pgCpuSince();
          // The CPU window includes the warm-up second: charge it to the requests of both.
          const requests = result.requests * (1 + 1 / Number(args.seconds));
          const [cpu, pg, primary] = [used / requests, pgUsed / requests, primaryUsed / requests];
          rows.push({ path: kind, label: build.label, round, rps: result.rps, cpu, pg, primary });
          console.log(
            `${kind} ${build.label} round ${round}: ${result.rps.toFixed(0)} req/s, CPU per request: API ${cpu.toFixed(3)} ms, ` +
              `${build.processes > 1 ? `primary ${primary.toFixed(3)} ms, ` : ''}PostgreSQL ${pg.toFixed(3)} ms`,
          );
        }
      }
    }
    console.log('\nmedians (B ÷ A: CPU below 1 and req/s above 1 mean B is faster)');
    for (const kind of kinds) {
      const of = (label: string, value: (row: (typeof rows)[number]) => number) =>
        lowerMedian(rows.filter((row) => row.path === kind && row.label === label).map(value));
      const compare = (name: string, value: (row: (typeof rows)[number]) => number, digits: number, unit: string) => {
        const [a, b] = [of('A', value), of('B', value)];
        return `${name} A ${a.toFixed(digits)} / B ${b.toFixed(digits)}${unit} (B ÷ A ${(b / a).toFixed(3)})`;
      };
      console.log(
        `${kind}: ${compare('API CPU', (row) => row.cpu, 3, ' ms')}, ` +
          `${builds.some((build) => build.processes > 1) ? `${compare('primary CPU', (row) => row.primary, 3, ' ms')}, ` : ''}` +
          `${compare('PostgreSQL CPU', (row) => row.pg, 3, ' ms')}, ` +
          `${compare('all', (row) => row.cpu + row.primary + row.pg, 3, ' ms')}, ${compare('req/s', (row) => row.rps, 0, '')}`,
      );
    }
  } finally {
    for (const build of builds) build.child.kill('SIGTERM');
  }
}

/** `NAME=value,NAME=value` as an environment. */
function envPairs(pairs: string): Record<string, string> {
  return Object.fromEntries(
    pairs
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const [name, ...value] = pair.split('=');
        return [name!, value.join('=')];
      }),
  );
}

async function start(dir: string, port: number, database: string, label: string, extra: Record<string, string>): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWKS_URL', 'JWT_SECRET']) delete env[name];
  Object.assign(env, {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl(database),
    REDIS_URL: BENCH_REDIS,
    QUEUE_PREFIX: `treue-ab-${label}-${process.pid}`,
    HOST: '127.0.0.1',
    PORT: String(port),
    WEB_CONCURRENCY: args.processes,
    // This checkout's default, for both builds: the same pool on both sides.
    DATABASE_POOL_SIZE: String(DEFAULT_DATABASE_POOL_SIZE),
    JWT_SECRET: 'ab-bench-secret-that-is-long-enough-0123456789',
    LOG_LEVEL: 'warn',
    ...BENCH_RATE_LIMITS,
    ...extra,
  });
  const nodeArgs = args['node-args']
    .split(' ')
    .filter(Boolean)
    .map((flag) => flag.replaceAll('{label}', label));
  const { flags, entry } = await startCommandOf(dir);
  const child = spawn(process.execPath, [...flags, ...nodeArgs, path.join(dir, entry)], {
    env,
    stdio: 'inherit',
  });
  for (let i = 0; i < 900; i++) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return child;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${label} (${dir}) did not become ready`);
}

function load(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/load.ts'), JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`load exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult);
    });
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
