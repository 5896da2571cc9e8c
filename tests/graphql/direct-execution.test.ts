import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentId } from '../../src/graphql/trusted-documents.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { ANSWERED_ACCEPTS } from '../support/accept.js';
import { createTestApp, useTestApp } from '../support/app.js';

/**
 * The direct execution (src/graphql/direct-execution.ts): an operation with credentials runs through the handler's
 * envelop without yoga's HTTP layer, and is answered with the status, headers and bytes yoga answers.
 * Each request goes to the test app's server (the paths before yoga, then yoga) and to a server of the same handler
 * that is yoga alone; `app.directly()` counts what the first path answered.
 */
const { prisma } = useTestApp();
const app = createTestApp(prisma);
/** Origins configured (every answer varies by Origin) and a small body limit. */
const strict = createTestApp(prisma, { env: { CORS_ORIGINS: 'https://shop.example', MAX_BODY_BYTES: '2048' } });
const off = createTestApp(prisma, { env: { GRAPHQL_DIRECT: 'false' } });
/** The members' response cache on (Redis), and origins configured. */
const cached = createTestApp(prisma, { redis: true });
const cachedCors = createTestApp(prisma, { redis: true, env: { CORS_ORIGINS: 'https://app.example' } });
const trustedOnly = createTestApp(prisma, { env: { TRUSTED_DOCUMENTS: 'members' } });

type TestApp = ReturnType<typeof createTestApp>;
const yogaServers: Server[] = [];
const urls = new Map<TestApp, { service: string; yoga: string }>();

beforeAll(async () => {
  for (const each of [app, strict, off, cached, cachedCors, trustedOnly]) {
    const yogaServer = createServer((req, res) => void each.yoga.handle(req, res));
    await new Promise<void>((resolve) => yogaServer.listen(0, '127.0.0.1', resolve));
    yogaServers.push(yogaServer);
    urls.set(each, { service: await each.url(), yoga: `http://127.0.0.1:${(yogaServer.address() as AddressInfo).port}/graphql` });
  }
});
afterAll(async () => {
  for (const yogaServer of yogaServers) await new Promise((resolve) => yogaServer.close(resolve));
  await app.close();
  await strict.close();
  await off.close();
  await cached.close();
  await cachedCors.close();
  await trustedOnly.close();
});

const STATUS = `query Status($id: ID!) { member(id: $id) { id name status tier { key name } balance { available pending lifetime }
  vouchers(first: 5, status: ISSUED) { edges { node { code } } } ledger(first: 3) { totalCount edges { node { kind amount } } } } }`;

interface Sent {
  body: string;
  headers?: Record<string, string>;
  authorization?: string;
}

/** Status, headers (without the date and what describes the connection) and body bytes of one request to `url`. */
async function seen(url: string, { body, headers = {}, authorization }: Sent) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...headers },
    body,
  });
  const kept = [...response.headers].filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name));
  return { status: response.status, headers: Object.fromEntries(kept), body: await response.text() };
}

/** The request answered by the service and by yoga alone: equal, and whether the service answered it directly. */
async function both(sent: Sent, to: TestApp = app) {
  const { service: viaService, yoga: viaYoga } = urls.get(to)!;
  const before = to.directly();
  const service = await seen(viaService, sent);
  const direct = to.directly() - before;
  const yoga = await seen(viaYoga, sent);
  expect(service).toEqual(yoga);
  const json = service.headers['content-type']?.includes('json') ? (JSON.parse(service.body) as any) : undefined;
  return { ...service, direct: direct === 1, json };
}

const json = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
  JSON.stringify({ query, ...(variables ? { variables } : {}), ...(operationName ? { operationName } : {}) });

/** A member and a key that may read members (the database is emptied before each test). */
async function setUp() {
  const memberId = await app.enroll({ name: 'Grace' });
  return { memberId, id: encodeGlobalID('Member', memberId), reader: `Bearer ${await app.apiKeyToken(['members:read'])}` };
}

