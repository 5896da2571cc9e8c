import { describe, expect, it } from 'vitest';
import { API_KEY_SCOPES } from '../../src/auth/principal.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { LoyaltyDataSet } from './loyalty-data-set.js';
import { expectedFigures } from './loyalty-model.js';
import { FIGURES } from './loyalty-figures.js';

/**
 * An adversarial audit of loyaltyMetrics (stop 51): small worlds made through the services with a moving clock,
 * every figure compared with the independent computation of loyalty-model.ts over what the world recorded.
 */
const { prisma, app } = useTestApp();

const METRICS = `query($from: DateTime!, $to: DateTime!, $groupBy: MetricsGroupBy) {
  loyaltyMetrics(from: $from, to: $to, groupBy: $groupBy) {
    __typename
    ... on LoyaltyMetrics { from to groupBy totals { ${FIGURES} } buckets { ${FIGURES} } }
    ... on ValidationError { field message }
    ... on Error { code }
  }
}`;

async function metrics(variables: Record<string, unknown>, token?: string) {
  const answer = await app.gql(METRICS, variables, token ?? (await app.staffToken('SUPERVISOR')));
  expect(answer.errors).toBeUndefined();
  return answer.data!.loyaltyMetrics;
}

/** The answer for a period equals the model's, for the totals and for every bucket (the bounds as the answer gives them). */
async function expectModel(s: LoyaltyDataSet, from: string, to: string, groupBy = 'NONE') {
  const answer = await metrics({ from, to, groupBy });
  expect(answer.__typename, JSON.stringify(answer)).toBe('LoyaltyMetrics');
  expect(answer.totals).toEqual(expectedFigures(s.world, new Date(answer.from), new Date(answer.to), null));
  for (const bucket of answer.buckets) {
    expect(bucket).toEqual(expectedFigures(s.world, new Date(bucket.from), new Date(bucket.to), null));
  }
  return answer;
}

describe('recovery: members compensated who came back and are still active when the follow-up ends', () => {
  it('a member who earned after the compensation and closed the account within the follow-up has not recovered', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.relaxServiceLevels();
    for (const name of ['ana', 'ben', 'cem', 'dan', 'eva']) await s.enroll(name, '2026-01-05T09:00:00.000Z');
    for (const name of ['ana', 'ben', 'cem', 'dan', 'eva']) {
      await s.failure(`f-${name}`, name, '2026-02-02T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
      expect((await s.compensate(`f-${name}`, '2026-02-02T09:00:00.000Z')).outcome).toBe('COMPENSATED');
    }
    // 90 days after the compensations: 2026-05-03T09:00Z.
    for (const name of ['ana', 'ben', 'cem', 'dan']) await s.earn(name, '2026-02-05T09:00:00.000Z');
    await s.setStatus('ana', '2026-02-12T09:00:00.000Z', 'CLOSED'); // gone within the follow-up
    await s.setStatus('cem', '2026-02-20T09:00:00.000Z', 'SUSPENDED'); // suspended, and back before it ends
    await s.setStatus('dan', '2026-03-01T09:00:00.000Z', 'SUSPENDED'); // still suspended when it ends
    await s.setStatus('cem', '2026-03-10T09:00:00.000Z', 'ACTIVE');
    await s.setStatus('ben', '2026-05-03T09:00:00.001Z', 'CLOSED'); // a millisecond after it ended
    // eva never came back.

    const answer = await expectModel(s, '2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z');
    // Of five members compensated, ben and cem came back and were ACTIVE when the 90 days ended.
    expect(answer.totals.recovery).toEqual({ numerator: 2, denominator: 5, value: 0.4 });
    // ana is the one member who churned after her failure: she is not also counted as recovered.
    expect(answer.totals.churnAfterFailure.oneFailure.all).toEqual({ numerator: 1, denominator: 5, value: 0.2 });
    await expectModel(s, '2026-01-01T00:00:00Z', '2026-07-01T00:00:00Z', 'MONTH');
    await expectModel(s, '2026-02-01T00:00:00Z', '2026-02-08T00:00:00Z', 'DAY');
  });
});

