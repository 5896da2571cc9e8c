// No useTestApp(): it compares the migrated schema with prisma/schema.prisma; no rows.
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, dropTestDatabase, testDatabaseUrl } from '../support/db.js';
import { compareSchemaToDatabase, loadDatamodel } from '../support/schema-drift.js';

const SCHEMA_PATH = new URL('../../prisma/schema.prisma', import.meta.url);
let schema: string;

beforeAll(async () => {
  schema = await readFile(SCHEMA_PATH, 'utf8');
});

describe('the migrated database matches prisma/schema.prisma', () => {
  it('has no drift (add a migration when this fails)', async () => {
    expect(await compareSchemaToDatabase(schema, testDatabaseUrl())).toEqual([]);
  });

  it('reads the full datamodel from the schema, db names and native types included', () => {
    const datamodel = loadDatamodel(schema);
    const order = datamodel.models.find((m) => m.name === 'PointOrder');
    expect(order?.dbName).toBe('point_orders');
    expect(order?.fields.find((f) => f.name === 'orderTotal')).toMatchObject({
      dbName: 'order_total',
      nativeType: ['Decimal', ['14', '2']],
    });
    expect(datamodel.indexes.some((i) => i.model === 'LedgerEntry' && i.fields[1]?.sortOrder === 'desc')).toBe(true);
  });
});