describe('the direct execution', () => {
  it.each(ANSWERED_ACCEPTS)("answers an API key's query as yoga does (%s)", async (_, headers) => {
    const { id, reader } = await setUp();
    // Twice: the second run is compiled (src/graphql/compiled-execution.ts).
    for (let i = 0; i < 2; i++) {
      const answer = await both({ body: json(STATUS, { id }, 'Status'), headers, authorization: reader });
      expect(answer.direct).toBe(true);
      expect(answer.status).toBe(200);
      expect(answer.json.data.member).toMatchObject({ name: 'Grace', balance: { available: 0 } });
    }
  });

  it("answers a staff member's query, and errors, refusals and variables that do not coerce as yoga does", async () => {
    const { id, reader } = await setUp();
    const agent = `Bearer ${await app.staffToken('AGENT')}`;
    const staff = await both({ body: json(STATUS, { id }), authorization: agent });
    expect(staff).toMatchObject({ direct: true, status: 200 });
    expect(staff.json.data.member.name).toBe('Grace');

    const earnOnly = `Bearer ${await app.apiKeyToken(['points:earn'])}`;
    const refused = await both({ body: json(STATUS, { id }), authorization: earnOnly });
    expect(refused.direct).toBe(true);
    expect(refused.json.errors[0].extensions.code).toBe('FORBIDDEN');

    for (const [variables, accept] of [
      [{}, 'application/json'],
      [{ id: 5.5 }, 'application/graphql-response+json'],
    ] as const) {
      const bad = await both({ body: json(STATUS, variables), headers: { accept }, authorization: reader });
      expect(bad.direct).toBe(true);
      expect(bad.json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    const notFound = await both({
      body: json(STATUS, { id: encodeGlobalID('Member', '00000000-0000-4000-8000-000000000000') }),
      authorization: reader,
    });
    expect(notFound).toMatchObject({ direct: true, status: 200, json: { data: { member: null } } });
  });

  it('runs a mutation once, and answers its typed errors as yoga does', async () => {
    const { memberId, id } = await setUp();
    const earner = `Bearer ${await app.apiKeyToken(['points:earn', 'members:read'])}`;
    const earn = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
      ... on EarnPointsPayload { points member { id balance { pending } } } ... on Error { message } } }`;
    const input = { memberId: id, orderRef: 'direct-1', orderTotal: '40.00', idempotencyKey: 'direct-1' };
    const before = app.directly();
    const earned = await seen(urls.get(app)!.service, { body: json(earn, { input }), authorization: earner });
    expect(app.directly() - before).toBe(1);
    expect(JSON.parse(earned.body).data.earnPoints).toMatchObject({ __typename: 'EarnPointsPayload', points: 40 });
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(1);
    // The same key through yoga replays the answer: one entry still.
    expect((await seen(urls.get(app)!.yoga, { body: json(earn, { input }), authorization: earner })).body).toBe(earned.body);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(1);

    const nobody = { ...input, memberId: encodeGlobalID('Member', '00000000-0000-4000-8000-000000000000') };
    for (const key of ['direct-2', 'direct-3']) {
      const missing = await both({ body: json(earn, { input: { ...nobody, idempotencyKey: key, orderRef: key } }), authorization: earner });
      expect(missing.direct).toBe(true);
      expect(missing.json.data.earnPoints.__typename).toBe('NotFoundError');
    }
  });

  it('leaves to yoga what yoga decides before execution, and other callers', async () => {
    const { memberId, id, reader } = await setUp();
    const member = `Bearer ${await app.memberToken(memberId)}`;
    const status = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
    const cases: Sent[] = [
      // Anonymous callers, credentials that do not verify.
      { body: json('{ __typename }') },
      { body: json(STATUS, { id }), authorization: 'Bearer not-a-token' },
      // CORS, an Accept yoga alone negotiates, extensions (Apollo's persisted query too), a document id with a query,
      // an unknown document id.
      { body: json(STATUS, { id }), authorization: reader, headers: { origin: 'https://shop.example' } },
      { body: json(STATUS, { id }), authorization: reader, headers: { accept: 'text/event-stream' } },
      { body: JSON.stringify({ query: STATUS, variables: { id }, extensions: {} }), authorization: reader },
      {
        body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: documentId(status).slice(7) } } }),
        authorization: member,
      },
      { body: JSON.stringify({ documentId: documentId(status), query: status }), authorization: member },
      { body: JSON.stringify({ documentId: 'sha256:0000' }), authorization: member },
      // Parameters of the wrong type, documents that do not parse or validate, a subscription, no operation by that name.
      { body: JSON.stringify({ query: STATUS, variables: [id] }), authorization: reader },
      { body: JSON.stringify({ query: 5 }), authorization: reader },
      { body: json('{ member(id: '), authorization: reader },
      { body: json('{ nope }'), authorization: reader },
      // Deeper than armor allows (its limit throws in validation).
      {
        body: json(`query($id: ID!) { member(id: $id) { ${'ledger { edges { node { member { '.repeat(4)}id${' } } } }'.repeat(4)} } }`, {
          id,
        }),
        authorization: reader,
      },
      { body: json('subscription($id: ID!) { memberStatusChanged(memberId: $id) { id } }', { id }), authorization: reader },
      { body: json(STATUS, { id }, 'Other'), authorization: reader },
      // A body larger than the paths before yoga read.
      { body: json(STATUS, { id, pad: 'x'.repeat(20_000) }), authorization: reader },
    ];
    for (const sent of cases) {
      const answer = await both(sent);
      expect({ sent, direct: answer.direct }).toEqual({ sent, direct: false });
    }
  });

  it("answers a member's trusted document by id and as text, with the response cache's headers, as yoga does", async () => {
    const memberId = await cached.enroll({ name: 'Ada' });
    const member = `Bearer ${await cached.memberToken(memberId)}`;
    const status = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
    // The first read is a miss, answered here and stored; yoga alone then answers the same request from the cache.
    const byId = await both({ body: JSON.stringify({ documentId: documentId(status) }), authorization: member }, cached);
    expect(byId).toMatchObject({ direct: true, status: 200, json: { data: { me: { name: 'Ada' } } } });
    expect(byId.headers).toMatchObject({ etag: expect.any(String), 'cache-control': 'private, no-cache', vary: 'authorization' });
    // Another member's first read as text.
    const other = `Bearer ${await cached.memberToken(await cached.enroll({ name: 'Bea' }))}`;
    const asText = await both({ body: json(status), authorization: other }, cached);
    expect(asText).toMatchObject({ direct: true, status: 200, json: { data: { me: { name: 'Bea' } } } });
    // With origins configured, both Vary headers, in yoga's order.
    const withCors = `Bearer ${await cachedCors.memberToken(await cachedCors.enroll({ name: 'Cy' }))}`;
    const varied = await both({ body: JSON.stringify({ documentId: documentId(status) }), authorization: withCors }, cachedCors);
    expect(varied).toMatchObject({ direct: true, status: 200 });
    expect(varied.headers.vary).toMatch(/Origin/);
    // The repeated read is the shortcut's hit: the same headers again.
    const hit = await seen(urls.get(cachedCors)!.service, {
      body: JSON.stringify({ documentId: documentId(status) }),
      authorization: withCors,
    });
    expect(hit.headers).toEqual(varied.headers);
  });

  it('leaves to yoga what a member may not send under TRUSTED_DOCUMENTS=members, and answers what they may', async () => {
    const memberId = await trustedOnly.enroll({ name: 'Ada' });
    const member = `Bearer ${await trustedOnly.memberToken(memberId)}`;
    const status = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
    const arbitrary = await both({ body: json('{ me { name } }'), authorization: member }, trustedOnly);
    expect(arbitrary).toMatchObject({ direct: false, status: 400, json: { errors: [{ extensions: { code: 'TRUSTED_DOCUMENTS_ONLY' } }] } });
    for (const body of [JSON.stringify({ documentId: documentId(status) }), json(status)]) {
      expect(await both({ body, authorization: member }, trustedOnly)).toMatchObject({ direct: true, status: 200 });
    }
    // A mutation sent by GET is yoga's to refuse, whoever sends it.
    const reader = `Bearer ${await trustedOnly.apiKeyToken(['points:earn'])}`;
    const before = trustedOnly.directly();
    const url = `${urls.get(trustedOnly)!.service}?query=${encodeURIComponent('mutation { __typename }')}`;
    const viaGet = await fetch(url, { headers: { authorization: reader } });
    expect(viaGet.status).toBe(405);
    expect(trustedOnly.directly()).toBe(before);
  });

  it("keeps the service's CORS Vary and its body limit", async () => {
    const memberId = await strict.enroll({ name: 'Grace' });
    const reader = `Bearer ${await strict.apiKeyToken(['members:read'])}`;
    const id = encodeGlobalID('Member', memberId);
    const small = await both({ body: json(STATUS, { id }), authorization: reader }, strict);
    expect(small).toMatchObject({ direct: true, status: 200, headers: { vary: 'Origin' } });
    // Below the 16 KiB read before yoga, above MAX_BODY_BYTES: yoga's 413.
    const large = await both({ body: json(STATUS, { id, pad: 'x'.repeat(3_000) }), authorization: reader }, strict);
    expect(large).toMatchObject({ direct: false, status: 413 });
  });

  it('is off with GRAPHQL_DIRECT=false', async () => {
    const memberId = await off.enroll({ name: 'Grace' });
    const reader = `Bearer ${await off.apiKeyToken(['members:read'])}`;
    const answer = await both({ body: json(STATUS, { id: encodeGlobalID('Member', memberId) }), authorization: reader }, off);
    expect(answer).toMatchObject({ direct: false, status: 200, json: { data: { member: { name: 'Grace' } } } });
  });
});
