import { describe, expect, it } from 'vitest';
import { adjustPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { processMaintenance } from '../../workers/maintenance.processor.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { issueTestVoucher } from '../support/vouchers.js';

/**
 * Expiry reminders: the maintenance job announces each lot of points 30 days
 * (pointExpiryReminderDays) before it expires, and each voucher 7 days
 * (voucherExpiryReminderDays) before — once, also when maintenance runs twice
 * or several times at the same moment.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const T0 = new Date('2026-01-10T10:00:00.000Z');
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

async function subscribed() {
  await createWebhookEndpoint(
    at(T0),
    { url: 'https://crm.example.com/expiry', eventTypes: ['points.expiring', 'voucher.expiring'] },
    admin,
  );
}

const eventsOf = (type: string) =>
  prisma.webhookEvent.findMany({ where: { type }, include: { deliveries: true }, orderBy: { createdAt: 'asc' } });

describe('points.expiring', () => {
  it('a lot expiring in 30 days produces one event, however often maintenance runs', async () => {
    await subscribed();
    const memberId = await app.enroll();
    await adjustPoints(at(T0), { memberId, points: 300, reason: 'welcome', idempotencyKey: 'a-1' }, admin);
    const expiresAt = addMonths(T0, 24);

    await processMaintenance(at(addDays(expiresAt, -31)));
    expect(await eventsOf('points.expiring')).toHaveLength(0);

    const reminded = await processMaintenance(at(addDays(expiresAt, -30)));
    expect(reminded.lotsReminded).toBe(1);
    expect((await processMaintenance(at(addDays(expiresAt, -29)))).lotsReminded).toBe(0);
    expect((await processMaintenance(at(addDays(expiresAt, -1)))).lotsReminded).toBe(0);

    const [event, ...more] = await eventsOf('points.expiring');
    expect(more).toHaveLength(0);
    expect(event!.payload).toMatchObject({ memberId, points: 300, expiresAt: expiresAt.toISOString() });
    expect(event!.deliveries).toHaveLength(1);
  });

  it('concurrent maintenance runs announce each lot once', async () => {
    await subscribed();
    const members = await Promise.all(Array.from({ length: 5 }, () => app.enroll()));
    for (const [i, memberId] of members.entries()) {
      await adjustPoints(at(T0), { memberId, points: 100, reason: 'lot one', idempotencyKey: `x-${i}` }, admin);
      await adjustPoints(at(addDays(T0, 1)), { memberId, points: 50, reason: 'lot two', idempotencyKey: `y-${i}` }, admin);
    }
    const when = addDays(addMonths(T0, 24), -25);
    const runs = await Promise.all(Array.from({ length: 4 }, () => processMaintenance(at(when))));
    expect(runs.reduce((sum, run) => sum + run.lotsReminded, 0)).toBe(10);
    const events = await eventsOf('points.expiring');
    expect(events).toHaveLength(10);
    expect(new Set(events.map((event) => (event.payload as { lotId: string }).lotId)).size).toBe(10);
    expect(await prisma.pointLot.count({ where: { expiryRemindedAt: null } })).toBe(0);
  });

  it('a lot already spent is not announced; one partly spent is, with what is left', async () => {
    await subscribed();
    const memberId = await app.enroll();
    await adjustPoints(at(T0), { memberId, points: 100, reason: 'first', idempotencyKey: 'a-1' }, admin);
    await adjustPoints(at(addDays(T0, 1)), { memberId, points: 80, reason: 'second', idempotencyKey: 'a-2' }, admin);
    await redeemPoints(at(addDays(T0, 2)), { memberId, points: 130, idempotencyKey: 'r-1' }, admin);
    await processMaintenance(at(addDays(addMonths(T0, 24), -20)));
    const events = await eventsOf('points.expiring');
    expect(events.map((event) => (event.payload as { points: number }).points)).toEqual([50]);
  });
});

describe('voucher.expiring', () => {
  it('a voucher is announced once, 7 days before it expires, with its code', async () => {
    await subscribed();
    const memberId = await app.enroll();
    const voucher = await issueTestVoucher(prisma, memberId, { value: { type: 'FIXED', amount: '5.00' }, causeRef: 'g-1', now: T0 });
    await processMaintenance(at(addDays(voucher.expiresAt, -8)));
    const runs = await Promise.all([0, 1, 2].map(() => processMaintenance(at(addDays(voucher.expiresAt, -7)))));
    expect(runs.map((run) => run.vouchersReminded).sort()).toEqual([0, 0, 1]);
    await processMaintenance(at(addDays(voucher.expiresAt, -1)));
    const [event, ...more] = await eventsOf('voucher.expiring');
    expect(more).toHaveLength(0);
    expect(event!.payload).toMatchObject({
      voucherId: voucher.id,
      memberId,
      code: voucher.code,
      kind: 'GOODWILL',
      expiresAt: voucher.expiresAt.toISOString(),
    });
  });
});
