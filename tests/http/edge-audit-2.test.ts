import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { generateApiKeyToken } from '../../src/auth/api-keys.js';
import { signMemberToken, signStaffToken } from '../../src/auth/tokens.js';
import { clientAddress } from '../../src/http/rate-limit.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestApp, TEST_JWT_SECRET, useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

/**
 * The HTTP edge, audit 2 (stop 50), through a real node:http server on the handler: failed authentications spend a
 * budget per client address; /graphql takes no form bodies (multipart uploads, form-urlencoded); the client address
 * is read from X-Forwarded-For behind TRUST_PROXY proxies only, never from `Forwarded`.
 */
const { prisma } = useTestApp();

const FAILURES = 3;
const metrics = createMetrics();
/** Behind one trusted proxy: the address is the X-Forwarded-For entry it wrote. Budgets shared through Redis. */
const app = createTestApp(prisma, {
  redis: true,
  metrics,
  env: { TRUST_PROXY: '1', RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS: String(FAILURES) },
});
afterAll(() => app.close());

/** An address no other test (nor an earlier run within the window: budgets live in Redis) uses. */
const freshAddress = () => `198.18.${randomInt(256)}.${randomInt(1, 255)}`;

/** One POST to /graphql through the real server, from `address` as the trusted proxy forwards it. */
async function post(body: string, headers: Record<string, string>, address = freshAddress()) {
  const response = await fetch(await app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

const TYPENAME = JSON.stringify({ query: '{ __typename }' });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const forged = () => signStaffToken(`another-secret-${randomBytes(16).toString('hex')}`, { staffId: 'x', role: 'ADMIN' });
const refusals = async (subject: string) =>
  (await metrics.rateLimitRefusals.get()).values.find((value) => value.labels.subject === subject)?.value ?? 0;

describe('failed authentications per client address (RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS)', () => {
  it('answers 401 up to the budget, then 429 with Retry-After to further bad credentials, and counts the refusal', async () => {
    const address = freshAddress();
    const before = await refusals('failed_authentication');
    const bad = [bearer(await forged()), bearer(`trk_${randomBytes(24).toString('hex')}`), { authorization: 'Basic eDp5' }];
    for (const headers of bad) expect((await post(TYPENAME, headers, address)).status).toBe(401);
    for (const headers of [bad[0]!, bad[1]!]) {
      const refused = await post(TYPENAME, headers, address);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(refused.text)).toMatchObject({ errors: [{ extensions: { code: 'RATE_LIMITED' } }] });
    }
    expect((await refusals('failed_authentication')) - before).toBe(2);
    // Another address has its own budget.
    expect((await post(TYPENAME, bad[0]!, freshAddress())).status).toBe(401);
  });

  it('still lets credentials this process verified already through from an address whose budget is spent (a shared NAT is not locked out)', async () => {
    const address = freshAddress();
    const admin = await app.staffToken('ADMIN');
    expect((await post(TYPENAME, bearer(admin), address)).status).toBe(200);
    const bad = bearer(await forged());
    for (let i = 0; i <= FAILURES; i += 1) await post(TYPENAME, bad, address);
    expect((await post(TYPENAME, bad, address)).status).toBe(429);
    const answer = await post(TYPENAME, bearer(admin), address);
    expect([answer.status, JSON.parse(answer.text)]).toEqual([200, { data: { __typename: 'Query' } }]);
    expect((await post(TYPENAME, {}, address)).status).toBe(200);
  });

  it('once the budget is spent, refuses unknown API keys with 429 without looking them up; a key verified before still works', async () => {
    const address = freshAddress();
    const storefront = bearer(await app.apiKeyToken(['members:read']));
    expect((await post(TYPENAME, storefront, address)).status).toBe(200);
    // Unknown keys of the right shape: each one costs an api_keys lookup while the budget lasts.
    const unknown = () => bearer(generateApiKeyToken().token);
    for (let i = 0; i < FAILURES; i += 1) expect((await post(TYPENAME, unknown(), address)).status).toBe(401);
    const { statements, result } = await statementsDuring(async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await post(TYPENAME, unknown(), address)).status);
      return statuses;
    });
    expect(result).toEqual([429, 429, 429]);
    expect(statements.filter((statement) => /api_keys/i.test(statement))).toEqual([]);
    expect((await post(TYPENAME, storefront, address)).status).toBe(200);
  });

  it('from an address whose budget is spent, verifies JWTs it has not seen (no lookup): a fresh sign-in gets in, an expired token is told 401 to refresh', async () => {
    const address = freshAddress();
    for (let i = 0; i < FAILURES; i += 1) expect((await post(TYPENAME, bearer(await forged()), address)).status).toBe(401);
    expect((await post(TYPENAME, bearer(await forged()), address)).status).toBe(429);
    // Tokens this process never verified: a staff member who just signed in, an app whose token ran out.
    const signedIn = bearer(await signStaffToken(TEST_JWT_SECRET, { staffId: `nat-${randomBytes(8).toString('hex')}`, role: 'AGENT' }));
    const expired = bearer(await signMemberToken(TEST_JWT_SECRET, { memberId: randomUUID(), expiresIn: '-1m' }));
    const { statements, result } = await statementsDuring(async () => {
      const fresh = await post(TYPENAME, signedIn, address);
      const stale = await post(TYPENAME, expired, address);
      return [fresh.status, JSON.parse(fresh.text), stale.status, JSON.parse(stale.text).errors?.[0]?.extensions?.code];
    });
    expect(result).toEqual([200, { data: { __typename: 'Query' } }, 401, 'UNAUTHENTICATED']);
    expect(statements).toEqual([]);
    // A guessed token is still verified, counted and refused; an unknown key is still refused unchecked.
    expect((await post(TYPENAME, bearer(await forged()), address)).status).toBe(429);
    expect((await post(TYPENAME, bearer(generateApiKeyToken().token), address)).status).toBe(429);
  });

  it('does not count expired tokens (signed by us: an app that has to refresh, not a guess)', async () => {
    const address = freshAddress();
    const expired = bearer(await signMemberToken(TEST_JWT_SECRET, { memberId: 'm-1', expiresIn: '-1m' }));
    for (let i = 0; i < FAILURES + 2; i += 1) expect((await post(TYPENAME, expired, address)).status).toBe(401);
  });

  it('ignores a Forwarded header: a client rotating `Forwarded: for=` spends one budget', async () => {
    const address = freshAddress();
    const bad = bearer(await forged());
    const statuses: number[] = [];
    for (let i = 0; i <= FAILURES; i += 1) {
      statuses.push((await post(TYPENAME, { ...bad, forwarded: `for=192.0.2.${i + 1}` }, address)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

describe('form bodies on /graphql', () => {
  const enroll = (externalId: string) =>
    JSON.stringify({
      query: 'mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename } }',
      variables: { i: { externalId, name: 'Form Member' } },
    });

  it('refuses a multipart upload with a file part with 415, and nothing runs', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const form = new FormData();
    form.set('operations', enroll('multipart-1'));
    form.set('map', JSON.stringify({ 0: ['variables.file'] }));
    form.set('file', new Blob(['%PDF-1.7 …'], { type: 'application/pdf' }), 'invoice.pdf');
    const response = await fetch(await app.url(), { method: 'POST', headers: bearer(storefront), body: form });
    expect(response.status).toBe(415);
    expect(await prisma.member.count({ where: { externalId: 'multipart-1' } })).toBe(0);
  });

  it('refuses form-urlencoded with 415, and nothing runs', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const parameters = JSON.parse(enroll('form-1')) as { query: string; variables: unknown };
    const body = new URLSearchParams({ query: parameters.query, variables: JSON.stringify(parameters.variables) });
    const response = await fetch(await app.url(), { method: 'POST', headers: bearer(storefront), body });
    expect(response.status).toBe(415);
    expect(await prisma.member.count({ where: { externalId: 'form-1' } })).toBe(0);
    // The same operation as JSON runs.
    expect(JSON.parse((await post(enroll('form-1'), bearer(storefront))).text)).toEqual({
      data: { enrollMember: { __typename: 'EnrollMemberPayload' } },
    });
  });
});

describe('the client address and the Forwarded header (RFC 7239)', () => {
  const socket = (remoteAddress: string) => ({ socket: { remoteAddress } }) as never;
  const request = (headers: Record<string, string>) => new Request('http://x/graphql', { headers });

  it('is never read from Forwarded, with or without trusted proxies', () => {
    const forwarded = { forwarded: 'for=192.0.2.60;proto=https, for="[2001:db8::1]"' };
    expect(clientAddress(request(forwarded), socket('10.0.0.1'), 0)).toBe('10.0.0.1');
    expect(clientAddress(request(forwarded), socket('10.0.0.1'), 1)).toBe('10.0.0.1');
    expect(clientAddress(request({ ...forwarded, 'x-forwarded-for': '198.51.100.7' }), socket('10.0.0.1'), 1)).toBe('198.51.100.7');
  });
});
