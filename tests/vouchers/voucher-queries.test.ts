// No useTestApp(): it needs a Prisma client that logs every statement; it resets and checks the ledger itself.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withCursorPages } from '../../src/db/cursor-pages.js';
import type { PrismaClient as Db } from '../../src/db/prisma.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { createTestApp, expectLedgerConsistent } from '../support/app.js';
import { resetDatabase, testDatabaseUrl } from '../support/db.js';

/**
 * The hot read of a member app: vouchers next to the member, for one member or
 * a page of them. Every SQL statement is logged; the count must not grow with
 * the number of members (an N+1 shows up as a difference).
 */
let logged: PrismaClient<'query'>;
let prisma: Db;
let app: ReturnType<typeof createTestApp>;
let statements: string[] = [];

beforeAll(async () => {
  logged = new PrismaClient({
    adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 4 }),
    log: [{ emit: 'event', level: 'query' }],
  });
  logged.$on('query', (event) => statements.push(event.query));
  // Through the client's extension, as createPrisma builds it: the statements counted are production's.
  prisma = withCursorPages(logged as unknown as Db);
  app = createTestApp(prisma);
});
afterAll(async () => logged.$disconnect());
beforeEach(async () => resetDatabase(prisma));
afterEach(async () => expectLedgerConsistent(prisma));

async function membersWithVouchers(count: number) {
  for (let i = 0; i < count; i++) {
    const memberId = await app.enroll();
    await prisma.$transaction(async (tx) => {
      for (let v = 0; v < 3; v++) {
        await issueVoucher(tx, {
          memberId,
          kind: 'GOODWILL',
          value: { type: 'FIXED', amount: `${v + 1}.00` },
          causeType: 'GESTURE',
          causeRef: randomUUID(),
          now: new Date(),
        });
      }
    });
  }
}

async function statementsFor(query: string, token: string): Promise<{ count: number; data: any }> {
  statements = [];
  const result = await app.gql(query, {}, token);
  expect(result.errors).toBeUndefined();
  return { count: statements.length, data: result.data };
}

const PAGE = `{ members(first: 50) { edges { node { id
  activeVouchers { code value { amount } member { id } }
  vouchers(first: 2) { edges { node { code status } } } } } } }`;

describe('vouchers load with their members, without N+1', () => {
  it('a page of members with active vouchers and a voucher connection: the same statements for 2 and for 12 members', async () => {
    const agent = await app.staffToken('AGENT');
    await membersWithVouchers(2);
    const small = await statementsFor(PAGE, agent);
    expect(small.data.members.edges).toHaveLength(2);
    expect(small.data.members.edges[0].node.activeVouchers).toHaveLength(3);

    await membersWithVouchers(10);
    const large = await statementsFor(PAGE, agent);
    expect(large.data.members.edges).toHaveLength(12);
    for (const edge of large.data.members.edges) {
      expect(edge.node.activeVouchers).toHaveLength(3);
      expect(edge.node.vouchers.edges).toHaveLength(2);
    }
    expect(large.count).toBe(small.count);
    // Members; their active vouchers; those vouchers' members; and, because two fields
    // read the same relation with different filters, one batched reload for the connection.
    expect(large.count).toBeLessThanOrEqual(5);
  });

  it('me { activeVouchers } is one query plan', async () => {
    await membersWithVouchers(1);
    const member = await prisma.member.findFirstOrThrow();
    const { count, data } = await statementsFor('{ me { name activeVouchers { code expiresAt } } }', await app.memberToken(member.id));
    expect(data.me.activeVouchers).toHaveLength(3);
    expect(count).toBeLessThanOrEqual(2);
  });
});
