import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/** What an adversarial audit of loyaltyMetrics found (2026-12-06). */
const { app } = useTestApp();

const METRICS = `query($from: DateTime!, $to: DateTime!, $groupBy: MetricsGroupBy) {
  loyaltyMetrics(from: $from, to: $to, groupBy: $groupBy) {
    __typename
    ... on LoyaltyMetrics { from to buckets { from to } totals { members { at } } }
    ... on ValidationError { field message }
    ... on Error { code }
  } }`;

describe('loyaltyMetrics periods at the ends of the DateTime range', () => {
  it('a period reaching outside the years 0000–9999 (UTC) is refused, not answered with date-times the API cannot read back', async () => {
    const token = await app.staffToken('SUPERVISOR');
    const ask = async (variables: Record<string, unknown>) => {
      const answer = await app.gql(METRICS, variables, token);
      expect(answer.errors).toBeUndefined();
      return answer.data!.loyaltyMetrics;
    };
    // Valid RFC 3339 input, but the instants are 31 December of the year -1 and 1 January 10000 in UTC, which the
    // DateTime scalar would write as "-000001-12-31T23:00:00.000Z" and "+010000-01-01T01:00:00.000Z": not RFC 3339, and
    // refused as input when a client sends them back. They are no DateTime (docs/scalars.md): refused before execution.
    for (const variables of [
      { from: '0000-01-01T00:00:00+01:00', to: '0000-01-02T00:00:00Z' },
      { from: '9999-12-31T00:00:00Z', to: '9999-12-31T23:00:00-02:00', groupBy: 'DAY' },
    ]) {
      const answer = await app.gql(METRICS, variables, token);
      expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(answer.data ?? null).toBeNull();
    }

    // The ends of the range themselves are answered, and every date-time of the answer reads back.
    const first = await ask({ from: '0000-01-01T00:00:00Z', to: '0000-01-03T00:00:00Z', groupBy: 'DAY' });
    const last = await ask({ from: '9999-12-30T00:00:00Z', to: '9999-12-31T23:59:59.999Z', groupBy: 'DAY' });
    for (const answer of [first, last]) {
      expect(answer.__typename).toBe('LoyaltyMetrics');
      const again = await ask({ from: answer.from, to: answer.to, groupBy: 'DAY' });
      expect(again).toEqual(answer);
    }
    expect(last.buckets).toEqual([
      { from: '9999-12-30T00:00:00.000Z', to: '9999-12-31T00:00:00.000Z' },
      { from: '9999-12-31T00:00:00.000Z', to: '9999-12-31T23:59:59.999Z' },
    ]);
  });
});
