// No useTestApp(): what operators run — migrator, worker start-up and CLI processes — each on a scratch database of its own.
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrisma } from '../../src/db/prisma.js';
import { DEFAULT_MIGRATIONS_DIR, applyMigrations, migrationStatus, readMigrationFiles } from '../../src/db/migrate.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { loadProgram } from '../../src/domain/program/program.service.js';
import { testLogger } from '../support/app.js';
import {
  createScratchDatabase,
  databaseUrlFor,
  deleteRedisKeys,
  scratchDatabaseName,
  testQueuePrefix,
  testRedisUrl,
} from '../support/db.js';
import { useScratchCleanup, withClient } from '../support/migration-steps.js';
import { killServiceProcesses, startServiceProcess, type ServiceProcess } from '../support/processes.js';

const scratch = useScratchCleanup();
afterEach(() => killServiceProcesses());

/** A database name that does not exist yet (the migrator creates it); dropped after the test. */
function absentDatabaseUrl(label: string): string {
  return scratch.database(databaseUrlFor(scratchDatabaseName(label)));
}

async function copyOfMigrations(): Promise<string> {
  const dir = scratch.directory(await mkdtemp(path.join(tmpdir(), 'treue-operator-audit-')));
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

/**
 * A scratch database with every migration of `dir` applied (the run's template was migrated when the run began; other
 * work may have added migrations to the directory since).
 */
async function migratedScratch(label: string, dir: string): Promise<string> {
  const url = scratch.database(await createScratchDatabase(label));
  await applyMigrations(url, { migrationsDir: dir });
  return url;
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

const migrationNames = (url: string) =>
  withClient(url, async (c) => (await c.query<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations')).rows).then(
    (rows) => rows.map((r) => r.migration_name).sort(),
  );

/** The migrator of `tests/db/fixtures/run-migrator.ts` as a process; resolves with its exit code and its one line. */
async function migratorProcess(databaseUrl: string, migrationsDir = ''): Promise<{ code: number | null; line: string }> {
  const child = startServiceProcess('tests/db/fixtures/run-migrator.ts', { DATABASE_URL: databaseUrl, MIGRATIONS_DIR: migrationsDir });
  const { code } = await child.exited;
  const line =
    child
      .output()
      .split('\n')
      .find((l) => /^(APPLIED|REFUSED) /.test(l)) ?? child.output();
  return { code, line };
}

const appliedBy = (line: string): string[] => (line.startsWith('APPLIED ') ? (JSON.parse(line.slice(8)) as string[]) : []);

/** The operator CLI (`npm run cli -- …`) on `databaseUrl`. */
async function cli(databaseUrl: string, ...args: string[]): Promise<{ code: number | null; output: string }> {
  const child: ServiceProcess = startServiceProcess(
    'src/cli.ts',
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: testQueuePrefix(),
      JWT_SECRET: 'operator-audit-secret-'.padEnd(48, 'k'),
      LOG_LEVEL: 'silent',
    },
    { args },
  );
  const { code } = await child.exited;
  return { code, output: child.output() };
}

describe('the migrator, run by several processes at once', () => {
  it(
    'five processes on a database that does not exist yet: each migration applied once, every process exits 0',
    { timeout: 120_000 },
    async () => {
      const url = absentDatabaseUrl('five');
      const all = (await readMigrationFiles()).map((m) => m.name);

      const results = await Promise.all(Array.from({ length: 5 }, () => migratorProcess(url)));

      expect(results.map((r) => [r.code, r.line.slice(0, 8)])).toEqual(Array.from({ length: 5 }, () => [0, 'APPLIED ']));
      expect(results.flatMap((r) => appliedBy(r.line)).sort()).toEqual([...all].sort());
      expect(await migrationNames(url)).toEqual([...all].sort());
    },
  );

  it(
    'five processes with one slow migration pending: one applies it, the others wait and find nothing to do',
    { timeout: 120_000 },
    async () => {
      const dir = await copyOfMigrations();
      const url = await migratedScratch('pending', dir);
      await addMigration(dir, '209901010000_audit_slow', 'SELECT pg_sleep(1);\nCREATE TABLE audit_slow (id int PRIMARY KEY);\n');

      const results = await Promise.all(Array.from({ length: 5 }, () => migratorProcess(url, dir)));

      expect(results.every((r) => r.code === 0)).toBe(true);
      expect(results.flatMap((r) => appliedBy(r.line))).toEqual(['209901010000_audit_slow']);
      expect((await migrationNames(url)).filter((name) => name === '209901010000_audit_slow')).toHaveLength(1);
      expect(await migrationStatus(url, { migrationsDir: dir })).toMatchObject({ pending: [], failed: [], modified: [] });
    },
  );
});

describe('a migration that fails', () => {
  it(
    'on a lock timeout (a transaction holds its table) is rolled back, not recorded as failed, and the next start applies it',
    { timeout: 60_000 },
    async () => {
      const dir = await copyOfMigrations();
      const url = await migratedScratch('locktimeout', dir);
      await addMigration(dir, '209901010000_audit_member_column', 'ALTER TABLE members ADD COLUMN audit_note text;\n');
      // A production habit: migrations give up on a lock rather than queue every query of the table behind them.
      await withClient(url, (c) =>
        c.query(`ALTER DATABASE ${c.escapeIdentifier(new URL(url).pathname.slice(1))} SET lock_timeout = '300ms'`),
      );

      const holder = new pg.Client({ connectionString: url });
      await holder.connect();
      let first: unknown;
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT count(*) FROM members'); // an open transaction that read the table: ALTER TABLE waits for it
        first = await applyMigrations(url, { migrationsDir: dir }).catch((error: unknown) => error);
      } finally {
        await holder.end();
      }
      expect(first).toMatchObject({ code: 'MIGRATION_FAILED' });
      expect(String((first as Error).message)).toMatch(/55P03/);
      // Nothing of it, and no failed row that would stop every later start until someone resolves it by hand.
      expect(await migrationStatus(url, { migrationsDir: dir })).toMatchObject({
        pending: ['209901010000_audit_member_column'],
        failed: [],
      });

      expect(await applyMigrations(url, { migrationsDir: dir })).toEqual({ applied: ['209901010000_audit_member_column'] });
    },
  );

  it('with an error in its SQL is recorded as failed and stops the next start (P3009) with the statement that resolves it', async () => {
    const dir = await copyOfMigrations();
    const url = await migratedScratch('brokensql', dir);
    await addMigration(dir, '209901010000_audit_broken', 'CREATE TABLE audit_half (id int);\nSELECT no_such_function();\n');

    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
    expect(await withClient(url, async (c) => (await c.query(`SELECT to_regclass('audit_half') AS t`)).rows[0].t)).toBeNull();
    const refused = await applyMigrations(url, { migrationsDir: dir }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'FAILED_MIGRATION_FOUND' });
    // `prisma migrate resolve` needs Prisma's schema engine, which cannot be downloaded everywhere this runs (the reason
    // for this migrator): the message gives the statement that does what `resolve --rolled-back` does.
    const statement = /UPDATE _prisma_migrations SET rolled_back_at = now\(\) WHERE [^\n]*;/.exec((refused as Error).message)?.[0];
    expect(statement).toContain("'209901010000_audit_broken'");
    await withClient(url, (c) => c.query(statement!));
    await writeFile(path.join(dir, '209901010000_audit_broken', 'migration.sql'), 'CREATE TABLE audit_half (id int);\n');
    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual({ applied: ['209901010000_audit_broken'] });
  });
});

