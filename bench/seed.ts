import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { hashApiKeyToken } from '../src/auth/api-keys.js';
import { applyMigrations } from '../src/db/migrate.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../src/domain/program/program-settings.js';
import { assertBenchDatabase, databaseUrl, dropDatabase, voucherCharsSql, voucherCodeSql, withAdminClient } from './support.js';

/**
 * Seeds a bench database with consistent rows, entirely in SQL
 * (`INSERT … SELECT … generate_series`), in chunks of members:
 *
 * - member i (`md5('m'||i)::uuid`) has `entries` ledger entries, spread over
 *   the last 11 months: every 5th a REDEEM of `a` points, the others EARNs of
 *   `a` points (a = 10 × (1 + i mod 20)), each EARN with its order and its lot,
 *   released (older than the return window) and expiring 24 months after it;
 * - REDEEMs consumed the oldest lots first (FIFO), so the first r lots are
 *   empty; `balance_after` is the running sum; the member's cached available /
 *   lifetime points and tier (with its UPGRADE history row) are what the
 *   entries say — `npm run cli -- check-ledger` finds no mismatch;
 * - members enrolled over the four years before their first entry (each enrolment is in the
 *   status history, written by its trigger);
 * - `vouchers` ISSUED REWARD vouchers per member (codes: `voucherCode(i, k)`),
 *   valid for 80 more days;
 * - nothing is due for maintenance (no lot to release or expire, no tier
 *   review, no passive member), so the service's maintenance job stays idle.
 *
 * Large seeds drop the secondary indexes and foreign keys of the bulk tables
 * first and rebuild them at the end from their saved definitions (much faster
 * than maintaining them row by row); the ledger's append-only trigger only
 * guards UPDATE and DELETE, so plain INSERTs pass it.
 */

export interface SeedOptions {
  database: string;
  members: number;
  entriesPerMember: number;
  vouchersPerMember: number;
  /** Members per INSERT chunk. */
  chunk?: number;
  /**
   * Ids of the ledger entries, lots and orders spread over the whole key space, as random (version 4) ids left
   * them in a deployment that ran before time-ordered ids (bench/wal-ids.ts). By default they are small numbers
   * (cheap to make) that all sort before the ids the service makes now, as a history of time-ordered ids would.
   */
  randomIds?: boolean;
  log?: (line: string) => void;
}

export interface SeedResult {
  apiKey: string;
  members: number;
  ledgerEntries: number;
  vouchers: number;
  seconds: number;
}

const BULK_TABLES = ['members', 'member_status_changes', 'ledger_entries', 'point_lots', 'point_orders', 'vouchers', 'tier_changes'];

/** Creates (or recreates) a migrated bench database. */
export async function createBenchDatabase(name: string): Promise<string> {
  assertBenchDatabase(name);
  await dropDatabase(name);
  await withAdminClient((client) => client.query(`CREATE DATABASE "${name}"`));
  const url = databaseUrl(name);
  await applyMigrations(url);
  return url;
}