describe('periods at their edges', () => {
  it('a leap day, events at the first and the last millisecond, inputs with offsets: every figure equals the model', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.relaxServiceLevels();
    await s.enroll('ana', '2028-02-28T23:00:00.000Z');
    await s.enroll('ben', '2028-02-29T00:00:00.000Z'); // enrolled at the leap day's first instant
    await s.enroll('cem', '2028-03-01T00:00:00.000Z'); // … and at the first instant after it
    // Its term ends at the first instant after the leap day (2027-02-28 + 12 months would end on the 28th).
    await s.contract('k1', 'ben', '2028-02-29T00:30:00.000Z', '2027-03-01T00:00:00.000Z', 12);
    await s.feedback('ana', '2028-02-29T00:00:00.000Z', { nps: 2, channel: 'CHAT' });
    await s.openCase('c1', 'ana', '2028-02-29T06:00:00.000Z', 'PHONE', '2028-02-29T05:00:00.000Z');
    await s.failure('f1', 'ana', '2028-02-29T00:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    await s.compensate('f1', '2028-02-29T01:00:00.000Z');
    await s.failure('f2', 'ana', '2028-02-29T12:00:00.000Z', 'OUTAGE', 'LOW'); // a repeat, compensated the next day
    await s.goodwill('g1', 'ben', '2028-02-29T13:00:00.000Z', 'LONG_WAIT', { amount: '10.00' }, 'g1');
    await s.resolveCase('c1', '2028-02-29T23:59:59.999Z', 1);
    await s.feedback('ana', '2028-02-29T23:59:59.999Z', { nps: 10, csat: 5, about: 'c1' });
    await s.failure('f3', 'ben', '2028-03-01T00:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    await s.setStatus('ben', '2028-03-01T00:00:00.000Z', 'CLOSED');
    await s.compensate('f2', '2028-03-01T01:00:00.000Z');
    await s.redeem('g1', '2028-03-01T02:00:00.000Z');
    await s.earn('ana', '2028-03-02T10:00:00.000Z');

    const leapDay = await expectModel(s, '2028-02-29T00:00:00Z', '2028-03-01T00:00:00Z');
    // Not degenerate: the edges are in it.
    expect(leapDay.totals.members).toMatchObject({ active: 2, total: 2 });
    expect(leapDay.totals.nps).toMatchObject({ promoters: 1, detractors: 1, denominator: 2 });
    expect(leapDay.totals.churnAfterFailure.repeatedFailures.all.denominator).toBe(1);
    expect(leapDay.totals.renewalRate.denominator).toBe(0);
    // The same instants written with offsets, and a series whose first and last days are cut.
    const berlin = await expectModel(s, '2028-02-29T01:00:00+01:00', '2028-03-01T01:00:00+01:00', 'DAY');
    expect(berlin.from).toBe('2028-02-29T00:00:00.000Z');
    expect(berlin.totals).toEqual(leapDay.totals);
    const cut = await expectModel(s, '2028-02-28T00:00:00-05:00', '2028-03-02T00:00:00+14:00', 'DAY');
    expect(cut.buckets.map((b: { from: string }) => b.from)).toEqual([
      '2028-02-28T05:00:00.000Z',
      '2028-02-29T00:00:00.000Z',
      '2028-03-01T00:00:00.000Z',
    ]);
    const months = await expectModel(s, '2028-02-01T00:00:00Z', '2028-06-01T00:00:00Z', 'MONTH');
    expect(months.buckets.map((b: { renewalRate: { denominator: number } }) => b.renewalRate.denominator)).toEqual([0, 1, 0, 0]);
    await expectModel(s, '2028-02-01T00:00:00Z', '2028-06-01T00:00:00Z', 'WEEK');
  });

  it('empty cohorts: every share, score and band is null over a denominator of 0, in the past and in the future', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.enroll('ana', '2026-03-01T09:00:00.000Z');
    for (const [from, to] of [
      ['2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z'],
      ['2099-01-01T00:00:00Z', '2101-12-31T00:00:00Z'],
    ]) {
      const answer = await expectModel(s, from!, to!, 'MONTH');
      const t = answer.totals;
      for (const figure of [t.nps, t.csat, t.csat.mean, t.firstContactResolution, t.renewalRate, t.recovery, t.detractorConversion]) {
        expect(figure).toMatchObject({ numerator: 0, denominator: 0, value: null });
      }
      expect([t.nps.band, t.csat.band]).toEqual([null, null]);
    }
  });
});