describe('a database migrated by a newer version', () => {
  it('(a migration this code does not have) is tolerated: the start succeeds and applies what it has pending', async () => {
    const dir = await copyOfMigrations();
    const url = await migratedScratch('newer', dir);
    await withClient(url, (c) =>
      c.query(`INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, applied_steps_count)
               VALUES (gen_random_uuid()::text, repeat('0', 64), '209912310000_from_the_future', now(), 1)`),
    );
    await addMigration(dir, '209901010000_audit_after', 'CREATE TABLE audit_after (id int);\n');

    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual({ applied: ['209901010000_audit_after'] });
    expect(await migrationStatus(url, { migrationsDir: dir })).toMatchObject({ unknown: ['209912310000_from_the_future'] });
  });
});

describe('start-up', () => {
  it(
    'npm run workers on a database not migrated yet does not run jobs on it: it is migrated when the workers are ready',
    { timeout: 120_000 },
    async () => {
      const url = absentDatabaseUrl('workers');
      const workers = startServiceProcess('workers/main.ts', {
        NODE_ENV: 'test',
        DATABASE_URL: url,
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: `${testQueuePrefix()}-operator-audit`,
        LOG_LEVEL: 'info',
        DATABASE_POOL_SIZE: '3',
      });
      try {
        await workers.waitForLine(/worker process ready|failed to start/, 90_000);
        expect(workers.output()).toContain('worker process ready');
        expect(await migrationStatus(url)).toMatchObject({ pending: [], failed: [] });
      } finally {
        workers.kill('SIGKILL');
        await workers.exited;
        const redis = new Redis(testRedisUrl());
        try {
          await deleteRedisKeys(redis, `${testQueuePrefix()}-operator-audit:*`);
        } finally {
          redis.disconnect();
        }
      }
    },
  );

  it('processes creating the program row at once on a fresh database: one row, no error', async () => {
    const url = scratch.database(await createScratchDatabase('program'));
    const clients = Array.from({ length: 5 }, () => createPrisma(url, 1));
    try {
      const views = await Promise.all(clients.map((prisma) => loadProgram(prisma)));
      expect(new Set(views.map((v) => v.version)).size).toBe(1);
      expect(await withClient(url, async (c) => (await c.query('SELECT count(*)::int AS n FROM program')).rows[0].n)).toBe(1);
    } finally {
      await Promise.all(clients.map((prisma) => prisma.$disconnect()));
    }
  });
});

