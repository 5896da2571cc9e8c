import { afterAll, describe, expect, it } from 'vitest';
import { clientAddress } from '../../src/http/rate-limit.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { statementsDuring } from '../support/statements.js';

/**
 * The GraphQL request limits as a denial-of-service surface (audit): what a hostile client can send past the depth,
 * cost, alias, token and directive limits, the rate limits' subjects, and what a refusal costs the database.
 */
const { prisma } = useTestApp();
const production = createTestApp(prisma, { env: { NODE_ENV: 'production' } });
const LIMITS = {
  NODE_ENV: 'production',
  RATE_LIMIT_WINDOW_SECONDS: '60',
  RATE_LIMIT_ADDRESS_MUTATIONS: '2',
  RATE_LIMIT_ADDRESS_VOUCHER_LOOKUPS: '2',
};
const behindProxy = createTestApp(prisma, { redis: true, env: { ...LIMITS, TRUST_PROXY: '1' } });
afterAll(async () => Promise.all([production.close(), behindProxy.close()]));

/** Refused before anything ran (yoga answers a document refused at validation with 200 under `application/json`). */
const refusedBeforeRunning = (answer: Awaited<ReturnType<typeof production.request>>) => {
  expect([200, 400], JSON.stringify(answer.body)).toContain(answer.status);
  expect(answer.body.data ?? null).toBeNull();
  expect(answer.body.errors?.length).toBeGreaterThan(0);
};

describe('the cost limit', () => {
  const NESTED = (page: string) =>
    `query { members${page} { edges { node { ledger${page} { edges { node { amount kind } } } orders${page} { edges { node { id } } } } } } }`;

  it('weighs a connection without first/last as its default page size (20), as first: 20 written out weighs', async () => {
    const admin = await production.staffToken('ADMIN');
    // The control: the page size written out is refused.
    refusedBeforeRunning(await production.request(NESTED('(first: 20)'), {}, { token: admin }));
    // Left to the default, the same 20 × 20 rows are read.
    const defaulted = await production.request(NESTED(''), {}, { token: admin });
    refusedBeforeRunning(defaulted);
    expect(defaulted.body.errors![0]!.message).toMatch(/cost/i);
  });
});

