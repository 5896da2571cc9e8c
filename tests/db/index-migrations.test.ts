// No useTestApp(): each test migrates a database of its own up to an index migration, builds the new indexes the
// way docs/operations.md tells an operator to on a large table, then migrates it to the end.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, applyMigrations } from '../../src/db/migrate.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const databases = useDatabasesBefore();

/** A table's indexes: name → [oid, definition]. */
async function indexesOf(url: string, table: string): Promise<Map<string, [number, string]>> {
  const rows = await withClient(
    url,
    async (client) =>
      (
        await client.query<{ name: string; oid: number; definition: string }>(
          `SELECT c.relname AS name, c.oid::int AS oid, pg_get_indexdef(c.oid) AS definition
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = $1::regclass`,
          [table],
        )
      ).rows,
  );
  return new Map(rows.map((row) => [row.name, [row.oid, row.definition]]));
}

/** Index migrations on tables that grow with every earn, renewal or failure, and what each builds and drops. */
const MIGRATIONS = [
  {
    migration: '202612081000_point_lot_sweep_indexes_partial',
    table: 'point_lots',
    built: ['point_lots_pending_available_at_idx', 'point_lots_open_expires_at_idx', 'point_lots_unreminded_expires_at_idx'],
    shape: ' WHERE ',
    dropped: [
      'point_lots_released_at_available_at_idx',
      'point_lots_expired_at_expires_at_idx',
      'point_lots_expiry_reminded_at_expires_at_idx',
    ],
  },
  {
    migration: '202612111000_ledger_member_history_covering',
    table: 'ledger_entries',
    built: ['ledger_entries_member_history_idx'],
    shape: ' INCLUDE (kind, amount)',
    dropped: ['ledger_entries_member_id_created_at_idx'],
  },
  {
    migration: '202612221300_held_renewal_bonuses_index',
    table: 'contract_renewals',
    built: ['contract_renewals_held_bonus_queue_idx'],
    shape: ' WHERE ',
    dropped: [],
  },
  {
    migration: '202612241000_incident_failures_page_index',
    table: 'service_failures',
    built: ['service_failures_incident_id_id_idx'],
    shape: ' WHERE ',
    dropped: [],
  },
  {
    migration: '202612251000_webhook_deliveries_retention_index',
    table: 'webhook_deliveries',
    built: ['webhook_deliveries_delivered_at_idx'],
    shape: ' WHERE ',
    dropped: [],
  },
  {
    migration: '202612271000_member_pending_lots_index',
    table: 'point_lots',
    built: ['point_lots_member_id_available_at_idx'],
    shape: ' WHERE ',
    dropped: [],
  },
];

describe.each(MIGRATIONS)('migration $migration', ({ migration, table, built, shape, dropped }) => {
  it('keeps the indexes an operator built beforehand with CREATE INDEX CONCURRENTLY, and drops the old ones', async () => {
    const url = await databases.before(migration, table);

    // The migration's own CREATE INDEX statements, built CONCURRENTLY outside any transaction (docs/operations.md).
    const script = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, migration, 'migration.sql'), 'utf8');
    const creates = script.split('\n').filter((line) => line.startsWith('CREATE INDEX IF NOT EXISTS '));
    expect(creates).toHaveLength(built.length);
    await withClient(url, async (client) => {
      for (const create of creates) await client.query(create.replace('CREATE INDEX ', 'CREATE INDEX CONCURRENTLY '));
    });
    const beforehand = await indexesOf(url, table);

    // This migration first, then any later ones.
    expect((await applyMigrations(url)).applied[0]).toBe(migration);
    const after = await indexesOf(url, table);
    for (const name of built) {
      // The very index built beforehand (same oid), not one built again under writes held.
      expect(after.get(name), name).toEqual(beforehand.get(name));
      expect(after.get(name)?.[1], name).toContain(shape);
    }
    for (const name of dropped) {
      expect(beforehand.has(name), name).toBe(true);
      expect(after.has(name), name).toBe(false);
    }
  });
});
