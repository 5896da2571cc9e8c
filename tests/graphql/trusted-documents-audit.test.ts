import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentId } from '../../src/graphql/trusted-documents.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { resetRedis, tableRowCounts, testRedisUrl } from '../support/db.js';

/**
 * Audit of trusted documents (TRUSTED_DOCUMENTS=members) and the request surface around them: every route a member
 * token could take to run a document of its own choosing — yoga, the response cache's shortcut, the direct
 * execution, GET and POST, ids in every spelling, batches, subscriptions — and what staff and API keys keep.
 * Requests go to a real node:http server of each handler (the fast paths, then yoga), as the API mounts them.
 */
const { prisma } = useTestApp();
const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
const LIVE = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /subscription StatusScreenLive\b/.test(text))!;
const STATUS_ID = documentId(STATUS);
const STATUS_HEX = STATUS_ID.slice('sha256:'.length);
/** A document of the member's own choosing: their e-mail, which the status screen does not show. */
const ARBITRARY = '{ me { email } }';

let redis: Redis;
/** TRUSTED_DOCUMENTS=members with the response cache (Redis). */
let strict: ReturnType<typeof createTestApp>;
/** The default (off) with the response cache. */
let open: ReturnType<typeof createTestApp>;
const urls = new Map<ReturnType<typeof createTestApp>, string>();

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  strict = createTestApp(prisma, { redis: true, env: { TRUSTED_DOCUMENTS: 'members' } });
  open = createTestApp(prisma, { redis: true });
  for (const app of [strict, open]) urls.set(app, await app.url());
});
afterAll(async () => {
  await strict.close();
  await open.close();
  await resetRedis(redis);
  redis.disconnect();
});

