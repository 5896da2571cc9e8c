import { describe, expect, it } from 'vitest';
import { markPassiveMembers } from '../../src/domain/points/maintenance.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { redeemVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { holdMember, whileHolding } from '../support/holding.js';
import { issueTestVoucher } from '../support/vouchers.js';

/**
 * DESIGN.md, Member: "A member with no activity (earn, redeem, renewal, purchase) for 12 months becomes PASSIVE
 * (a maintenance job); any activity makes them ACTIVE again." Redeeming a voucher at checkout is a purchase:
 * redeemVoucher names (and creates) the member's order. docs/domain-rules.md, "Activity": it sets the member's
 * last activity and reactivates a PASSIVE member in the redemption's own statement, as an order that earns no
 * points does.
 */
const { prisma, app } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const T0 = new Date('2026-01-10T10:00:00.000Z');
const PASSIVE_AT = addMonths(T0, 13);
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

/** A member without activity since T0, marked PASSIVE 13 months later, holding a 10.00 voucher issued then. */
async function passiveMemberWithVoucher() {
  const memberId = await app.enroll();
  await prisma.member.update({ where: { id: memberId }, data: { enrolledAt: T0, lastActivityAt: T0 } });
  expect(await markPassiveMembers(at(PASSIVE_AT))).toBe(1);
  const voucher = await issueTestVoucher(prisma, memberId, { now: PASSIVE_AT });
  return { memberId, code: voucher.code };
}

/** An enabled endpoint subscribed to status changes, so that the events are written (and countable). */
async function subscribeToStatusChanges() {
  await prisma.$executeRaw`
    INSERT INTO webhook_endpoints (url, event_types, secret, created_by)
    VALUES ('https://hooks.example.com/members', ARRAY['member.status_changed'], 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0', 'test')`;
}

const reactivations = () =>
  prisma.webhookEvent.findMany({ where: { type: 'member.status_changed', payload: { path: ['cause'], equals: 'ACTIVITY' } } });

describe('a voucher redeemed at checkout', () => {
  it('is activity: it makes a PASSIVE member ACTIVE again, sets their last activity, records and announces the change', async () => {
    const { memberId, code } = await passiveMemberWithVoucher();
    await subscribeToStatusChanges();

    const checkoutAt = addDays(PASSIVE_AT, 1);
    const redeemed = await redeemVoucher(
      at(checkoutAt),
      { code, orderRef: 'ORD-1', orderTotal: '40.00', memberId, idempotencyKey: 'pay-voucher' },
      storefront,
    );
    expect(redeemed.replayed).toBe(false);
    expect(await prisma.pointOrder.count({ where: { memberId, orderRef: 'ORD-1' } })).toBe(1);

    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.status).toBe('ACTIVE');
    expect(member.lastActivityAt.toISOString()).toBe(checkoutAt.toISOString());
    // In the status history the metrics count active and passive members from, and to webhook receivers.
    const [last] = await prisma.memberStatusChange.findMany({ where: { memberId }, orderBy: { changedAt: 'desc' }, take: 1 });
    expect(last).toMatchObject({ fromStatus: 'PASSIVE', toStatus: 'ACTIVE', changedAt: checkoutAt });
    expect((await reactivations()).map((event) => event.payload)).toEqual([
      { memberId, fromStatus: 'PASSIVE', toStatus: 'ACTIVE', cause: 'ACTIVITY' },
    ]);

    // A repeat of the request replays the answer: nothing is announced twice.
    const repeated = await redeemVoucher(
      at(addDays(checkoutAt, 1)),
      { code, orderRef: 'ORD-1', orderTotal: '40.00', memberId, idempotencyKey: 'pay-voucher' },
      storefront,
    );
    expect(repeated.replayed).toBe(true);
    expect(await reactivations()).toHaveLength(1);
  });

  it('of an ACTIVE member sets their last activity and announces no status change', async () => {
    const memberId = await app.enroll();
    await subscribeToStatusChanges();
    const voucher = await issueTestVoucher(prisma, memberId);
    const checkoutAt = addDays(new Date(), 1);
    await redeemVoucher(at(checkoutAt), { code: voucher.code, orderRef: 'ORD-1', orderTotal: '40.00', idempotencyKey: 'pay' }, storefront);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.status, member.lastActivityAt.toISOString()]).toEqual(['ACTIVE', checkoutAt.toISOString()]);
    expect(await prisma.webhookEvent.count({ where: { type: 'member.status_changed' } })).toBe(0);
  });

  it('refused (the order is cancelled) is no activity: the member stays PASSIVE', async () => {
    const { memberId, code } = await passiveMemberWithVoucher();
    await prisma.pointOrder.create({
      data: { memberId, orderRef: 'ORD-1', currency: 'EUR', placedAt: PASSIVE_AT, cancelledAt: PASSIVE_AT },
    });
    await expect(
      redeemVoucher(at(addDays(PASSIVE_AT, 1)), { code, orderRef: 'ORD-1', orderTotal: '40.00', idempotencyKey: 'pay' }, storefront),
    ).rejects.toMatchObject({ field: 'orderRef' });
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.status, member.lastActivityAt.toISOString()]).toEqual(['PASSIVE', T0.toISOString()]);
  });

  it('locks the member before the voucher, as a cancel of the order does, so that the two never deadlock', async () => {
    const { code } = await passiveMemberWithVoucher();
    const memberId = (await prisma.voucher.findUniqueOrThrow({ where: { code } })).memberId;
    // Another transaction does what a cancel of the voucher's order does: the member's lock, then the voucher's.
    // The redemption starts meanwhile and waits; had it locked the voucher first, each would wait for the other.
    const redeeming = whileHolding(
      prisma,
      holdMember(memberId),
      () => redeemVoucher(at(addDays(PASSIVE_AT, 1)), { code, orderRef: 'ORD-1', orderTotal: '40.00', idempotencyKey: 'pay' }, storefront),
      { meanwhile: (other) => other.query('SELECT 1 FROM vouchers WHERE code = $1 FOR UPDATE', [code]) },
    );
    expect(await redeeming).toMatchObject({ replayed: false });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).status).toBe('ACTIVE');
  });
});
