import { describe, expect, it } from 'vitest';
import { markPassiveMembers } from '../../src/domain/points/maintenance.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * DESIGN.md: "A member with no activity (earn, redeem, renewal, purchase) for 12 months becomes
 * PASSIVE …; any activity makes them ACTIVE again." The schema says of `Member.lastActivityAt`:
 * "Last earn, redeem, renewal or purchase." An order that earns no points (a small one, or one of excluded
 * categories) is a purchase too; before, it wrote the order alone.
 */
const { prisma, app } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const T0 = new Date('2026-01-10T10:00:00.000Z');
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

describe('a purchase that earns no points', () => {
  it('makes a PASSIVE member ACTIVE again and counts as their last activity', async () => {
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { enrolledAt: T0, lastActivityAt: T0 } });
    expect(await markPassiveMembers(at(addMonths(T0, 13)))).toBe(1);

    // The member buys something for 0.50: the storefront reports the order, which earns 0 points.
    const purchasedAt = addDays(addMonths(T0, 13), 1);
    const earned = await earnPoints(
      at(purchasedAt),
      { memberId, orderRef: 'small-1', orderTotal: '0.50', idempotencyKey: 'small-1' },
      storefront,
    );
    expect(earned.points).toBe(0);
    expect(await prisma.pointOrder.count({ where: { memberId, orderRef: 'small-1' } })).toBe(1);

    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.lastActivityAt.toISOString()).toBe(purchasedAt.toISOString());
    expect(member.status).toBe('ACTIVE');
    // In the status history the metrics count active and passive members from.
    const [last] = await prisma.memberStatusChange.findMany({ where: { memberId }, orderBy: { changedAt: 'desc' }, take: 1 });
    expect(last).toMatchObject({ fromStatus: 'PASSIVE', toStatus: 'ACTIVE', changedAt: purchasedAt });
  });

  it('keeps an ACTIVE member who keeps buying from being marked PASSIVE', async () => {
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { enrolledAt: T0, lastActivityAt: T0 } });
    // A purchase every month, each below one point.
    for (let month = 1; month <= 12; month++) {
      await earnPoints(
        at(addMonths(T0, month)),
        { memberId, orderRef: `m-${month}`, orderTotal: '0.90', idempotencyKey: `m-${month}` },
        storefront,
      );
    }
    expect(await markPassiveMembers(at(addDays(addMonths(T0, 12), 20)))).toBe(0);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).status).toBe('ACTIVE');
  });
});

describe('the last activity', () => {
  it('never moves back: an operation that read its clock first and committed last keeps the later time', async () => {
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { enrolledAt: T0, lastActivityAt: T0 } });
    const later = addDays(T0, 2);
    await earnPoints(at(later), { memberId, orderRef: 'o-2', orderTotal: '10.00', idempotencyKey: 'o-2' }, storefront);
    // An earn whose clock read T0 + 1 day, committed after the one of T0 + 2 days (it waited for the member).
    await earnPoints(at(addDays(T0, 1)), { memberId, orderRef: 'o-1', orderTotal: '10.00', idempotencyKey: 'o-1' }, storefront);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).lastActivityAt).toEqual(later);
  });
});