/** Each edit is a schema change that needs a migration; the comparator must notice it. */
const edits: Array<{ change: string; edit: (schema: string) => string; expected: string }> = [
  {
    change: 'a new column',
    edit: (s) => s.replace('  lastActivityAt ', '  nickname        String?\n  lastActivityAt '),
    expected: 'column members.nickname: missing from the database',
  },
  {
    change: 'a removed column',
    edit: (s) => s.replace(/\n\s+note\s+String\?\n/, '\n'),
    expected: 'column ledger_entries.note: exists in the database but not in the schema',
  },
  {
    change: 'a renamed column (@map)',
    edit: (s) => s.replace('@map("updated_by")', '@map("changed_by")'),
    expected: 'column program.changed_by: missing from the database',
  },
  {
    change: 'a renamed table (@@map)',
    edit: (s) => s.replace('@@map("api_keys")', '@@map("storefront_keys")'),
    expected: 'table storefront_keys: missing from the database',
  },
  {
    change: 'a new model',
    edit: (s) => `${s}\nmodel DriftProbe {\n  id String @id @db.Uuid\n\n  @@map("drift_probes")\n}\n`,
    expected: 'table drift_probes: missing from the database',
  },
  {
    change: 'Decimal precision',
    edit: (s) => s.replace(/(orderTotal .*)@db\.Decimal\(14, 2\)/, '$1@db.Decimal(18, 4)'),
    expected: 'column point_orders.order_total: type is numeric(14,2), the schema wants numeric(18,4)',
  },
  {
    change: 'timestamp precision',
    edit: (s) => s.replace(/(expiresAt .*)@db\.Timestamptz\(3\)/, '$1@db.Timestamptz(6)'),
    expected: 'column point_lots.expires_at: type is timestamp(3) with time zone, the schema wants timestamp(6) with time zone',
  },
  {
    change: 'timestamp without a native type',
    edit: (s) => s.replace(/(revokedAt .*) @db\.Timestamptz\(3\)/, '$1'),
    expected: 'column api_keys.revoked_at: type is timestamp(3) with time zone, the schema wants timestamp(3) without time zone',
  },
  {
    change: 'Uuid to text',
    edit: (s) => s.replace(/(memberId +String +@map\("member_id"\)) @db\.Uuid(\n\s+kind )/, '$1$2'),
    expected: 'column ledger_entries.member_id: type is uuid, the schema wants text',
  },
  {
    change: 'a list becoming scalar',
    edit: (s) => s.replace('scopes     String[]', 'scopes     String'),
    expected: 'column api_keys.scopes: type is text[], the schema wants text',
  },
  {
    change: 'an enum column type',
    edit: (s) => s.replace('actorType ActorType @map("actor_type")', 'actorType String @map("actor_type")'),
    expected: 'column program_changes.actor_type: type is "ActorType", the schema wants text',
  },
  {
    change: 'nullability',
    edit: (s) => s.replace(/note(\s+)String\?/, 'note$1String '),
    expected: 'column ledger_entries.note: is nullable, the schema wants NOT NULL',
  },
  {
    change: 'a string default',
    edit: (s) => s.replace('@default("en")', '@default("de")'),
    expected: "column members.locale: has default 'en'::text, the schema wants 'de'",
  },
  {
    change: 'an enum default',
    edit: (s) => s.replace('@default(ACTIVE)', '@default(PASSIVE)'),
    expected: `column members.status: has default 'ACTIVE'::"MemberStatus", the schema wants 'PASSIVE'`,
  },
  {
    change: 'a numeric default',
    edit: (s) => s.replace('version   Int      @default(1)', 'version   Int      @default(2)'),
    expected: 'column program.version: has default 1, the schema wants 2',
  },
  {
    change: 'a dropped default',
    edit: (s) => s.replace(/(\n\s+note .*\n\s+createdAt .*)@default\(now\(\)\) /, '$1'),
    expected: 'column ledger_entries.created_at: has default CURRENT_TIMESTAMP, the schema has none',
  },
  {
    change: 'a new enum value',
    edit: (s) => s.replace('  SUSPENDED\n  CLOSED\n', '  SUSPENDED\n  CLOSED\n  ARCHIVED\n'),
    expected: 'enum MemberStatus: values missing from the database: ARCHIVED',
  },
  {
    change: 'a new enum',
    edit: (s) => `${s}\nenum Channel {\n  WEB\n  STORE\n}\n`,
    expected: 'enum Channel: missing from the database',
  },
  {
    change: 'a composite primary key',
    edit: (s) => s.replace('@@id([operation, key])', '@@id([key, operation])'),
    expected: 'primary key idempotency_records.idempotency_records_pkey (key, operation): covers (operation, key) in the database',
  },
  {
    change: 'a dropped unique field',
    edit: (s) => s.replace('email           String?      @unique', 'email           String?'),
    expected: 'unique index members.members_email_key (email): exists in the database but not in the schema',
  },
  {
    change: 'a new compound unique',
    edit: (s) => s.replace('  @@index([status])\n', '  @@index([status])\n  @@unique([name, locale])\n'),
    expected: 'unique index members.members_name_locale_key (name, locale): missing from the database',
  },
  {
    change: 'a dropped index',
    edit: (s) => s.replace('  @@index([tier, tierSince])\n', ''),
    expected: 'index members.members_tier_tier_since_idx (tier, tier_since): exists in the database but not in the schema',
  },
  {
    change: 'an index sort order',
    edit: (s) => s.replace('@@index([memberId, createdAt(sort: Desc)], map', '@@index([memberId, createdAt], map'),
    expected:
      'index ledger_entries.ledger_entries_member_history_idx (member_id, created_at): sort order is (ASC, DESC), the schema wants (ASC, ASC)',
  },
  {
    change: 'a partial index made full',
    edit: (s) => s.replace('@@index([memberId, expiresAt], where: raw("expired_at IS NULL"))', '@@index([memberId, expiresAt])'),
    expected:
      'index point_lots.point_lots_member_id_expires_at_idx (member_id, expires_at): is partial (WHERE (expired_at IS NULL)) in the database',
  },
  {
    change: 'a partial index with another condition',
    edit: (s) => s.replace('where: raw("expired_at IS NULL")', 'where: raw("expired_at IS NULL AND remaining > 0")'),
    expected:
      'index point_lots.point_lots_member_id_expires_at_idx (member_id, expires_at): is partial (WHERE (expired_at IS NULL)) in the database, the schema wants WHERE expired_at IS NULL AND remaining > 0',
  },
  {
    change: 'a full index made partial',
    edit: (s) => s.replace('  @@index([tier, tierSince])\n', '  @@index([tier, tierSince], where: raw("tier <> \'BRONZE\'"))\n'),
    expected:
      "index members.members_tier_tier_since_idx (tier, tier_since): is not partial in the database, the schema wants WHERE tier <> 'BRONZE'",
  },
  {
    change: 'two partial indexes on the same field with their conditions swapped',
    edit: (s) =>
      s
        .replace('"point_lots_open_expires_at_idx", where: raw("expired_at IS NULL")', '"point_lots_open_expires_at_idx", where: raw("@@")')
        .replace(
          '"point_lots_unreminded_expires_at_idx", where: raw("expiry_reminded_at IS NULL AND expired_at IS NULL")',
          '"point_lots_unreminded_expires_at_idx", where: raw("expired_at IS NULL")',
        )
        .replace('where: raw("@@")', 'where: raw("expiry_reminded_at IS NULL AND expired_at IS NULL")'),
    expected:
      'index point_lots.point_lots_open_expires_at_idx (expires_at): is partial (WHERE (expired_at IS NULL)) in the database, the schema wants WHERE expiry_reminded_at IS NULL AND expired_at IS NULL',
  },
  {
    change: 'an index name (map)',
    edit: (s) =>
      s.replace(
        '@@index([memberId, expiresAt], where: raw("expired_at IS NULL"))',
        '@@index([memberId, expiresAt], map: "point_lots_expiry_idx", where: raw("expired_at IS NULL"))',
      ),
    expected:
      'index point_lots.point_lots_expiry_idx (member_id, expires_at): missing from the database (an index on those columns is named point_lots_member_id_expires_at_idx)',
  },
  {
    change: 'an onDelete action',
    edit: (s) => s.replace(/(member +Member +@relation\([^)]*)\)(\n\s+lot +PointLot\?\n)/, '$1, onDelete: Cascade)$2'),
    expected: 'foreign key ledger_entries.ledger_entries_member_id_fkey: ON DELETE Restrict, the schema wants Cascade',
  },
  {
    change: 'an onUpdate action',
    edit: (s) => s.replace(/(lot +PointLot\? +@relation\([^)]*)\)/, '$1, onUpdate: NoAction)'),
    expected: 'foreign key point_orders.point_orders_lot_id_fkey: ON UPDATE Cascade, the schema wants NoAction',
  },
  {
    change: 'a foreign key name (map)',
    edit: (s) => s.replace(/(entry +LedgerEntry @relation\([^)]*)\)/, '$1, map: "point_lots_entry_fk")'),
    expected: 'foreign key point_lots.point_lots_entry_fk (entry_id) -> ledger_entries: missing from the database',
  },
];

