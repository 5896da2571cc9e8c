import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { documentId } from '../../src/graphql/trusted-documents.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { ANSWERED_ACCEPTS } from '../support/accept.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { resetRedis, testRedisUrl } from '../support/db.js';

/**
 * The response cache's shortcut (src/graphql/response-cache.ts, `answer`): a member's repeated read is answered
 * over node:http before yoga, with what yoga would have answered; every other request reaches yoga whole.
 * The test app's server counts the requests that reach yoga (`throughYoga`) and those the direct execution answers
 * (`directly`): together, what the shortcut passed on.
 */
const { prisma } = useTestApp();
const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
const STATUS_ID = documentId(STATUS);

let redis: Redis;
let app: ReturnType<typeof createTestApp>;
let url: string;

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  app = createTestApp(prisma, { redis: true });
  url = await app.url();
});
afterAll(async () => {
  await app.close();
  await resetRedis(redis);
  redis.disconnect();
});

/** A fresh member (nothing cached for it yet) and its token. */
async function member(name = 'Ada') {
  const memberId = await app.enroll({ name });
  return { memberId, token: await app.memberToken(memberId) };
}

const statusBody = JSON.stringify({ documentId: STATUS_ID });

/** Requests the shortcut did not answer: they went on to the direct execution or to yoga. */
const passedOn = () => app.throughYoga() + app.directly();

async function post(token: string, headers: Record<string, string> = {}, body = statusBody) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body,
  });
}

/** Status, headers (without the date) and body bytes of a response. */
async function seen(response: Response) {
  const headers = Object.fromEntries([...response.headers].filter(([name]) => name !== 'date'));
  return { status: response.status, headers, body: await response.text() };
}

