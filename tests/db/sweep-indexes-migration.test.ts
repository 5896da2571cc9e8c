// No useTestApp(): the test migrates a database of its own up to the sweep-index migration, builds the new
// indexes the way docs/operations.md tells an operator to on a large table, then migrates it to the end.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, applyMigrations } from '../../src/db/migrate.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const SWEEP_INDEXES = '202612081000_point_lot_sweep_indexes_partial';
const databases = useDatabasesBefore();

/** point_lots' indexes: name → [oid, definition]. */
async function lotIndexes(url: string): Promise<Map<string, [number, string]>> {
  const rows = await withClient(
    url,
    async (client) =>
      (
        await client.query<{ name: string; oid: number; definition: string }>(`
        SELECT c.relname AS name, c.oid::int AS oid, pg_get_indexdef(c.oid) AS definition
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'point_lots'::regclass`)
      ).rows,
  );
  return new Map(rows.map((row) => [row.name, [row.oid, row.definition]]));
}

describe(`migration ${SWEEP_INDEXES}`, () => {
  it('keeps the sweep indexes an operator built beforehand with CREATE INDEX CONCURRENTLY, and drops the old ones', async () => {
    const url = await databases.before(SWEEP_INDEXES, 'sweep_idx');

    // The migration's own CREATE INDEX statements, built CONCURRENTLY outside any transaction (docs/operations.md).
    const script = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, SWEEP_INDEXES, 'migration.sql'), 'utf8');
    const creates = script.split('\n').filter((line) => line.startsWith('CREATE INDEX IF NOT EXISTS '));
    expect(creates).toHaveLength(3);
    await withClient(url, async (client) => {
      for (const create of creates) await client.query(create.replace('CREATE INDEX ', 'CREATE INDEX CONCURRENTLY '));
    });
    const built = await lotIndexes(url);

    // This migration first, then any later ones.
    expect((await applyMigrations(url)).applied[0]).toBe(SWEEP_INDEXES);
    const after = await lotIndexes(url);
    for (const name of ['point_lots_pending_available_at_idx', 'point_lots_open_expires_at_idx', 'point_lots_unreminded_expires_at_idx']) {
      // The very index built beforehand (same oid), not one built again under writes held.
      expect(after.get(name), name).toEqual(built.get(name));
      expect(after.get(name)?.[1], name).toContain(' WHERE ');
    }
    for (const name of [
      'point_lots_released_at_available_at_idx',
      'point_lots_expired_at_expires_at_idx',
      'point_lots_expiry_reminded_at_expires_at_idx',
    ]) {
      expect(built.has(name), name).toBe(true);
      expect(after.has(name), name).toBe(false);
    }
  });
});
