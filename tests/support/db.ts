import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { writeTierRows } from '../../src/domain/tiers/tier-rows.js';
import { databaseUrlFor, dropDatabase, openMaintenanceClient, quoteIdent, runDatabasePrefix, type TestDatabaseRun } from './postgres.js';
import { ensureServiceBuild } from './service-build.js';

export { databaseUrlFor, testDatabaseBaseUrl } from './postgres.js';
export { BUILT_SERVICE_HOOK_TIMEOUT_MS } from './service-build.js';

/**
 * Per-worker test isolation on real PostgreSQL and Redis.
 *
 * Every vitest worker (`VITEST_POOL_ID`) of every run gets its own database,
 * `treue_test_r<run>_w<pool>`, cloned from the migrated template that global-setup.ts
 * prepares, and its own Redis db number and key prefix. The run id keeps concurrent
 * `npm test` invocations apart. Only tests/support reads the TEST_* variables.
 */

function currentRun(): TestDatabaseRun {
  const run = inject('treueTestDatabase');
  if (!run) throw new Error('tests/support/global-setup.ts did not run: use the project vitest.config.ts');
  return run;
}

function poolId(): string {
  return process.env.VITEST_POOL_ID ?? '1';
}

/** This worker's database name. */
export function testDatabaseName(): string {
  return `${runDatabasePrefix(currentRun().runId)}w${poolId()}`;
}

/** URL of this worker's migrated database. */
export function testDatabaseUrl(): string {
  return databaseUrlFor(testDatabaseName());
}

/** A Prisma client on this worker's database; the caller disconnects it. */
export function createTestPrisma(poolSize = 10): PrismaClient {
  return createPrisma(testDatabaseUrl(), poolSize);
}

const resetByClient = new WeakMap<PrismaClient, string>();

/**
 * Empties every application table (all of the schema's tables but `_prisma_migrations`) and
 * restarts the schema's sequences, then puts back the default tiers that a freshly migrated
 * database holds (members' tiers must be one of them).
 *
 * DELETE, not TRUNCATE: this runs before nearly every test, a test leaves a handful of rows, and
 * TRUNCATE gives each of the ~40 tables and ~120 indexes new files, which took over 20 times as long
 * on the shared 2-core machine. One statement, under `session_replication_role = replica` for its
 * own transaction only, so that neither the foreign keys' triggers nor the ledger's append-only
 * trigger fire (the tests connect as PostgreSQL's superuser, tests/support/postgres.ts).
 */
export async function resetDatabase(prisma: PrismaClient): Promise<void> {
  let statement = resetByClient.get(prisma);
  if (statement === undefined) {
    const rows = await prisma.$queryRaw<Array<{ command: string }>>`
      SELECT format('DELETE FROM %I;', tablename) AS command FROM pg_tables
       WHERE schemaname = current_schema() AND tablename <> '_prisma_migrations'
      UNION ALL
      SELECT format('ALTER SEQUENCE %I RESTART;', sequencename) FROM pg_sequences
       WHERE schemaname = current_schema()`;
    statement = `DO $$ BEGIN SET LOCAL session_replication_role = replica; ${rows.map((row) => row.command).join(' ')} END $$`;
    resetByClient.set(prisma, statement);
  }
  // Workers an end-to-end test started keep running between its tests (the outbox relay polls, jobs finish): a
  // reset that deadlocks with one of their transactions, and is the one PostgreSQL cancels, is run again.
  for (let attempt = 1; ; attempt++) {
    try {
      await prisma.$executeRawUnsafe(statement);
      break;
    } catch (error) {
      if (attempt >= 5 || !String((error as Error).message).includes('40P01')) throw error;
    }
  }
  await writeTierRows(prisma, DEFAULT_PROGRAM_SETTINGS.tiers);
}

/**
 * Redis URL for this worker: its own logical db (1–15; db 0 is left to development).
 * More than 15 workers, or concurrent runs, share db numbers: the key prefix is what
 * isolates, so clean up with `resetRedis`, never FLUSHDB.
 */
/** Rows of every application table: what a refused request must leave as it was (compare before and after). */
export async function tableRowCounts(prisma: PrismaClient): Promise<Record<string, number>> {
  const tables = await prisma.$queryRaw<{ tablename: string }[]>`
    SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '_prisma_migrations' ORDER BY 1`;
  const counts: Record<string, number> = {};
  for (const { tablename } of tables) {
    const [row] = await prisma.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "${tablename}"`);
    counts[tablename] = Number(row!.n);
  }
  return counts;
}

export function testRedisUrl(): string {
  const url = new URL(process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379');
  url.pathname = `/${((Number(poolId()) - 1) % 15) + 1}`;
  return url.toString();
}

/** BullMQ prefix (and key prefix for anything else) unique to this worker of this run. */
export function testQueuePrefix(): string {
  return `treue-test-${currentRun().runId}-w${poolId()}`;
}

/** Deletes this worker's keys (everything under `testQueuePrefix()`). */
export async function resetRedis(redis: Redis): Promise<void> {
  await deleteRedisKeys(redis, `${testQueuePrefix()}:*`);
}

/** Deletes the keys matching `pattern` (SCAN, then UNLINK). */
export async function deleteRedisKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/**
 * This run's `npm run build` output, relative to the repository: start `${dir}/src/main.js` as
 * `npm start` starts `dist/src/main.js`. Built by the first test file of the run that asks (any
 * worker), shared by all (tests/support/service-build.ts).
 */
export async function builtService(): Promise<string> {
  return ensureServiceBuild(currentRun().runId);
}

// ---------------------------------------------------------------------------
// Database lifecycle (used by the setup files and by tests needing their own databases)

async function withMaintenanceClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await openMaintenanceClient();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates this worker's database from the template unless it exists. Called by setup.ts. */
export async function prepareWorkerDatabase(): Promise<void> {
  const name = testDatabaseName();
  await withMaintenanceClient(async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await cloneTemplate(client, name);
  });
}

/**
 * A database name owned by this run and worker that does not exist yet, for tests that
 * need a fresh or throw-away database. Dropped at the end of the run at the latest.
 */
export function scratchDatabaseName(label = 'scratch'): string {
  return `${testDatabaseName()}_${label}_${randomBytes(4).toString('hex')}`;
}

/** Creates a scratch database, migrated (a template clone) unless `empty`. Returns its URL. */
export async function createScratchDatabase(label?: string, { empty = false } = {}): Promise<string> {
  const name = scratchDatabaseName(label);
  await withMaintenanceClient(async (client) => {
    if (empty) await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    else await cloneTemplate(client, name);
  });
  return databaseUrlFor(name);
}

/** Drops a database given by name or URL, disconnecting its sessions. */
export async function dropTestDatabase(nameOrUrl: string): Promise<void> {
  const name = nameOrUrl.includes('://') ? decodeURIComponent(new URL(nameOrUrl).pathname.slice(1)) : nameOrUrl;
  await withMaintenanceClient((client) => dropDatabase(client, name));
}

const OBJECT_IN_USE = '55006';

async function cloneTemplate(client: pg.Client, name: string): Promise<void> {
  const { template } = currentRun();
  // CREATE DATABASE ... TEMPLATE refuses while anything is connected to the template;
  // nothing should be, but a just-closed migration session can linger for a moment.
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== OBJECT_IN_USE || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
