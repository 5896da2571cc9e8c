// No useTestApp(): each test migrates a scratch database of its own with a copy of the migrations.
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, applyMigrations } from '../../src/db/migrate.js';
import { createScratchDatabase } from '../support/db.js';
import { useScratchCleanup, withClient } from '../support/migration-steps.js';
import { until } from '../support/until.js';

const scratch = useScratchCleanup();

async function migrationsWith(name: string, sql: string | Buffer): Promise<string> {
  const dir = scratch.directory(await mkdtemp(path.join(tmpdir(), 'treue-migrations-')));
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
  return dir;
}

describe('applyMigrations after an interrupted migrator', () => {
  it('applies a migration whose previous attempt lost its connection mid-script (nothing of it was committed)', async () => {
    const url = scratch.database(await createScratchDatabase('migint'));
    const name = '29991231000000_review_probe';
    // The script waits on an advisory lock the test holds, so that the migrator is inside its transaction when its
    // session goes away — as when the orchestrator SIGKILLs a starting API (its /healthz is not served while it
    // migrates), the host dies, or the connection to PostgreSQL is cut.
    const dir = await migrationsWith(name, 'SELECT pg_advisory_xact_lock(4242);\nCREATE TABLE review_probe (id int);\n');

    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    let attempt: Promise<unknown>;
    try {
      await holder.query('SELECT pg_advisory_lock(4242)');
      attempt = applyMigrations(url, { migrationsDir: dir }).catch((error: unknown) => error);
      const pid = await until(
        async () => {
          const { rows } = await holder.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'treue-migrate' AND wait_event_type = 'Lock'`,
          );
          return rows[0]?.pid;
        },
        15_000,
        50,
        'the migrator to wait inside the script',
      );
      await holder.query('SELECT pg_terminate_backend($1)', [pid]);
      expect(await attempt).toBeInstanceOf(Error);
    } finally {
      await holder.end();
    }

    // The script ran in one transaction: the interruption rolled all of it back.
    expect(await withClient(url, (c) => c.query(`SELECT to_regclass('review_probe')::text AS t`)).then((r) => r.rows)).toEqual([
      { t: null },
    ]);

    // The next start (the replacement replica, the next deploy) simply applies it. An unfinished bookkeeping row
    // written outside the transaction (as Prisma writes it) would refuse every later start with FAILED_MIGRATION_FOUND
    // (P3009) until an operator runs `prisma migrate resolve` by hand — for a database in which nothing was changed.
    await expect(applyMigrations(url, { migrationsDir: dir })).resolves.toEqual({ applied: [name] });
  });

  it('does not refuse, as "modified", a migration it applied itself one start earlier (a file not in UTF-8)', async () => {
    const url = scratch.database(await createScratchDatabase('migenc'));
    const name = '29991231000000_latin1_comment';
    // A comment saved by an editor in Windows-1252: "-- Größe" (0xF6 0xDF are not UTF-8).
    const dir = await migrationsWith(
      name,
      Buffer.concat([Buffer.from('-- Gr'), Buffer.from([0xf6, 0xdf]), Buffer.from('e\nCREATE TABLE review_latin1 (id int);\n')]),
    );

    const first = await applyMigrations(url, { migrationsDir: dir }).then(
      (result) => result,
      (error: unknown) => error,
    );
    if (first instanceof Error) {
      // Refusing the file up front (as Prisma, which reads it as a UTF-8 string, does) is fine too.
      expect(first).toMatchObject({ code: 'INVALID_MIGRATIONS_DIR' });
      // The message names the file, so the operator knows which one to save as UTF-8.
      expect(first.message).toContain(path.join(name, 'migration.sql'));
      return;
    }
    expect(first).toEqual({ applied: [name] });
    // Were it applied, the stored checksum (of the raw bytes) must match on the next start: comparing it with the
    // lossily decoded text would fail every later start with MIGRATION_MODIFIED although nobody touched the file.
    await expect(applyMigrations(url, { migrationsDir: dir })).resolves.toEqual({ applied: [] });
  });
});
