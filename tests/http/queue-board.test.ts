import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type Api } from '../../src/app.js';
import { CALLER_KINDS, HTTP_PERMISSIONS } from '../../src/auth/permission-matrix.js';
import { loadConfig } from '../../src/config/env.js';
import {
  BOARD_QUEUES,
  QUEUE_BOARD_COOKIE,
  QUEUE_BOARD_SESSION_SECONDS,
  queueBoardSessionKey,
  signQueueBoardSession,
} from '../../src/http/queue-board.js';
import { MAINTENANCE_QUEUE } from '../../workers/maintenance.processor.js';
import { outboxProcessors } from '../../workers/registry.js';
import { TEST_JWT_SECRET, testLogger, useTestApp } from '../support/app.js';
import { launchChromium } from '../support/chromium.js';
import { STOREFRONT_SCOPES } from '../support/callers.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';

/** The queue dashboard over a real port, on this worker's Redis and queue prefix. */
const { prisma, app } = useTestApp();
const env = {
  NODE_ENV: 'test',
  PORT: '0',
  HOST: '127.0.0.1',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'silent',
  QUEUE_PREFIX: testQueuePrefix(),
};
let api: Api;
let redis: Redis;
let base: string;

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  api = await startApi({ config: loadConfig(env), logger: testLogger, prisma, redisUrl: testRedisUrl() });
  base = api.url.replace('/graphql', '');
});
afterAll(async () => {
  await api.close();
  await resetRedis(redis);
  redis.disconnect();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers, redirect: 'manual' });
const cookieOf = (response: Response) => response.headers.get('set-cookie')?.split(';')[0] ?? '';