type App = ReturnType<typeof createTestApp>;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function post(app: App, body: unknown, token: string, headers: Record<string, string> = {}): Promise<Answer> {
  return answerOf(
    await fetch(urls.get(app)!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

async function get(app: App, params: Record<string, string>, token: string, headers: Record<string, string> = {}): Promise<Answer> {
  return answerOf(
    await fetch(`${urls.get(app)!}?${new URLSearchParams(params).toString()}`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
    }),
  );
}

async function member(app: App, name = 'Audited') {
  const memberId = await app.enroll({ name });
  return { memberId, token: await app.memberToken(memberId) };
}

const codeOf = (answer: Answer): unknown => answer.json?.errors?.[0]?.extensions?.code;

describe('a member token under TRUSTED_DOCUMENTS=members runs no document of its own choosing', () => {
  it('refuses an arbitrary query by POST and by GET, whether or not the status is cached', async () => {
    const { token } = await member(strict);
    for (let round = 0; round < 2; round++) {
      const byPost = await post(strict, { query: ARBITRARY }, token);
      const byGet = await get(strict, { query: ARBITRARY }, token);
      for (const answer of [byPost, byGet]) {
        expect(answer.status).toBe(400);
        expect(codeOf(answer)).toBe('TRUSTED_DOCUMENTS_ONLY');
        expect(answer.json.data).toBeUndefined();
      }
      // Cache the member's status answer for the second round.
      expect((await post(strict, { documentId: STATUS_ID }, token)).json.data.me.name).toBe('Audited');
    }
  });

  it.each([
    ['documentId', { documentId: STATUS_ID }],
    ["Apollo's hash", { extensions: { persistedQuery: { version: 1, sha256Hash: STATUS_HEX } } }],
    ["Apollo's hash with its prefix", { extensions: { persistedQuery: { version: 1, sha256Hash: STATUS_ID } } }],
  ])('refuses a query sent beside a trusted id (%s), also once that id is cached, as yoga does', async (_, id) => {
    const { token } = await member(strict);
    let etag = '';
    // First without anything cached, then with the member's status answer in the cache.
    for (let round = 0; round < 2; round++) {
      for (const answer of [
        await post(strict, { ...id, query: ARBITRARY }, token),
        await post(strict, { ...id, query: ARBITRARY }, token, { 'if-none-match': etag || '*' }),
        await get(
          strict,
          {
            query: ARBITRARY,
            ...('documentId' in id ? { documentId: id.documentId } : { extensions: JSON.stringify(id.extensions) }),
          },
          token,
        ),
      ]) {
        expect(answer.status, `round ${round}`).toBe(400);
        expect(answer.json.data).toBeUndefined();
        expect(answer.text).not.toContain('Audited');
      }
      const status = await post(strict, { documentId: STATUS_ID }, token);
      expect(status.json.data.me.name).toBe('Audited');
      etag = status.headers.get('etag')!;
    }
  });
});

describe('a query sent beside an id, under the default (off)', () => {
  it("runs the query, as yoga does, not the id's cached answer", async () => {
    const { memberId, token } = await member(open);
    const email = (await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).email;
    expect((await post(open, { documentId: STATUS_ID }, token)).json.data.me.name).toBe('Audited');
    const apollo = { persistedQuery: { version: 1, sha256Hash: STATUS_HEX } };
    const byPost = await post(open, { query: ARBITRARY, extensions: apollo }, token);
    const byGet = await get(open, { query: ARBITRARY, extensions: JSON.stringify(apollo) }, token);
    for (const answer of [byPost, byGet]) expect(answer.json).toEqual({ data: { me: { email } } });
  });
});

/** The same request to yoga alone (no shortcut, no direct execution): status and body. */
async function throughYogaAlone(app: App, init: RequestInit & { url?: string }): Promise<Answer> {
  return answerOf(await app.yoga.fetch(init.url ?? 'http://yoga/graphql', init));
}

const FEEDBACK = 'mutation($i: SubmitFeedbackInput!) { submitFeedback(input: $i) { __typename } }';

describe('every other route a member token could take', () => {
  it('a text beside an id gets what yoga answers, and tells nothing of whether the id exists', async () => {
    const { token } = await member(strict);
    await post(strict, { documentId: STATUS_ID }, token);
    const unknown = documentId('{ me { email } }');
    for (const [query, expected] of [
      [ARBITRARY, 'TRUSTED_DOCUMENTS_ONLY'],
      // The trusted text with a documentId beside it: yoga knows no such parameter beside a text.
      [STATUS, 'BAD_REQUEST'],
    ] as const) {
      const known = await post(strict, { query, documentId: STATUS_ID }, token);
      const other = await post(strict, { query, documentId: unknown }, token);
      const alone = await throughYogaAlone(strict, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, documentId: STATUS_ID }),
      });
      expect(codeOf(known)).toBe(expected);
      expect([known.status, known.json]).toEqual([alone.status, alone.json]);
      expect([other.status, other.json]).toEqual([known.status, known.json]);
    }
  });

  it('refuses a batch that hides an arbitrary query behind a trusted one; nothing runs', async () => {
    const { token } = await member(strict);
    const before = await tableRowCounts(prisma);
    const feedback = { query: FEEDBACK, variables: { i: { nps: 10, idempotencyKey: 'batched' } } };
    for (const batch of [
      [{ query: STATUS }, { query: ARBITRARY }],
      [{ documentId: STATUS_ID }, feedback],
      [{ query: STATUS }, feedback],
    ]) {
      const answer = await post(strict, batch, token);
      expect(answer.status).toBe(400);
      expect(answer.text).not.toContain('@example.com');
      expect(answer.text).not.toContain('SubmitFeedbackPayload');
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('refuses a mutation of its own, by the direct execution and by yoga alike, and writes nothing', async () => {
    const { token } = await member(strict);
    const before = await tableRowCounts(prisma);
    const directly = strict.directly();
    const sent = { query: FEEDBACK, variables: { i: { nps: 9, idempotencyKey: 'own' } } };
    for (let round = 0; round < 3; round++) {
      const answer = await post(strict, sent, token);
      expect(answer.status).toBe(400);
      expect(codeOf(answer)).toBe('TRUSTED_DOCUMENTS_ONLY');
    }
    expect(strict.directly()).toBe(directly);
    expect(await tableRowCounts(prisma)).toEqual(before);
    // Under the default the same member may (the refusal above is the setting's, not the mutation's).
    const allowed = await post(open, sent, await open.memberToken((await member(open)).memberId));
    expect(allowed.json.data.submitFeedback.__typename).toBe('SubmitFeedbackPayload');
  });

  it.each([
    ['upper-case hex', STATUS_ID.toUpperCase()],
    ['upper-case hex after the prefix', `sha256:${STATUS_HEX.toUpperCase()}`],
    ['a space around it', ` ${STATUS_ID} `],
    ['a newline after it', `${STATUS_ID}\n`],
    ['another algorithm', `sha1:${STATUS_HEX}`],
    ['a very long id', `sha256:${'a'.repeat(12_000)}`],
    ['an own property name', '__proto__'],
    ['an inherited property name', 'sha256:constructor'],
    ['an empty id', ''],
  ])('refuses an id that is not the exact id (%s) with a typed 400, by POST and GET', async (_, id) => {
    const { token } = await member(strict);
    const apollo = { persistedQuery: { version: 1, sha256Hash: id } };
    for (const answer of [
      await post(strict, { documentId: id }, token),
      await post(strict, { extensions: apollo }, token),
      await get(strict, { documentId: id }, token),
      await get(strict, { extensions: JSON.stringify(apollo) }, token),
    ]) {
      expect(answer.status).toBe(400);
      expect(['PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_ID_REQUIRED']).toContain(codeOf(answer));
      expect(answer.json.data).toBeUndefined();
      // The id is not echoed back.
      expect(answer.text.length).toBeLessThan(600);
    }
  });

  it('refuses an Apollo hash of another version, or not a string', async () => {
    const { token } = await member(strict);
    for (const persistedQuery of [
      { version: 2, sha256Hash: STATUS_HEX },
      { version: '1', sha256Hash: STATUS_HEX },
      { version: 1, sha256Hash: [STATUS_HEX] },
      { version: 1, sha256Hash: { toString: STATUS_HEX } },
    ]) {
      const answer = await post(strict, { extensions: { persistedQuery } }, token);
      expect(answer.status).toBe(400);
      expect(codeOf(answer)).toBe('PERSISTED_QUERY_ID_REQUIRED');
    }
  });

  it('runs the trusted document under no other operation name, the empty one included, also once it is cached', async () => {
    const { token } = await member(strict);
    const authorization = `Bearer ${token}`;
    for (let read = 0; read < 2; read++) await post(strict, { documentId: STATUS_ID }, token);
    for (const operationName of ['StatusScreenLive', 'Other', '']) {
      const byPost = await post(strict, { documentId: STATUS_ID, operationName }, token);
      const byPostAlone = await throughYogaAlone(strict, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ documentId: STATUS_ID, operationName }),
      });
      expect(byPost.json.data ?? null).toBeNull();
      expect(byPost.text).not.toContain('Audited');
      expect([byPost.status, byPost.json]).toEqual([byPostAlone.status, byPostAlone.json]);
      // yoga reads an empty operationName of a GET as none: the status, from the cache or not, as yoga answers it.
      const search = new URLSearchParams({ documentId: STATUS_ID, operationName }).toString();
      const byGet = await get(strict, { documentId: STATUS_ID, operationName }, token);
      const byGetAlone = await throughYogaAlone(strict, { url: `http://yoga/graphql?${search}`, headers: { authorization } });
      expect([byGet.status, byGet.json]).toEqual([byGetAlone.status, byGetAlone.json]);
      expect(byGet.json.data?.me?.name ?? null).toBe(operationName === '' ? 'Audited' : null);
    }
  });

  it('refuses a text that differs from the trusted one by a space or a comment', async () => {
    const { token } = await member(strict);
    for (const query of [`${STATUS} `, ` ${STATUS}`, `${STATUS}\n# mine`, STATUS.replace('query StatusScreen', 'query  StatusScreen')]) {
      const answer = await post(strict, { query }, token);
      expect(answer.status).toBe(400);
      expect(codeOf(answer)).toBe('TRUSTED_DOCUMENTS_ONLY');
    }
  });

  it.each([
    ['application/graphql', ARBITRARY],
    ['application/x-www-form-urlencoded', `query=${encodeURIComponent(ARBITRARY)}`],
  ])('refuses an arbitrary query sent as %s', async (contentType, body) => {
    const { token } = await member(strict);
    const answer = await answerOf(
      await fetch(urls.get(strict)!, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${token}` }, body }),
    );
    expect(answer.text).not.toContain('@example.com');
    if (answer.status !== 415) {
      expect(answer.status).toBe(400);
      expect(codeOf(answer)).toBe('TRUSTED_DOCUMENTS_ONLY');
    }
  });

  it('refuses an arbitrary subscription over SSE (POST and GET) and opens the trusted one', async () => {
    const { token } = await member(strict);
    const sse = { accept: 'text/event-stream' };
    const mine = 'subscription { memberStatusChanged { member { email } } }';
    for (const answer of [await post(strict, { query: mine }, token, sse), await get(strict, { query: mine }, token, sse)]) {
      expect(answer.status).toBe(400);
      expect(answer.text).toContain('TRUSTED_DOCUMENTS_ONLY');
    }
    const controller = new AbortController();
    const live = await fetch(urls.get(strict)!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...sse },
      body: JSON.stringify({ documentId: documentId(LIVE) }),
      signal: controller.signal,
    });
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toMatch(/^text\/event-stream/);
    controller.abort();
  });

  it('gives a trusted document the same checks of variables: NUL, wrong types and huge numbers change nothing', async () => {
    const { token } = await member(strict);
    expect((await post(strict, { documentId: STATUS_ID }, token)).status).toBe(200);
    const before = await tableRowCounts(prisma);
    const nul = await post(strict, { documentId: STATUS_ID, variables: { note: 'a\u0000b' } }, token);
    expect(nul.status).toBe(400);
    expect(codeOf(nul)).toBe('BAD_USER_INPUT');
    for (const variables of [{ first: 1e308 }, { first: '5' }, { first: [1, 2] }, { first: -(2 ** 53) }]) {
      const answer = await post(strict, { documentId: STATUS_ID, variables }, token);
      // Variables the document does not declare are not read (graphql-js): the status, whatever they hold.
      expect(answer.status).toBe(200);
      expect(answer.json.data.me.name).toBe('Audited');
    }
    const wrong = await post(strict, { documentId: STATUS_ID, variables: [1] }, token);
    expect(wrong.status).toBe(400);
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('staff and API keys under TRUSTED_DOCUMENTS=members', () => {
  it('still run any query and mutation, on the direct execution as through yoga', async () => {
    const { memberId } = await member(strict, 'Looked up');
    const query = 'query($id: ID!) { member(id: $id) { name } }';
    const directly = strict.directly();
    for (const token of [await strict.staffToken('AGENT'), await strict.apiKeyToken(['members:read'])]) {
      const byPost = await post(strict, { query, variables: { id: memberId } }, token);
      const byGet = await get(strict, { query, variables: JSON.stringify({ id: memberId }) }, token);
      for (const answer of [byPost, byGet]) expect(answer.json).toEqual({ data: { member: { name: 'Looked up' } } });
    }
    expect(strict.directly()).toBe(directly + 2);
  });
});

describe('the codes of a request refused before it runs (docs/errors.md)', () => {
  it('are TRUSTED_DOCUMENTS_ONLY, PERSISTED_QUERY_NOT_FOUND and PERSISTED_QUERY_ID_REQUIRED, HTTP 400, for every caller', async () => {
    const { token } = await member(strict);
    const staff = await strict.staffToken('AGENT');
    expect(codeOf(await post(strict, { query: ARBITRARY }, token))).toBe('TRUSTED_DOCUMENTS_ONLY');
    for (const caller of [token, staff]) {
      const unknown = await post(strict, { documentId: documentId('{ me { id } }') }, caller);
      const none = await post(strict, {}, caller);
      expect([unknown.status, codeOf(unknown)]).toEqual([400, 'PERSISTED_QUERY_NOT_FOUND']);
      expect([none.status, codeOf(none)]).toEqual([400, 'PERSISTED_QUERY_ID_REQUIRED']);
    }
  });
});
