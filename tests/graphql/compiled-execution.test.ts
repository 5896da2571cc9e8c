import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { documentToCompile } from '../../src/graphql/compiled-execution.js';
import { getSchema } from '../../src/graphql/schema.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';

/**
 * Compiled execution (src/graphql/compiled-execution.ts) answers what graphql-js answers: the same documents,
 * sent to a handler that compiles and to one that interprets (GRAPHQL_COMPILED=false), give the same bodies —
 * data, errors, codes and paths — for the member status, the member app's documents, nodes, refusals, a
 * mutation and variables that do not coerce.
 */
const { prisma } = useTestApp();
const metrics = createMetrics();
const compiled = createTestApp(prisma, { metrics });
const interpreted = createTestApp(prisma, { env: { GRAPHQL_COMPILED: 'false' } });
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

const STATUS = `query($id: ID!) { member(id: $id) { id status tier { key name } tierSince
  tierProgress { current { key threshold multiplier } next { key threshold multiplier } qualifyingPoints pointsToNext reviewAt }
  balance { available pending lifetime } expiringPoints { expiresAt points }
  vouchers(first: 5, status: ISSUED) { edges { cursor node { id code kind status valueType percent expiresAt value { amount currency } } } pageInfo { hasNextPage endCursor } }
  ledger(first: 10) { totalCount edges { node { id kind amount balanceAfter causeType causeRef createdAt } } } } }`;

const HISTORY = `{ members(first: 10) { edges { node { id tier { key }
  tierHistory(first: 3) { edges { node { fromTierKey toTier { key name } reason } } } } } } }`;

