// No useTestApp(): a local JWKS server and the verifier; the one HTTP test starts its own app with JWKS_URL set.
import { randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/env.js';
import { generateApiKeyToken } from '../../src/auth/api-keys.js';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { AuthenticationError, createJwtVerifier } from '../../src/auth/jwt.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestApp } from '../support/app.js';
import { createTestPrisma } from '../support/db.js';

/**
 * The identity provider's JWKS endpoint failing (down, 500): jose counts only a successful fetch for its cooldown, so
 * before, every token naming a key the cached set lacks fetched the set again — a flood of such tokens hammered the
 * provider, and each request waited for its fetch. A failed fetch now starts the cooldown too (src/auth/jwks.ts):
 * until it ends such tokens are refused at once, keys in the cache keep verifying, and then one fetch is tried again.
 * The clock is the verifier's (`now`); the endpoint is a real HTTP server that counts its requests.
 */

const COOLDOWN_MS = 30_000;
const LIFETIMES = { staff: 12 * 3_600, member: 24 * 3_600 };
const ISSUER = 'https://id.example';

type Answer = 'keys' | 'error' | 'close';

/** A JWKS endpoint on 127.0.0.1: answers with `keys`, a 500, or by closing the connection; counts every request. */
interface JwksEndpoint {
  url: string;
  requests: number;
  answer: Answer;
  keys: JWK[];
}

let server: Server;
const endpoint: JwksEndpoint = { url: '', requests: 0, answer: 'keys', keys: [] };
const signers = new Map<string, CryptoKey>();
const jwks = new Map<string, JWK>();

beforeAll(async () => {
  for (const kid of ['k1', 'k2']) {
    const pair = await generateKeyPair('ES256');
    signers.set(kid, pair.privateKey);
    jwks.set(kid, { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' });
  }
  server = createServer((req, res) => {
    endpoint.requests += 1;
    if (endpoint.answer === 'close') {
      req.socket.destroy();
      return;
    }
    if (endpoint.answer === 'error') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('identity provider unavailable');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: endpoint.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  endpoint.requests = 0;
  endpoint.answer = 'keys';
  endpoint.keys = [];
});

const serve = (...kids: string[]) => {
  endpoint.answer = 'keys';
  endpoint.keys = kids.map((kid) => jwks.get(kid)!);
};

/** A staff token signed with the key `kid` (valid for an hour, so that the moved clocks below keep it valid). */
const tokenOf = (kid: string, staffId = `staff-${kid}`) =>
  new SignJWT({ role: 'ADMIN' })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setSubject(staffId)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(signers.get(kid)!);

const jwtConfig = (): Config['jwt'] => ({
  secret: undefined,
  jwksUrl: endpoint.url,
  issuer: ISSUER,
  audience: undefined,
  maxLifetimeSeconds: LIFETIMES,
});

/** The refusal every request sees while the key set is out of reach: the usual 401 message, reason ERR_JWKS_FETCH. */
async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => new Error('expected the token to be refused'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).message).toBe('invalid or expired token');
  expect((error as AuthenticationError).reason).toBe('ERR_JWKS_FETCH');
}

describe('JWKS endpoint failing: one fetch per cooldown', () => {
  it('refuses tokens at once after a failed fetch (500), concurrent and one after another, and fetches again once the cooldown is over', async () => {
    let clock = Date.now();
    const verify = createJwtVerifier(jwtConfig(), { now: () => clock });
    endpoint.answer = 'error';
    const k2 = await tokenOf('k2');

    // Twenty at once: one fetch, shared.
    await Promise.all(Array.from({ length: 20 }, () => expectUnavailable(verify(k2))));
    expect(endpoint.requests).toBe(1);
    // Then one after another, up to the last millisecond of the cooldown: refused without a fetch.
    for (let i = 0; i < 20; i += 1) {
      await expectUnavailable(verify(await tokenOf('k2', `staff-${i}`)));
    }
    clock += COOLDOWN_MS - 1;
    await expectUnavailable(verify(k2));
    expect(endpoint.requests).toBe(1);

    // The cooldown is over: one fetch again (twenty requests at once share it), which fails too: a new cooldown.
    clock += 1;
    await Promise.all(Array.from({ length: 20 }, () => expectUnavailable(verify(k2))));
    expect(endpoint.requests).toBe(2);

    // The provider is back, but this cooldown is not over: still refused, nothing fetched.
    serve('k1', 'k2');
    await expectUnavailable(verify(k2));
    expect(endpoint.requests).toBe(2);

    // After it, one fetch finds the key; the next token of either key verifies from the cache.
    clock += COOLDOWN_MS;
    await expect(verify(k2)).resolves.toEqual({ kind: 'staff', staffId: 'staff-k2', role: 'ADMIN' });
    await expect(verify(await tokenOf('k1'))).resolves.toEqual({ kind: 'staff', staffId: 'staff-k1', role: 'ADMIN' });
    expect(endpoint.requests).toBe(3);
  });

  it('keeps verifying cached keys while a token of an unknown key is refused without a fetch (connection closed)', async () => {
    let clock = Date.now();
    const verify = createJwtVerifier(jwtConfig(), { now: () => clock });
    serve('k1');
    const k1 = await tokenOf('k1');
    await expect(verify(k1)).resolves.toMatchObject({ staffId: 'staff-k1' });
    expect(endpoint.requests).toBe(1);

    // Past the cooldown after that fetch, the provider drops connections: a token of k2 makes one fetch, which fails.
    clock += COOLDOWN_MS;
    endpoint.answer = 'close';
    const k2 = await tokenOf('k2');
    await expectUnavailable(verify(k2));
    expect(endpoint.requests).toBe(2);

    // During the cooldown after that failure: k1 verifies from the cache, k2 is refused at once, concurrent or not.
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, async (_, i) => (i % 3 === 0 ? verify(await tokenOf('k1', `staff-${i}`)) : verify(k2))),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10);
    for (const result of results) {
      if (result.status === 'rejected') await expectUnavailable(Promise.reject(result.reason));
    }
    for (let i = 0; i < 10; i += 1) await expectUnavailable(verify(k2));
    expect(endpoint.requests).toBe(2);

    // The provider is back with k2, and the cooldown over: one fetch, and k2 verifies.
    serve('k1', 'k2');
    clock += COOLDOWN_MS;
    await Promise.all(
      Array.from({ length: 10 }, async () => expect(verify(k2)).resolves.toEqual({ kind: 'staff', staffId: 'staff-k2', role: 'ADMIN' })),
    );
    expect(endpoint.requests).toBe(3);
  });

  it('a key set older than ten minutes is fetched again; when that fails, its keys are refused too, one fetch per cooldown', async () => {
    let clock = Date.now();
    const verify = createJwtVerifier(jwtConfig(), { now: () => clock });
    serve('k1');
    await expect(verify(await tokenOf('k1'))).resolves.toMatchObject({ staffId: 'staff-k1' });
    expect(endpoint.requests).toBe(1);

    // jose's cacheMaxAge (10 min): the set is no longer trusted without asking the provider, which answers 500.
    clock += 10 * 60_000;
    endpoint.answer = 'error';
    await Promise.all(Array.from({ length: 10 }, async (_, i) => expectUnavailable(verify(await tokenOf('k1', `staff-${i}`)))));
    await expectUnavailable(verify(await tokenOf('k1', 'staff-later')));
    expect(endpoint.requests).toBe(2);

    clock += COOLDOWN_MS;
    serve('k1');
    await expect(verify(await tokenOf('k1', 'staff-back'))).resolves.toMatchObject({ staffId: 'staff-back' });
    expect(endpoint.requests).toBe(3);
  });

  it('through the authenticator: bearer tokens of an unknown key while the endpoint fails make one fetch', async () => {
    let clock = Date.now();
    // The authenticator's own prisma is never reached for staff tokens.
    const prisma = createTestPrisma(1);
    try {
      const authenticate = createAuthenticator({ prisma, jwt: jwtConfig(), now: () => clock });
      endpoint.answer = 'error';
      const header = `Bearer ${await tokenOf('k2')}`;
      await Promise.all(Array.from({ length: 10 }, () => expectUnavailable(authenticate(header))));
      for (let i = 0; i < 10; i += 1) await expectUnavailable(authenticate(`Bearer ${await tokenOf('k2', `staff-${i}`)}`));
      expect(endpoint.requests).toBe(1);

      serve('k2');
      clock += COOLDOWN_MS;
      await expect(authenticate(header)).resolves.toEqual({ kind: 'staff', staffId: 'staff-k2', role: 'ADMIN' });
      expect(endpoint.requests).toBe(2);
    } finally {
      await prisma.$disconnect();
    }
  });
});

describe('JWKS endpoint failing, over HTTP', () => {
  const prisma = createTestPrisma(2);
  afterAll(async () => prisma.$disconnect());

  it('answers 401 with the usual error to every request with a token of an unknown key, with one fetch for all of them', async () => {
    const app = createTestApp(prisma, { env: { JWT_SECRET: '', JWKS_URL: endpoint.url, JWT_ISSUER: ISSUER } });
    try {
      endpoint.answer = 'error';
      const token = await tokenOf('k2');
      const answers = await Promise.all(Array.from({ length: 20 }, () => app.request('{ __typename }', {}, { token })));
      for (let i = 0; i < 10; i += 1) answers.push(await app.request('{ __typename }', {}, { token: await tokenOf('k2', `staff-${i}`) }));
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
        expect(answer.body.errors?.[0]).toMatchObject({ message: 'invalid or expired token', extensions: { code: 'UNAUTHENTICATED' } });
      }
      expect(endpoint.requests).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('refusals during the cooldown do not spend the address’s budget of failed authentications', async () => {
    const BUDGET = 3;
    const metrics = createMetrics();
    // Budgets in Redis, as between API processes; an address no earlier run used within the window.
    const app = createTestApp(prisma, {
      redis: true,
      metrics,
      env: { JWT_SECRET: '', JWKS_URL: endpoint.url, JWT_ISSUER: ISSUER, RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS: String(BUDGET) },
    });
    const address = `198.18.${randomInt(256)}.${randomInt(1, 255)}`;
    const refused = async () =>
      (await metrics.rateLimitRefusals.get()).values.find((value) => value.labels.subject === 'failed_authentication')?.value;
    try {
      endpoint.answer = 'error';
      // Four times the budget of tokens the provider's key set would be needed for: each a 401, none a 429.
      const token = await tokenOf('k2');
      const answers = await Promise.all(Array.from({ length: 2 * BUDGET }, () => app.request('{ __typename }', {}, { token, address })));
      for (let i = 0; i < 2 * BUDGET; i += 1) {
        answers.push(await app.request('{ __typename }', {}, { token: await tokenOf('k2', `staff-${i}`), address }));
      }
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 4 * BUDGET }, () => 401));
      expect(endpoint.requests).toBe(1);
      expect(await refused()).toBe(0);

      // A storefront key this process has never verified is looked up only while the address has budget left: it is.
      const storefront = await app.apiKeyToken(['members:read']);
      const answer = await app.request('{ __typename }', {}, { token: storefront, address });
      expect([answer.status, answer.body]).toEqual([200, { data: { __typename: 'Query' } }]);

      // The whole budget is still there for credentials nobody issued: BUDGET 401s, then 429.
      for (let i = 0; i < BUDGET; i += 1) {
        expect((await app.request('{ __typename }', {}, { token: generateApiKeyToken().token, address })).status).toBe(401);
      }
      expect((await app.request('{ __typename }', {}, { token: generateApiKeyToken().token, address })).status).toBe(429);
      expect(await refused()).toBe(1);
    } finally {
      await app.close();
    }
  });
});
