import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMemberToken } from '../../src/auth/tokens.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { documentId } from '../../src/graphql/trusted-documents.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createTestApp, TEST_JWT_SECRET, useTestApp } from '../support/app.js';
import { resetRedis, testRedisUrl } from '../support/db.js';

/**
 * An audit of the members' response cache and the paths before yoga (the cache's shortcut, the direct execution):
 * no caller gets an answer made for another caller or one its credentials no longer allow, and no read after a
 * committed change gets the answer from before it (docs/caching.md).
 */
const { prisma } = useTestApp();
const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
const STATUS_ID = documentId(STATUS);
const CLOSE = `mutation($id: ID!, $status: MemberStatus!) { updateMember(input: { id: $id, status: $status }) { __typename } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(input: { id: $id }) { __typename } }`;

let redis: Redis;
let app: ReturnType<typeof createTestApp>;
let server: Server;
let port: number;
/** Resolved when the server next starts reading a request's body (set by `halfSent`). */
let bodyRead: (() => void) | undefined;

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  app = createTestApp(prisma, { redis: true });
  // The handler mounted as startApi mounts it (the cache's shortcut, the direct execution, then yoga), telling the
  // test when a path starts reading the body.
  server = createServer(async (req, res) => {
    const iterate = req[Symbol.asyncIterator].bind(req);
    req[Symbol.asyncIterator] = () => {
      bodyRead?.();
      return iterate();
    };
    if ((await app.yoga.answerFromCache(req, res)) || (await app.yoga.answerDirectly(req, res))) return;
    await app.yoga.handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await app.close();
  await resetRedis(redis);
  redis.disconnect();
});

interface Answer {
  status: number;
  body: { data?: Record<string, unknown>; errors?: { extensions?: { code?: string } }[] };
}

/**
 * A POST whose body arrives in two halves: the first half now, the second once `between` is done (after the server
 * started reading the body). Resolves with the answer.
 */
async function halfSent(token: string, body: string, between: () => Promise<void>): Promise<Answer> {
  const reading = new Promise<void>((resolve) => (bodyRead = resolve));
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'] }),
        );
      },
    );
    req.on('error', reject);
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    void reading
      .then(between)
      .then(() => req.end(body.slice(half)))
      .catch(reject);
  });
  const result = await answer;
  bodyRead = undefined;
  return result;
}

async function post(token: string, body: unknown): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

describe('credentials withdrawn while the request was on its way', () => {
  it("a member closed while the app's status request was being sent is refused, not answered", async () => {
    const memberId = await app.enroll({ name: 'Leaving' });
    const token = await app.memberToken(memberId);
    expect((await post(token, { documentId: STATUS_ID })).body.data).toMatchObject({ me: { name: 'Leaving' } });
    const supervisor = await app.staffToken('SUPERVISOR');
    const answer = await halfSent(token, JSON.stringify({ documentId: STATUS_ID }), async () => {
      expect((await app.gql(CLOSE, { id: memberId, status: 'CLOSED' }, supervisor)).errors).toBeUndefined();
    });
    expect(answer.status).toBe(401);
    expect(answer.body.data).toBeUndefined();
  });

  it('an API key revoked while its request was being sent is refused: nothing runs', async () => {
    const memberId = await app.enroll({ name: 'Kept' });
    const { apiKey, token } = await createApiKey(
      app.deps,
      { name: 'storefront', scopes: ['members:read'] },
      { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
    );
    const read = { query: 'query($id: ID!) { member(id: $id) { name } }', variables: { id: memberId } };
    expect((await post(token, read)).body.data).toEqual({ member: { name: 'Kept' } });
    const admin = await app.staffToken('ADMIN');
    const answer = await halfSent(token, JSON.stringify(read), async () => {
      expect((await app.gql(REVOKE, { id: apiKey.id }, admin)).errors).toBeUndefined();
    });
    expect(answer.status).toBe(401);
    expect(answer.body.data).toBeUndefined();
  });
});

/** The member app's status screen as sent by `body`'s shape (the document by id unless given), over HTTP. */
async function status(token: string, body: Record<string, unknown> = { documentId: STATUS_ID }, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    etag: response.headers.get('etag'),
    body: text === '' ? undefined : (JSON.parse(text) as { data?: { me: Record<string, any> | null }; errors?: unknown[] }),
  };
}

/** A member whose cached status hides a write made behind the cache's back: a read that shows it was not served from the cache. */
async function cachedMember() {
  const memberId = await app.enroll({ name: 'Before' });
  const token = await app.memberToken(memberId);
  const first = await status(token);
  expect(first.body?.data?.me).toMatchObject({ name: 'Before' });
  await prisma.member.update({ where: { id: memberId }, data: { name: 'Behind the cache' } });
  expect((await status(token)).body?.data?.me).toMatchObject({ name: 'Before' });
  return { memberId, token, etag: first.etag! };
}

async function mutate(token: string, field: string, inputType: string, input: Record<string, unknown>) {
  const result = await app.gql(`mutation($i: ${inputType}!) { ${field}(input: $i) { __typename } }`, { i: input }, token);
  expect(result.errors).toBeUndefined();
  return (result.data as Record<string, { __typename: string }>)[field]!.__typename;
}