const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on Voucher { code status } ... on LedgerEntry { kind amount } } }`;

/** A member who reached SILVER with 12 orders, and holds two vouchers. */
async function memberWithHistory(): Promise<string> {
  const memberId = await compiled.enroll();
  const deps = { prisma, logger: testLogger };
  for (let i = 0; i < 12; i++) {
    await earnPoints(deps, { memberId, orderRef: `o-${i}`, orderTotal: '150.00', idempotencyKey: `e-${memberId}-${i}` }, storefront);
  }
  await prisma.$transaction(async (tx) => {
    for (let i = 0; i < 2; i++) {
      const value = { type: 'FIXED' as const, amount: '5.00' };
      await issueVoucher(tx, { memberId, kind: 'GOODWILL', value, causeType: 'GESTURE', causeRef: randomUUID(), now: new Date() });
    }
  });
  return memberId;
}

const compiledRuns = async () =>
  (await metrics.graphqlExecutions.get()).values.find((value) => value.labels.executor === 'compiled')!.value;

/**
 * Both handlers' bodies for one request; they must be equal, and are returned for further checks. The compiling
 * handler compiles an operation on its second execution: it is sent the request twice, and both answers count.
 */
async function same(query: string, variables: Record<string, unknown>, token?: string, expected: 'compiled' | 'interpreted' = 'compiled') {
  const fromInterpreted = await interpreted.request(query, variables, { token });
  for (let time = 0; time < 2; time++) {
    const before = await compiledRuns();
    const fromCompiled = await compiled.request(query, variables, { token });
    expect(fromCompiled.body).toEqual(fromInterpreted.body);
    // Field by field in the same order too: the order of the selection set, fragments merged in (spec, 7.1).
    expect(JSON.stringify(fromCompiled.body)).toBe(JSON.stringify(fromInterpreted.body));
    expect(fromCompiled.status).toBe(fromInterpreted.status);
    // The second time at the latest, the operation runs compiled (unless it is one the compiler would answer otherwise).
    if (time === 1) expect((await compiledRuns()) - before, `${expected}: ${query}`).toBe(expected === 'compiled' ? 1 : 0);
  }
  return fromInterpreted.body;
}

describe('compiled execution', () => {
  it('answers the member status, the member app documents and nodes as graphql-js does', async () => {
    const memberId = await memberWithHistory();
    const key = await compiled.apiKeyToken([...STOREFRONT_SCOPES]);
    const status = await same(STATUS, { id: encodeGlobalID('Member', memberId) }, key);
    expect(status.errors).toBeUndefined();
    expect(status.data!.member.tier.key).toBe('SILVER');
    expect(status.data!.member.vouchers.edges).toHaveLength(2);
    expect(status.data!.member.ledger.edges).toHaveLength(10);

    const member = await compiled.memberToken(memberId);
    const queries = Object.values(MEMBER_APP_DOCUMENTS).filter((text) => /(^|\} )query /.test(text));
    expect(queries.length).toBeGreaterThan(0);
    for (const text of queries) {
      const body = await same(text, {}, member);
      expect(body.errors, text).toBeUndefined();
    }

    const voucher = status.data!.member.vouchers.edges[0].node.id as string;
    expect((await same(NODE, { id: voucher }, key)).data!.node).toMatchObject({ __typename: 'Voucher', status: 'ISSUED' });
    // Another member's voucher, for a member token: null, as for an id that does not exist.
    const other = await compiled.memberToken(await compiled.enroll());
    expect((await same(NODE, { id: voucher }, other)).data!.node).toBeNull();

    const history = await same(HISTORY, {}, await compiled.staffToken('AGENT'), 'interpreted');
    expect(history.errors).toBeUndefined();
    const climbed = history.data!.members.edges.find((edge: any) => edge.node.id === encodeGlobalID('Member', memberId));
    expect(climbed.node.tierHistory.edges[0].node.toTier.key).toBe('SILVER');
  });

  it('refuses, fails and replays as graphql-js does', async () => {
    const memberId = await compiled.enroll();
    const earnOnly = await compiled.apiKeyToken(['points:earn']);
    const earn = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
      ... on EarnPointsPayload { points member { id balance { available pending } } } ... on Error { message } } }`;
    const input = { memberId: encodeGlobalID('Member', memberId), orderRef: 'o-1', orderTotal: '40.00', idempotencyKey: 'k-1' };
    // The second handler replays the first one's answer (same key): the two bodies must still be equal.
    const earned = await same(earn, { input }, earnOnly);
    // The key may earn but not read members: the points are granted, the member object is refused.
    expect(earned.errors?.map((error) => [error.extensions?.code, error.path])).toEqual([['FORBIDDEN', ['earnPoints', 'member']]]);

    const bad = await same(earn, { input: { ...input, orderTotal: { amount: 1 } } }, earnOnly);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const missing = await same(STATUS, {}, earnOnly);
    expect(missing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const refused = await same(STATUS, { id: encodeGlobalID('Member', memberId) }, earnOnly);
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('compiles an operation unless it asks, beneath a list, for a field plugin-prisma plans from the rows above', () => {
    const schema = getSchema();
    const compilable = (text: string, operationName?: string) => documentToCompile(schema, parse(text), operationName) !== null;
    expect(compilable(STATUS)).toBe(true);
    expect(compilable(HISTORY)).toBe(false);
    // Columns of list rows are fine; a relation of them is not.
    expect(compilable('{ members(first: 5) { edges { node { id name tier { key } } } } }')).toBe(false);
    expect(compilable('{ members(first: 5) { edges { node { id name status } } } }')).toBe(true);
    // Through a fragment, as a client writes it.
    expect(
      compilable(
        'fragment H on Member { tierHistory(first: 1) { edges { node { toTier { key } } } } } { members(first: 5) { edges { node { ...H } } } }',
      ),
    ).toBe(false);
    // Of two operations, the one asked for.
    const two = 'query A { members(first: 1) { edges { node { tier { key } } } } } query B { members(first: 1) { edges { node { id } } } }';
    expect(compilable(two, 'A')).toBe(false);
    expect(compilable(two, 'B')).toBe(true);
  });

  it('compiles fragments that apply to every object in place, and leaves to graphql-js an order the compiler would change', () => {
    const schema = getSchema();
    const compiledText = (text: string) => {
      const document = documentToCompile(schema, parse(text));
      return document && print(document).replace(/\s+/g, ' ');
    };
    // Colocated fragments: written in place, in order, the same field merged as graphql-js merges it.
    expect(
      compiledText(
        'fragment A on Member { id name } fragment B on Member { id status } query Q($id: ID!) { member(id: $id) { ...B ...A } }',
      ),
    ).toBe('query Q($id: ID!) { member(id: $id) { id status id name } }');
    // The member app's documents (colocated fragments throughout) compile.
    for (const text of Object.values(MEMBER_APP_DOCUMENTS).filter((text) => /(^|\} )query /.test(text))) {
      expect(documentToCompile(schema, parse(text)), text).not.toBeNull();
    }
    // A payload union: one fragment per type, after the fields — compiled as written.
    const payload =
      'mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points } ... on Error { message } } }';
    expect(compiledText(payload)).toBe(
      'mutation ($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points } ... on Error { message } } }',
    );
    // A field after a fragment with a type condition; two fragments for one type; a directive: interpreted.
    expect(compiledText('mutation($i: EarnPointsInput!) { earnPoints(input: $i) { ... on Error { message } __typename } }')).toBeNull();
    expect(
      compiledText(
        'mutation($i: EarnPointsInput!) { earnPoints(input: $i) { ... on ForbiddenError { message } ... on Error { message } } }',
      ),
    ).toBeNull();
    expect(compiledText('query($id: ID!, $b: Boolean!) { member(id: $id) { id name @include(if: $b) } }')).toBeNull();
  });
});
