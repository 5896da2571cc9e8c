// No useTestApp(): the test migrates a database of its own, seeds it as it was before e-mail addresses were
// normalised (migration 202612151000_member_email_nfc), then migrates it to the end.
import { describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/db/migrate.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const NFC_MIGRATION = '202612151000_member_email_nfc';
const databases = useDatabasesBefore();

/** Members as enrolment stored them before: lower-cased, in whatever Unicode form the storefront sent. */
const SEEDED: Record<string, string | null> = {
  // "josé" decomposed (e + U+0301), nobody else: rewritten to the precomposed é (U+00E9).
  alone: 'jose\u0301@example.com',
  plain: 'ada@example.com',
  none: null,
  // "rené" precomposed and decomposed: the NFC form is taken, the decomposed one stays as it is.
  taken: 'ren\u00e9@example.com',
  taker: 'rene\u0301@example.com',
  // "ǘ" fully decomposed (u + U+0308 + U+0301) and half composed (ü U+00FC + U+0301): one NFC form (U+01D8), two members.
  twin1: 'lu\u0308\u0301@example.com',
  twin2: 'l\u00fc\u0301@example.com',
};

describe(`migration ${NFC_MIGRATION}`, () => {
  it('puts every address in NFC, except one whose NFC form another member has too, and does not fail on those', async () => {
    const url = await databases.before(NFC_MIGRATION, 'email_nfc');
    await withClient(url, async (client) => {
      for (const [externalId, email] of Object.entries(SEEDED)) {
        await client.query('INSERT INTO members (external_id, email, name) VALUES ($1, $2, $1)', [externalId, email]);
      }
    });

    const { applied } = await applyMigrations(url);
    expect(applied).toContain(NFC_MIGRATION);

    await withClient(url, async (client) => {
      const rows = await client.query<{ external_id: string; email: string | null }>('SELECT external_id, email FROM members');
      expect(Object.fromEntries(rows.rows.map((row) => [row.external_id, row.email]))).toEqual({
        ...SEEDED,
        alone: 'jos\u00e9@example.com',
      });
    });
  });
});
