import pg from 'pg';

/**
 * Naming and lifecycle of test databases, shared by global-setup.ts (main process) and
 * db.ts (workers). Plain `pg` only: the main process must not load vitest's runtime or Prisma.
 */

export interface TestDatabaseRun {
  /** base36 of the run's advisory-lock key */
  runId: string;
  /** the migrated database every worker database is cloned from */
  template: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Provided by global-setup.ts to every worker. */
    treueTestDatabase: TestDatabaseRun;
  }
}

/** Advisory-lock namespace (first key of the two-key form) for test-run bookkeeping. */
export const RUN_LOCK_NAMESPACE = 0x7472_7565; // "true"
export const TEMPLATE_LOCK_KEY = 0;

export function testDatabaseBaseUrl(): string {
  return (process.env.TEST_DATABASE_URL_BASE || 'postgresql://postgres@127.0.0.1:5432').replace(/\/+$/, '');
}

export function databaseUrlFor(database: string): string {
  return `${testDatabaseBaseUrl()}/${encodeURIComponent(database)}`;
}

/** Every database of a run (worker and scratch) starts with this. */
export function runDatabasePrefix(runId: string): string {
  return `treue_test_r${runId}_`;
}

/** A session on the `postgres` maintenance database. */
export async function openMaintenanceClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrlFor('postgres'), application_name: 'treue-tests' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Drops a database, disconnecting its sessions. */
export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

export function quoteIdent(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
