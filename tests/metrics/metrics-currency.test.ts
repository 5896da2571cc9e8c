import { describe, expect, it } from 'vitest';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { currencySwitch } from '../support/currency-switch.js';
import { LoyaltyDataSet } from './loyalty-data-set.js';

/**
 * Money keeps the currency it was decided in (docs/metrics.md): the spend
 * figures of loyaltyMetrics are in the program's current currency and count
 * only amounts in it. Amounts spent before the program's currency changed are
 * not converted and not counted — never summed with the new ones under the new
 * currency's name. Rates that count vouchers (redemption) count them all.
 */
const { prisma, app } = useTestApp();
const ADMIN = staffCaller('ADMIN', 'admin-metrics');

const METRICS = `query($from: DateTime!, $to: DateTime!) {
  loyaltyMetrics(from: $from, to: $to) {
    __typename
    ... on LoyaltyMetrics { currency totals {
      compensation { count value { amount currency } byFailureType { type count value { amount currency } } }
      goodwill { count value { amount currency } byReason { reason count value { amount currency } } }
      voucherRedemption { byKind { kind rate { denominator } } } } }
    ... on Error { code message }
  } }`;

const at = (iso: string) => {
  const now = new Date(iso);
  return { prisma, logger: testLogger, now: () => now };
};

/** January 2026: spent in EUR, then the program moves to CHF, then spent in CHF. */
async function spendInTwoCurrencies(what: 'compensation' | 'goodwill') {
  const s = new LoyaltyDataSet(prisma);
  await s.relaxServiceLevels();
  await s.enroll('ana', '2026-01-02T09:00:00.000Z');
  await s.enroll('ben', '2026-01-02T09:30:00.000Z');
  if (what === 'compensation') {
    await s.failure('f1', 'ana', '2026-01-05T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    expect((await s.compensate('f1', '2026-01-05T09:00:00.000Z')).outcome).toBe('COMPENSATED'); // 5.00 EUR
  } else {
    expect(await s.goodwill('g1', 'ana', '2026-01-06T10:00:00.000Z', 'POOR_EXPERIENCE', { points: 500 })).toBe('GRANTED'); // 5.00 EUR
  }
  await updateProgram(at('2026-01-10T00:00:00.000Z'), { patch: await currencySwitch(prisma, 'CHF') }, ADMIN);
  if (what === 'compensation') {
    await s.failure('f2', 'ben', '2026-01-15T08:00:00.000Z', 'LATE_DELIVERY', 'MEDIUM');
    expect((await s.compensate('f2', '2026-01-15T09:00:00.000Z')).outcome).toBe('COMPENSATED'); // 10.00 CHF
  } else {
    expect(await s.goodwill('g2', 'ben', '2026-01-16T10:00:00.000Z', 'POOR_EXPERIENCE', { amount: '10.00' }, 'g2')).toBe('GRANTED'); // 10.00 CHF
  }
  const answer = await app.gql(METRICS, { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, await app.staffToken('SUPERVISOR'));
  expect(answer.errors).toBeUndefined();
  expect(answer.data!.loyaltyMetrics.currency).toBe('CHF');
  return answer.data!.loyaltyMetrics.totals;
}

describe('money figures of loyaltyMetrics after the program currency changed', () => {
  it('compensation spend counts only the vouchers in the program currency (5.00 EUR + 10.00 CHF → 1 voucher, 10.00 CHF)', async () => {
    const totals = await spendInTwoCurrencies('compensation');
    const issued = await prisma.voucher.findMany({ where: { kind: 'COMPENSATION' }, orderBy: { issuedAt: 'asc' } });
    expect(issued.map((v) => `${v.amount!.toFixed(2)} ${v.currency}`)).toEqual(['5.00 EUR', '10.00 CHF']);

    expect(totals.compensation).toMatchObject({ count: 1, value: { amount: '10.00', currency: 'CHF' } });
    expect(totals.compensation.byFailureType.find((line: { type: string }) => line.type === 'LATE_DELIVERY')).toEqual({
      type: 'LATE_DELIVERY',
      count: 1,
      value: { amount: '10.00', currency: 'CHF' },
    });
    // The redemption rate is not money: it counts both vouchers.
    const compensation = totals.voucherRedemption.byKind.find((line: { kind: string }) => line.kind === 'COMPENSATION');
    expect(compensation.rate.denominator).toBe(2);
  });

  it('goodwill spend counts only the gestures valued in the program currency (5.00 EUR + 10.00 CHF → 1 gesture, 10.00 CHF)', async () => {
    const totals = await spendInTwoCurrencies('goodwill');
    const gestures = await prisma.goodwillGesture.findMany({ orderBy: { createdAt: 'asc' } });
    expect(gestures.map((g) => `${g.moneyValue.toFixed(2)} ${g.currency}`)).toEqual(['5.00 EUR', '10.00 CHF']);

    expect(totals.goodwill).toMatchObject({ count: 1, value: { amount: '10.00', currency: 'CHF' } });
    expect(totals.goodwill.byReason.find((line: { reason: string }) => line.reason === 'POOR_EXPERIENCE')).toEqual({
      reason: 'POOR_EXPERIENCE',
      count: 1,
      value: { amount: '10.00', currency: 'CHF' },
    });
  });
});
