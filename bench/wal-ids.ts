import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { newRowId } from '../src/db/ids.js';
import { earnWithServiceRows } from './earn-rows.js';
import { createBenchDatabase, seed } from './seed.js';
import {
  BENCH_DB_PREFIX,
  countPostgresCpu,
  databaseExists,
  databaseUrl,
  dropDatabase,
  inTransaction,
  lowerMedian,
  memberId,
  sleep,
  withAdminClient,
} from './support.js';

/**
 * What random primary keys cost an earn in write-ahead log, against time-ordered ones (src/db/ids.ts).
 *
 *   npx tsx bench/wal-ids.ts [--members 100000] [--entries 10] [--earns 4000] [--rounds 3] [--reuse] [--by-relation]
 *
 * On a seeded database whose entries, lots and orders have random ids (`randomIds`: a deployment that ran with
 * random ids, each index's keys spread over all of its pages), in alternating rounds, `--earns` earns with the
 * service's own rows (bench/earn-rows.ts: earnPoints' two statements between BEGIN and COMMIT, 8 connections,
 * random members) once with random ids
 * (version 4: the entry's id from `randomUUID`, the lot's and the order's from `gen_random_uuid()` as their
 * tables' defaults) and once with time-ordered ones (version 7: `newRowId`, `uuid_v7()`). Each run starts
 * right after a CHECKPOINT: the first change to each page after a checkpoint writes the whole page into the WAL
 * (a full-page image), so a run shows what an earn costs while the pages it touches are not yet in the WAL
 * since the checkpoint, which on a large database is most of the time. Reported per earn, from `pg_stat_wal`
 * (the whole cluster's: run it with nothing else writing): WAL bytes, full-page images, records; and the
 * PostgreSQL processes' CPU (each run prepares its two statements on 8 new connections). The median of the
 * rounds, and time-ordered ÷ random.
 * `--by-relation` also lists which relations the full-page images were of (pg_walinspect, PostgreSQL's contrib).
 */

const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '100000' },
    entries: { type: 'string', default: '10' },
    earns: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '3' },
    reuse: { type: 'boolean', default: false },
    'by-relation': { type: 'boolean', default: false },
  },
});
const members = Number(args.members);
const entries = Number(args.entries);
const earns = Number(args.earns);
const rounds = Number(args.rounds);
for (const [name, value] of Object.entries({ members, entries, earns, rounds })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}

/** The tables whose ids an earn makes: the entry's in the application, the lot's and the order's by default. */
const EARN_TABLES = ['ledger_entries', 'point_lots', 'point_orders'];
const MODES = {
  random: { entryId: randomUUID, defaultSql: 'gen_random_uuid()' },
  'time-ordered': { entryId: newRowId, defaultSql: 'uuid_v7()' },
} as const;
type Mode = keyof typeof MODES;

interface Reading {
  bytes: number;
  fpi: number;
  records: number;
}

interface RunResult extends Reading {
  mode: Mode;
  round: number;
  pgCpuMs: number;
  /** With `--by-relation`: full-page images per earn by the relation they are of (pg_walinspect), the largest first. */
  byRelation?: { relation: string; fpi: number }[];
}

/** Full-page images between two WAL positions by relation, per earn (PostgreSQL 15's pg_walinspect). */
async function imagesByRelation(admin: pg.Client, from: string, to: string): Promise<{ relation: string; fpi: number }[]> {
  const { rows } = await admin.query<{ relation: string; fpi: number }>(
    `SELECT coalesce(c.relname, r.node) AS relation, count(*)::int AS fpi
     FROM (SELECT substring(block_ref FROM 'rel [0-9]+/[0-9]+/([0-9]+)') AS node
           FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn) WHERE fpi_length > 0) r
     LEFT JOIN pg_class c ON c.relfilenode::text = r.node
     GROUP BY 1 ORDER BY 2 DESC LIMIT 8`,
    [from, to],
  );
  return rows.map((row) => ({ relation: row.relation, fpi: row.fpi / earns }));
}

/**
 * The cluster's WAL so far: the insert position and the bytes up to it (exact), full-page images and records from
 * `pg_stat_wal`, which a backend adds its counts to when it goes idle (at most once a second) and when it
 * exits: read with no backend of the run left.
 */
async function walNow(client: pg.Client): Promise<Reading & { position: string }> {
  const { rows } = await client.query<{ position: string; bytes: string; fpi: string; records: string }>(
    `SELECT position::text, pg_wal_lsn_diff(position, '0/0')::text AS bytes, wal_fpi::text AS fpi,
            wal_records::text AS records FROM pg_current_wal_insert_lsn() AS position, pg_stat_wal`,
  );
  const row = rows[0]!;
  return { position: row.position, bytes: Number(row.bytes), fpi: Number(row.fpi), records: Number(row.records) };
}

