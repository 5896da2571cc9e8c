import { describe, expect, it } from 'vitest';
import { earnPoints, previewEarn, redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { upcomingExpiries } from '../../src/domain/points/expiring.service.js';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const admin = { actor: { type: 'STAFF' as const, id: 'admin' }, role: 'ADMIN' as const };

/** Service deps whose clock we can move. */
function at(date: Date) {
  return { prisma, logger: testLogger, now: () => date };
}

const { prisma, app } = useTestApp();

const T0 = new Date('2026-01-10T10:00:00.000Z');

describe('earning', () => {
  it('earns order total × rate, pending for the return window, then available', async () => {
    const memberId = await app.enroll();
    const earned = await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '49.99', idempotencyKey: 'e1' }, storefront);
    expect(earned.points).toBe(49);
    let member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.pendingPoints, member.availablePoints]).toEqual([49, 0]);

    await expect(redeemPoints(at(addDays(T0, 13)), { memberId, points: 1, idempotencyKey: 'r1' }, storefront)).rejects.toMatchObject({
      code: 'INSUFFICIENT_POINTS',
      available: 0,
      requested: 1,
    });

    const report = await runPointsMaintenance(at(addDays(T0, 14)));
    expect(report.membersSettled).toBe(1);
    member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.pendingPoints, member.availablePoints]).toEqual([0, 49]);
    expect((await runPointsMaintenance(at(addDays(T0, 14)))).membersSettled).toBe(0);
  });

  it('one earn per order: a second key for the same order is a ValidationError', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '10', idempotencyKey: 'e1' }, storefront);
    await expect(earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '10', idempotencyKey: 'e2' }, storefront)).rejects.toMatchObject(
      { code: 'VALIDATION', field: 'orderRef' },
    );
  });

  it('an order placed in the year 0000 is a ValidationError on order.placedAt, earned or previewed, and writes nothing', async () => {
    const memberId = await app.enroll();
    const order = (placedAt: string) => ({ reference: 'A', total: { amount: '10.00', currency: 'EUR' }, placedAt: new Date(placedAt) });
    // The DateTime scalar reads the year 0000; raw SQL stored it as 1 BC.
    const yearZero = order('0000-06-01T00:00:00.000Z');
    await expect(earnPoints(at(T0), { memberId, order: yearZero, idempotencyKey: 'e1' }, storefront)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'order.placedAt',
    });
    await expect(previewEarn(at(T0), { memberId, order: yearZero }, storefront)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'order.placedAt',
    });
    expect([await prisma.ledgerEntry.count(), await prisma.pointOrder.count(), await prisma.idempotencyRecord.count()]).toEqual([0, 0, 0]);

    // Not held to the enrolment (the member enrolled on the real clock, long after T0): an order placed before it earns.
    const earned = await earnPoints(at(T0), { memberId, order: order('0001-01-01T00:00:00.000Z'), idempotencyKey: 'e1' }, storefront);
    expect(earned.points).toBe(10);
    expect((await prisma.pointOrder.findFirstOrThrow({ where: { memberId } })).placedAt).toEqual(new Date('0001-01-01T00:00:00.000Z'));
  });

  it('only admins may set an explicit amount', async () => {
    const memberId = await app.enroll();
    await expect(
      earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '10', points: 500, idempotencyKey: 'e1' }, storefront),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const result = await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '10', points: 500, idempotencyKey: 'e1' }, admin);
    expect(result.points).toBe(500);
  });
});

describe('redeeming and expiry', () => {
  it('consumes lots first-in first-out and expires what is left of old lots', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'old', orderTotal: '100', idempotencyKey: 'e-old' }, storefront);
    const later = addMonths(T0, 6);
    await earnPoints(at(later), { memberId, orderRef: 'new', orderTotal: '50', idempotencyKey: 'e-new' }, storefront);

    const expiries = await upcomingExpiries({ prisma }, memberId);
    expect(expiries.map((e) => e.points)).toEqual([100, 50]);
    expect(expiries[0]!.expiresAt.toISOString()).toBe(addMonths(T0, 24).toISOString());

    await redeemPoints(at(addDays(later, 20)), { memberId, points: 30, idempotencyKey: 'r1' }, storefront);
    expect((await upcomingExpiries({ prisma }, memberId)).map((e) => e.points)).toEqual([70, 50]);

    await runPointsMaintenance(at(addMonths(T0, 24)));
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.availablePoints).toBe(50);
    const expired = await prisma.ledgerEntry.findFirstOrThrow({ where: { memberId, kind: 'EXPIRE' } });
    expect(expired.amount).toBe(-70);
    expect(expired.balanceAfter).toBe(50);
  });
});

describe('references', () => {
  it('redeemPoints refuses a reference with a control character, and writes nothing', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '10', idempotencyKey: 'e1' }, storefront);
    const later = addDays(T0, 20);
    await expect(
      redeemPoints(at(later), { memberId, points: 1, reference: 'basket\u00077', idempotencyKey: 'r1' }, storefront),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'reference' });
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'REDEEM' } })).toBe(0);
  });
});

describe('refunds', () => {
  it('a partial refund reverses in proportion, pending points first', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '200', idempotencyKey: 'e1' }, storefront);
    const first = await refundOrder(at(T0), { memberId, orderRef: 'A', amount: '50', idempotencyKey: 'rf1' }, storefront);
    expect(first.points).toBe(-50);
    const rest = await refundOrder(at(T0), { memberId, orderRef: 'A', idempotencyKey: 'rf2' }, storefront);
    expect(rest.points).toBe(-150);
    await expect(refundOrder(at(T0), { memberId, orderRef: 'A', idempotencyKey: 'rf3' }, storefront)).rejects.toMatchObject({
      code: 'VALIDATION',
    });
  });

  it('a refund of an order whose points were spent reverses what is left and reports the rest', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '100', idempotencyKey: 'e1' }, storefront);
    const later = addDays(T0, 20);
    await redeemPoints(at(later), { memberId, points: 60, idempotencyKey: 'r1' }, storefront);
    const refund = await refundOrder(at(later), { memberId, orderRef: 'A', idempotencyKey: 'rf1' }, storefront);
    expect(refund).toMatchObject({ points: -40, pointsUnrecovered: 60 });
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.availablePoints).toBe(0);
  });
});

describe('database guards', () => {
  it('ledger entries cannot be updated or deleted', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'A', orderTotal: '10', idempotencyKey: 'e1' }, storefront);
    await expect(prisma.$executeRaw`UPDATE ledger_entries SET amount = 1000`).rejects.toThrow(/immutable/);
    await expect(prisma.$executeRaw`DELETE FROM ledger_entries`).rejects.toThrow(/immutable/);
  });

  it('a balance cannot go negative even when written directly', async () => {
    const memberId = await app.enroll();
    await expect(prisma.$executeRaw`UPDATE members SET available_points = -1 WHERE id = ${memberId}::uuid`).rejects.toThrow(
      /members_available_points_nonnegative/,
    );
  });
});