describe("the response cache's shortcut", () => {
  it.each(ANSWERED_ACCEPTS)('answers a hit with the status, headers and bytes the miss was answered with (%s)', async (_, accept) => {
    const { token } = await member();
    const before = passedOn();
    const handled = () => passedOn() - before;
    const miss = await seen(await post(token, accept));
    expect(handled()).toBe(1);
    const hit = await seen(await post(token, accept));
    expect(handled()).toBe(1);
    expect(miss.status).toBe(200);
    expect(JSON.parse(miss.body)).toMatchObject({ data: { me: { name: 'Ada' } } });
    expect(hit).toEqual(miss);
  });

  it("answers the same hit to GET with the document id, to Apollo's hash and to the document as text, and 304 to its tag", async () => {
    const { token } = await member();
    const first = await seen(await post(token));
    const before = passedOn();
    const handled = () => passedOn() - before;
    const byGet = await seen(
      await fetch(`${url}?documentId=${encodeURIComponent(STATUS_ID)}`, { headers: { authorization: `Bearer ${token}` } }),
    );
    const byText = await seen(await post(token, {}, JSON.stringify({ query: STATUS })));
    const apollo = { persistedQuery: { version: 1, sha256Hash: STATUS_ID.slice('sha256:'.length) } };
    const byApolloHash = await seen(await post(token, {}, JSON.stringify({ extensions: apollo })));
    const unchanged = await post(token, { 'if-none-match': first.headers.etag! });
    expect(handled()).toBe(0);
    expect(byGet).toEqual(first);
    expect(byText).toEqual(first);
    expect(byApolloHash).toEqual(first);
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');
    expect(unchanged.headers.get('etag')).toBe(first.headers.etag);
    expect(unchanged.headers.get('cache-control')).toBe('private, no-cache');
    expect(unchanged.headers.get('content-type')).toBeNull();
  });

  it("serves a member only that member's answer, and staff and unknown variables go to yoga", async () => {
    const one = await member('One');
    const other = await member('Other');
    await post(one.token);
    const before = passedOn();
    const handled = () => passedOn() - before;
    expect(await (await post(other.token)).json()).toMatchObject({ data: { me: { name: 'Other' } } });
    expect(handled()).toBe(1);
    // Other variables than the ones cached are another key: yoga answers (here: refuses an unknown variable).
    const withVariables = await post(one.token, {}, JSON.stringify({ documentId: STATUS_ID, variables: { x: 1 } }));
    expect(handled()).toBe(2);
    expect(withVariables.status).not.toBe(304);
    // Staff are never served from the cache, whatever they send.
    await post(await app.staffToken('AGENT'));
    expect(handled()).toBe(3);
  });

  it('leaves to yoga a token that does not verify, with the body it read', async () => {
    const { token } = await member();
    await post(token);
    const before = passedOn();
    const handled = () => passedOn() - before;
    const forged = await post(`${token.slice(0, -4)}AAAA`);
    expect(handled()).toBe(1);
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });

  it("hands the body it read to yoga: a member's query that is not cached is answered as sent", async () => {
    const { token } = await member('Grace');
    const before = passedOn();
    const body = JSON.stringify({ query: 'query Mine($n: Int) { me { name ledger(first: $n) { totalCount } } }', variables: { n: 1 } });
    const other = await post(token, {}, body);
    expect(passedOn() - before).toBe(1);
    expect(await other.json()).toEqual({ data: { me: { name: 'Grace', ledger: { totalCount: 0 } } } });
  });

  it('leaves staff to what follows it: a mutation runs once, exactly as sent', async () => {
    const { memberId } = await member();
    const admin = await app.staffToken('ADMIN');
    const adjust = JSON.stringify({
      query: 'mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }',
      variables: { i: { memberId, points: 12, reason: 'goodwill', idempotencyKey: 'adjust-1' } },
    });
    const before = passedOn();
    const answer = await post(admin, {}, adjust);
    expect(passedOn() - before).toBe(1);
    expect(await answer.json()).toEqual({ data: { adjustPoints: { __typename: 'AdjustPointsPayload' } } });
    expect(await prisma.ledgerEntry.findMany({ where: { memberId }, select: { amount: true } })).toEqual([{ amount: 12 }]);
  });

  it('leaves storefront API keys to what follows it', async () => {
    const { memberId } = await member();
    const shop = await app.apiKeyToken(['points:earn']);
    const earn = JSON.stringify({
      query: 'mutation($i: EarnPointsInput!) { earnPoints(input: $i) { ... on EarnPointsPayload { points } } }',
      variables: { i: { memberId, order: { reference: 'o-1', total: { amount: '12.00', currency: 'EUR' } }, idempotencyKey: 'o-1' } },
    });
    const before = passedOn();
    expect(await (await post(shop, {}, earn)).json()).toEqual({ data: { earnPoints: { points: 12 } } });
    expect(passedOn() - before).toBe(1);
  });

  it('leaves to yoga a body larger than it reads, a request with an Origin, and any other Accept', async () => {
    const { token } = await member();
    await post(token);
    const before = passedOn();
    const handled = () => passedOn() - before;
    const padded = JSON.stringify({ documentId: STATUS_ID, extensions: { padding: 'x'.repeat(20_000) } });
    expect(await (await post(token, {}, padded)).json()).toMatchObject({ data: { me: { name: 'Ada' } } });
    expect((await post(token, { origin: 'https://app.example' })).status).toBe(200);
    expect((await post(token, { accept: 'text/html' })).status).toBe(406);
    expect(handled()).toBe(3);
  });

  it('leaves to yoga a body above MAX_BODY_BYTES, however small: a 413, never a hit', async () => {
    const small = createTestApp(prisma, { redis: true, env: { MAX_BODY_BYTES: '2048' } });
    try {
      const smallUrl = await small.url();
      const memberId = await small.enroll({ name: 'Ada' });
      const token = await small.memberToken(memberId);
      const send = (body: string) =>
        fetch(smallUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
      expect((await send(statusBody)).status).toBe(200);
      const padded = JSON.stringify({ documentId: STATUS_ID, extensions: { padding: 'x'.repeat(3_000) } });
      expect((await send(padded)).status).toBe(413);
    } finally {
      await small.close();
    }
  });

  it('steps aside while tracing is on, so that every operation has its span', async () => {
    const traced = createTestApp(prisma, { redis: true, tracing: {} });
    try {
      const { token } = await member();
      const handled = () => traced.throughYoga();
      const tracedUrl = await traced.url();
      const read = () =>
        fetch(tracedUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: statusBody,
        });
      expect((await read()).status).toBe(200);
      expect((await read()).status).toBe(200);
      expect(handled()).toBe(2);
    } finally {
      await traced.close();
    }
  });
});
