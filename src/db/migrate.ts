import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logger.js';

/**
 * Applies `prisma/migrations/<name>/migration.sql` without the Prisma CLI (whose native
 * schema engine cannot be downloaded everywhere we run), keeping `_prisma_migrations`
 * exactly as `prisma migrate deploy` keeps it, so operators can switch to the CLI at any time.
 *
 * Mirrors prisma-engines (schema-engine `apply_migrations`, sql-schema-connector's
 * Postgres flavour and `checksum.rs`):
 * - the same session advisory lock (72707369), so this and the Prisma CLI exclude each other;
 * - the same table DDL, row life cycle and checksum (hex SHA-256 of the script);
 * - refuses on failed migrations (P3009) and on a non-empty schema without a history (P3005).
 * Stricter than `migrate deploy`: an applied migration whose file changed is refused
 * (Prisma only reports that from `migrate status` / `migrate dev`).
 * Unlike Prisma, each script runs in an explicit transaction together with its
 * bookkeeping row, so a crash can never leave a half-applied script behind, and a
 * migrator killed mid-script leaves no unfinished row: the next start applies it again.
 * A script that raised an error is recorded as failed, as Prisma records it, unless the error is one of the
 * moment rather than of the script (a lock or statement timeout, a deadlock, a cancel, the server short of resources,
 * see `isErrorOfTheMoment`): the transaction rolled back, nothing is recorded, and the next start tries again.
 */

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** Prisma Migrate's advisory lock key; sharing it serialises us with `prisma migrate deploy`. */
const PRISMA_MIGRATE_LOCK_KEY = 72707369;
const MIGRATIONS_TABLE = '_prisma_migrations';