describe('npm run cli', () => {
  it('revoke-api-key with two keys refuses (exit 2) and revokes neither, rather than only the first', { timeout: 60_000 }, async () => {
    const url = scratch.database(await createScratchDatabase('cli-revoke'));
    const prisma = createPrisma(url, 1);
    const operator = { actor: { type: 'SYSTEM' as const, id: 'test' }, role: 'ADMIN' as const };
    try {
      const a = await createApiKey({ prisma, logger: testLogger }, { name: 'a', scopes: ['admin'] }, operator);
      const b = await createApiKey({ prisma, logger: testLogger }, { name: 'b', scopes: ['admin'] }, operator);

      const run = await cli(url, 'revoke-api-key', a.apiKey.prefix, b.apiKey.prefix);

      expect(run.code).toBe(2);
      expect(run.output).toMatch(/one key at a time|unexpected argument/i);
      expect((await prisma.apiKey.findMany({ where: { revokedAt: { not: null } } })).length).toBe(0);
    } finally {
      await prisma.$disconnect();
    }
  });

  it(
    'refuses (exit 2) arguments a command does not take, and a member token for an id that is not a UUID',
    { timeout: 60_000 },
    async () => {
      const url = scratch.database(await createScratchDatabase('cli-args'));
      const runs = await Promise.all([
        cli(url, 'check-ledger', 'everything'),
        cli(url, 'create-api-key', '--name', 'first', 'admin', '--scopes', 'admin'),
        cli(url, 'token', '--member', 'not-a-uuid'),
        cli(url, 'token', '--role', 'ADMIN', '--sub', 'x'.repeat(257)),
      ]);
      expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2]);
      // No token printed (the API would refuse it: a member's id is a UUID, a staff id at most 256 characters).
      expect(runs.filter((r) => /eyJ[\w-]+\.[\w-]+\.[\w-]+/.test(r.output))).toEqual([]);
      expect(await withClient(url, async (c) => (await c.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n)).toBe(0);
    },
  );

  it('check-ledger reports a member whose stored balance differs from its ledger, with exit 1', { timeout: 60_000 }, async () => {
    const url = scratch.database(await createScratchDatabase('cli-ledger'));
    const id = await withClient(url, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO members (external_id, name, available_points, lifetime_points) VALUES ('planted', 'Planted', 7, 7) RETURNING id`,
      );
      return rows[0]!.id;
    });
    const run = await cli(url, 'check-ledger');
    expect(run.code).toBe(1);
    expect(run.output).toContain('1 member(s) differ');
    expect(run.output).toContain(id);
  });
});
