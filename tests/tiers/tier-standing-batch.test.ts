import { describe, expect, it } from 'vitest';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

/**
 * `Member.tier`, `Member.tierProgress` and a tier change's tiers, when the member was not read by the status statement
 * (a listing, a mutation's payload), are read per request in batches (src/graphql/tiers/tiers.graphql.ts): every
 * member asked for in one turn in one statement, with the qualifying points of those whose progress is asked for, and
 * nothing kept after a batch.
 */
const { app } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** `readTierStandings`' statement (`loadTierStandings`). */
const STANDINGS = /q\.member_id::text/;

async function memberWith(orderTotal: string): Promise<string> {
  const memberId = await app.enroll();
  await earnPoints(app.deps, { memberId, orderRef: `o-${memberId}`, orderTotal, idempotencyKey: `e-${memberId}` }, storefront);
  return memberId;
}

describe('tier standings read in a request', () => {
  it('a page of members costs one statement for all their tiers and tier progress, each with their own points', async () => {
    for (const orderTotal of ['1.00', '150.00', '999.00', '1200.00', '6000.00']) await memberWith(orderTotal);
    const admin = await app.staffToken('ADMIN');
    // `tier` asks without points and `tierProgress` with them, for the same member in the same turn: in either order,
    // the member is read with them.
    for (const fields of [
      'tier { key } tierProgress { current { key } qualifyingPoints pointsToNext }',
      'tierProgress { current { key } qualifyingPoints pointsToNext } tier { key }',
    ]) {
      const LIST = `{ members(first: 10) { edges { node { ${fields}
        tierHistory(first: 2) { edges { node { toTier { key } } } } } } } }`;
      await expectOneStatementOfStandings(LIST, admin);
    }
  });

  async function expectOneStatementOfStandings(LIST: string, admin: string) {
    const { statements, result } = await statementsDuring(() => app.gql(LIST, {}, admin));
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    type Node = { tier: { key: string }; tierProgress: { current: { key: string }; qualifyingPoints: number; pointsToNext: number } };
    const nodes = (result.data!.members.edges as { node: Node }[]).map((edge) => edge.node);
    const standings = nodes
      .map((node) => [node.tier.key, node.tierProgress.current.key, node.tierProgress.qualifyingPoints, node.tierProgress.pointsToNext])
      .sort((a, b) => (a[2] as number) - (b[2] as number));
    expect(standings).toEqual([
      ['BRONZE', 'BRONZE', 1, 999],
      ['BRONZE', 'BRONZE', 150, 850],
      ['BRONZE', 'BRONZE', 999, 1],
      ['SILVER', 'SILVER', 1200, 3800],
      ['GOLD', 'GOLD', 6000, 9000],
    ]);
    expect(statements.filter((sql) => STANDINGS.test(sql))).toHaveLength(1);
  }

  it('a mutation after a read in the same request reads the standing again: nothing is kept from an earlier batch', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['points:earn', 'members:read']);
    const EARN_TWICE = `mutation($a: EarnPointsInput!, $b: EarnPointsInput!) {
      a: earnPoints(input: $a) { ... on EarnPointsPayload { member { tier { key } tierProgress { current { key } qualifyingPoints } } } }
      b: earnPoints(input: $b) { ... on EarnPointsPayload { member { tier { key } tierProgress { current { key } qualifyingPoints } } } } }`;
    const earn = (orderRef: string, orderTotal: string) => ({ memberId, orderRef, orderTotal, idempotencyKey: orderRef });
    const { statements, result } = await statementsDuring(() =>
      app.gql(EARN_TWICE, { a: earn('o-1', '999.00'), b: earn('o-2', '1.00') }, key),
    );
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.data).toEqual({
      a: { member: { tier: { key: 'BRONZE' }, tierProgress: { current: { key: 'BRONZE' }, qualifyingPoints: 999 } } },
      b: { member: { tier: { key: 'SILVER' }, tierProgress: { current: { key: 'SILVER' }, qualifyingPoints: 1000 } } },
    });
    expect(statements.filter((sql) => STANDINGS.test(sql))).toHaveLength(2);
  });
});
