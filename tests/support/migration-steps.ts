import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, expect } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, applyMigrations, readMigrationFiles } from '../../src/db/migrate.js';
import { createScratchDatabase, dropTestDatabase } from './db.js';

/**
 * Scratch databases dropped after each test, temporary directories (copies of the migrations) removed after the
 * file: each registered as it is made, and handed back.
 */
export function useScratchCleanup(): { database(url: string): string; directory(dir: string): string } {
  const created: string[] = [];
  const tempDirs: string[] = [];
  afterEach(async () => {
    for (const url of created.splice(0)) await dropTestDatabase(url);
  });
  afterAll(async () => {
    for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  return {
    database: (url) => (created.push(url), url),
    directory: (dir) => (tempDirs.push(dir), dir),
  };
}

/**
 * For tests of one migration on data from before it (no useTestApp()): scratch databases migrated up to, not
 * including, that migration; each dropped after its test, the copies of the migrations after the file.
 */
export function useDatabasesBefore(): { before(migration: string, label: string): Promise<string> } {
  const scratch = useScratchCleanup();
  return {
    async before(migration, label) {
      const dir = scratch.directory(await mkdtemp(path.join(tmpdir(), `treue-before-${label}-`)));
      const names = (await readMigrationFiles()).map((m) => m.name);
      expect(names).toContain(migration);
      for (const name of names.filter((n) => n < migration)) {
        await cp(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name), { recursive: true });
      }
      const url = scratch.database(await createScratchDatabase(label, { empty: true }));
      await applyMigrations(url, { migrationsDir: dir });
      return url;
    },
  };
}

/** `work` on a connection of its own to `url`, closed after. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
