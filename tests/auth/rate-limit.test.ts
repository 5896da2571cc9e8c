import { getNamedType, isInputObjectType, parse } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.js';
import { clientAddress, operationCost, VOUCHER_LOOKUP_FIELDS } from '../../src/http/rate-limit.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { resetRedis, testRedisUrl } from '../support/db.js';

/**
 * Rate limits on mutations and voucher-code lookups, per API key, per member token and
 * per client address, shared by API processes through Redis. Two handlers with the
 * same Redis stand for two API processes.
 */
const { prisma, app } = useTestApp();

const LIMITS = {
  RATE_LIMIT_WINDOW_SECONDS: '60',
  RATE_LIMIT_API_KEY_MUTATIONS: '100',
  RATE_LIMIT_API_KEY_VOUCHER_LOOKUPS: '20',
  RATE_LIMIT_MEMBER_MUTATIONS: '100',
  RATE_LIMIT_MEMBER_VOUCHER_LOOKUPS: '5',
  RATE_LIMIT_ADDRESS_MUTATIONS: '5',
  RATE_LIMIT_ADDRESS_VOUCHER_LOOKUPS: '10',
};
const processA = createTestApp(prisma, { redis: true, env: LIMITS });
const processB = createTestApp(prisma, { redis: true, env: LIMITS });
const behindProxy = createTestApp(prisma, { redis: true, env: { ...LIMITS, TRUST_PROXY: '1' } });
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(testRedisUrl());
  await resetRedis(redis);
});
afterAll(async () => {
  await resetRedis(redis);
  redis.disconnect();
  await Promise.all([processA.close(), processB.close(), behindProxy.close()]);
});

const CODE = 'TRU-AAAA-BBBB-CCCC-DDDD';
/** `n` aliased validateVoucher lookups in one request. */
const lookups = (n: number) =>
  `{ ${Array.from({ length: n }, (_, i) => `v${i}: validateVoucher(code: "${CODE}", orderTotal: "10.00") { valid reason }`).join(' ')} }`;
const ONE_LOOKUP = `{ voucher(code: "${CODE}") { id } }`;
let addresses = 0;
/** An address no other test uses (budgets live in Redis for the whole window). */
const freshAddress = () => `203.0.113.${++addresses}`;

function expectRateLimited(answer: Awaited<ReturnType<typeof app.request>>) {
  expect(answer.status).toBe(429);
  const retryAfter = Number(answer.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(answer.body.data ?? null).toBeNull();
  expect(answer.body.errors).toHaveLength(1);
  expect(answer.body.errors![0]!.extensions).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: retryAfter });
}

