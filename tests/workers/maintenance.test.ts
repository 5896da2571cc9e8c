import { describe, expect, it } from 'vitest';
import { addDays } from '../../src/domain/time.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { processMaintenance } from '../../workers/maintenance.processor.js';
import { testLogger, useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();

describe('the maintenance job', () => {
  it('marks vouchers past their expiry EXPIRED, once, and leaves the others alone', async () => {
    const memberId = await app.enroll();
    const T0 = new Date('2026-03-01T00:00:00.000Z');
    await prisma.$transaction(async (tx) => {
      for (const [causeRef, days] of [
        ['soon', 10],
        ['later', 100],
      ] as const) {
        await issueVoucher(tx, {
          memberId,
          kind: 'GOODWILL',
          value: { type: 'FIXED', amount: '5.00' },
          causeType: 'GESTURE',
          causeRef,
          expiresAt: addDays(T0, days),
          now: T0,
        });
      }
    });

    const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });
    expect((await processMaintenance(at(addDays(T0, 30)))).vouchersExpired).toBe(1);
    expect((await processMaintenance(at(addDays(T0, 30)))).vouchersExpired).toBe(0);
    const statuses = await prisma.voucher.findMany({ orderBy: { expiresAt: 'asc' }, select: { status: true } });
    expect(statuses.map((v) => v.status)).toEqual(['EXPIRED', 'ISSUED']);
  });
});
