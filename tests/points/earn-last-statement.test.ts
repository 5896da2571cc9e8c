import { PrismaPg } from '@prisma/adapter-pg';
import { describe, expect, it } from 'vitest';
import { lastStatement } from '../../src/db/sql.js';
import { inLedgerTransaction } from '../../src/domain/points/ledger-kernel.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { cancelOrder } from '../../src/domain/orders/orders.service.js';
import { earnPoints, redeemPoints, adjustPoints } from '../../src/domain/points/points.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { tableRowCounts, testDatabaseUrl } from '../support/db.js';
import { socketWritesDuring } from '../support/socket-writes.js';
import { refusalOf } from '../support/refusals.js';

/**
 * earnPoints' entry statement is its transaction's last unless the earn may lift the member into a higher tier: it
 * goes out with COMMIT (src/db/sql.ts, `lastStatement`), and refuses an order that cannot earn in SQL, so that a
 * refusal keeps nothing though COMMIT was already on its way.
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const admin = staffCaller('ADMIN', 'last-statement-admin');
const deps = { prisma, logger: testLogger };
const order = (reference: string, amount = '25.00') => ({ reference, total: { amount, currency: 'EUR' } });

describe("earnPoints' last statement", () => {
  it('an earn that lifts no tier: BEGIN with the member lock, then the entry with COMMIT — two socket writes', async () => {
    const memberId = await app.enroll();
    // The settings and rules of this program read once, as a running service has them.
    await earnPoints(deps, { memberId, order: order('warm'), idempotencyKey: 'warm' }, shop);

    const writes = await socketWritesDuring(() => earnPoints(deps, { memberId, order: order('o-1'), idempotencyKey: 'o-1' }, shop));

    expect(writes).toBe(2);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.pendingPoints).toBe(50);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(2);
  });

  it('an order that earned already: refused as before, and nothing of the earn is kept', async () => {
    const memberId = await app.enroll();
    await earnPoints(deps, { memberId, order: order('o-1'), idempotencyKey: 'first' }, shop);
    const before = await tableRowCounts(prisma);

    const refused = await refusalOf(earnPoints(deps, { memberId, order: order('o-1', '99.00'), idempotencyKey: 'second' }, shop));

    expect(refused).toEqual({ code: 'VALIDATION', field: 'order.reference', message: 'this order has already earned points' });
    // No entry, lot, order line, stored answer, event or delivery: every table as it was.
    expect(await tableRowCounts(prisma)).toEqual(before);
    // The key was not taken by the refusal: sent again for a new order, it earns.
    expect(await earnPoints(deps, { memberId, order: order('o-2'), idempotencyKey: 'second' }, shop)).toMatchObject({ points: 25 });
  });

  it('one order earned by 20 requests at once, each with its own key: one earns, 19 are refused, nothing of theirs kept', async () => {
    const memberId = await app.enroll();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        refusalOf(earnPoints(deps, { memberId, order: order('raced'), idempotencyKey: `raced-${i}` }, shop)),
      ),
    );

    expect(answers.filter((answer) => answer === null)).toHaveLength(1);
    expect(answers.filter((answer) => answer?.message === 'this order has already earned points')).toHaveLength(19);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(1);
    expect(await prisma.pointLot.count({ where: { memberId } })).toBe(1);
    expect(await prisma.idempotencyRecord.count({ where: { operation: `earnPoints:${memberId}` } })).toBe(1);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ pendingPoints: 25, lifetimePoints: 25n });
  });

  it('a cancelled order: refused as before, and nothing of the earn is kept', async () => {
    const memberId = await app.enroll();
    await adjustPoints(deps, { memberId, points: 100, reason: 'starting balance', idempotencyKey: 'start' }, admin);
    await redeemPoints(deps, { memberId, points: 50, orderReference: 'o-c', idempotencyKey: 'r1' }, shop);
    await cancelOrder(deps, { memberId, orderReference: 'o-c', idempotencyKey: 'c1' }, shop);
    const before = await tableRowCounts(prisma);

    const refused = await refusalOf(earnPoints(deps, { memberId, order: order('o-c'), idempotencyKey: 'e1' }, shop));

    expect(refused).toEqual({ code: 'VALIDATION', field: 'order.reference', message: 'this order is cancelled' });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('an earn that lifts a new member straight into Silver: its own points counted when deciding', async () => {
    const memberId = await app.enroll();
    await earnPoints(deps, { memberId, order: order('warm', '1.00'), idempotencyKey: 'warm' }, shop);

    const lifted = await earnPoints(deps, { memberId, order: order('o-1000', '1000.00'), idempotencyKey: 'o-1000' }, shop);

    expect(lifted.member).toMatchObject({ tier: 'SILVER' });
    expect(await prisma.tierChange.count({ where: { memberId, toTier: 'SILVER' } })).toBe(1);
  });

  it('an earn that lifts the member into a higher tier commits after the upgrade', async () => {
    const memberId = await app.enroll();
    await adjustPoints(deps, { memberId, points: 900, reason: 'near Silver', idempotencyKey: 'near' }, admin);

    // 900 lifetime + 250: past Silver's 1 000, though qualifying points (orders only) are not: no upgrade yet.
    await earnPoints(deps, { memberId, order: order('o-250', '250.00'), idempotencyKey: 'o-250' }, shop);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ tier: 'BRONZE' });

    const lifted = await earnPoints(deps, { memberId, order: order('o-800', '800.00'), idempotencyKey: 'o-800' }, shop);

    expect(lifted.member).toMatchObject({ tier: 'SILVER' });
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ tier: 'SILVER' });
    expect(await prisma.tierChange.findMany({ where: { memberId }, select: { fromTier: true, toTier: true, reason: true } })).toEqual([
      { fromTier: 'BRONZE', toTier: 'SILVER', reason: 'UPGRADE' },
    ]);
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'EARN' } })).toBe(2);
  });
});

describe('a refusal decided in the statement, on a Prisma interactive transaction', () => {
  it('is the same ValidationError, and nothing is kept', async () => {
    const memberId = await app.enroll();
    const plain = new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 1 }) });
    try {
      const onPrisma = { prisma: plain, logger: testLogger };
      await earnPoints(onPrisma, { memberId, order: order('p-1'), idempotencyKey: 'p-1' }, shop);
      const before = await tableRowCounts(prisma);

      const refused = await refusalOf(earnPoints(onPrisma, { memberId, order: order('p-1'), idempotencyKey: 'p-2' }, shop));

      expect(refused).toEqual({ code: 'VALIDATION', field: 'order.reference', message: 'this order has already earned points' });
      expect(await tableRowCounts(prisma)).toEqual(before);
    } finally {
      await plain.$disconnect();
    }
  });
});

describe('the ledger kernel and a last statement', () => {
  it("refuses, before anything is sent, a last statement that does not store the request's answer", async () => {
    const memberId = await app.enroll();
    const operation = { memberId, request: { scope: `probe:${memberId}`, key: 'k-1', body: {} } };

    const outcome = inLedgerTransaction(deps, operation, async ({ tx }) => {
      await lastStatement(tx).$executeRaw`UPDATE members SET name = 'written without its answer' WHERE id = ${memberId}::uuid`;
      return { result: { done: true } };
    });

    await expect(outcome).rejects.toThrow(/must store the request's answer/);
    // Sent with COMMIT, the update would have been kept without the key's answer: a retry would have done it again.
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).not.toMatchObject({ name: 'written without its answer' });
    expect(await prisma.idempotencyRecord.count({ where: { operation: `probe:${memberId}` } })).toBe(0);
  });
});
