import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

const { app } = useTestApp();

const METRICS = `query($from: DateTime!, $to: DateTime!, $groupBy: MetricsGroupBy) {
  loyaltyMetrics(from: $from, to: $to, groupBy: $groupBy) {
    __typename
    ... on LoyaltyMetrics { buckets { from to } }
    ... on ValidationError { field }
    ... on Error { code message }
  } }`;

async function metrics(variables: Record<string, unknown>) {
  const answer = await app.gql(METRICS, variables, await app.staffToken('SUPERVISOR'));
  expect(answer.errors).toBeUndefined();
  return answer.data!.loyaltyMetrics;
}

/** Date.UTC reads the years 0–99 as 1900–1999; every calendar computation goes through utcDate (src/domain/time.ts). */
describe('loyaltyMetrics series in years 0000–0099', () => {
  it('cuts a quarter of the year 0050 into three calendar months', async () => {
    const answer = await metrics({ from: '0050-01-01T00:00:00Z', to: '0050-04-01T00:00:00Z', groupBy: 'MONTH' });
    expect(answer.__typename).toBe('LoyaltyMetrics');
    expect(answer.buckets).toEqual([
      { from: '0050-01-01T00:00:00.000Z', to: '0050-02-01T00:00:00.000Z' },
      { from: '0050-02-01T00:00:00.000Z', to: '0050-03-01T00:00:00.000Z' },
      { from: '0050-03-01T00:00:00.000Z', to: '0050-04-01T00:00:00.000Z' },
    ]);
  });

  it('refuses a DAY series of three years in the year 0050 (more than 366 buckets), as it does in 2050', async () => {
    expect(await metrics({ from: '2050-01-01T00:00:00Z', to: '2052-12-01T00:00:00Z', groupBy: 'DAY' })).toMatchObject({
      __typename: 'ValidationError',
      field: 'groupBy',
    });
    expect(await metrics({ from: '0050-01-01T00:00:00Z', to: '0052-12-01T00:00:00Z', groupBy: 'DAY' })).toMatchObject({
      __typename: 'ValidationError',
      field: 'groupBy',
    });
  });

  it('knows 29 February of the year 0000 (a leap year; 1900 was not)', async () => {
    const answer = await metrics({ from: '0000-02-28T00:00:00Z', to: '0000-02-29T12:00:00Z', groupBy: 'DAY' });
    expect(answer.buckets).toEqual([
      { from: '0000-02-28T00:00:00.000Z', to: '0000-02-29T00:00:00.000Z' },
      { from: '0000-02-29T00:00:00.000Z', to: '0000-02-29T12:00:00.000Z' },
    ]);
  });
});
