import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type Api } from '../../src/app.js';
import { signStaffToken } from '../../src/auth/tokens.js';
import {
  QUEUE_BOARD_COOKIE,
  QUEUE_BOARD_SESSION_SECONDS,
  queueBoardSessionKey,
  signQueueBoardSession,
} from '../../src/http/queue-board.js';
import { TEST_JWT_SECRET, testApiConfig, testLogger, useTestApp } from '../support/app.js';
import { testQueuePrefix, testRedisUrl } from '../support/db.js';

/**
 * The queue board (/admin/queues) spends and respects the budget of failed authentications per client address
 * (RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS), the same budget as /graphql: one per address for both paths, spent by
 * bad credentials in the header and by session cookies that hold no session. Behind
 * one trusted proxy, over a real port, budgets in this worker's Redis.
 */
const { prisma, app } = useTestApp();

const FAILURES = 3;
let api: Api;
let base: string;

beforeAll(async () => {
  const config = testApiConfig({
    TRUST_PROXY: '1',
    RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS: String(FAILURES),
    QUEUE_PREFIX: testQueuePrefix(),
  });
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
  base = api.url.replace('/graphql', '');
});
afterAll(() => api.close());

/** An address no other test (nor an earlier run within the window: budgets live in Redis) uses. */
const freshAddress = () => `198.18.${randomInt(256)}.${randomInt(1, 255)}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const forged = () => signStaffToken(`another-secret-${randomBytes(16).toString('hex')}`, { staffId: 'x', role: 'ADMIN' });

/** One request to the board from `address`, as the trusted proxy forwards it. */
const board = (address: string, headers: Record<string, string>, path = '/admin/queues/api/queues', method = 'GET') =>
  fetch(`${base}${path}`, { method, headers: { 'x-forwarded-for': address, ...headers }, redirect: 'manual' });
const graphql = (address: string, headers: Record<string, string>) =>
  fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...headers },
    body: JSON.stringify({ query: '{ __typename }' }),
  });

describe('queue board: failed authentications per client address', () => {
  it('answers 401 up to the budget, then a plain 429 with Retry-After; credentials verified before still get in', async () => {
    const address = freshAddress();
    const admin = bearer(await app.staffToken('ADMIN'));
    expect((await board(address, admin)).status).toBe(200);
    for (let i = 0; i < FAILURES; i += 1) expect((await board(address, bearer(await forged()))).status).toBe(401);
    const refused = await board(address, bearer(await forged()));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(refused.headers.get('cache-control')).toBe('no-store');
    // Starting a session with a guess is refused too.
    expect((await board(address, bearer(await forged()), '/admin/queues/session', 'POST')).status).toBe(429);
    // An admin key this process never verified is refused unchecked; the token verified before gets in.
    expect((await board(address, bearer(await app.apiKeyToken(['admin'])))).status).toBe(429);
    expect((await board(address, admin)).status).toBe(200);
    // Another address has its own budget.
    expect((await board(freshAddress(), bearer(await forged()))).status).toBe(401);
  });

  it('shares one budget per address with /graphql, both ways', async () => {
    const spentOnGraphql = freshAddress();
    for (let i = 0; i < FAILURES; i += 1) expect((await graphql(spentOnGraphql, bearer(await forged()))).status).toBe(401);
    expect((await board(spentOnGraphql, bearer(await forged()))).status).toBe(429);

    const spentOnBoard = freshAddress();
    for (let i = 0; i < FAILURES; i += 1) expect((await board(spentOnBoard, bearer(await forged()))).status).toBe(401);
    expect((await graphql(spentOnBoard, bearer(await forged()))).status).toBe(429);
  });

  it('counts a forged or expired session cookie against the same budget; beyond it a plain 429, while a valid session still opens the board', async () => {
    const admin = { actor: { type: 'STAFF' as const, id: `board-admin-${randomInt(1_000_000)}` }, role: 'ADMIN' as const };
    const session = (token: string) => ({ cookie: `${QUEUE_BOARD_COOKIE}=${token}` });
    const valid = session(await signQueueBoardSession(queueBoardSessionKey(TEST_JWT_SECRET), admin, Date.now()));
    const guessed = async () =>
      session(await signQueueBoardSession(queueBoardSessionKey(`guess-${randomBytes(16).toString('hex')}`), admin, Date.now()));
    const expired = session(
      await signQueueBoardSession(queueBoardSessionKey(TEST_JWT_SECRET), admin, Date.now() - (QUEUE_BOARD_SESSION_SECONDS + 5) * 1000),
    );

    const address = freshAddress();
    const statuses: number[] = [];
    for (const cookie of [await guessed(), expired, session('garbage')]) statuses.push((await board(address, cookie)).status);
    expect(statuses).toEqual([401, 401, 401]);
    const refused = await board(address, await guessed());
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await board(address, expired)).status).toBe(429);
    // One budget with /graphql: a guessed token there is refused too.
    expect((await graphql(address, bearer(await forged()))).status).toBe(429);
    // A session the service issued still opens the board: verifying it costs no lookup.
    expect((await board(address, valid)).status).toBe(200);

    // And the other way round: an address that spent its budget on /graphql is refused a guessed cookie.
    const spentOnGraphql = freshAddress();
    for (let i = 0; i < FAILURES; i += 1) expect((await graphql(spentOnGraphql, bearer(await forged()))).status).toBe(401);
    expect((await board(spentOnGraphql, await guessed())).status).toBe(429);
  });

  it('clears a cookie that holds no session with its 401, and with the 429 beyond the budget, so a reloading tab stops spending it', async () => {
    const staff = { actor: { type: 'STAFF' as const, id: `board-admin-${randomInt(1_000_000)}` }, role: 'ADMIN' as const };
    const session = (token: string) => ({ cookie: `${QUEUE_BOARD_COOKIE}=${token}` });
    const forgedCookie = session(
      await signQueueBoardSession(queueBoardSessionKey(`guess-${randomBytes(16).toString('hex')}`), staff, Date.now()),
    );
    // A key's session whose key is not there (revoked keys answer the same): ERR_BOARD_SESSION_KEY.
    const goneKey = { actor: { type: 'API_KEY' as const, id: randomUUID() }, role: 'ADMIN' as const };
    const keyGoneCookie = session(await signQueueBoardSession(queueBoardSessionKey(TEST_JWT_SECRET), goneKey, Date.now()));
    // The cookie the console's sign-out sends: the same name and attributes, emptied.
    const clearing = (await board(freshAddress(), {}, '/admin/queues/session', 'DELETE')).headers.get('set-cookie');
    expect(clearing).toMatch(new RegExp(`^${QUEUE_BOARD_COOKIE}=; Path=/admin/queues; Max-Age=0; HttpOnly; SameSite=Strict`));

    const address = freshAddress();
    const forgedAnswer = await board(address, forgedCookie);
    expect(forgedAnswer.status).toBe(401);
    expect(forgedAnswer.headers.get('set-cookie')).toBe(clearing);
    const keyGoneAnswer = await board(address, keyGoneCookie, '/admin/queues');
    expect(keyGoneAnswer.status).toBe(401);
    expect(keyGoneAnswer.headers.get('set-cookie')).toBe(clearing);
    expect((await board(address, session('garbage'))).headers.get('set-cookie')).toBe(clearing);
    const refused = await board(address, forgedCookie);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('set-cookie')).toBe(clearing);

    // Bad credentials in the header leave a cookie alone (the header wins; the cookie was never read).
    const headerAnswer = await board(freshAddress(), { ...bearer(await forged()), ...forgedCookie });
    expect(headerAnswer.status).toBe(401);
    expect(headerAnswer.headers.get('set-cookie')).toBeNull();
  });
});