describe('what an operation costs', () => {
  it('counts every occurrence of a root field: aliases, fragments and inline fragments included', () => {
    const cost = (query: string, name?: string) => operationCost(parse(query), name);
    expect(cost(lookups(15))).toEqual({ mutations: 0, voucherLookups: 15 });
    expect(
      cost(`query { ...F ... on Query { b: voucher(code: "x") { id } tiers { key } } __typename }
            fragment F on Query { a: voucher(code: "x") { id } c: validateVoucher(code: "x", orderTotal: "1") { valid } }`),
    ).toEqual({ mutations: 0, voucherLookups: 3 });
    expect(cost(`mutation { a: redeemVoucher(input: {}) { __typename } b: enrollMember(input: {}) { __typename } __typename }`)).toEqual({
      mutations: 2,
      voucherLookups: 1,
    });
    const two = `query Q { voucher(code: "x") { id } } mutation M { a: earnPoints(input: {}) { __typename } b: earnPoints(input: {}) { __typename } }`;
    expect(cost(two, 'Q')).toEqual({ mutations: 0, voucherLookups: 1 });
    expect(cost(two, 'M')).toEqual({ mutations: 2, voucherLookups: 0 });
    expect(cost('subscription { memberStatusChanged { id } }')).toEqual({ mutations: 0, voucherLookups: 0 });
    expect(cost('{ tiers { key } members(first: 1) { edges { cursor } } }')).toEqual({ mutations: 0, voucherLookups: 0 });
  });

  it('counts root fields however deep a chain of fragment spreads reaches them, and each spread of a fragment', () => {
    const cost = (query: string) => operationCost(parse(query), undefined);
    // 40 fragments, each spreading the next: the last holds two lookups (the walk stopped at 32 before: 0).
    const chain = (operation: string, type: string, selection: string) =>
      `${operation} { ...F0 } ${Array.from({ length: 40 }, (_, i) =>
        i === 39 ? `fragment F${i} on ${type} { ${selection} }` : `fragment F${i} on ${type} { ...F${i + 1} }`,
      ).join(' ')}`;
    expect(cost(chain('query', 'Query', 'a: voucher(code: "x") { id } b: voucher(code: "y") { id }'))).toEqual({
      mutations: 0,
      voucherLookups: 2,
    });
    expect(
      cost(chain('mutation', 'Mutation', 'a: revokeApiKey(input: {}) { __typename } b: voidVoucher(input: {}) { __typename }')),
    ).toEqual({
      mutations: 2,
      voucherLookups: 1,
    });
    // A fragment spread twice, itself spreading one twice: four lookups.
    expect(cost(`{ ...A ...A } fragment A on Query { ...B ...B } fragment B on Query { voucher(code: "x") { id } }`)).toEqual({
      mutations: 0,
      voucherLookups: 4,
    });
  });

  it('counts as voucher lookups every root field that takes a voucher code', () => {
    const schema = getSchema();
    const takesCode = [schema.getQueryType()!, schema.getMutationType()!].flatMap((type) =>
      Object.values(type.getFields())
        .filter((field) =>
          field.args.some((arg) => {
            const argType = getNamedType(arg.type);
            return arg.name === 'code' || (isInputObjectType(argType) && 'code' in argType.getFields());
          }),
        )
        .map((field) => field.name),
    );
    expect(takesCode.sort()).toEqual([...VOUCHER_LOOKUP_FIELDS].sort());
  });
});

describe('rate limits', () => {
  it('15 aliased voucher lookups cost 15: the second such request over a budget of 20 is refused with 429 and Retry-After', async () => {
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const first = await processA.request(lookups(15), {}, { token: key });
    expect(first.status).toBe(200);
    expect(first.body.data?.v14).toEqual({ valid: false, reason: 'NOT_FOUND' });
    expectRateLimited(await processA.request(lookups(15), {}, { token: key }));
    // Refused as a whole, also a single lookup now.
    expectRateLimited(await processA.request(ONE_LOOKUP, {}, { token: key }));
  });

  it('hammering one lookup at a time with a member token is refused after the budget', async () => {
    const token = await app.memberToken(await app.enroll());
    for (let i = 0; i < 5; i++) expect((await processA.request(ONE_LOOKUP, {}, { token })).status).toBe(200);
    expectRateLimited(await processA.request(ONE_LOOKUP, {}, { token }));
  });

  it('two API processes share one budget', async () => {
    const key = await app.apiKeyToken(['vouchers:redeem']);
    expect((await processA.request(lookups(10), {}, { token: key })).status).toBe(200);
    expect((await processB.request(lookups(10), {}, { token: key })).status).toBe(200);
    expectRateLimited(await processA.request(ONE_LOOKUP, {}, { token: key }));
    expectRateLimited(await processB.request(ONE_LOOKUP, {}, { token: key }));
  });

  it('different keys, members and addresses do not share budgets', async () => {
    const [key1, key2] = [await app.apiKeyToken(['vouchers:redeem']), await app.apiKeyToken(['vouchers:redeem'])];
    expect((await processA.request(lookups(15), {}, { token: key1 })).status).toBe(200);
    expectRateLimited(await processA.request(lookups(15), {}, { token: key1 }));
    expect((await processA.request(lookups(15), {}, { token: key2 })).status).toBe(200);

    const [member1, member2] = [await app.memberToken(await app.enroll()), await app.memberToken(await app.enroll())];
    expect((await processA.request(lookups(5), {}, { token: member1 })).status).toBe(200);
    expectRateLimited(await processA.request(ONE_LOOKUP, {}, { token: member1 }));
    expect((await processA.request(ONE_LOOKUP, {}, { token: member2 })).status).toBe(200);

    const [here, there] = [freshAddress(), freshAddress()];
    expect((await processA.request(lookups(10), {}, { address: here })).status).toBe(200);
    expectRateLimited(await processA.request(ONE_LOOKUP, {}, { address: here }));
    expect((await processA.request(ONE_LOOKUP, {}, { address: there })).status).toBe(200);
  });

  it('a refused mutation request does nothing: staff calls spend their address budget', async () => {
    const admin = await app.staffToken('ADMIN');
    const address = freshAddress();
    const enroll = (i: number) =>
      processA.request(
        `mutation { enrollMember(input: { externalId: "rl-${i}", email: "rl-${i}@example.com", name: "R" }) { __typename } }`,
        {},
        { token: admin, address },
      );
    for (let i = 0; i < 5; i++) expect((await enroll(i)).body.data?.enrollMember.__typename).toBe('EnrollMemberPayload');
    expectRateLimited(await enroll(5));
    expect(await prisma.member.count({ where: { externalId: { startsWith: 'rl-' } } })).toBe(5);
    // Reads are not limited.
    expect((await processA.request('{ tiers { key } }', {}, { token: admin, address })).status).toBe(200);
  });

  it('X-Forwarded-For is ignored unless TRUST_PROXY trusts a proxy in front', async () => {
    const proxy = freshAddress();
    const spoofed = (n: number) => ({ address: proxy, headers: { 'x-forwarded-for': `198.51.100.${n}` } });
    // Without a trusted proxy, every spoofed header is the same socket address: one budget.
    expect((await processA.request(lookups(10), {}, spoofed(1))).status).toBe(200);
    expectRateLimited(await processA.request(ONE_LOOKUP, {}, spoofed(2)));
    // Behind one trusted proxy, the address it forwards is the client.
    expect((await behindProxy.request(lookups(10), {}, spoofed(3))).status).toBe(200);
    expectRateLimited(await behindProxy.request(ONE_LOOKUP, {}, spoofed(3)));
    expect((await behindProxy.request(ONE_LOOKUP, {}, spoofed(4))).status).toBe(200);
  });

  it('with Redis unreachable, each process still enforces the limits in memory and answers', async () => {
    const offline = createTestApp(prisma, { env: LIMITS, redis: false });
    // Port 1: nothing listens, the connection is refused at once.
    const unreachable = createTestApp(prisma, { env: LIMITS, redis: 'redis://127.0.0.1:1' });
    try {
      for (const handler of [offline, unreachable]) {
        const token = await app.memberToken(await app.enroll());
        expect((await handler.request(lookups(5), {}, { token })).status).toBe(200);
        expectRateLimited(await handler.request(ONE_LOOKUP, {}, { token }));
      }
    } finally {
      await Promise.all([offline.close(), unreachable.close()]);
    }
  });
});