/** Verbatim from prisma-engines' Postgres flavour (`create_migrations_table`). */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
`;

export interface MigrateOptions {
  /** Folder holding `<name>/migration.sql`; defaults to the project's `prisma/migrations`. */
  migrationsDir?: string;
  logger?: Logger;
  /** How long to wait for another migrator holding the lock. Default 60 s (Prisma waits 10 s). */
  lockTimeoutMs?: number;
}

export interface MigrationFile {
  name: string;
  /** The script as Prisma reads it (UTF-8). */
  script: string;
  /** Hex SHA-256 of the file's bytes, as Prisma stores it. */
  checksum: string;
}

export interface MigrationStatus {
  /** Applied and finished, in file order. */
  applied: string[];
  /** On disk, not applied (or rolled back). */
  pending: string[];
  /** Started but neither finished nor rolled back: blocks further migrations. */
  failed: string[];
  /** Applied, but the file no longer matches the recorded checksum. */
  modified: string[];
  /** Recorded in the database but missing on disk. */
  unknown: string[];
}

export type MigrationErrorCode =
  | 'DATABASE_NOT_EMPTY' // Prisma P3005
  | 'FAILED_MIGRATION_FOUND' // Prisma P3009
  | 'MIGRATION_MODIFIED'
  | 'MIGRATION_FAILED' // Prisma P3018
  | 'LOCK_TIMEOUT' // Prisma P1002
  | 'INVALID_MIGRATIONS_DIR';

export class MigrationError extends Error {
  constructor(
    readonly code: MigrationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

interface MigrationRecord {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

/**
 * Applies every pending migration, in folder-name order, each in its own transaction.
 * Creates the database when it does not exist. Safe to call from many processes at once:
 * the first holds the lock and applies, the others wait and then find nothing to do.
 */
export async function applyMigrations(databaseUrl: string, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const logger = options.logger;
  const schema = schemaOf(databaseUrl);
  const migrations = await readMigrationFiles(options.migrationsDir);
  const client = await connect(databaseUrl, { createDatabase: true, logger });
  try {
    await acquireLock(client, options.lockTimeoutMs ?? 60_000);
    try {
      await useSchema(client, schema);
      await initialiseMigrationsTable(client, schema);
      const records = await loadRecords(client);
      refuseFailedMigrations(records);
      refuseModifiedMigrations(records, migrations);

      const recordedNames = new Set(records.filter((r) => r.rolled_back_at === null).map((r) => r.migration_name));
      for (const record of records) {
        if (record.rolled_back_at === null && !migrations.some((m) => m.name === record.migration_name)) {
          logger?.warn({ migration: record.migration_name }, 'applied migration missing from the migrations directory');
        }
      }
      const pending = migrations.filter((m) => !recordedNames.has(m.name));
      if (pending.length === 0) logger?.debug('no pending migrations');

      const applied: string[] = [];
      for (const migration of pending) {
        await applyOne(client, migration, logger);
        applied.push(migration.name);
      }
      return { applied };
    } finally {
      // Best effort: if the session is gone, so is its lock; keep the original error.
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What `prisma migrate status` would report. Read-only: takes no lock, creates nothing. */
export async function migrationStatus(databaseUrl: string, options: Pick<MigrateOptions, 'migrationsDir'> = {}): Promise<MigrationStatus> {
  const migrations = await readMigrationFiles(options.migrationsDir);
  let records: MigrationRecord[] = [];
  const client = await connect(databaseUrl, { createDatabase: false }).catch((error: unknown) => {
    if (pgCode(error) === INVALID_CATALOG_NAME) return undefined;
    throw error;
  });
  if (client) {
    const schema = schemaOf(databaseUrl);
    try {
      await useSchema(client, schema, { create: false });
      if (await migrationsTableExists(client, schema)) records = await loadRecords(client);
    } finally {
      await client.end();
    }
  }

  const live = records.filter((r) => r.rolled_back_at === null);
  const finished = new Map(live.filter((r) => r.finished_at !== null).map((r) => [r.migration_name, r]));
  return {
    applied: migrations.filter((m) => finished.has(m.name)).map((m) => m.name),
    pending: migrations.filter((m) => !live.some((r) => r.migration_name === m.name)).map((m) => m.name),
    failed: live.filter((r) => r.finished_at === null).map((r) => r.migration_name),
    modified: migrations
      .filter((m) => {
        const record = finished.get(m.name);
        return record !== undefined && !scriptMatchesChecksum(m.script, record.checksum);
      })
      .map((m) => m.name),
    unknown: [...new Set(live.map((r) => r.migration_name))].filter((name) => !migrations.some((m) => m.name === name)),
  };
}

/** The migrations on disk, sorted by folder name as Prisma sorts them. */
export async function readMigrationFiles(migrationsDir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await readdir(migrationsDir, { withFileTypes: true });
  } catch (error) {
    throw new MigrationError('INVALID_MIGRATIONS_DIR', `Cannot read the migrations directory ${migrationsDir}`, {
      cause: error,
    });
  }
  const lockFile = path.join(migrationsDir, 'migration_lock.toml');
  const lock = await readFile(lockFile, 'utf8').catch(() => undefined);
  const provider = lock?.match(/^\s*provider\s*=\s*"([^"]*)"/m)?.[1];
  if (provider !== undefined && provider !== 'postgresql') {
    throw new MigrationError('INVALID_MIGRATIONS_DIR', `${lockFile} says the migrations are for "${provider}", not postgresql`);
  }

  // Byte-wise order, like Rust's String ordering in Prisma (not locale-aware).
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(migrationsDir, name, 'migration.sql');
      const bytes = await readFile(file).catch((error: unknown) => {
        throw new MigrationError('INVALID_MIGRATIONS_DIR', `Migration ${name} has no readable migration.sql`, {
          cause: error,
        });
      });
      return { name, script: decodeUtf8(file, bytes), checksum: sha256Hex(bytes) };
    }),
  );
}

/**
 * Prisma's `script_matches_checksum`: line-ending agnostic (git may rewrite them) and
 * tolerant of the un-padded hex that early engine versions stored.
 */
export function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant, 'utf8').digest();
    const rendered =
      checksum.length !== 0 && checksum.length !== 64 ? [...digest].map((byte) => byte.toString(16)).join('') : digest.toString('hex');
    return rendered === checksum;
  });
}

async function applyOne(client: pg.Client, migration: MigrationFile, logger: Logger | undefined): Promise<void> {
  logger?.info({ migration: migration.name }, 'applying migration');
  const id = randomUUID();
  let startedAt: Date | null = null;
  try {
    await client.query('BEGIN');
    // Prisma writes this row before the script, outside any transaction, so a migrator whose session dies
    // mid-script (SIGKILL, a lost host, a liveness probe) leaves an unfinished row that blocks every later
    // start (P3009) although the script rolled back. Inside the script's transaction, such a death leaves nothing.
    const inserted = await client.query<{ started_at: Date }>(
      `INSERT INTO ${MIGRATIONS_TABLE} (id, checksum, started_at, migration_name) VALUES ($1, $2, now(), $3) RETURNING started_at`,
      [id, migration.checksum, migration.name],
    );
    startedAt = inserted.rows[0]?.started_at ?? null;
    // No parameters: node-postgres uses the simple query protocol, which accepts many statements.
    await client.query(migration.script);
    await client.query(
      `UPDATE ${MIGRATIONS_TABLE}
          SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp()
        WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const logs = describeDatabaseError(migration.name, error);
    if (isErrorOfTheMoment(error)) {
      // Nothing of the script is left, and nothing about it is wrong: a failed row would stop every later start
      // until someone resolved it by hand, for a lock that a long transaction held for a moment.
      logger?.error({ migration: migration.name, err: error }, 'migration rolled back; the next start tries it again');
      throw new MigrationError(
        'MIGRATION_FAILED',
        `Migration ${migration.name} was rolled back and not recorded: the next start tries it again.\n${logs}`,
        { cause: error },
      );
    }
    // The script raised an error: record it as failed, after the rollback, as Prisma does, so later starts refuse
    // (P3009) with these logs until it is resolved. If the session is gone, this fails too and nothing
    // is recorded: the next start tries again.
    await client
      .query(
        `INSERT INTO ${MIGRATIONS_TABLE} (id, checksum, started_at, migration_name, logs)
         VALUES ($1, $2, COALESCE($3::timestamptz, now()), $4, $5)`,
        [id, migration.checksum, startedAt, migration.name, logs],
      )
      .catch(() => undefined);
    logger?.error({ migration: migration.name, err: error }, 'migration failed');
    throw new MigrationError('MIGRATION_FAILED', `Migration ${migration.name} failed to apply (P3018).\n${logs}`, {
      cause: error,
    });
  }
}