describe('who a cached answer is for', () => {
  it("staff and API keys of any scope sending the member's tag get no 304, no tag, and nothing of the member's", async () => {
    const { etag } = await cachedMember();
    const callers = [
      await app.staffToken('ADMIN'),
      await app.apiKeyToken(['members:read'], 'reader'),
      await app.apiKeyToken(['admin'], 'admin key'),
    ];
    for (const caller of callers) {
      for (const body of [{ documentId: STATUS_ID }, { query: STATUS }]) {
        const answer = await status(caller, body, { 'if-none-match': etag });
        expect(answer.status).toBe(200);
        expect(answer.etag).toBeNull();
        expect(answer.body?.data?.me ?? null).toBeNull();
      }
    }
  });

  it('a token of the member that has expired since the answer was stored is refused, its tag confirms nothing', async () => {
    const { memberId, etag } = await cachedMember();
    const expired = await signMemberToken(TEST_JWT_SECRET, { memberId, expiresIn: '-1m' });
    for (const headers of [{}, { 'if-none-match': etag }] as Record<string, string>[]) {
      const answer = await status(expired, { documentId: STATUS_ID }, headers);
      expect(answer.status).toBe(401);
      expect(answer.etag).toBeNull();
      expect(answer.body?.data).toBeUndefined();
    }
  });

  it('a member closed after the answer was stored is refused, by id, as text and with the tag; a suspension shows at once', async () => {
    const { memberId, token, etag } = await cachedMember();
    const supervisor = await app.staffToken('SUPERVISOR');
    await mutate(supervisor, 'updateMember', 'UpdateMemberInput', { id: memberId, status: 'SUSPENDED' });
    expect((await status(token)).body?.data?.me).toMatchObject({ name: 'Behind the cache', status: 'SUSPENDED' });
    await mutate(supervisor, 'updateMember', 'UpdateMemberInput', { id: memberId, status: 'CLOSED' });
    for (const [body, headers] of [
      [{ documentId: STATUS_ID }, {}],
      [{ query: STATUS }, {}],
      [{ documentId: STATUS_ID }, { 'if-none-match': etag }],
    ] as const) {
      const answer = await status(token, body, headers);
      expect(answer.status).toBe(401);
      expect(answer.body?.data).toBeUndefined();
    }
  });

  it('the same document as text, by id, under its operation name or none share no wrong answer; other whitespace is not cached', async () => {
    const { memberId, token } = await cachedMember();
    // The cached key (by id, no operation name, no variables) and the same answer by text: from the cache.
    expect((await status(token, { query: STATUS })).body?.data?.me).toMatchObject({ name: 'Before' });
    // The operation named: another key, answered afresh.
    expect((await status(token, { documentId: STATUS_ID, operationName: 'StatusScreen' })).body?.data?.me).toMatchObject({
      name: 'Behind the cache',
    });
    // The text with other whitespace is not the trusted document: never served from the cache nor stored.
    const spaced = STATUS.replace('query StatusScreen {', 'query  StatusScreen {');
    expect((await status(token, { query: spaced })).body?.data?.me).toMatchObject({ name: 'Behind the cache' });
    await prisma.member.update({ where: { id: memberId }, data: { name: 'Again' } });
    expect((await status(token, { query: spaced })).body?.data?.me).toMatchObject({ name: 'Again' });
  });
});

describe('changes the cached status must not outlive', () => {
  it("the member's own profile update", async () => {
    const { memberId, token } = await cachedMember();
    await mutate(token, 'updateMember', 'UpdateMemberInput', { id: memberId, locale: 'de' });
    expect((await status(token)).body?.data?.me).toMatchObject({ name: 'Behind the cache' });
  });

  it("an agent's goodwill voucher, then its void", async () => {
    const { memberId, token } = await cachedMember();
    const agent = await app.staffToken('AGENT');
    const goodwill = await app.gql(
      `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) { ... on IssueGoodwillPayload { gesture { status voucher { code } } } } }`,
      {
        i: {
          memberId,
          kind: 'VOUCHER',
          amountMoney: { amount: '5.00', currency: 'EUR' },
          reason: 'DELAYED_DELIVERY',
          note: 'sorry',
          idempotencyKey: 'g-1',
        },
      },
      agent,
    );
    expect(goodwill.errors).toBeUndefined();
    const code = (goodwill.data as { issueGoodwill: { gesture: { status: string; voucher: { code: string } } } }).issueGoodwill.gesture;
    expect(code.status).toBe('GRANTED');
    const shown = (await status(token)).body!.data!.me!;
    expect(shown.name).toBe('Behind the cache');
    expect(shown.vouchers.edges.map((edge: { node: { code: string } }) => edge.node.code)).toEqual([code.voucher.code]);
    await prisma.member.update({ where: { id: memberId }, data: { name: 'Behind the cache again' } });
    expect((await status(token)).body?.data?.me).toMatchObject({ name: 'Behind the cache' });
    await mutate(agent, 'voidVoucher', 'VoidVoucherInput', { code: code.voucher.code, reason: 'given in error', idempotencyKey: 'v-1' });
    const after = (await status(token)).body!.data!.me!;
    expect(after.name).toBe('Behind the cache again');
    expect(after.vouchers.edges).toEqual([]);
  });

  it('a cancelled order reversing the points it earned', async () => {
    const memberId = await app.enroll({ name: 'Shopper' });
    const token = await app.memberToken(memberId);
    const shop = await app.apiKeyToken(['points:earn']);
    const order = { reference: 'order-9', total: { amount: '40.00', currency: 'EUR' } };
    await mutate(shop, 'earnPoints', 'EarnPointsInput', { memberId, order, idempotencyKey: 'earn-9' });
    expect((await status(token)).body!.data!.me!.balance.pending).toBe(40);
    expect((await status(token)).body!.data!.me!.balance.pending).toBe(40);
    await mutate(shop, 'cancelOrder', 'CancelOrderInput', { memberId, orderReference: 'order-9', idempotencyKey: 'cancel-9' });
    const after = (await status(token)).body!.data!.me!;
    expect(after.balance.pending).toBe(0);
    expect(after.ledger.edges[0].node).toMatchObject({ kind: 'REVERSAL', amount: -40 });
  });
});
