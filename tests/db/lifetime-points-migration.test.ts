// No useTestApp(): the tests migrate databases of their own, seeded as they could be before lifetime points were
// a bigint (migration 202612221000_lifetime_points_bigint).
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { applyMigrations, migrationStatus } from '../../src/db/migrate.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const MIGRATION = '202612221000_lifetime_points_bigint';
const INT_MAX = '2147483647';
const databases = useDatabasesBefore();

const columnTypes = (client: pg.Client) =>
  client
    .query<{ column: string; type: string; default: string | null }>(
      `SELECT table_name || '.' || column_name AS column, data_type AS type, column_default AS default
         FROM information_schema.columns
        WHERE (table_name, column_name) IN (('members', 'lifetime_points'), ('tier_changes', 'qualifying_points'))
        ORDER BY 1`,
    )
    .then((result) => result.rows);

describe(`migration ${MIGRATION}`, () => {
  it('makes lifetime points and the tier history’s qualifying points bigint, keeping every value; held to 2^53 − 1', async () => {
    const url = await databases.before(MIGRATION, 'lifetime_bigint');
    const memberId = await withClient(url, async (client) => {
      expect(await columnTypes(client)).toEqual([
        { column: 'members.lifetime_points', type: 'integer', default: '0' },
        { column: 'tier_changes.qualifying_points', type: 'integer', default: null },
      ]);
      const {
        rows: [member],
      } = await client.query<{ id: string }>(
        `INSERT INTO members (external_id, name, lifetime_points) VALUES ('m-1', 'Ada', $1) RETURNING id::text`,
        [INT_MAX],
      );
      await client.query(
        `INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points) VALUES ($1, 'BRONZE', 'PLATINUM', 'UPGRADE', $2)`,
        [member!.id, INT_MAX],
      );
      return member!.id;
    });

    expect((await applyMigrations(url)).applied).toContain(MIGRATION);

    await withClient(url, async (client) => {
      expect(await columnTypes(client)).toEqual([
        { column: 'members.lifetime_points', type: 'bigint', default: '0' },
        { column: 'tier_changes.qualifying_points', type: 'bigint', default: null },
      ]);
      const read = async () =>
        (
          await client.query<{ lifetime: string; qualifying: string }>(
            `SELECT m.lifetime_points::text AS lifetime, t.qualifying_points::text AS qualifying
               FROM members m JOIN tier_changes t ON t.member_id = m.id WHERE m.id = $1`,
            [memberId],
          )
        ).rows[0];
      expect(await read()).toEqual({ lifetime: INT_MAX, qualifying: INT_MAX });
      // Past an integer now, up to 2^53 − 1 and no further.
      await client.query(`UPDATE members SET lifetime_points = lifetime_points + 100 WHERE id = $1`, [memberId]);
      expect(await read()).toEqual({ lifetime: '2147483747', qualifying: INT_MAX });
      await client.query(`UPDATE members SET lifetime_points = 9007199254740991 WHERE id = $1`, [memberId]);
      await expect(client.query(`UPDATE members SET lifetime_points = 9007199254740992 WHERE id = $1`, [memberId])).rejects.toMatchObject({
        code: '23514',
        constraint: 'members_lifetime_points_fit_a_json_number',
      });
      // A new member starts at 0, as before.
      const fresh = await client.query<{ lifetime: string }>(
        `INSERT INTO members (external_id, name) VALUES ('m-2', 'Grace') RETURNING lifetime_points::text AS lifetime`,
      );
      expect(fresh.rows[0]).toEqual({ lifetime: '0' });
    });
  });

  it('gives up on the members lock after 5 s, leaving nothing behind, and applies once the lock is free', async () => {
    const url = await databases.before(MIGRATION, 'lifetime_bigint_lock');
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    let refused: unknown;
    try {
      // A long transaction that read members: the table's rewrite waits for it, at most lock_timeout.
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM members');
      refused = await applyMigrations(url).catch((error: unknown) => error);
    } finally {
      await holder.end();
    }
    expect(refused).toMatchObject({ code: 'MIGRATION_FAILED' });
    expect(String((refused as Error).message)).toMatch(/55P03/);
    const status = await migrationStatus(url);
    expect(status.pending).toContain(MIGRATION);
    expect(status.failed).toEqual([]);
    await withClient(url, async (client) => expect((await columnTypes(client))[0]).toMatchObject({ type: 'integer' }));

    expect((await applyMigrations(url)).applied).toContain(MIGRATION);
  });
});