function refuseFailedMigrations(records: MigrationRecord[]): void {
  const failed = records.filter((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed.length === 0) return;
  const details = failed
    .map((r) => {
      const logs = r.logs?.trim() ? ` with the following logs:\n${r.logs.trim()}` : '';
      return `The \`${r.migration_name}\` migration started at ${r.started_at.toISOString()} failed${logs}`;
    })
    .join('\n');
  // What `prisma migrate resolve --rolled-back` does, as a statement: that command needs Prisma's schema engine, which
  // cannot be downloaded everywhere this migrator runs (the reason it exists).
  const resolve = failed
    .map(
      (r) =>
        `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = ${quoteLiteral(r.migration_name)} ` +
        'AND finished_at IS NULL AND rolled_back_at IS NULL;',
    )
    .join('\n');
  throw new MigrationError(
    'FAILED_MIGRATION_FOUND',
    'Found failed migrations in the target database, new migrations will not be applied (P3009). ' +
      'A script this migrator ran was in a transaction that rolled back: nothing of it is in the database (one that ' +
      "Prisma's CLI ran may be partly applied: check it first). Fix the migration, then " +
      'mark the failed attempt as rolled back (`prisma migrate resolve --rolled-back <name>`, or in SQL:\n' +
      `${resolve}\n) and start again: the fixed migration is applied.\n${details}`,
  );
}

function refuseModifiedMigrations(records: MigrationRecord[], migrations: MigrationFile[]): void {
  const modified = records.filter((r) => {
    if (r.finished_at === null || r.rolled_back_at !== null) return false;
    const file = migrations.find((m) => m.name === r.migration_name);
    return file !== undefined && !scriptMatchesChecksum(file.script, r.checksum);
  });
  if (modified.length === 0) return;
  throw new MigrationError(
    'MIGRATION_MODIFIED',
    `Migration(s) modified after they were applied: ${modified.map((r) => r.migration_name).join(', ')}. ` +
      'Restore the original migration.sql and put the change in a new migration.',
  );
}

async function acquireLock(client: pg.Client, timeoutMs: number): Promise<void> {
  // lock_timeout also bounds waits for advisory locks.
  await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
  } catch (error) {
    if (pgCode(error) === LOCK_NOT_AVAILABLE) {
      throw new MigrationError(
        'LOCK_TIMEOUT',
        `Timed out after ${timeoutMs} ms waiting for the migration advisory lock ` +
          `(pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})); ` +
          'another migrator is running or a session leaked the lock (P1002).',
        { cause: error },
      );
    }
    throw error;
  } finally {
    await client.query('RESET lock_timeout');
  }
}

async function initialiseMigrationsTable(client: pg.Client, schema: string): Promise<void> {
  if (await migrationsTableExists(client, schema)) return;
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname = $1 ORDER BY c.relname`,
    [schema],
  );
  if (rows.length > 0) {
    throw new MigrationError(
      'DATABASE_NOT_EMPTY',
      `The database schema "${schema}" is not empty but has no ${MIGRATIONS_TABLE} table (P3005); ` +
        `baseline it first (tables: ${rows.map((r) => r.relname).join(', ')}).`,
    );
  }
  await client.query(CREATE_MIGRATIONS_TABLE);
}

async function migrationsTableExists(client: pg.Client, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname = $1 AND c.relname = $2) AS exists`,
    [schema, MIGRATIONS_TABLE],
  );
  return rows[0]?.exists === true;
}

