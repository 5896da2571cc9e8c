// No useTestApp(): each test migrates a fresh database of its own.
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, MigrationError, applyMigrations, migrationStatus, readMigrationFiles } from '../../src/db/migrate.js';
import { databaseUrlFor, dropTestDatabase, scratchDatabaseName } from '../support/db.js';

const created: string[] = [];
const tempDirs: string[] = [];

/** A database name that does not exist yet; dropped after the test. */
function freshDatabaseUrl(label: string): string {
  const name = scratchDatabaseName(label);
  created.push(name);
  return databaseUrlFor(name);
}

/** A copy of the project's migrations that a test may change. */
async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'treue-migrations-'));
  tempDirs.push(dir);
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}
const migrationRows = (url: string) => query<MigrationRow>(url, 'SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name');

afterEach(async () => {
  for (const name of created.splice(0)) await dropTestDatabase(name);
});
afterAll(async () => {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('applyMigrations', () => {
  it('creates the database, applies every migration once, and nothing the second time', async () => {
    const url = freshDatabaseUrl('twice');
    const all = (await readMigrationFiles()).map((m) => m.name);
    expect(all.length).toBeGreaterThan(0);

    expect(await applyMigrations(url)).toEqual({ applied: all });
    expect(await applyMigrations(url)).toEqual({ applied: [] });

    expect((await migrationRows(url)).map((r) => r.migration_name)).toEqual(all);
    expect(await migrationStatus(url)).toEqual({ applied: all, pending: [], failed: [], modified: [], unknown: [] });
  });

  it('records each migration in _prisma_migrations as prisma migrate deploy does', async () => {
    const url = freshDatabaseUrl('rows');
    const before = new Date();
    await applyMigrations(url);

    const rows = await migrationRows(url);
    for (const row of rows) {
      const file = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(file).digest('hex'));
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.started_at.getTime()).toBeGreaterThanOrEqual(before.getTime() - 5_000);
      expect(row.finished_at).not.toBeNull();
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }

    // The table itself has Prisma's exact shape, so the Prisma CLI can take over.
    const columns = await query(
      url,
      `SELECT column_name, data_type, character_maximum_length AS length, is_nullable, column_default
         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', length: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', length: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', length: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', length: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', length: null, is_nullable: 'NO', column_default: '0' },
    ]);
    const [primaryKey] = await query<{ columns: string[] }>(
      url,
      `SELECT array_agg(a.attname::text) AS columns FROM pg_index ix
         JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ANY (ix.indkey)
        WHERE ix.indrelid = '_prisma_migrations'::regclass AND ix.indisprimary`,
    );
    expect(primaryKey?.columns).toEqual(['id']);
  });

  it('refuses to run when an applied migration was modified', async () => {
    const url = freshDatabaseUrl('tampered');
    await applyMigrations(url);
    const [first] = await migrationRows(url);
    await query(url, `UPDATE _prisma_migrations SET checksum = repeat('0', 64) WHERE id = $1`, [first!.id]);

    await expect(applyMigrations(url)).rejects.toMatchObject({
      code: 'MIGRATION_MODIFIED',
      message: expect.stringContaining(first!.migration_name),
    });
    expect((await migrationStatus(url)).modified).toEqual([first!.migration_name]);
  });

  it('accepts a migration whose line endings changed (git checkouts), as Prisma does', async () => {
    const url = freshDatabaseUrl('crlf');
    const dir = await copyOfMigrations();
    await applyMigrations(url, { migrationsDir: dir });
    for (const { name, script } of await readMigrationFiles(dir)) {
      await writeFile(path.join(dir, name, 'migration.sql'), script.replaceAll('\n', '\r\n'));
    }
    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual({ applied: [] });
  });

  it('rolls back a failing migration, records it as failed, and refuses to continue until resolved', async () => {
    const url = freshDatabaseUrl('failed');
    const dir = await copyOfMigrations();
    await addMigration(dir, '29991231000000_broken', 'CREATE TABLE "half_done" (id int);\nSELECT 1 / 0;\n');

    const failure = await applyMigrations(url, { migrationsDir: dir }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MigrationError);
    expect(failure).toMatchObject({ code: 'MIGRATION_FAILED', message: expect.stringContaining('division by zero') });

    const broken = (await migrationRows(url)).find((r) => r.migration_name === '29991231000000_broken');
    expect(broken).toMatchObject({ finished_at: null, rolled_back_at: null, applied_steps_count: 0 });
    expect(broken?.logs).toContain('22012');
    // The script ran in a transaction: nothing of it remains.
    expect(await query(url, `SELECT to_regclass('half_done') AS t`)).toEqual([{ t: null }]);

    // Like Prisma's P3009: nothing more is applied, even with the script fixed.
    await writeFile(path.join(dir, '29991231000000_broken', 'migration.sql'), 'CREATE TABLE "half_done" (id int);\n');
    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'FAILED_MIGRATION_FOUND',
      message: expect.stringContaining('29991231000000_broken'),
    });
    expect((await migrationStatus(url, { migrationsDir: dir })).failed).toEqual(['29991231000000_broken']);

    // `prisma migrate resolve --rolled-back` sets rolled_back_at; then it is applied anew.
    await query(url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = $1`, [broken!.id]);
    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual({ applied: ['29991231000000_broken'] });
    expect(await query(url, `SELECT to_regclass('half_done')::text AS t`)).toEqual([{ t: 'half_done' }]);
  });

  it('refuses a non-empty database that has no migration history (Prisma P3005)', async () => {
    const url = freshDatabaseUrl('unbaselined');
    await applyMigrations(url, { migrationsDir: await mkdtemp(path.join(tmpdir(), 'treue-no-migrations-')) });
    await query(url, 'DROP TABLE _prisma_migrations; CREATE TABLE legacy (id int)');

    await expect(applyMigrations(url)).rejects.toMatchObject({ code: 'DATABASE_NOT_EMPTY' });
  });

  it('applies once when several processes migrate a database that does not exist yet', async () => {
    const url = freshDatabaseUrl('race');
    const all = (await readMigrationFiles()).map((m) => m.name);

    const results = await Promise.all(Array.from({ length: 4 }, () => applyMigrations(url)));

    expect(results.flatMap((r) => r.applied).sort()).toEqual(all);
    const rows = await migrationRows(url);
    expect(rows.map((r) => r.migration_name)).toEqual(all);
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
  });

  it('gives up with LOCK_TIMEOUT while another migrator holds the lock', async () => {
    const url = freshDatabaseUrl('locked');
    await applyMigrations(url);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(72707369)'); // Prisma Migrate's key
      await expect(applyMigrations(url, { lockTimeoutMs: 200 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    } finally {
      await holder.end();
    }
    expect(await applyMigrations(url)).toEqual({ applied: [] });
  });

  it('reports pending migrations of a database that does not exist without creating it', async () => {
    const url = freshDatabaseUrl('absent');
    const all = (await readMigrationFiles()).map((m) => m.name);
    expect(await migrationStatus(url)).toEqual({ applied: [], pending: all, failed: [], modified: [], unknown: [] });
    await expect(query(url, 'SELECT 1')).rejects.toMatchObject({ code: '3D000' });
  });
});
