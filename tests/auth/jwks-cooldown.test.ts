// No useTestApp(): a local JWKS server and the verifier; the one HTTP test starts its own app with JWKS_URL set.
import { afterAll, describe, expect, it } from 'vitest';
import { generateApiKeyToken } from '../../src/auth/api-keys.js';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { JWKS_COOLDOWN_MS } from '../../src/auth/jwks.js';
import { createJwtVerifier } from '../../src/auth/jwt.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestApp } from '../support/app.js';
import { createTestPrisma } from '../support/db.js';
import { expectUnavailable, ISSUER, useJwksProvider } from './jwks-provider.js';

/**
 * The identity provider's JWKS endpoint failing (down, 500): jose counts only a successful fetch for its cooldown, so
 * before, every token naming a key the cached set lacks fetched the set again — a flood of such tokens hammered the
 * provider, and each request waited for its fetch. A failed fetch now starts the cooldown too (src/auth/jwks.ts):
 * until it ends such tokens are refused at once, keys in the cache keep verifying, and then one fetch is tried again.
 * The clock is the verifier's (`now`); the endpoint is a real HTTP server that counts its requests.
 */

const provider = useJwksProvider();

describe('JWKS endpoint failing: one fetch per cooldown', () => {
  it('refuses tokens at once after a failed fetch (500), concurrent and one after another, and fetches again once the cooldown is over', async () => {
    let clock = Date.now();
    const verify = createJwtVerifier(provider.jwtConfig(), { now: () => clock });
    provider.answer = 'error';
    const k2 = await provider.tokenOf('k2');

    // Twenty at once: one fetch, shared.
    await Promise.all(Array.from({ length: 20 }, () => expectUnavailable(verify(k2))));
    expect(provider.requests).toBe(1);
    // Then one after another, up to the last millisecond of the cooldown: refused without a fetch.
    for (let i = 0; i < 20; i += 1) {
      await expectUnavailable(verify(await provider.tokenOf('k2', `staff-${i}`)));
    }
    clock += JWKS_COOLDOWN_MS - 1;
    await expectUnavailable(verify(k2));
    expect(provider.requests).toBe(1);

    // The cooldown is over: one fetch again (twenty requests at once share it), which fails too: a new cooldown.
    clock += 1;
    await Promise.all(Array.from({ length: 20 }, () => expectUnavailable(verify(k2))));
    expect(provider.requests).toBe(2);

    // The provider is back, but this cooldown is not over: still refused, nothing fetched.
    provider.serve('k1', 'k2');
    await expectUnavailable(verify(k2));
    expect(provider.requests).toBe(2);

    // After it, one fetch finds the key; the next token of either key verifies from the cache.
    clock += JWKS_COOLDOWN_MS;
    await expect(verify(k2)).resolves.toEqual({ kind: 'staff', staffId: 'staff-k2', role: 'ADMIN' });
    await expect(verify(await provider.tokenOf('k1'))).resolves.toEqual({ kind: 'staff', staffId: 'staff-k1', role: 'ADMIN' });
    expect(provider.requests).toBe(3);
  });

  it('keeps verifying cached keys while a token of an unknown key is refused without a fetch (connection closed)', async () => {
    let clock = Date.now();
    const verify = createJwtVerifier(provider.jwtConfig(), { now: () => clock });
    provider.serve('k1');
    const k1 = await provider.tokenOf('k1');
    await expect(verify(k1)).resolves.toMatchObject({ staffId: 'staff-k1' });
    expect(provider.requests).toBe(1);

    // Past the cooldown after that fetch, the provider drops connections: a token of k2 makes one fetch, which fails.
    clock += JWKS_COOLDOWN_MS;
    provider.answer = 'close';
    const k2 = await provider.tokenOf('k2');
    await expectUnavailable(verify(k2));
    expect(provider.requests).toBe(2);

    // During the cooldown after that failure: k1 verifies from the cache, k2 is refused at once, concurrent or not.
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, async (_, i) => (i % 3 === 0 ? verify(await provider.tokenOf('k1', `staff-${i}`)) : verify(k2))),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10);
    for (const result of results) {
      if (result.status === 'rejected') await expectUnavailable(Promise.reject(result.reason));
    }
    for (let i = 0; i < 10; i += 1) await expectUnavailable(verify(k2));
    expect(provider.requests).toBe(2);

    // The provider is back with k2, and the cooldown over: one fetch, and k2 verifies.
    provider.serve('k1', 'k2');
    clock += JWKS_COOLDOWN_MS;
    await Promise.all(
      Array.from({ length: 10 }, async () => expect(verify(k2)).resolves.toEqual({ kind: 'staff', staffId: 'staff-k2', role: 'ADMIN' })),
    );
    expect(provider.requests).toBe(3);
  });

  it('a key set older than ten minutes is fetched again; when that fails, its keys are refused too, one fetch per cooldown', async () => {
    let clock = Date.now();
    const verify = createJwtVerifier(provider.jwtConfig(), { now: () => clock });
    provider.serve('k1');
    await expect(verify(await provider.tokenOf('k1'))).resolves.toMatchObject({ staffId: 'staff-k1' });
    expect(provider.requests).toBe(1);

    // jose's cacheMaxAge (10 min): the set is no longer trusted without asking the provider, which answers 500.
    clock += 10 * 60_000;
    provider.answer = 'error';
    await Promise.all(Array.from({ length: 10 }, async (_, i) => expectUnavailable(verify(await provider.tokenOf('k1', `staff-${i}`)))));
    await expectUnavailable(verify(await provider.tokenOf('k1', 'staff-later')));
    expect(provider.requests).toBe(2);

    clock += JWKS_COOLDOWN_MS;
    provider.serve('k1');
    await expect(verify(await provider.tokenOf('k1', 'staff-back'))).resolves.toMatchObject({ staffId: 'staff-back' });
    expect(provider.requests).toBe(3);
  });

  it('through the authenticator: bearer tokens of an unknown key while the endpoint fails make one fetch', async () => {
    let clock = Date.now();
    // The authenticator's own prisma is never reached for staff tokens.
    const prisma = createTestPrisma(1);
    try {
      const authenticate = createAuthenticator({ prisma, jwt: provider.jwtConfig(), now: () => clock });
      provider.answer = 'error';
      const header = `Bearer ${await provider.tokenOf('k2')}`;
      await Promise.all(Array.from({ length: 10 }, () => expectUnavailable(authenticate(header))));
      for (let i = 0; i < 10; i += 1) await expectUnavailable(authenticate(`Bearer ${await provider.tokenOf('k2', `staff-${i}`)}`));
      expect(provider.requests).toBe(1);

      provider.serve('k2');
      clock += JWKS_COOLDOWN_MS;
      await expect(authenticate(header)).resolves.toEqual({ kind: 'staff', staffId: 'staff-k2', role: 'ADMIN' });
      expect(provider.requests).toBe(2);
    } finally {
      await prisma.$disconnect();
    }
  });
});