async function loadRecords(client: pg.Client): Promise<MigrationRecord[]> {
  const { rows } = await client.query<MigrationRecord>(
    `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count
       FROM ${MIGRATIONS_TABLE} ORDER BY started_at ASC`,
  );
  return rows;
}

/** Honours Prisma's `?schema=` connection parameter (default `public`). */
function schemaOf(databaseUrl: string): string {
  return new URL(databaseUrl).searchParams.get('schema') || 'public';
}

async function useSchema(client: pg.Client, schema: string, { create = true } = {}): Promise<void> {
  if (schema === 'public') return;
  if (create) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await client.query(`SET search_path TO ${quoteIdent(schema)}`);
}

const INVALID_CATALOG_NAME = '3D000';
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';
const LOCK_NOT_AVAILABLE = '55P03';

/** Connects to the database, creating it first when it does not exist and `createDatabase` is set. */
async function connect(
  databaseUrl: string,
  { createDatabase, logger }: { createDatabase: boolean; logger?: Logger | undefined },
): Promise<pg.Client> {
  try {
    return await openClient(databaseUrl);
  } catch (error) {
    if (!createDatabase || pgCode(error) !== INVALID_CATALOG_NAME) throw error;
  }
  await createDatabaseIfMissing(databaseUrl, logger);
  return openClient(databaseUrl);
}

async function openClient(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString, application_name: 'treue-migrate' });
  // A backend terminated under us (e.g. DROP DATABASE ... WITH (FORCE)) must surface on
  // the pending query, not crash the process as an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/** CREATE DATABASE through the `postgres` (or `template1`) maintenance database; racing creators are fine. */
async function createDatabaseIfMissing(databaseUrl: string, logger: Logger | undefined): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error('The database URL names no database');

  let maintenance: pg.Client | undefined;
  for (const candidate of ['postgres', 'template1']) {
    const maintenanceUrl = new URL(databaseUrl);
    maintenanceUrl.pathname = `/${candidate}`;
    maintenanceUrl.searchParams.delete('schema');
    try {
      maintenance = await openClient(maintenanceUrl.toString());
      break;
    } catch (error) {
      if (pgCode(error) !== INVALID_CATALOG_NAME || candidate === 'template1') throw error;
    }
  }
  if (!maintenance) throw new Error('unreachable: no maintenance database');
  try {
    const { rowCount } = await maintenance.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return;
    await maintenance.query(`CREATE DATABASE ${quoteIdent(name)}`);
    logger?.info({ database: name }, 'created database');
  } catch (error) {
    // Another process created it between our check and our CREATE: 42P04, or 23505 when
    // both inserted into pg_database at the same moment.
    const code = pgCode(error);
    if (code !== DUPLICATE_DATABASE && code !== UNIQUE_VIOLATION) throw error;
  } finally {
    await maintenance.end();
  }
}

function describeDatabaseError(migrationName: string, error: unknown): string {
  if (!(error instanceof Error)) return `Migration ${migrationName} failed: ${String(error)}`;
  const code = pgCode(error);
  const position = (error as { position?: string }).position;
  return [
    code ? `Database error code: ${code}` : undefined,
    `Database error:\n${error.message}`,
    position ? `Position: ${position}` : undefined,
  ]
    .filter((part): part is string => part !== undefined)
    .join('\n\n');
}

/**
 * An error of the moment, not of the script: run again later, the same script may well succeed. Serialization
 * failures and deadlocks (class 40), a lock not granted in `lock_timeout` (55P03), a statement cancelled
 * (`statement_timeout`, `pg_cancel_backend`: 57014) or ended by a shutdown (57P01–57P03), the server short of
 * resources (class 53: disk full, out of memory, too many connections), a connection lost (class 08).
 */
function isErrorOfTheMoment(error: unknown): boolean {
  const code = pgCode(error);
  if (code === undefined) return false;
  return (
    code.startsWith('40') || code.startsWith('53') || code.startsWith('08') || ['55P03', '57014', '57P01', '57P02', '57P03'].includes(code)
  );
}

function pgCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function quoteIdent(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Prisma reads a migration as a UTF-8 string and refuses one that is not. Decoding leniently would replace the bad
 * bytes, and the checksum of that text would no longer match the one of the bytes stored when it was applied.
 * The BOM is kept, as in the bytes.
 */
function decodeUtf8(file: string, bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (error) {
    throw new MigrationError('INVALID_MIGRATIONS_DIR', `${file} is not valid UTF-8; save it as UTF-8 (as Prisma reads it)`, {
      cause: error,
    });
  }
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