describe('the client address', () => {
  const request = (forwarded?: string) => new Request('http://x/graphql', { headers: forwarded ? { 'x-forwarded-for': forwarded } : {} });
  const socket = (remoteAddress: string) => ({ socket: { remoteAddress } }) as never;

  it('is the socket peer unless proxies are trusted; then the address the nearest untrusted hop had', () => {
    expect(clientAddress(request('1.2.3.4'), socket('10.0.0.1'), 0)).toBe('10.0.0.1');
    expect(clientAddress(request('1.2.3.4'), socket('10.0.0.1'), 1)).toBe('1.2.3.4');
    expect(clientAddress(request('6.6.6.6, 1.2.3.4'), socket('10.0.0.1'), 1)).toBe('1.2.3.4');
    expect(clientAddress(request('6.6.6.6, 1.2.3.4, 10.0.0.2'), socket('10.0.0.1'), 2)).toBe('1.2.3.4');
    expect(clientAddress(request('not-an-address'), socket('10.0.0.1'), 1)).toBe('10.0.0.1');
    expect(clientAddress(request(), socket('10.0.0.1'), 1)).toBe('10.0.0.1');
  });

  it('reads IPv4-mapped IPv6 as IPv4 and counts IPv6 per /64', () => {
    expect(clientAddress(request(), socket('::ffff:192.0.2.7'), 0)).toBe('192.0.2.7');
    expect(clientAddress(request(), socket('2001:db8:1:2:aaaa::1'), 0)).toBe('2001:0db8:0001:0002::/64');
    expect(clientAddress(request(), socket('2001:db8:1:2:ffff:ffff:ffff:ffff'), 0)).toBe('2001:0db8:0001:0002::/64');
    expect(clientAddress(request(), socket('::1'), 0)).toBe('0000:0000:0000:0000::/64');
  });
});
