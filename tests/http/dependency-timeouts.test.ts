// No useTestApp(): a PostgreSQL and Redis of its own, frozen with SIGSTOP.
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../src/app.js';
import { signStaffToken } from '../../src/auth/tokens.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { createLogger } from '../../src/logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/runtime/embedded-postgres.js';
import { startEmbeddedRedis, type EmbeddedRedisHandle } from '../../src/runtime/embedded-redis.js';
import { TEST_JWT_SECRET, testApiConfig } from '../support/app.js';
import { freePort } from '../support/processes.js';

// A PRIVATE PostgreSQL and Redis, each on a free port, frozen with SIGSTOP: the machine's
// own services (other runs' tests use them) are never touched.

const logger = createLogger('silent');
let dataDir: string;
let postgres: EmbeddedPostgresHandle;
let redis: EmbeddedRedisHandle;
let postmaster: number;
let redisPid: number;
let prisma: PrismaClient;
let api: Awaited<ReturnType<typeof startApi>>;
let base: string;
let admin: string;
const frozen = new Set<number>();

/** The postmaster's pid: the parent of a backend. */
async function postmasterPid(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const stat = await readFile(`/proc/${rows[0]!.pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } finally {
    await client.end();
  }
}

/** The postmaster and every process it started (backends, checkpointer, …): all of PostgreSQL. */
async function postgresProcesses(postmaster: number): Promise<number[]> {
  const pids = [postmaster];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) pids.push(Number(entry));
  }
  return pids;
}

/** Stops the postmaster first, so that it starts nothing new, then the rest. */
const freeze = (pids: number[]) => {
  for (const pid of pids) {
    process.kill(pid, 'SIGSTOP');
    frozen.add(pid);
  }
};
const thaw = (pids: number[]) => {
  for (const pid of pids) {
    process.kill(pid, 'SIGCONT');
    frozen.delete(pid);
  }
};

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'treue-timeouts-'));
  await chmod(dataDir, 0o755);
  [postgres, redis] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pg'), port: await freePort(), logger }),
    startEmbeddedRedis({ dataDir: path.join(dataDir, 'redis'), port: await freePort(), logger }),
  ]);
  await applyMigrations(postgres.databaseUrl, { logger });
  postmaster = await postmasterPid(postgres.databaseUrl);
  const probe = new Redis(redis.redisUrl);
  redisPid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
  probe.disconnect();

  const config = testApiConfig({
    READINESS_TIMEOUT_MS: '500',
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    DATABASE_STATEMENT_TIMEOUT_MS: '1500',
  });
  prisma = createPrisma(postgres.databaseUrl, 3, config.databaseTimeouts);
  api = await startApi({ config, logger, prisma, redisUrl: redis.redisUrl });
  base = api.url.replace('/graphql', '');
  admin = await signStaffToken(TEST_JWT_SECRET, { staffId: 'root', role: 'ADMIN' });
}, 180_000);

afterAll(async () => {
  for (const pid of frozen) process.kill(pid, 'SIGCONT');
  await api?.close();
  await prisma?.$disconnect();
  await Promise.all([postgres?.stop(), redis?.stop()]);
  await rm(dataDir, { recursive: true, force: true });
}, 60_000);

async function readyz() {
  const response = await fetch(`${base}/readyz`);
  return { status: response.status, text: await response.text() };
}

async function waitUntilReady() {
  for (;;) {
    if ((await readyz()).status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const tiers = async () => {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ query: '{ tiers { key } }' }),
  });
  return (await response.json()) as { data?: { tiers: unknown[] } | null; errors?: { message: string }[] };
};

describe('a hung dependency', () => {
  it('PostgreSQL stopped: /readyz answers 503 without driver detail, requests fail instead of hanging, and all recovers', async () => {
    await waitUntilReady(); // the first connections may take longer than the probe's 500 ms on a busy machine
    expect(await readyz()).toEqual({ status: 200, text: '{"status":"ok","checks":{"database":"ok","redis":"ok"}}' });
    expect((await tiers()).data?.tiers.length).toBeGreaterThan(0);

    freeze([postmaster]);
    const stopped = await postgresProcesses(postmaster);
    freeze(stopped);
    // More requests than the pool has connections, and probes alongside them: none may hang.
    const [requests, probes] = await Promise.all([
      Promise.all(Array.from({ length: 6 }, tiers)),
      Promise.all(Array.from({ length: 3 }, readyz)),
    ]);
    for (const probe of probes) {
      expect(probe).toEqual({ status: 503, text: '{"status":"unavailable","checks":{"database":"unavailable","redis":"ok"}}' });
    }
    for (const result of requests) {
      expect(result.data?.tiers).toBeUndefined();
      expect(result.errors?.[0]?.message).toBe('Unexpected error.');
    }

    thaw(stopped.slice(1));
    thaw([postmaster]);
    await waitUntilReady();
    expect((await tiers()).data?.tiers.length).toBeGreaterThan(0);
  });

  it('Redis stopped: /readyz answers 503 naming redis unavailable, and recovers', async () => {
    freeze([redisPid]);
    const probes = await Promise.all(Array.from({ length: 3 }, readyz));
    for (const probe of probes) {
      expect(probe).toEqual({ status: 503, text: '{"status":"unavailable","checks":{"database":"ok","redis":"unavailable"}}' });
    }
    thaw([redisPid]);
    await waitUntilReady();
  });
});
