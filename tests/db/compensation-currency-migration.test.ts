// No useTestApp(): the tests migrate databases of their own. One is seeded as it could be before a failure's
// compensation amount and currency were held together (migration 202612161100_compensation_keeps_its_currency),
// then migrated to the end; the other is a clone of the migrated template and refuses the two apart.
import type pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { applyMigrations } from '../../src/db/migrate.js';
import { violates } from '../../src/db/sql.js';
import { createScratchDatabase, dropTestDatabase } from '../support/db.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const PAIRED_MIGRATION = '202612161100_compensation_keeps_its_currency';
const PAIRED = 'service_failures_compensation_currency_paired';
const CHECK_VIOLATION = '23514';
const databases = useDatabasesBefore();

/** A member and, for each order reference, a failure of theirs with that compensation amount and currency. */
async function seedFailures(
  client: pg.Client,
  failures: Record<string, { amount: string | null; currency: string | null; voucherCurrency?: string }>,
): Promise<void> {
  const {
    rows: [member],
  } = await client.query<{ id: string }>(`INSERT INTO members (external_id, name) VALUES ('m-1', 'Ada') RETURNING id::text`);
  for (const [orderRef, { amount, currency, voucherCurrency }] of Object.entries(failures)) {
    const voucher = voucherCurrency
      ? (
          await client.query<{ id: string }>(
            `INSERT INTO vouchers (code, member_id, kind, value_type, amount, currency, cause_type, cause_ref, expires_at)
             VALUES ($1, $2, 'COMPENSATION', 'FIXED', $3, $4, 'FAILURE', $5, now() + interval '90 days') RETURNING id::text`,
            [`TEST-VOUCHER-${orderRef}`, member!.id, amount, voucherCurrency, orderRef],
          )
        ).rows[0]!.id
      : null;
    await client.query(
      `INSERT INTO service_failures (member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id,
                                     status, compensation_amount, compensation_currency, voucher_id)
       VALUES ($1, 'LATE_DELIVERY', 'LOW', now(), $2, 'API_KEY', 'shop', $3, $4, $5, $6)`,
      // Without an amount it cannot wait for review (service_failures_granted_or_waiting_has_amount): declined.
      [member!.id, orderRef, voucher ? 'COMPENSATED' : amount !== null ? 'NEEDS_REVIEW' : 'NOT_ELIGIBLE', amount, currency, voucher],
    );
  }
}

const compensations = async (client: pg.Client) =>
  Object.fromEntries(
    (
      await client.query<{ order_ref: string; amount: string | null; currency: string | null }>(
        'SELECT order_ref, compensation_amount::text AS amount, compensation_currency AS currency FROM service_failures',
      )
    ).rows.map((row) => [row.order_ref, { amount: row.amount, currency: row.currency }]),
  );

describe(`migration ${PAIRED_MIGRATION}`, () => {
  it("gives an amount without a currency its voucher's currency, else the program's, and drops a currency without an amount", async () => {
    const url = await databases.before(PAIRED_MIGRATION, 'compensation_paired');
    await withClient(url, async (client) => {
      await client.query(`INSERT INTO program (id, settings) VALUES (1, '{"currency": "USD"}')`);
      await seedFailures(client, {
        unpaired: { amount: '15.00', currency: null },
        issued: { amount: '25.00', currency: null, voucherCurrency: 'GBP' },
        paired: { amount: '10.00', currency: 'EUR' },
        'currency-alone': { amount: null, currency: 'EUR' },
        none: { amount: null, currency: null },
      });
    });

    const { applied } = await applyMigrations(url);
    expect(applied).toContain(PAIRED_MIGRATION);

    await withClient(url, async (client) => {
      expect(await compensations(client)).toEqual({
        unpaired: { amount: '15.00', currency: 'USD' },
        issued: { amount: '25.00', currency: 'GBP' },
        paired: { amount: '10.00', currency: 'EUR' },
        'currency-alone': { amount: null, currency: null },
        none: { amount: null, currency: null },
      });
    });
  });

  it(`refuses, once migrated, an amount without a currency and a currency without an amount (${PAIRED})`, async () => {
    const url = await createScratchDatabase('compensation_refused');
    onTestFinished(() => dropTestDatabase(url));
    await withClient(url, async (client) => {
      await seedFailures(client, { 'o-1': { amount: null, currency: null } });
      const attempt = (sql: string) =>
        client.query(sql).then(
          () => 'accepted',
          (error: unknown) => error,
        );
      // NOT_ELIGIBLE may have an amount or not: only the pairing refuses these.
      const insert = (amount: string, currency: string) =>
        attempt(
          `INSERT INTO service_failures (member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id,
                                         status, compensation_amount, compensation_currency)
           SELECT id, 'LATE_DELIVERY', 'LOW', now(), 'o-2', 'API_KEY', 'shop', 'NOT_ELIGIBLE', ${amount}, ${currency} FROM members`,
        );

      for (const refused of [
        await insert('15.00', 'NULL'),
        await insert('NULL', "'EUR'"),
        await attempt(`UPDATE service_failures SET compensation_amount = 15.00`),
        await attempt(`UPDATE service_failures SET compensation_currency = 'EUR'`),
      ]) {
        expect(refused).toMatchObject({ code: CHECK_VIOLATION, constraint: PAIRED });
        expect(violates(refused, CHECK_VIOLATION, PAIRED)).toBe(true);
      }
      expect(await compensations(client)).toEqual({ 'o-1': { amount: null, currency: null } });

      // Together they are a compensation.
      expect(await attempt(`UPDATE service_failures SET compensation_amount = 15.00, compensation_currency = 'EUR'`)).toBe('accepted');
      expect(await insert('10.00', "'EUR'")).toBe('accepted');
      expect(await compensations(client)).toEqual({
        'o-1': { amount: '15.00', currency: 'EUR' },
        'o-2': { amount: '10.00', currency: 'EUR' },
      });
    });
  });
});