export async function seed(options: SeedOptions): Promise<SeedResult> {
  const { members, entriesPerMember: k, vouchersPerMember: v } = options;
  const log = options.log ?? (() => undefined);
  const chunk = options.chunk ?? 50_000;
  if (k < 1 || members < 1 || v < 0) throw new Error('members and entries must be positive');
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl(options.database) });
  await client.connect();
  try {
    await client.query(`SET synchronous_commit = off; SET maintenance_work_mem = '512MB'`);
    await client.query(
      `INSERT INTO program (id, settings) VALUES (1, $1::jsonb) ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings`,
      [JSON.stringify(DEFAULT_PROGRAM_SETTINGS)],
    );
    const apiKey = await insertApiKey(client);

    const saved = await dropSecondaryStructures(client, log);

    // A member's tier from its qualifying points q: the highest threshold reached (keys are plain capitals).
    const tierCase = `(CASE ${[...DEFAULT_PROGRAM_SETTINGS.tiers]
      .reverse()
      .map((tier) => `WHEN q >= ${tier.threshold} THEN '${tier.key}'`)
      .join(' ')} END)`;
    const redeems = Math.floor(k / 5);
    const earns = k - redeems;
    // Entry p of member i: written at now - 330 days + p × (300 days / k), so all are
    // released and none expires; ids are unique (kinds apart by a marker).
    const at = `now() - interval '330 days' + p * (interval '300 days' / ${k})`;
    const id = (marker: string) =>
      options.randomIds
        ? `md5('${marker}-' || p || '-' || c.i)::uuid`
        : `(lpad(to_hex(p), 8, '0') || '-${marker}-4000-8000-' || lpad(to_hex(c.i), 12, '0'))::uuid`;
    for (let from = 1; from <= members; from += chunk) {
      const to = Math.min(members, from + chunk - 1);
      const chunkStarted = Date.now();
      await client.query('BEGIN');
      await client.query(
        `CREATE TEMP TABLE seed_chunk ON COMMIT DROP AS
         SELECT i, md5('m' || i)::uuid AS member_id, 10 * (1 + i % 20) AS a FROM generate_series($1::int, $2::int) AS i`,
        [from, to],
      );
      await client.query(
        `INSERT INTO members (id, external_id, email, name, tier, tier_since, enrolled_at, last_activity_at,
                              available_points, pending_points, lifetime_points, created_at, updated_at)
         SELECT c.member_id, 'bench-' || c.i, 'bench-' || c.i || '@example.com', 'Bench Member ' || c.i,
                ${tierCase},
                now() - interval '20 days', now() - interval '340 days' - (c.i % 1461) * interval '1 day', now() - interval '30 days',
                c.a * (${earns} - ${redeems}), 0, q, now() - interval '340 days' - (c.i % 1461) * interval '1 day', now()
         FROM seed_chunk c, LATERAL (SELECT c.a * ${earns} AS q) AS qualifying`,
      );
      // Entry by entry across members (p outer), as entries written over months interleave on disk.
      await client.query(
        `INSERT INTO ledger_entries (id, member_id, kind, amount, balance_after, cause_type, cause_ref,
                                     actor_type, actor_id, idempotency_key, created_at)
         SELECT ${id('0001')}, c.member_id,
                (CASE WHEN p % 5 = 0 THEN 'REDEEM' ELSE 'EARN' END)::"LedgerEntryKind",
                CASE WHEN p % 5 = 0 THEN -c.a ELSE c.a END,
                c.a * (p - 2 * (p / 5)),
                (CASE WHEN p % 5 = 0 THEN 'REDEMPTION' ELSE 'ORDER' END)::"CauseType",
                CASE WHEN p % 5 = 0 THEN 'basket-' ELSE 'order-' END || c.i || '-' || p,
                'API_KEY', 'bench-seed', 'seed:' || p, ${at}
         FROM generate_series(1, ${k}) AS p CROSS JOIN seed_chunk c`,
      );
      // The j-th EARN's lot (j = p - p/5) is empty when one of the r REDEEMs took it (FIFO).
      await client.query(
        `INSERT INTO point_lots (id, member_id, entry_id, points, remaining, available_at, released_at, expires_at, created_at)
         SELECT ${id('0002')}, c.member_id, ${id('0001')}, c.a,
                CASE WHEN p - p / 5 <= ${redeems} THEN 0 ELSE c.a END,
                ${at} + interval '14 days', ${at} + interval '14 days', ${at} + interval '24 months', ${at}
         FROM generate_series(1, ${k}) AS p CROSS JOIN seed_chunk c
         WHERE p % 5 <> 0`,
      );
      await client.query(
        `INSERT INTO point_orders
           (id, member_id, order_ref, order_total, currency, points_earned, lot_id, placed_at, earned_at, created_at)
         SELECT ${id('0003')}, c.member_id, 'order-' || c.i || '-' || p, c.a, 'EUR', c.a, ${id('0002')}, ${at}, ${at}, ${at}
         FROM generate_series(1, ${k}) AS p CROSS JOIN seed_chunk c
         WHERE p % 5 <> 0`,
      );
      await client.query(
        `INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points, created_at)
         SELECT m.id, 'BRONZE', m.tier, 'UPGRADE', m.lifetime_points, m.tier_since
         FROM seed_chunk c JOIN members m ON m.id = c.member_id
         WHERE m.tier <> 'BRONZE'`,
      );
      if (v > 0) {
        await client.query(
          `INSERT INTO vouchers (code, member_id, kind, value_type, amount, currency, status, cause_type, cause_ref,
                                 issued_at, expires_at)
           SELECT ${voucherCodeSql('vc.chars')}, c.member_id, 'REWARD', 'FIXED', 5.00, 'EUR', 'ISSUED', 'REWARD',
                  'bench-' || c.i || '-' || n, now() - interval '10 days' + n * interval '1 minute', now() + interval '80 days'
           FROM generate_series(1, ${v}) AS n CROSS JOIN seed_chunk c
                CROSS JOIN LATERAL (SELECT ${voucherCharsSql('c.i', 'n')} AS chars) AS vc`,
        );
      }
      await client.query('COMMIT');
      log(`seeded members ${from}–${to} (${((Date.now() - chunkStarted) / 1000).toFixed(1)} s)`);
    }
    await restoreSecondaryStructures(client, saved, log);
    // As autovacuum would have left a live database: statistics, and the visibility map
    // that index-only scans need.
    log('vacuum analyze');
    await client.query(`VACUUM (ANALYZE) ${BULK_TABLES.join(', ')}`);
    return {
      apiKey,
      members,
      ledgerEntries: members * k,
      vouchers: members * v,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

/** A storefront key with every scope the bench needs; returns its token. */
async function insertApiKey(client: pg.Client): Promise<string> {
  const prefix = Array.from(randomBytes(8), (byte) => 'abcdefghijklmnopqrstuvwxyz234567'[byte % 32]).join('');
  const token = `trk_${prefix}_${randomBytes(32).toString('base64url')}`;
  await client.query(`INSERT INTO api_keys (name, prefix, secret_hash, scopes, created_by) VALUES ('bench', $1, $2, $3, 'bench')`, [
    prefix,
    hashApiKeyToken(token),
    ['members:read', 'points:earn', 'points:redeem', 'vouchers:redeem', 'failures:report'],
  ]);
  return token;
}

interface SavedStructures {
  /** Primary keys and unique constraints, then plain indexes: rebuilt in this order. */
  constraints: { table: string; name: string; definition: string }[];
  indexes: string[];
  /** Re-added last, once the keys they point at exist again. */
  foreignKeys: { table: string; name: string; definition: string }[];
}

async function dropSecondaryStructures(client: pg.Client, log: (line: string) => void): Promise<SavedStructures> {
  const constraintsOf = async (types: string) =>
    (
      await client.query<{ table: string; name: string; definition: string }>(
        `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS definition
         FROM pg_constraint
         WHERE contype = ANY($2) AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1))`,
        [BULK_TABLES, types.split('')],
      )
    ).rows;
  const foreignKeys = await constraintsOf('f');
  const constraints = (await constraintsOf('pu')).filter((c) => BULK_TABLES.includes(c.table));
  const indexes = (
    await client.query<{ name: string; definition: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
       WHERE t.relname = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
      [BULK_TABLES],
    )
  ).rows;
  log(`bulk load: ${constraints.length} keys, ${indexes.length} indexes and ${foreignKeys.length} foreign keys dropped until the end`);
  for (const fk of foreignKeys) await client.query(`ALTER TABLE ${fk.table} DROP CONSTRAINT "${fk.name}"`);
  for (const constraint of constraints) await client.query(`ALTER TABLE ${constraint.table} DROP CONSTRAINT "${constraint.name}"`);
  for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);
  return { constraints, indexes: indexes.map((index) => index.definition), foreignKeys };
}

async function restoreSecondaryStructures(client: pg.Client, saved: SavedStructures, log: (line: string) => void): Promise<void> {
  const timed = async (label: string, sql: string) => {
    const started = Date.now();
    await client.query(sql);
    log(`${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  };
  for (const c of saved.constraints) await timed(`key ${c.name}`, `ALTER TABLE ${c.table} ADD CONSTRAINT "${c.name}" ${c.definition}`);
  for (const definition of saved.indexes) await timed(definition.replace(/ ON .*/, ''), definition);
  for (const fk of saved.foreignKeys)
    await timed(`foreign key ${fk.name}`, `ALTER TABLE ${fk.table} ADD CONSTRAINT "${fk.name}" ${fk.definition}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      database: { type: 'string', default: 'treue_bench_seed' },
      members: { type: 'string', default: '10000' },
      entries: { type: 'string', default: '20' },
      vouchers: { type: 'string', default: '6' },
      keep: { type: 'boolean', default: false },
    },
  });
  const database = values.database!;
  await createBenchDatabase(database);
  const result = await seed({
    database,
    members: Number(values.members),
    entriesPerMember: Number(values.entries),
    vouchersPerMember: Number(values.vouchers),
    log: (line) => console.log(line),
  });
  console.log(JSON.stringify({ ...result, apiKey: '(hidden)', database }));
  if (!values.keep) await dropDatabase(database);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
