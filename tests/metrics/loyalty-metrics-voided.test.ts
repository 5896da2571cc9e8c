import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { LoyaltyDataSet } from './loyalty-data-set.js';
import { expectedFigures } from './loyalty-model.js';
import { FIGURES } from './loyalty-figures.js';

/**
 * Voided vouchers in loyaltyMetrics (stop 53): staff take a voucher out of use before it is redeemed
 * (issued in error, or the compensation taken back; a redeemed one cannot be voided), so it gave the
 * member nothing. It is not spend, not a voucher waiting to be redeemed, and a member whose only
 * compensation was voided was not compensated — in the period of its issue, whenever it was voided.
 * Every figure is compared with loyalty-model.ts, and the ones a voided voucher moves by hand.
 */
const { prisma, app } = useTestApp();

const METRICS = `query($from: DateTime!, $to: DateTime!, $groupBy: MetricsGroupBy) {
  loyaltyMetrics(from: $from, to: $to, groupBy: $groupBy) {
    __typename
    ... on LoyaltyMetrics { from to groupBy totals { ${FIGURES} } buckets { ${FIGURES} } }
    ... on Error { code message }
  }
}`;

const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status } } ... on ValidationError { field } ... on Error { code } } }`;

const FROM = '2026-01-01T00:00:00.000Z';
const TO = '2026-04-01T00:00:00.000Z';

/** The answer for the quarter by month, equal to the model's in the totals and every bucket. */
async function quarterByMonth(s: LoyaltyDataSet) {
  const answer = await app.gql(METRICS, { from: FROM, to: TO, groupBy: 'MONTH' }, await app.staffToken('SUPERVISOR'));
  expect(answer.errors).toBeUndefined();
  const metrics = answer.data!.loyaltyMetrics;
  expect(metrics.__typename, JSON.stringify(metrics)).toBe('LoyaltyMetrics');
  expect(metrics.totals).toEqual(expectedFigures(s.world, new Date(FROM), new Date(TO), null));
  for (const bucket of metrics.buckets) {
    expect(bucket).toEqual(expectedFigures(s.world, new Date(bucket.from), new Date(bucket.to), null));
  }
  return metrics;
}

const kindRate = (figures: { voucherRedemption: { byKind: { kind: string; rate: unknown }[] } }, kind: string) =>
  figures.voucherRedemption.byKind.find((line) => line.kind === kind)!.rate;

describe('loyaltyMetrics and voided vouchers', () => {
  it('a voided COMPENSATION or GOODWILL voucher is not spend, not redemption, and its member was not compensated by it', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.relaxServiceLevels();
    for (const name of ['ana', 'ben', 'cem', 'dan', 'eva']) await s.enroll(name, '2025-12-01T09:00:00.000Z');

    // ana: compensated in January, came back, closed in February; the voucher is voided through the API
    // today, long after the quarter.
    await s.failure('fa', 'ana', '2026-01-10T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    expect((await s.compensate('fa', '2026-01-10T09:00:00.000Z')).outcome).toBe('COMPENSATED');
    await s.earn('ana', '2026-02-01T10:00:00.000Z');
    await s.setStatus('ana', '2026-02-20T10:00:00.000Z', 'CLOSED');
    // ben: a compensation voided the next day (issued in error), an earn, then a second failure compensated
    // for good: his compensation in the quarter is the February one, and nothing came after it.
    await s.failure('fb1', 'ben', '2026-01-12T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    expect((await s.compensate('fb1', '2026-01-12T09:00:00.000Z')).outcome).toBe('COMPENSATED');
    await s.voidVoucher('fb1', '2026-01-13T09:00:00.000Z');
    await s.earn('ben', '2026-01-20T10:00:00.000Z');
    await s.failure('fb2', 'ben', '2026-02-02T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    expect((await s.compensate('fb2', '2026-02-02T09:00:00.000Z')).outcome).toBe('COMPENSATED');
    // cem: a goodwill voucher granted in January, voided by an agent in March.
    expect(await s.goodwill('gc', 'cem', '2026-01-15T10:00:00.000Z', 'LONG_WAIT', { amount: '10.00' }, 'gc')).toBe('GRANTED');
    await s.voidVoucher('gc', '2026-03-02T10:00:00.000Z', 'AGENT');
    // dan: goodwill points, nothing to void.
    expect(await s.goodwill('gd', 'dan', '2026-01-16T10:00:00.000Z', 'POOR_EXPERIENCE', { points: 500 })).toBe('GRANTED');
    // eva: compensated, redeemed, came back; her voucher cannot be voided any more.
    await s.failure('fe', 'eva', '2026-02-05T08:00:00.000Z', 'WRONG_ITEM', 'LOW');
    expect((await s.compensate('fe', '2026-02-05T09:00:00.000Z')).outcome).toBe('COMPENSATED');
    await s.redeem('fe', '2026-02-10T10:00:00.000Z');
    await s.earn('eva', '2026-02-12T10:00:00.000Z');

    const supervisor = await app.staffToken('SUPERVISOR');
    const codeOf = async (voucher: string) =>
      (await prisma.voucher.findUniqueOrThrow({ where: { id: s.world.vouchers.get(voucher)!.id } })).code;
    const voided = await app.gql(
      VOID,
      { i: { code: await codeOf('fa'), reason: 'issued in error', idempotencyKey: 'void-fa' } },
      supervisor,
    );
    expect(voided.data?.voidVoucher).toEqual({ __typename: 'VoidVoucherPayload', voucher: { status: 'VOIDED' } });
    s.world.vouchers.get('fa')!.voidedAt = new Date();

    const before = await tableRowCounts(prisma);
    const refused = await app.gql(VOID, { i: { code: await codeOf('fe'), reason: 'too late', idempotencyKey: 'void-fe' } }, supervisor);
    expect(refused.data?.voidVoucher).toMatchObject({ __typename: 'ValidationError', field: 'code' });
    expect(await tableRowCounts(prisma)).toEqual(before);

    const issued = await prisma.voucher.findMany({ where: { kind: { in: ['COMPENSATION', 'GOODWILL'] } }, orderBy: { issuedAt: 'asc' } });
    expect(issued.map((v) => `${v.kind} ${v.amount!.toFixed(2)} ${v.status}`)).toEqual([
      'COMPENSATION 5.00 VOIDED', // fa
      'COMPENSATION 5.00 VOIDED', // fb1
      'GOODWILL 10.00 VOIDED', // gc
      'COMPENSATION 7.50 ISSUED', // fb2: a repeat within the window, escalated
      'COMPENSATION 5.00 REDEEMED', // fe
    ]);

    const answer = await quarterByMonth(s);
    const { totals } = answer;
    const [january, february, march] = answer.buckets;
    // Spend: what was given — fb2 and fe; dan's points. The voided ones leave the month they were issued in
    // (January) and appear in none, not in March (cem's) nor later (ana's).
    expect(totals.compensation).toMatchObject({ count: 2, value: { amount: '12.50', currency: 'EUR' } });
    expect(totals.compensation.byFailureType.filter((line: { count: number }) => line.count > 0)).toEqual([
      { type: 'LATE_DELIVERY', count: 1, value: { amount: '7.50' } },
      { type: 'WRONG_ITEM', count: 1, value: { amount: '5.00' } },
    ]);
    expect(january.compensation).toMatchObject({ count: 0, value: { amount: '0.00' } });
    expect(february.compensation).toMatchObject({ count: 2, value: { amount: '12.50' } });
    expect(totals.goodwill).toMatchObject({ count: 1, value: { amount: '5.00' } });
    expect(january.goodwill).toMatchObject({ count: 1, value: { amount: '5.00' } });
    expect(march.goodwill).toMatchObject({ count: 0, value: { amount: '0.00' } });
    // Redemption: of the vouchers members could use, fe of fb2 and fe; no goodwill voucher was left to use.
    expect(kindRate(totals, 'COMPENSATION')).toEqual({ numerator: 1, denominator: 2, value: 0.5 });
    expect(kindRate(totals, 'GOODWILL')).toEqual({ numerator: 0, denominator: 0, value: null });
    // Churn: ana (one failure, closed) was not compensated; ben (two failures) was, by fb2; eva was.
    expect(totals.churnAfterFailure.oneFailure.notCompensated).toEqual({ numerator: 1, denominator: 1, value: 1 });
    expect(totals.churnAfterFailure.oneFailure.compensated).toEqual({ numerator: 0, denominator: 1, value: 0 });
    expect(totals.churnAfterFailure.repeatedFailures.compensated).toEqual({ numerator: 0, denominator: 1, value: 0 });
    // In January ben's one failure was compensated by nothing.
    expect(january.churnAfterFailure.oneFailure.notCompensated).toEqual({ numerator: 1, denominator: 2, value: 0.5 });
    // Recovery: compensated members are ben (from 2 February, nothing after) and eva (earned on the 12th).
    expect(totals.recovery).toEqual({ numerator: 1, denominator: 2, value: 0.5 });
    expect(january.recovery).toEqual({ numerator: 0, denominator: 0, value: null });
  });
});
