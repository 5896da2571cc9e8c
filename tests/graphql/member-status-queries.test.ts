// No useTestApp(): it needs a Prisma client that logs every statement; it resets and checks the ledger itself.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withCursorPages } from '../../src/db/cursor-pages.js';
import type { PrismaClient as Db } from '../../src/db/prisma.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createTestApp, expectLedgerConsistent, testLogger } from '../support/app.js';
import { resetDatabase, testDatabaseUrl } from '../support/db.js';

/**
 * The member app's status screen is the hottest read: it must cost the same
 * number of SQL statements whatever the member's history. Every statement of a
 * dedicated client is logged; an N+1 shows up as a difference between a member
 * with one entry and voucher and a member with fifty.
 */
let logged: PrismaClient<'query'>;
let prisma: Db;
let app: ReturnType<typeof createTestApp>;
let statements: string[] = [];
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** A ceiling that leaves room for a field or two more, but not for a query per row. */
const MAX_STATEMENTS = 8;

beforeAll(async () => {
  logged = new PrismaClient({
    adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 4 }),
    log: [{ emit: 'event', level: 'query' }],
  });
  logged.$on('query', (event) => statements.push(event.query));
  // As createPrisma makes it: its reads through the cursor pages' extension (src/db/cursor-pages.ts).
  prisma = withCursorPages(logged as unknown as Db);
  app = createTestApp(prisma);
});
afterAll(async () => logged.$disconnect());
beforeEach(async () => resetDatabase(prisma));
afterEach(async () => expectLedgerConsistent(prisma));

/** A member with `count` orders (ledger entries) and `count` vouchers. */
async function memberWithHistory(count: number): Promise<string> {
  const memberId = await app.enroll();
  const deps = { prisma, logger: testLogger };
  for (let i = 0; i < count; i++) {
    await earnPoints(deps, { memberId, orderRef: `o-${i}`, orderTotal: '150.00', idempotencyKey: `e-${memberId}-${i}` }, storefront);
  }
  await prisma.$transaction(async (tx) => {
    for (let i = 0; i < count; i++) {
      await issueVoucher(tx, {
        memberId,
        kind: 'GOODWILL',
        value: { type: 'FIXED', amount: '5.00' },
        causeType: 'GESTURE',
        causeRef: randomUUID(),
        now: new Date(),
      });
    }
  });
  return memberId;
}

async function statementsFor(query: string, token: string): Promise<{ count: number; data: any }> {
  statements = [];
  const result = await app.gql(query, {}, token);
  expect(result.errors).toBeUndefined();
  return { count: statements.length, data: result.data };
}

const STATUS = `{ me {
  id name status tier { key name } tierSince
  tierProgress { current { key multiplier } next { key threshold } qualifyingPoints pointsToNext reviewAt }
  balance { available pending lifetime }
  expiringPoints { expiresAt points }
  ledger(first: 10) {
    edges { node { id kind amount balanceAfter causeType causeRef createdAt } }
    pageInfo { hasNextPage endCursor }
  }
  tierHistory(first: 5) { edges { node { id fromTierKey toTier { key name } reason qualifyingPoints createdAt } } }
  activeVouchers { code kind status value { amount currency } expiresAt }
  vouchers(first: 5) { edges { node { code status expiresAt } } pageInfo { hasNextPage } }
} }`;

const MEMBERS = `{ members(first: 50) { edges { node {
  id tier { key name }
  tierProgress { current { key } next { key } qualifyingPoints pointsToNext reviewAt }
  tierHistory(first: 3) { edges { node { fromTierKey toTierKey reason } } }
} } } }`;

describe('member status reads cost a fixed number of SQL statements', () => {
  it('the full status of a member with 1 entry and voucher costs the same as with 50', async () => {
    const small = await memberWithHistory(1);
    const large = await memberWithHistory(50);
    const few = await statementsFor(STATUS, await app.memberToken(small));
    const many = await statementsFor(STATUS, await app.memberToken(large));

    expect(few.data.me).toMatchObject({
      tier: { key: 'BRONZE', name: 'Bronze' },
      tierProgress: { qualifyingPoints: 150, pointsToNext: 850 },
    });
    expect(few.data.me.ledger.edges).toHaveLength(1);
    expect(few.data.me.activeVouchers).toHaveLength(1);
    // 50 orders of 150.00 climb to GOLD on the way (multipliers apply from the next order on).
    expect(many.data.me.tier).toEqual({ key: 'GOLD', name: 'Gold' });
    expect(many.data.me.tierHistory.edges.map((e: any) => e.node.toTier.key)).toEqual(['GOLD', 'SILVER']);
    expect(many.data.me.ledger.edges).toHaveLength(10);
    expect(many.data.me.activeVouchers).toHaveLength(50);
    expect(many.data.me.vouchers.edges).toHaveLength(5);

    console.info(`member status: ${few.count} statements for 1 entry/voucher, ${many.count} for 50`);
    expect(many.count).toBe(few.count);
    expect(many.count).toBeLessThanOrEqual(MAX_STATEMENTS);
  });

  it('listing members with tier progress and history does not query per member', async () => {
    const admin = await app.staffToken('ADMIN');
    await memberWithHistory(2);
    const one = await statementsFor(MEMBERS, admin);
    for (let i = 0; i < 19; i++) await memberWithHistory(2);
    const twenty = await statementsFor(MEMBERS, admin);

    expect(one.data.members.edges).toHaveLength(1);
    expect(twenty.data.members.edges).toHaveLength(20);
    expect(twenty.data.members.edges.every((e: any) => e.node.tierProgress.qualifyingPoints === 300)).toBe(true);
    console.info(`members listing: ${one.count} statements for 1 member, ${twenty.count} for 20`);
    expect(twenty.count).toBe(one.count);
    expect(twenty.count).toBeLessThanOrEqual(MAX_STATEMENTS);
  });
});
