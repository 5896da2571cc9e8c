import { createHash, randomInt } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { applyMigrations, readMigrationFiles } from '../../src/db/migrate.js';
import {
  RUN_LOCK_NAMESPACE,
  TEMPLATE_LOCK_KEY,
  databaseUrlFor,
  dropDatabase,
  openMaintenanceClient,
  quoteIdent,
  runDatabasePrefix,
  type TestDatabaseRun,
} from './postgres.js';
import { buildDirRunIds, removeRunBuild } from './service-build.js';

const TEMPLATE_PREFIX = 'treue_test_template_';

/**
 * Runs once per `vitest` invocation, in the main process:
 * - makes sure a migrated template database exists for the current set of migrations
 *   (its name carries a fingerprint of their names and checksums, so changed migrations
 *   get a fresh template and a stale one is never reused);
 * - gives this run an id, held as an advisory lock for the run's lifetime, so that
 *   concurrent runs (several engineers, one machine) never share worker databases and a
 *   later run can tell a crashed run's leftovers from a live run's databases;
 * - drops leftovers of dead runs (databases, service builds), and this run's at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const migrations = await readMigrationFiles();
  const fingerprint = createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}\n`).join(''))
    .digest('hex')
    .slice(0, 16);
  const template = `${TEMPLATE_PREFIX}${fingerprint}`;

  // Held until teardown: the run's liveness marker (advisory locks are per database and
  // per session, so every lock check goes through the maintenance database).
  const runClient = await openMaintenanceClient();
  const runKey = randomInt(1, 2 ** 31 - 1);
  await runClient.query('SELECT pg_advisory_lock($1, $2)', [RUN_LOCK_NAMESPACE, runKey]);
  const run: TestDatabaseRun = { runId: runKey.toString(36), template };

  await runClient.query('SELECT pg_advisory_lock($1, $2)', [RUN_LOCK_NAMESPACE, TEMPLATE_LOCK_KEY]);
  try {
    await dropDeadRunLeftovers(runClient, runKey);
    await ensureTemplate(runClient, template, fingerprint);
    await dropOtherTemplates(runClient, template, runKey);
  } finally {
    await runClient.query('SELECT pg_advisory_unlock($1, $2)', [RUN_LOCK_NAMESPACE, TEMPLATE_LOCK_KEY]);
  }

  project.provide('treueTestDatabase', run);

  return async () => {
    try {
      for (const name of await databasesWithPrefix(runClient, runDatabasePrefix(run.runId))) {
        await dropDatabase(runClient, name);
      }
      await removeRunBuild(run.runId);
    } finally {
      await runClient.end();
    }
  };
}

async function ensureTemplate(client: pg.Client, template: string, fingerprint: string): Promise<void> {
  const marker = `treue test template, migrations ${fingerprint}`;
  const { rows } = await client.query<{ comment: string | null }>(
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [template],
  );
  if (rows[0]?.comment === marker) return;
  // Absent, or left half-made by a crashed run (the marker is written last).
  if (rows.length > 0) await dropDatabase(client, template);
  await applyMigrations(databaseUrlFor(template));
  await client.query(`COMMENT ON DATABASE ${quoteIdent(template)} IS '${marker}'`);
}

/** Templates of other migration sets, once no other run is alive to clone from them. */
async function dropOtherTemplates(client: pg.Client, keep: string, ownRunKey: number): Promise<void> {
  const { rows } = await client.query<{ live: number }>(
    `SELECT count(*)::int AS live FROM pg_locks
      WHERE locktype = 'advisory' AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid = $1 AND objsubid = 2 AND objid NOT IN ($2, $3)`,
    [RUN_LOCK_NAMESPACE, ownRunKey, TEMPLATE_LOCK_KEY],
  );
  if ((rows[0]?.live ?? 0) > 0) return;
  for (const name of await databasesWithPrefix(client, TEMPLATE_PREFIX)) {
    if (name === keep) continue;
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
  }
}

/** Worker and scratch databases and service builds (service-build.ts) of runs whose lock is free: those runs are gone. */
async function dropDeadRunLeftovers(client: pg.Client, ownRunKey: number): Promise<void> {
  const byRun = new Map<number, { databases: string[]; build: boolean }>();
  const leftoversOf = (runKey: number) => {
    const found = byRun.get(runKey) ?? { databases: [], build: false };
    byRun.set(runKey, found);
    return found;
  };
  for (const name of await databasesWithPrefix(client, 'treue_test_r')) {
    const runKey = Number.parseInt(/^treue_test_r([0-9a-z]+)_/.exec(name)?.[1] ?? '', 36);
    if (!Number.isSafeInteger(runKey) || runKey === ownRunKey) continue;
    leftoversOf(runKey).databases.push(name);
  }
  for (const runId of await buildDirRunIds()) {
    const runKey = /^[0-9a-z]+$/.test(runId) ? Number.parseInt(runId, 36) : Number.NaN;
    if (!Number.isSafeInteger(runKey) || runKey === ownRunKey) continue;
    leftoversOf(runKey).build = true;
  }
  for (const [runKey, { databases, build }] of byRun) {
    const { rows } = await client.query<{ dead: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS dead', [RUN_LOCK_NAMESPACE, runKey]);
    if (!rows[0]?.dead) continue;
    try {
      for (const name of databases) await dropDatabase(client, name);
      if (build) await removeRunBuild(runKey.toString(36));
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [RUN_LOCK_NAMESPACE, runKey]);
    }
  }
}

async function databasesWithPrefix(client: pg.Client, prefix: string): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
    [prefix],
  );
  return rows.map((r) => r.datname);
}