describe('documents built to slip past the limits', () => {
  it('a fragment cycle is a validation error (400), not a crash or a hang', async () => {
    const admin = await production.staffToken('ADMIN');
    const answer = await production.request(
      'query { ...A } fragment A on Query { tiers { key } ...B } fragment B on Query { program { currency } ...A }',
      {},
      { token: admin },
    );
    refusedBeforeRunning(answer);
  });

  it('depth counts fields reached through nested fragments and inline fragments', async () => {
    const admin = await production.staffToken('ADMIN');
    // 13 levels of fields, each level in its own fragment or inline fragment.
    const answer = await production.request(
      `query { serviceIncidents(first: 1) { ...E } }
       fragment E on QueryServiceIncidentsConnection { edges { ... on QueryServiceIncidentsConnectionEdge { node { ...F } } } }
       fragment F on ServiceIncident { failures(first: 1) { edges { node { member { ...M } } } } }
       fragment M on Member { contracts(first: 1) { edges { node { renewals(first: 1) { edges { node { id } } } } } } }`,
      {},
      { token: admin },
    );
    refusedBeforeRunning(answer);
  });

  it('a directive repeated a thousand times is refused before parsing finishes its work', async () => {
    const admin = await production.staffToken('ADMIN');
    const answer = await production.request(`query { tiers { key ${'@include(if: true) '.repeat(1_000)} } }`, {}, { token: admin });
    refusedBeforeRunning(answer);
  });

  it('aliases spread over fragments count together', async () => {
    const admin = await production.staffToken('ADMIN');
    const aliases = (from: number) => Array.from({ length: 8 }, (_, i) => `t${from + i}: tiers { key }`).join(' ');
    const answer = await production.request(
      `query { ...A ...B } fragment A on Query { ${aliases(0)} } fragment B on Query { ${aliases(8)} }`,
      {},
      { token: admin },
    );
    refusedBeforeRunning(answer);
  });

  it('a batch (a JSON array of operations) is refused as a whole and runs nothing', async () => {
    const admin = await production.staffToken('ADMIN');
    const before = await tableRowCounts(prisma);
    const enroll = (i: number) => ({
      query: `mutation { enrollMember(input: { externalId: "batch-${i}", name: "B" }) { __typename } }`,
    });
    const response = await production.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify([enroll(1), enroll(2)]),
    });
    expect(response.status).toBe(400);
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('what a refusal costs', () => {
  it('a malformed API key is refused (401) without a database statement', async () => {
    for (const token of [
      'trk_',
      'trk_short_x',
      `trk_ABCDEFGH_${'a'.repeat(43)}`,
      `trk_abcdefgh_${'a'.repeat(200)}`,
      `TRK_abcdefgh_${'a'.repeat(43)}`,
    ]) {
      const { statements, result } = await statementsDuring(() => production.request('{ tiers { key } }', {}, { token }));
      expect(result.status, token).toBe(401);
      expect(statements, token).toEqual([]);
    }
  });

  it('a document over the limits is refused without a database statement', async () => {
    const admin = await production.staffToken('ADMIN');
    await production.request('{ __typename }', {}, { token: admin });
    const { statements, result } = await statementsDuring(() =>
      production.request(`query { ${Array.from({ length: 16 }, (_, i) => `t${i}: tiers { key }`).join(' ')} }`, {}, { token: admin }),
    );
    refusedBeforeRunning(result);
    expect(statements).toEqual([]);
  });
});

describe('a request over its rate limit', () => {
  it('is refused (429) without a database statement, and writes nothing', async () => {
    const address = { address: '192.0.2.200' };
    const enroll = (i: number) =>
      behindProxy.request(`mutation { enrollMember(input: { externalId: "rl-${i}", name: "R" }) { __typename } }`, {}, address);
    for (let i = 0; i < 2; i++) expect((await enroll(i)).status).toBe(200);
    const before = await tableRowCounts(prisma);
    const { statements, result } = await statementsDuring(() => enroll(2));
    expect(result.status).toBe(429);
    expect(statements).toEqual([]);
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('the client address behind trusted proxies (TRUST_PROXY)', () => {
  const request = (forwarded: string) => new Request('http://x/graphql', { headers: { 'x-forwarded-for': forwarded } });
  const socket = { socket: { remoteAddress: '10.0.0.1' } } as never;

  it('reads an address a proxy wrote with its port: IPv4 host:port, [IPv6]:port, [IPv6]', () => {
    expect(clientAddress(request('1.2.3.4:5678'), socket, 1)).toBe('1.2.3.4');
    expect(clientAddress(request('6.6.6.6, 1.2.3.4:5678'), socket, 1)).toBe('1.2.3.4');
    expect(clientAddress(request('[2001:db8:1:2::7]:80'), socket, 1)).toBe('2001:0db8:0001:0002::/64');
    expect(clientAddress(request('[2001:db8:1:2::7]'), socket, 1)).toBe('2001:0db8:0001:0002::/64');
    expect(clientAddress(request('[::ffff:192.0.2.7]:443'), socket, 1)).toBe('192.0.2.7');
    // Not an address with a port: the proxy's own address, as for any header that is not an address.
    expect(clientAddress(request('1.2.3.4:99999'), socket, 1)).toBe('10.0.0.1');
    expect(clientAddress(request('[1.2.3.4]:80'), socket, 1)).toBe('10.0.0.1');
    expect(clientAddress(request('2001:db8::7:80'), socket, 1)).toBe('2001:0db8:0000:0000::/64');
  });

  it('two clients a proxy forwards with ports have budgets of their own; the same client on another port shares one', async () => {
    const ONE_LOOKUP = '{ voucher(code: "TRU-AAAA-BBBB-CCCC-DDDD") { id } }';
    const via = (forwarded: string) => ({ address: '10.9.9.9', headers: { 'x-forwarded-for': forwarded } });
    expect((await behindProxy.request(ONE_LOOKUP, {}, via('198.51.100.7:40001'))).status).toBe(200);
    expect((await behindProxy.request(ONE_LOOKUP, {}, via('198.51.100.7:40002'))).status).toBe(200);
    expect((await behindProxy.request(ONE_LOOKUP, {}, via('198.51.100.7:40003'))).status).toBe(429);
    // Another client behind the same proxy is not refused for the first one's lookups.
    expect((await behindProxy.request(ONE_LOOKUP, {}, via('198.51.100.8:40001'))).status).toBe(200);
  });
});
