// No useTestApp(): each test migrates a database of its own, seeds it as it was before tiers became
// program data (migration 202612031000_tiers_of_their_own), then migrates it to the end.
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/db/migrate.js';
import { DEFAULT_PROGRAM_SETTINGS, programSettingsSchema } from '../../src/domain/program/program-settings.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const TIERS_MIGRATION = '202612031000_tiers_of_their_own';
const databases = useDatabasesBefore();

/** A database migrated up to (not including) the tiers migration. */
const databaseBeforeTiers = () => databases.before(TIERS_MIGRATION, 'tiers_mig');

const OLD_TIERS = ['BRONZE', 'SILVER', 'GOLD', 'PLATINUM'] as const;

/** The program settings as they were stored before: tiers an object keyed by the enum names. */
function oldSettings(silverThreshold: number) {
  return {
    ...DEFAULT_PROGRAM_SETTINGS,
    tiers: {
      BRONZE: { threshold: 0, multiplier: 1, compensationFactor: 1 },
      SILVER: { threshold: silverThreshold, multiplier: 1.3, compensationFactor: 1.2 },
      GOLD: { threshold: 5000, multiplier: 1.5, compensationFactor: 1.5 },
      PLATINUM: { threshold: 15000, multiplier: 2, compensationFactor: 2 },
    },
  };
}

/** 40 members, 10 in each tier, each with a history row per step up to the tier (and one kept GOLD). */
async function seedMembers(client: pg.Client): Promise<void> {
  await client.query(`
    INSERT INTO members (external_id, email, name, tier, tier_since)
    SELECT 'm-' || i, 'm-' || i || '@example.com', 'Member ' || i,
           (ARRAY['BRONZE', 'SILVER', 'GOLD', 'PLATINUM'])[1 + i % 4]::"Tier", now() - i * interval '1 day'
    FROM generate_series(1, 40) AS i`);
  await client.query(`
    INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points, created_at)
    SELECT m.id, (ARRAY['BRONZE', 'SILVER', 'GOLD'])[step]::"Tier", (ARRAY['SILVER', 'GOLD', 'PLATINUM'])[step]::"Tier",
           'UPGRADE', 1000 * step, now() - (10 - step) * interval '1 month'
    FROM members m, generate_series(1, 3) AS step
    WHERE step <= array_position(ARRAY['BRONZE', 'SILVER', 'GOLD', 'PLATINUM']::"Tier"[], m.tier) - 1`);
  await client.query(`
    INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, qualifying_points)
    SELECT id, tier, tier, 'RETAINED', 5500 FROM members WHERE tier = 'GOLD'`);
}

type MemberTier = { id: string; tier: string; tier_since: Date };
type HistoryRow = { id: string; member_id: string; from_tier: string; to_tier: string; reason: string; qualifying_points: string };

const membersOf = (client: pg.Client) =>
  client.query<MemberTier>('SELECT id::text, tier::text, tier_since FROM members ORDER BY id').then((r) => r.rows);
const historyOf = (client: pg.Client) =>
  client
    .query<HistoryRow>(
      // As text: an integer before 202612221000, a bigint (read as a string) after it.
      `SELECT id::text, member_id::text, from_tier::text, to_tier::text, reason::text, qualifying_points::text
       FROM tier_changes ORDER BY id`,
    )
    .then((r) => r.rows);

describe(`migration ${TIERS_MIGRATION}`, () => {
  it('keeps every member’s tier and tier history, and turns the stored tier rules into rows of the program', async () => {
    const url = await databaseBeforeTiers();
    const before = await withClient(url, async (client) => {
      await client.query('INSERT INTO program (id, settings, version) VALUES (1, $1::jsonb, 3)', [JSON.stringify(oldSettings(1200))]);
      await seedMembers(client);
      return { members: await membersOf(client), history: await historyOf(client) };
    });
    expect(before.members).toHaveLength(40);
    expect(new Set(before.members.map((m) => m.tier))).toEqual(new Set(OLD_TIERS));
    expect(before.history).toHaveLength(10 * (1 + 2 + 3) + 10);

    const { applied } = await applyMigrations(url);
    expect(applied).toContain(TIERS_MIGRATION);

    await withClient(url, async (client) => {
      expect(await membersOf(client)).toEqual(before.members);
      expect(await historyOf(client)).toEqual(before.history);

      const tiers = await client.query(
        'SELECT key, position, name, threshold, multiplier, compensation_factor, benefits FROM tiers ORDER BY position',
      );
      expect(tiers.rows.map((t) => [t.position, t.key, t.name, t.threshold, t.multiplier, t.compensation_factor])).toEqual([
        [1, 'BRONZE', 'Bronze', 0, 1, 1],
        [2, 'SILVER', 'Silver', 1200, 1.3, 1.2],
        [3, 'GOLD', 'Gold', 5000, 1.5, 1.5],
        [4, 'PLATINUM', 'Platinum', 15000, 2, 2],
      ]);

      // The settings hold the same list, in the shape the domain validates.
      const [program] = (await client.query('SELECT settings, version FROM program WHERE id = 1')).rows;
      expect(program.version).toBe(3);
      const settings = programSettingsSchema.parse(program.settings);
      expect(settings.tiers.map((t) => [t.key, t.threshold, t.multiplier])).toEqual([
        ['BRONZE', 0, 1],
        ['SILVER', 1200, 1.3],
        ['GOLD', 5000, 1.5],
        ['PLATINUM', 15000, 2],
      ]);
      expect(settings.tiers.every((t) => t.name.length > 0)).toBe(true);

      // The enum is gone; PostgreSQL now guards members' tiers against the table.
      expect((await client.query(`SELECT 1 FROM pg_type WHERE typname = 'Tier'`)).rowCount).toBe(0);
      await expect(client.query(`UPDATE members SET tier = 'DIAMOND' WHERE external_id = 'm-1'`)).rejects.toThrow(/members_tier_fkey/);
      await expect(client.query(`DELETE FROM tiers WHERE key = 'GOLD'`)).rejects.toThrow(/members_tier_fkey/);
      const fresh = await client.query(
        `INSERT INTO members (external_id, email, name) VALUES ('new', 'new@example.com', 'New') RETURNING tier`,
      );
      expect(fresh.rows[0].tier).toBe('BRONZE');
    });
  });

  it('gives a database without a program row the default tiers', async () => {
    const url = await databaseBeforeTiers();
    const before = await withClient(url, async (client) => {
      await seedMembers(client);
      return { members: await membersOf(client), history: await historyOf(client) };
    });
    await applyMigrations(url);
    await withClient(url, async (client) => {
      expect(await membersOf(client)).toEqual(before.members);
      expect(await historyOf(client)).toEqual(before.history);
      const tiers = await client.query(
        'SELECT key, name, threshold, multiplier, compensation_factor AS "compensationFactor", benefits FROM tiers ORDER BY position',
      );
      expect(tiers.rows).toEqual(DEFAULT_PROGRAM_SETTINGS.tiers);
      expect((await client.query('SELECT 1 FROM program')).rowCount).toBe(0);
    });
  });
});