/** `work` on a pool of 8 connections, closed after: its backends have reported their WAL when this resolves. */
async function withPool(database: string, work: (pool: pg.Pool) => Promise<void>): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl(database), max: 8 });
  try {
    await work(pool);
  } finally {
    await pool.end();
  }
  await sleep(1_000);
}

/** The id default of the tables whose ids an earn leaves to the database, as `mode` makes them. */
async function setIdDefaults(admin: pg.Client, mode: Mode): Promise<void> {
  for (const table of EARN_TABLES) await admin.query(`ALTER TABLE ${table} ALTER COLUMN id SET DEFAULT ${MODES[mode].defaultSql}`);
}

async function run(database: string, admin: pg.Client, mode: Mode, round: number): Promise<RunResult> {
  const { entryId } = MODES[mode];
  await setIdDefaults(admin, mode);
  await admin.query('CHECKPOINT');
  const before = await walNow(admin);
  let pgCpuMs = 0;
  await withPool(database, async (pool) => {
    // The 8 connections opened first, so that their backends' CPU counts from here (statements prepared in the run).
    const opened = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
    for (const client of opened) client.release();
    const pgCpuSince = await countPostgresCpu();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < earns) {
          next += 1;
          const member = memberId(1 + Math.floor(Math.random() * members));
          await inTransaction(pool, (client) => earnWithServiceRows(client, member, 25, entryId));
        }
      }),
    );
    pgCpuMs = await pgCpuSince();
  });
  const after = await walNow(admin);
  const byRelation = args['by-relation'] ? await imagesByRelation(admin, before.position, after.position) : undefined;
  return {
    mode,
    round,
    bytes: (after.bytes - before.bytes) / earns,
    fpi: (after.fpi - before.fpi) / earns,
    records: (after.records - before.records) / earns,
    pgCpuMs: pgCpuMs / earns,
    byRelation,
  };
}

async function main(): Promise<void> {
  const database = `${BENCH_DB_PREFIX}wal_m${members}_e${entries}_random_ids`;
  if (!args.reuse || !(await databaseExists(database))) {
    console.log(`seeding ${database}: ${members} members × ${entries} ledger entries`);
    await createBenchDatabase(database);
    await seed({
      database,
      members,
      entriesPerMember: entries,
      vouchersPerMember: 1,
      randomIds: true,
      log: (line) => console.log(`  ${line}`),
    });
  }
  const results: RunResult[] = [];
  try {
    await withAdminClient(async (admin) => {
      const { rows } = await admin.query<{ pages: number }>(
        `SELECT (pg_relation_size('ledger_entries_pkey') / current_setting('block_size')::int)::int AS pages`,
      );
      console.log(`ledger_entries' primary key: ${rows[0]!.pages} pages; ${earns} earns per run, ${rounds} rounds`);
      if (args['by-relation']) await admin.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
      for (let round = 1; round <= rounds; round += 1) {
        const order: Mode[] = round % 2 === 1 ? ['random', 'time-ordered'] : ['time-ordered', 'random'];
        for (const mode of order) {
          const result = await run(database, admin, mode, round);
          results.push(result);
          console.log(
            `  round ${round}, ${mode.padEnd(12)} … WAL ${(result.bytes / 1024).toFixed(2)} kB, ${result.fpi.toFixed(2)} full-page images, ` +
              `${result.records.toFixed(1)} records, PostgreSQL CPU ${result.pgCpuMs.toFixed(3)} ms per earn`,
          );
          for (const { relation, fpi } of result.byRelation ?? [])
            console.log(`      ${relation.padEnd(48)} ${fpi.toFixed(2)} images per earn`);
        }
      }
      // The service's defaults again, whatever the last run set.
      await setIdDefaults(admin, 'time-ordered');
    }, database);
  } finally {
    if (!args.reuse) await dropDatabase(database);
  }
  const median = (mode: Mode, key: keyof Reading | 'pgCpuMs') => lowerMedian(results.filter((r) => r.mode === mode).map((r) => r[key]));
  console.log('\nper earn, median of the rounds     random   time-ordered   ratio');
  for (const [label, key, scale, digits] of [
    ['WAL kB', 'bytes', 1 / 1024, 2],
    ['full-page images', 'fpi', 1, 2],
    ['WAL records', 'records', 1, 1],
    ['PostgreSQL CPU ms', 'pgCpuMs', 1, 3],
  ] as const) {
    const a = median('random', key) * scale;
    const b = median('time-ordered', key) * scale;
    console.log(`  ${label.padEnd(32)} ${a.toFixed(digits).padStart(7)} ${b.toFixed(digits).padStart(14)}   ${(b / a).toFixed(2)}×`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