describe('queue board /admin/queues', () => {
  it('answers 401 without credentials and with credentials that do not verify', async () => {
    for (const path of ['/admin/queues', '/admin/queues/', '/admin/queues/api/queues']) {
      const response = await get(path);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await get('/admin/queues', bearer('not-a-token'))).status).toBe(401);
    expect((await get('/admin/queues', { authorization: 'Basic YWRtaW46YWRtaW4=' })).status).toBe(401);
    expect((await get('/admin/queues', bearer(await app.staffToken('ADMIN').then((t) => `${t}x`)))).status).toBe(401);
  });

  it('answers every kind of caller as the permission matrix says (docs/permissions.md, HTTP paths)', async () => {
    const member = await app.enroll();
    const row = HTTP_PERMISSIONS['/admin/queues']!;
    for (const kind of CALLER_KINDS) {
      const token =
        kind === 'anonymous'
          ? undefined
          : kind === 'memberSelf' || kind === 'memberOther'
            ? await app.memberToken(member)
            : kind === 'AGENT' || kind === 'SUPERVISOR' || kind === 'ADMIN'
              ? await app.staffToken(kind)
              : await app.apiKeyToken([kind]);
      const response = await get('/admin/queues', token ? bearer(token) : {});
      const expected = row.access[kind] === 'allow' ? 200 : kind === 'anonymous' ? 401 : 403;
      expect({ kind, status: response.status }).toEqual({ kind, status: expected });
    }
  });

  it('answers 403 to every caller that is not an admin: agents, supervisors, storefront keys, members', async () => {
    const member = await app.enroll();
    const callers = [
      await app.staffToken('AGENT'),
      await app.staffToken('SUPERVISOR'),
      await app.apiKeyToken([...STOREFRONT_SCOPES, 'contracts:write']),
      await app.memberToken(member),
    ];
    for (const token of callers) {
      expect((await get('/admin/queues', bearer(token))).status).toBe(403);
      expect((await get('/admin/queues/api/queues', bearer(token))).status).toBe(403);
      expect((await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: bearer(token) })).status).toBe(403);
    }
  });

  it('shows the board (HTML) to an admin staff token and to an admin-scoped API key', async () => {
    for (const token of [await app.staffToken('ADMIN'), await app.apiKeyToken(['admin'])]) {
      const response = await get('/admin/queues', bearer(token));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await response.text();
      expect(html).toContain('<base href="/admin/queues/" />');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  it('lists every queue the workers consume, each read-only, under the service queue prefix', async () => {
    const response = await get('/admin/queues/api/queues', bearer(await app.staffToken('ADMIN')));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[] };
    const names = body.queues.map((queue) => queue.name).sort();
    expect(names).toEqual([...Object.keys(outboxProcessors), MAINTENANCE_QUEUE].sort());
    expect(names).toEqual([...BOARD_QUEUES].sort());
    for (const queue of body.queues) expect(queue, queue.name).toMatchObject({ readOnlyMode: true, allowRetries: false });
  });

  it('refuses every change: retry, clean, remove, pause, add answer 405 and the job is untouched', async () => {
    const queue = new Queue('compensation', { connection: redis, prefix: testQueuePrefix() });
    try {
      const job = await queue.add('compensation', { failureId: 'f-1' }, { jobId: 'board-test-job' });
      const admin = bearer(await app.staffToken('ADMIN'));
      const attempts: [string, string][] = [
        ['PUT', `/admin/queues/api/queues/compensation/${job.id}/retry`],
        ['PUT', `/admin/queues/api/queues/compensation/${job.id}/clean`],
        ['PUT', '/admin/queues/api/queues/compensation/retry/failed'],
        ['PUT', '/admin/queues/api/queues/compensation/clean/wait'],
        ['PUT', '/admin/queues/api/queues/compensation/empty'],
        ['PUT', '/admin/queues/api/queues/compensation/obliterate'],
        ['PUT', '/admin/queues/api/queues/compensation/pause'],
        ['PUT', '/admin/queues/api/queues/pause'],
        ['POST', '/admin/queues/api/queues/compensation/add'],
        ['PATCH', `/admin/queues/api/queues/compensation/${job.id}/update-data`],
        ['DELETE', `/admin/queues/api/queues/compensation/${job.id}`],
      ];
      for (const [method, path] of attempts) {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { ...admin, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x', data: { failureId: 'forged' } }),
        });
        expect(response.status, `${method} ${path}`).toBe(405);
      }
      const after = await queue.getJob(job.id!);
      expect(after?.data).toEqual({ failureId: 'f-1' });
      expect(await after?.getState()).toBe('waiting');
      expect(await queue.isPaused()).toBe(false);
      expect(await queue.getJobCounts('wait')).toEqual({ wait: 1 });
      // The board itself still shows the job.
      const shown = await get(`/admin/queues/api/queues/compensation/${job.id}`, admin);
      expect(shown.status).toBe(200);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('POST /admin/queues/session gives a browser a short HttpOnly cookie that opens the board alone', async () => {
    const started = await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: bearer(await app.staffToken('ADMIN')) });
    expect(started.status).toBe(204);
    const setCookie = started.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^${QUEUE_BOARD_COOKIE}=`));
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/admin/queues');
    expect(setCookie).toContain(`Max-Age=${QUEUE_BOARD_SESSION_SECONDS}`);
    // Outside production (http://localhost) the cookie is not Secure; in production it is (below).
    expect(setCookie).not.toContain('Secure');
    const cookie = { cookie: cookieOf(started) };
    const page = await get('/admin/queues', cookie);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    // The page's own scripts load with the cookie too (the browser sends it under Path=/admin/queues).
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(await page.text())![1]!;
    expect((await get(`/admin/queues/${script}`, cookie)).status).toBe(200);
    expect((await get(`/admin/queues/${script}`)).status).toBe(401);
    const list = await get('/admin/queues/api/queues', cookie);
    expect(list.status).toBe(200);
    // A cookie does not allow changes either.
    expect((await fetch(`${base}/admin/queues/api/queues/pause`, { method: 'PUT', headers: cookie })).status).toBe(405);
    // The session token is not an API token.
    const token = cookieOf(started).slice(QUEUE_BOARD_COOKIE.length + 1);
    const graphql = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ apiKeys(first: 1) { edges { cursor } } }' }),
    });
    expect(graphql.status).toBe(401);
  });

  it('starts a session only from the Authorization header, by POST', async () => {
    expect((await fetch(`${base}/admin/queues/session`, { method: 'POST' })).status).toBe(401);
    const started = await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: bearer(await app.staffToken('ADMIN')) });
    // A cookie cannot renew itself: the header is needed every 15 minutes.
    expect((await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: { cookie: cookieOf(started) } })).status).toBe(401);
    expect((await get('/admin/queues/session', bearer(await app.staffToken('ADMIN')))).status).toBe(405);
  });

  it('DELETE /admin/queues/session clears the cookie with the attributes it was set with, without credentials, as often as asked', async () => {
    const started = await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: bearer(await app.staffToken('ADMIN')) });
    const attributes = (setCookie: string) =>
      setCookie
        .split('; ')
        .slice(1)
        .filter((part) => !part.startsWith('Max-Age='));
    const cookie = { cookie: cookieOf(started) };
    expect((await get('/admin/queues', cookie)).status).toBe(200);
    // With the cookie, with none, with credentials that do not verify: the same answer each time.
    for (const headers of [cookie, {}, cookie, bearer('not-a-token')]) {
      const ended = await fetch(`${base}/admin/queues/session`, { method: 'DELETE', headers });
      expect(ended.status).toBe(204);
      const cleared = ended.headers.get('set-cookie') ?? '';
      expect(cleared).toMatch(new RegExp(`^${QUEUE_BOARD_COOKIE}=;`));
      expect(cleared).toContain('Max-Age=0');
      expect(attributes(cleared)).toEqual(attributes(started.headers.get('set-cookie') ?? ''));
      expect(ended.headers.get('x-frame-options')).toBe('DENY');
    }
    // What the browser sends once it dropped the cookie: no session.
    expect((await get('/admin/queues', { cookie: `${QUEUE_BOARD_COOKIE}=` })).status).toBe(401);
  });

  it('another site cannot make a browser end the session: the CORS preflight a DELETE needs is never granted', async () => {
    const preflight = await fetch(`${base}/admin/queues/session`, {
      method: 'OPTIONS',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'DELETE' },
    });
    expect(preflight.status).toBe(405);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
    expect(preflight.headers.get('allow')).toBe('POST, DELETE');
  });

  it('refuses an expired, forged or foreign cookie with 401', async () => {
    const key = queueBoardSessionKey(TEST_JWT_SECRET);
    const admin = { actor: { type: 'STAFF' as const, id: 'staff-admin' }, role: 'ADMIN' as const };
    const fresh = await signQueueBoardSession(key, admin, Date.now());
    expect((await get('/admin/queues', { cookie: `${QUEUE_BOARD_COOKIE}=${fresh}` })).status).toBe(200);
    const expired = await signQueueBoardSession(key, admin, Date.now() - (QUEUE_BOARD_SESSION_SECONDS + 5) * 1000);
    expect((await get('/admin/queues', { cookie: `${QUEUE_BOARD_COOKIE}=${expired}` })).status).toBe(401);
    const otherKey = await signQueueBoardSession(queueBoardSessionKey(`${TEST_JWT_SECRET}-other`), admin, Date.now());
    expect((await get('/admin/queues', { cookie: `${QUEUE_BOARD_COOKIE}=${otherKey}` })).status).toBe(401);
    // An admin API token is not a session.
    const staffJwt = await app.staffToken('ADMIN');
    expect((await get('/admin/queues', { cookie: `${QUEUE_BOARD_COOKIE}=${staffJwt}` })).status).toBe(401);
    expect((await get('/admin/queues', { cookie: `${QUEUE_BOARD_COOKIE}=garbage` })).status).toBe(401);
  });

  it('refuses an admin API key once revoked (the same authenticator and caches as /graphql)', async () => {
    const token = await app.apiKeyToken(['admin']);
    expect((await get('/admin/queues', bearer(token))).status).toBe(200);
    const key = await prisma.apiKey.findFirstOrThrow({ orderBy: { createdAt: 'desc' } });
    // Revoked through the API, as an admin does: the authenticator's cache drops the key at once.
    const revoked = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { ...bearer(await app.staffToken('ADMIN')), 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'mutation ($id: ID!) { revokeApiKey(input: { id: $id }) { __typename } }',
        variables: { id: key.id },
      }),
    });
    expect(((await revoked.json()) as { data: unknown }).data).toEqual({ revokeApiKey: { __typename: 'RevokeApiKeyPayload' } });
    expect((await get('/admin/queues', bearer(token))).status).toBe(401);
  });

  it("ends a key's browser session with the key: revoked, the very next request with the cookie is refused", async () => {
    const token = await app.apiKeyToken(['admin']);
    const started = await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: bearer(token) });
    expect(started.status).toBe(204);
    const cookie = { cookie: cookieOf(started) };
    expect((await get('/admin/queues/api/queues', cookie)).status).toBe(200);
    const key = await prisma.apiKey.findFirstOrThrow({ orderBy: { createdAt: 'desc' } });
    const revoked = await app.gql(
      'mutation ($id: ID!) { revokeApiKey(input: { id: $id }) { __typename } }',
      { id: key.id },
      await app.staffToken('ADMIN'),
    );
    expect(revoked.data).toEqual({ revokeApiKey: { __typename: 'RevokeApiKeyPayload' } });
    expect((await get('/admin/queues/api/queues', cookie)).status).toBe(401);
    expect((await get('/admin/queues', cookie)).status).toBe(401);
  });

  it("refuses a key's session once the key no longer has the admin scope", async () => {
    const token = await app.apiKeyToken(['admin']);
    const started = await fetch(`${base}/admin/queues/session`, { method: 'POST', headers: bearer(token) });
    const cookie = { cookie: cookieOf(started) };
    expect((await get('/admin/queues', cookie)).status).toBe(200);
    // Not something the API offers (scopes are fixed at creation): the database is the source either way.
    await prisma.apiKey.updateMany({ where: { revokedAt: null, scopes: { has: 'admin' } }, data: { scopes: ['members:read'] } });
    expect((await get('/admin/queues', cookie)).status).toBe(403);
  });
});

describe('queue board in production', () => {
  it('marks the session cookie Secure, and the cookie that clears it', async () => {
    const production = await startApi({
      config: loadConfig({ ...env, NODE_ENV: 'production' }),
      logger: testLogger,
      prisma,
      redisUrl: testRedisUrl(),
    });
    try {
      const url = production.url.replace('/graphql', '/admin/queues/session');
      const response = await fetch(url, { method: 'POST', headers: bearer(await app.staffToken('ADMIN')) });
      expect(response.status).toBe(204);
      expect(response.headers.get('set-cookie')).toMatch(/; Secure(;|$)/);
      const ended = await fetch(url, { method: 'DELETE' });
      expect(ended.status).toBe(204);
      expect(ended.headers.get('set-cookie')).toMatch(/; Secure(;|$)/);
    } finally {
      await production.close();
    }
  });
});

describe('queue board in Chromium', () => {
  it('renders the queues from the service alone: nothing is fetched from another origin (its Google Fonts link is blocked)', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ extraHTTPHeaders: bearer(await app.staffToken('ADMIN')) });
      const page = await context.newPage();
      // Answered requests: one the policy blocks is still announced as a request, but never gets an answer.
      const answered: string[] = [];
      page.on('response', (response) => void answered.push(response.url()));
      const refusedScripts: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' && /script/i.test(message.text())) refusedScripts.push(message.text());
      });
      const html = await page.goto(`${base}/admin/queues`);
      expect(html?.headers()['content-security-policy']).toContain("style-src 'self' 'unsafe-inline'");
      // The board's own scripts ran: its React app lists the queues by name.
      await page.getByText('compensation', { exact: true }).first().waitFor({ timeout: 20_000 });
      expect(refusedScripts).toEqual([]);
      expect(answered.filter((url) => !url.startsWith(`${base}/`))).toEqual([]);
      expect(answered.filter((url) => url.includes('/static/js/')).length).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  });
});
