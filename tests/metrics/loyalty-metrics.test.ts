import { describe, expect, it } from 'vitest';
import { bucketsOf } from '../../src/domain/metrics/metric-periods.js';
import { buildLoyaltyDataSet } from './loyalty-data-set.js';
import { expectedFigures, months } from './loyalty-model.js';
import { useTestApp } from '../support/app.js';
import { FIGURES } from './loyalty-figures.js';

const { prisma, app } = useTestApp();

const METRICS = `query($from: DateTime!, $to: DateTime!, $channel: ServiceChannel, $groupBy: MetricsGroupBy) {
  loyaltyMetrics(from: $from, to: $to, channel: $channel, groupBy: $groupBy) {
    __typename
    ... on LoyaltyMetrics { from to channel groupBy currency followUpDays totals { ${FIGURES} } buckets { ${FIGURES} } }
    ... on Error { code message }
    ... on ValidationError { field }
  }
}`;

const FROM = new Date('2026-01-01T00:00:00.000Z');
const TO = new Date('2026-04-01T00:00:00.000Z');

async function metrics(variables: Record<string, unknown>, token?: string) {
  const response = await app.gql(METRICS, variables, token ?? (await app.staffToken('SUPERVISOR')));
  expect(response.errors).toBeUndefined();
  return response.data!.loyaltyMetrics;
}

describe('loyaltyMetrics on a fixed data set', () => {
  it('equals the figures computed independently from the data set, to the unit: whole quarter, by month, and for the CHAT channel', async () => {
    const world = await buildLoyaltyDataSet(prisma);
    const period = { from: FROM.toISOString(), to: TO.toISOString() };

    const none = await metrics(period);
    expect(none).toMatchObject({ __typename: 'LoyaltyMetrics', groupBy: 'NONE', channel: null, currency: 'EUR', followUpDays: 90 });
    expect(none.totals).toEqual(expectedFigures(world, FROM, TO, null));
    expect(none.buckets).toEqual([none.totals]);

    const byMonth = await metrics({ ...period, groupBy: 'MONTH' });
    expect(byMonth.totals).toEqual(expectedFigures(world, FROM, TO, null));
    expect(byMonth.buckets).toEqual(months(FROM, TO).map(([from, to]) => expectedFigures(world, from, to, null)));

    const chat = await metrics({ ...period, groupBy: 'MONTH', channel: 'CHAT' });
    expect(chat.channel).toBe('CHAT');
    expect(chat.totals).toEqual(expectedFigures(world, FROM, TO, 'CHAT'));
    expect(chat.buckets).toEqual(months(FROM, TO).map(([from, to]) => expectedFigures(world, from, to, 'CHAT')));

    // The data set is not degenerate: every figure has something to count in the quarter.
    const t = none.totals;
    for (const figure of [
      t.nps,
      t.csat,
      t.firstContactResolution,
      t.timeToFirstResponse,
      t.timeToResolution,
      t.renewalRate,
      t.recovery,
      t.detractorConversion,
      t.churnAfterFailure.oneFailure.compensated,
      t.churnAfterFailure.oneFailure.notCompensated,
      t.churnAfterFailure.repeatedFailures.all,
    ]) {
      expect(figure.denominator).toBeGreaterThan(0);
    }
    expect(t.members).toMatchObject({ active: expect.any(Number), passive: expect.any(Number) });
    expect(Math.min(t.members.active, t.members.passive, t.members.suspended, t.members.closed)).toBeGreaterThan(0);
    expect(t.compensation.count).toBeGreaterThan(0);
    expect(t.goodwill.count).toBeGreaterThan(0);
    // And what the channel leaves out is really left out.
    expect(chat.totals.nps.denominator).toBeLessThan(t.nps.denominator);
    expect(chat.totals.timeToResolution.denominator).toBeLessThan(t.timeToResolution.denominator);
    expect(chat.totals.renewalRate).toEqual(t.renewalRate);
  });

  it('the status history holds every status change as it happened, whoever made it', async () => {
    const world = await buildLoyaltyDataSet(prisma);
    const rows = await prisma.memberStatusChange.findMany({ orderBy: [{ changedAt: 'asc' }, { id: 'asc' }] });
    const nameOf = new Map([...world.members.values()].map((m) => [m.id, m.name]));
    const recorded = rows.map((r) => ({
      member: nameOf.get(r.memberId),
      at: r.changedAt.toISOString(),
      from: r.fromStatus,
      to: r.toStatus,
    }));
    const made = [...world.members.values()]
      .flatMap((m) => m.changes.map((c) => ({ member: m.name, at: c.at.toISOString(), from: c.from, to: c.to })))
      .sort((a, b) => a.at.localeCompare(b.at));
    expect(recorded.sort((a, b) => a.at.localeCompare(b.at) || a.member!.localeCompare(b.member!))).toEqual(
      made.sort((a, b) => a.at.localeCompare(b.at) || a.member.localeCompare(b.member)),
    );
    // Enrolment, updateMember, the maintenance job and reactivation by activity all wrote there.
    expect(new Set(recorded.map((r) => `${r.from}>${r.to}`))).toEqual(
      new Set(['null>ACTIVE', 'ACTIVE>PASSIVE', 'PASSIVE>ACTIVE', 'ACTIVE>CLOSED', 'ACTIVE>SUSPENDED']),
    );
  });
});

