import { PrismaPg } from '@prisma/adapter-pg';
import { describe, expect, it } from 'vitest';
import { rawSql, sqlTransaction, StatementTemplate } from '../../src/db/sql.js';
import { Prisma, PrismaClient } from '../../src/generated/prisma/client.js';
import { useTestApp } from '../support/app.js';
import { testDatabaseUrl } from '../support/db.js';

/**
 * A `StatementTemplate` whose slot recurs sends it once and names its parameter again where it recurs
 * (tests/db/statement-template.test.ts): the statement must mean the same on node-postgres and on a Prisma client.
 */
const { prisma } = useTestApp();

type Slots = { a: number; b: number; at: Date };
const template = new StatementTemplate(
  (slots: Slots) =>
    Prisma.sql`SELECT ${slots.a}::int + ${slots.b}::int * 10 + ${slots.a}::int * 100 AS sum, ${slots.b}::int AS b,
      extract(epoch FROM ${slots.at}::timestamptz)::int - extract(epoch FROM ${slots.at}::timestamptz - interval '1 day')::int AS day`,
  [
    { a: Number.MIN_SAFE_INTEGER, b: Number.MIN_SAFE_INTEGER + 1_000, at: new Date(0) },
    { a: Number.MIN_SAFE_INTEGER + 3_000, b: Number.MIN_SAFE_INTEGER + 7_000, at: new Date(1) },
  ],
);
const values = { a: 1, b: 2, at: new Date('2026-12-07T10:00:00Z') };
const expected = [{ sum: 121, b: 2, day: 86_400 }];

describe('a StatementTemplate whose slots recur', () => {
  it('sends each slot once', () => {
    expect(template.values(values)).toEqual([1, 2, values.at]);
  });

  it('answers the same on node-postgres, alone and in a transaction, and on a Prisma client', async () => {
    expect(await rawSql(prisma).$queryRaw(template.strings, ...template.values(values))).toEqual(expected);
    expect(await sqlTransaction(prisma, async (tx) => tx.$queryRaw(template.strings, ...template.values(values)))).toEqual(expected);
    const plain = new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 1 }) });
    try {
      expect(await plain.$queryRaw(template.strings, ...template.values(values))).toEqual(expected);
    } finally {
      await plain.$disconnect();
    }
  });
});