describe('hostile periods', () => {
  it('each is refused with a clear error, before any figure is read, and writes nothing', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.enroll('ana', '2026-01-05T09:00:00.000Z');
    const before = await tableRowCounts(prisma);
    const token = await app.staffToken('SUPERVISOR');
    const typed: [Record<string, unknown>, string][] = [
      [{ from: '2026-02-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, 'to'],
      [{ from: '2026-02-01T00:00:00Z', to: '2026-01-31T23:59:59.999Z' }, 'to'],
      [{ from: '2026-01-31T00:00:00Z', to: '2029-01-31T00:00:00.001Z' }, 'to'],
      [{ from: '0000-01-01T00:00:00Z', to: '9999-12-31T23:59:59.999Z', groupBy: 'MONTH' }, 'to'],
      [{ from: '2028-01-01T00:00:00Z', to: '2029-01-01T00:00:00.001Z', groupBy: 'DAY' }, 'groupBy'],
    ];
    for (const [variables, field] of typed) {
      expect(await metrics(variables, token), JSON.stringify(variables)).toMatchObject({ __typename: 'ValidationError', field });
    }
    const unreadable: Record<string, unknown>[] = [
      { from: '10000-01-01T00:00:00Z', to: '10000-02-01T00:00:00Z' },
      { from: '2026-01-01', to: '2026-02-01' },
      { from: 'yesterday', to: '2026-02-01T00:00:00Z' },
      { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z', groupBy: 'YEAR' },
      { from: '2026-02-30T00:00:00Z', to: '2026-03-01T00:00:00Z' },
    ];
    for (const variables of unreadable) {
      const answer = await app.gql(METRICS, variables, token);
      expect(answer.data ?? null, JSON.stringify(variables)).toBeNull();
      expect(answer.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe('BAD_USER_INPUT');
    }
    // The longest periods answer: 36 months by week, and a leap year by day.
    expect((await metrics({ from: '2026-01-31T00:00:00Z', to: '2029-01-31T00:00:00Z', groupBy: 'WEEK' }, token)).buckets).toHaveLength(158);
    expect((await metrics({ from: '2028-01-01T00:00:00Z', to: '2029-01-01T00:00:00Z', groupBy: 'DAY' }, token)).buckets).toHaveLength(366);
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('a year by day', () => {
  it('a leap year that starts at midnight in Berlin is answered by day: 366 days, 367 UTC days with the first and last cut', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.enroll('ana', '2027-12-31T23:00:00.000Z'); // midnight of 1 January 2028 in Berlin
    await s.feedback('ana', '2028-12-31T22:59:59.999Z', { nps: 10 }); // the last millisecond of 2028 in Berlin
    const year = await expectModel(s, '2028-01-01T00:00:00+01:00', '2029-01-01T00:00:00+01:00', 'DAY');
    expect(year.buckets).toHaveLength(367);
    expect([year.buckets[0].from, year.buckets[0].to]).toEqual(['2027-12-31T23:00:00.000Z', '2028-01-01T00:00:00.000Z']);
    expect(year.buckets.at(-1).nps.promoters).toBe(1);
    expect(year.totals.members.active).toBe(1);
    // A millisecond more than 366 days is not a year.
    const longer = await metrics({ from: '2028-01-01T00:00:00+01:00', to: '2029-01-01T00:00:00.001+01:00', groupBy: 'DAY' });
    expect(longer).toMatchObject({ __typename: 'ValidationError', field: 'groupBy' });
  });
});

describe('who may read it', () => {
  it('supervisors, admins and admin keys only: every other scope, a member for themself, an agent get FORBIDDEN', async () => {
    const memberId = await app.enroll();
    const period = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
    const allowed = [await app.staffToken('SUPERVISOR'), await app.staffToken('ADMIN'), await app.apiKeyToken(['admin'])];
    allowed.push(await app.apiKeyToken([...API_KEY_SCOPES]));
    for (const token of allowed) expect((await metrics(period, token)).__typename).toBe('LoyaltyMetrics');
    const refused = [await app.staffToken('AGENT'), await app.memberToken(memberId)];
    for (const scope of API_KEY_SCOPES.filter((scope) => scope !== 'admin')) refused.push(await app.apiKeyToken([scope]));
    refused.push(await app.apiKeyToken(API_KEY_SCOPES.filter((scope) => scope !== 'admin')));
    for (const token of refused) {
      const answer = await app.gql(METRICS, period, token);
      expect(answer.data?.loyaltyMetrics ?? null).toBeNull();
      expect(answer.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    }
  });
});

describe('no stale figures', () => {
  it('a figure read, then an event that changes it: the next read over HTTP has it', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.relaxServiceLevels();
    await s.enroll('ana', '2026-01-05T09:00:00.000Z');
    await s.failure('f1', 'ana', '2026-02-02T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    const url = await app.url();
    const token = await app.staffToken('SUPERVISOR');
    const read = async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: METRICS, variables: { from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' } }),
      });
      expect(response.headers.get('cache-control') ?? '').toMatch(/no-store/);
      return ((await response.json()) as { data: { loyaltyMetrics: { totals: Record<string, any> } } }).data.loyaltyMetrics.totals;
    };
    const first = await read();
    expect(first.compensation.count).toBe(0);
    expect(first.churnAfterFailure.oneFailure.notCompensated.denominator).toBe(1);
    await s.compensate('f1', '2026-02-02T09:00:00.000Z');
    const second = await read();
    expect(second).toEqual(expectedFigures(s.world, new Date('2026-02-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'), null));
    expect(second.compensation.count).toBe(1);
    expect(second.churnAfterFailure.oneFailure.compensated.denominator).toBe(1);
    // The voucher voided: the compensation is taken back on the next read.
    await s.voidVoucher('f1', '2026-02-03T09:00:00.000Z');
    const third = await read();
    expect(third).toEqual(expectedFigures(s.world, new Date('2026-02-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'), null));
    expect(third.compensation.count).toBe(0);
    expect(third.churnAfterFailure.oneFailure.notCompensated.denominator).toBe(1);
  });
});