describe('loyaltyMetrics input', () => {
  it('refuses a period that ends before it starts, one longer than 3 years and a DAY series over 366 days, naming the argument', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ from: '2026-02-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, 'to'],
      [{ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'to'],
      [{ from: '2023-01-01T00:00:00Z', to: '2026-01-01T00:00:01Z' }, 'to'],
      [{ from: '2025-01-01T00:00:00Z', to: '2026-01-02T00:00:01Z', groupBy: 'DAY' }, 'groupBy'],
    ];
    for (const [variables, field] of cases) {
      expect(await metrics(variables), JSON.stringify(variables)).toMatchObject({
        __typename: 'ValidationError',
        code: 'VALIDATION',
        field,
      });
    }
    // The limits themselves are allowed.
    expect(await metrics({ from: '2023-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z', groupBy: 'MONTH' })).toMatchObject({
      __typename: 'LoyaltyMetrics',
    });
    const leapYear = await metrics({ from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z', groupBy: 'DAY' });
    expect(leapYear.buckets).toHaveLength(366);
  });

  it('a channel that is not one is refused by the schema', async () => {
    const response = await app.gql(METRICS, { from: FROM, to: TO, channel: 'CARRIER_PIGEON' }, await app.staffToken('SUPERVISOR'));
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('buckets are UTC days, ISO weeks from Monday and calendar months, cut to the period', () => {
    const from = new Date('2026-02-25T12:00:00.000Z'); // a Wednesday
    const to = new Date('2026-03-10T06:00:00.000Z');
    const iso = (buckets: { from: Date; to: Date }[]) => buckets.map((b) => [b.from.toISOString(), b.to.toISOString()]);
    expect(iso(bucketsOf({ from, to }, 'WEEK'))).toEqual([
      ['2026-02-25T12:00:00.000Z', '2026-03-02T00:00:00.000Z'],
      ['2026-03-02T00:00:00.000Z', '2026-03-09T00:00:00.000Z'],
      ['2026-03-09T00:00:00.000Z', '2026-03-10T06:00:00.000Z'],
    ]);
    expect(iso(bucketsOf({ from, to }, 'MONTH'))).toEqual([
      ['2026-02-25T12:00:00.000Z', '2026-03-01T00:00:00.000Z'],
      ['2026-03-01T00:00:00.000Z', '2026-03-10T06:00:00.000Z'],
    ]);
    const days = bucketsOf({ from, to }, 'DAY');
    expect(days).toHaveLength(14); // 25–28 February, 1–9 March, and the morning of 10 March
    expect(iso(days.slice(0, 2))).toEqual([
      ['2026-02-25T12:00:00.000Z', '2026-02-26T00:00:00.000Z'],
      ['2026-02-26T00:00:00.000Z', '2026-02-27T00:00:00.000Z'],
    ]);
    expect(iso(bucketsOf({ from, to }, 'NONE'))).toEqual([[from.toISOString(), to.toISOString()]]);
  });
});

describe('loyaltyMetrics permissions', () => {
  it('supervisors, admins and admin keys read it; agents, storefront keys and members get null and FORBIDDEN, no token UNAUTHENTICATED', async () => {
    const memberId = await app.enroll();
    const period = { from: FROM.toISOString(), to: TO.toISOString() };
    for (const token of [await app.staffToken('SUPERVISOR'), await app.staffToken('ADMIN'), await app.apiKeyToken(['admin'])]) {
      expect((await metrics(period, token)).__typename).toBe('LoyaltyMetrics');
    }
    const refused = [
      await app.staffToken('AGENT'),
      await app.apiKeyToken(['members:read', 'members:write', 'points:earn', 'failures:report', 'contracts:write']),
      await app.memberToken(memberId),
    ];
    // The read rule (docs/errors.md): null with a top-level error, not a typed member of the union.
    for (const token of refused) {
      const answer = await app.gql(METRICS, period, token);
      expect(answer.data?.loyaltyMetrics ?? null).toBeNull();
      expect(answer.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    }
    const anonymous = await app.gql(METRICS, period);
    expect(anonymous.data?.loyaltyMetrics ?? null).toBeNull();
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('score bands', () => {
  it('grade by the program’s bands, which an admin changes with updateProgram (refused when goodFrom is above excellentAbove)', async () => {
    const memberId = await app.enroll();
    const admin = await app.staffToken('ADMIN');
    const feedback = `mutation($m: ID!, $c: Int) { submitFeedback(input: { memberId: $m, csat: $c }) { __typename } }`;
    for (const csat of [5, 5, 4, 2]) await app.gql(feedback, { m: memberId, c: csat }, admin);
    const now = new Date();
    const period = { from: new Date(now.getTime() - 3_600_000).toISOString(), to: new Date(now.getTime() + 3_600_000).toISOString() };
    const csatOf = async () => (await metrics(period)).totals;
    // 3 of 4 satisfied: 75 %, GOOD by the defaults (70–90).
    expect((await csatOf()).csat).toMatchObject({ numerator: 3, denominator: 4, value: 75, band: 'GOOD' });

    const update = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
      __typename ... on UpdateProgramPayload { program { metrics { csatBands { goodFrom excellentAbove } followUpDays } } }
      ... on ValidationError { field } } }`;
    const changed = await app.gql(update, { i: { metrics: { csatBands: { goodFrom: 80 } } } }, admin);
    expect(changed.data?.updateProgram.program.metrics).toEqual({ csatBands: { goodFrom: 80, excellentAbove: 90 }, followUpDays: 90 });
    expect((await csatOf()).csat.band).toBe('POOR');

    const refused = await app.gql(update, { i: { metrics: { npsBands: { goodFrom: 60, excellentAbove: 50 } } } }, admin);
    expect(refused.data?.updateProgram).toEqual({ __typename: 'ValidationError', field: 'metrics.npsBands.excellentAbove' });
  });
});