describe('JWKS endpoint failing, over HTTP', () => {
  const prisma = createTestPrisma(2);
  afterAll(async () => prisma.$disconnect());

  it('answers 401 with the usual error to every request with a token of an unknown key, with one fetch for all of them', async () => {
    const app = createTestApp(prisma, { env: { JWT_SECRET: '', JWKS_URL: provider.url, JWT_ISSUER: ISSUER } });
    try {
      provider.answer = 'error';
      const token = await provider.tokenOf('k2');
      const answers = await provider.unknownKeyRequests(app, token);
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
        expect(answer.body.errors?.[0]).toMatchObject({ message: 'invalid or expired token', extensions: { code: 'UNAUTHENTICATED' } });
      }
      expect(provider.requests).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('refusals during the cooldown do not spend the address’s budget of failed authentications', async () => {
    const BUDGET = 3;
    const metrics = createMetrics();
    // Budgets in Redis, as between API processes, under this run's and worker's prefix (testQueuePrefix).
    const app = createTestApp(prisma, {
      redis: true,
      metrics,
      env: { JWT_SECRET: '', JWKS_URL: provider.url, JWT_ISSUER: ISSUER, RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS: String(BUDGET) },
    });
    // An address of the benchmarking range (RFC 2544) that no other test sends from.
    const address = '198.18.53.157';
    const refused = async () =>
      (await metrics.rateLimitRefusals.get()).values.find((value) => value.labels.subject === 'failed_authentication')?.value;
    try {
      provider.answer = 'error';
      // Four times the budget of tokens the provider's key set would be needed for: each a 401, none a 429.
      const token = await provider.tokenOf('k2');
      const answers = await Promise.all(Array.from({ length: 2 * BUDGET }, () => app.request('{ __typename }', {}, { token, address })));
      for (let i = 0; i < 2 * BUDGET; i += 1) {
        answers.push(await app.request('{ __typename }', {}, { token: await provider.tokenOf('k2', `staff-${i}`), address }));
      }
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 4 * BUDGET }, () => 401));
      expect(provider.requests).toBe(1);
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