describe('compareSchemaToDatabase', () => {
  it.each(edits)('reports $change', async ({ edit, expected }) => {
    const edited = edit(schema);
    expect(edited, 'the edit no longer applies to schema.prisma: update this test').not.toBe(schema);
    expect(await compareSchemaToDatabase(edited, testDatabaseUrl())).toContain(expected);
  });

  it('rejects a schema that does not validate', async () => {
    await expect(compareSchemaToDatabase(schema.replace('@@map("members")', '@@mapp("members")'), testDatabaseUrl())).rejects.toThrow(
      /@@mapp/,
    );
  });

  describe('on a database changed by hand', () => {
    let url: string;
    beforeAll(async () => {
      url = await createScratchDatabase('drift');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`
          ALTER TABLE members ADD COLUMN nickname text;
          DROP INDEX members_status_idx;
          CREATE TABLE audit_log (id int PRIMARY KEY);
          ALTER TABLE point_orders DROP CONSTRAINT point_orders_lot_id_fkey;
          ALTER TABLE members ALTER COLUMN locale DROP DEFAULT;`);
      } finally {
        await client.end();
      }
    });
    afterAll(async () => dropTestDatabase(url));

    it('reports every change', async () => {
      expect(await compareSchemaToDatabase(schema, url)).toEqual([
        "column members.locale: has no default, the schema wants 'en'",
        'column members.nickname: exists in the database but not in the schema',
        'foreign key point_orders.point_orders_lot_id_fkey (lot_id) -> point_lots: missing from the database',
        'index members.members_status_idx (status): missing from the database',
        'primary key audit_log.audit_log_pkey (id): exists in the database but not in the schema',
        'table audit_log: exists in the database but not in the schema',
      ]);
    });
  });
});
