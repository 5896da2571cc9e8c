// No useTestApp(): a local JWKS server and the verifier; the HTTP test starts its own app with JWKS_URL set.
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JWKS_COOLDOWN_MS, JWKS_FETCH_FAILURE_REASONS, type JwksFetchFailureReason } from '../../src/auth/jwks.js';
import { AuthenticationError, createJwtVerifier } from '../../src/auth/jwt.js';
import type { Config } from '../../src/config/env.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { createTestApp } from '../support/app.js';
import { createTestPrisma } from '../support/db.js';

/**
 * A failed fetch of the identity provider's key set (JWKS_URL) is visible to operators: one warn log line and one
 * increase of `treue_jwks_fetch_failures_total{reason}` per failed fetch — not per request refused during the 30 s
 * cooldown it starts (tests/auth/jwks-cooldown.test.ts) — with the reason class from a fixed set. The line names the
 * URL's origin, never its path or query, and never a token. The endpoint is a real HTTP server that answers 500, a
 * redirect, hangs, bad JSON, JSON that is no key set, or drops the connection.
 */

const LIFETIMES = { staff: 12 * 3_600, member: 24 * 3_600 };
const ISSUER = 'https://id.example';
/** A secret in the JWKS URL's path and query (some providers put a tenant key there): never in a log line. */
const URL_SECRET = 'tenant-secret-4f1c9a';

type Answer = 'keys' | 'error' | 'redirect' | 'hang' | 'bad-json' | 'not-a-key-set' | 'close';

let server: Server;
let origin = '';
let jwksUrl = '';
const endpoint = { requests: 0, answer: 'keys' as Answer, keys: [] as JWK[] };
const hanging: ServerResponse[] = [];
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
    switch (endpoint.answer) {
      case 'close':
        req.socket.destroy();
        return;
      case 'hang':
        hanging.push(res);
        return;
      case 'error':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('identity provider unavailable');
        return;
      case 'redirect':
        res.writeHead(302, { location: 'https://elsewhere.example/jwks.json' }).end();
        return;
      case 'bad-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [ {');
        return;
      case 'not-a-key-set':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'maintenance' }));
        return;
      case 'keys':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: endpoint.keys }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  jwksUrl = `${origin}/${URL_SECRET}/.well-known/jwks.json?tenant=${URL_SECRET}`;
});

afterAll(async () => {
  for (const res of hanging.splice(0)) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  endpoint.requests = 0;
  endpoint.answer = 'keys';
  endpoint.keys = [];
});

/** A staff token signed with the key `kid`, valid for an hour. */
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
  jwksUrl,
  issuer: ISSUER,
  audience: undefined,
  maxLifetimeSeconds: LIFETIMES,
});

/** A pino logger (every level) that keeps its lines, as written. */
function capturingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  const warnings = () =>
    lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.level === pino.levels.values.warn);
  return { logger, lines, warnings };
}

/** The counter's value per reason. */
async function failures(metrics: Metrics): Promise<Record<JwksFetchFailureReason, number>> {
  const { values } = await metrics.jwksFetchFailures.get();
  return Object.fromEntries(
    JWKS_FETCH_FAILURE_REASONS.map((reason) => [reason, values.find((value) => value.labels.reason === reason)?.value]),
  ) as Record<JwksFetchFailureReason, number>;
}

const only = (reason: JwksFetchFailureReason, count: number) =>
  Object.fromEntries(JWKS_FETCH_FAILURE_REASONS.map((each) => [each, each === reason ? count : 0]));

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => new Error('expected the token to be refused'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).reason).toBe('ERR_JWKS_FETCH');
}

describe('a failed JWKS fetch: one warn line and one count, by reason', () => {
  const cases: [Answer, JwksFetchFailureReason][] = [
    ['error', 'http_status'],
    ['redirect', 'http_status'],
    ['hang', 'timeout'],
    ['bad-json', 'invalid_body'],
    ['not-a-key-set', 'invalid_body'],
    ['close', 'network'],
  ];
  for (const [answer, reason] of cases) {
    it(`${answer}: reason ${reason}, once per fetch however many requests the cooldown refuses`, async () => {
      const metrics = createMetrics();
      const { logger, lines, warnings } = capturingLogger();
      let clock = Date.now();
      const verify = createJwtVerifier(jwtConfig(), {
        now: () => clock,
        logger,
        jwksFetchFailed: (failed) => metrics.jwksFetchFailures.inc({ reason: failed }),
        // jose's 5 s, shortened: the hanging endpoint's fetch times out sooner.
        jwksTimeoutMs: 300,
      });
      // Every series is there from the start, at 0.
      expect(await failures(metrics)).toEqual(only(reason, 0));
      endpoint.answer = answer;
      const k2 = await tokenOf('k2');

      // Twenty at once share one fetch; twenty more one after another during its cooldown fetch nothing.
      await Promise.all(Array.from({ length: 20 }, () => expectUnavailable(verify(k2))));
      for (let i = 0; i < 20; i += 1) await expectUnavailable(verify(await tokenOf('k2', `staff-${i}`)));
      expect(endpoint.requests).toBe(1);
      expect(await failures(metrics)).toEqual(only(reason, 1));
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatchObject({ reason, jwksOrigin: origin });

      // The cooldown is over: one more fetch, failing the same way: one more count, one more line.
      clock += JWKS_COOLDOWN_MS;
      await Promise.all(Array.from({ length: 10 }, () => expectUnavailable(verify(k2))));
      expect(endpoint.requests).toBe(2);
      expect(await failures(metrics)).toEqual(only(reason, 2));
      expect(warnings()).toHaveLength(2);

      // No token, no path or query of the URL, in anything logged.
      const logged = lines.join('\n');
      expect(logged).not.toContain(k2.split('.')[1]);
      expect(logged).not.toContain(URL_SECRET);
      expect(logged).not.toContain('jwks.json');
      for (const res of hanging.splice(0)) res.destroy();
    });
  }

  it('a successful fetch is neither counted nor logged', async () => {
    const metrics = createMetrics();
    const { logger, warnings } = capturingLogger();
    const verify = createJwtVerifier(jwtConfig(), { logger, jwksFetchFailed: (reason) => metrics.jwksFetchFailures.inc({ reason }) });
    endpoint.answer = 'keys';
    endpoint.keys = [jwks.get('k1')!];
    await expect(verify(await tokenOf('k1'))).resolves.toMatchObject({ staffId: 'staff-k1' });
    expect(Object.values(await failures(metrics))).toEqual([0, 0, 0, 0]);
    expect(warnings()).toEqual([]);
  });
});

describe('a failed JWKS fetch, over HTTP', () => {
  const prisma = createTestPrisma(2);
  afterAll(async () => prisma.$disconnect());

  it('the API process counts it in /metrics and logs it once, without the token, for every request it refuses', async () => {
    const metrics = createMetrics();
    const { logger, lines, warnings } = capturingLogger();
    const app = createTestApp(prisma, { metrics, logger, env: { JWT_SECRET: '', JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER } });
    try {
      endpoint.answer = 'error';
      const token = await tokenOf('k2');
      const answers = await Promise.all(Array.from({ length: 20 }, () => app.request('{ __typename }', {}, { token })));
      for (let i = 0; i < 10; i += 1) answers.push(await app.request('{ __typename }', {}, { token: await tokenOf('k2', `staff-${i}`) }));
      for (const answer of answers) expect(answer.status).toBe(401);
      expect(endpoint.requests).toBe(1);

      const scraped = await metrics.registry.metrics();
      expect(scraped).toContain('treue_jwks_fetch_failures_total{reason="http_status"} 1\n');
      for (const other of ['timeout', 'network', 'invalid_body']) {
        expect(scraped).toContain(`treue_jwks_fetch_failures_total{reason="${other}"} 0\n`);
      }
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatchObject({ reason: 'http_status', jwksOrigin: origin });
      const logged = lines.join('\n');
      expect(logged).not.toContain(token);
      expect(logged).not.toContain(token.split('.')[1]);
      expect(logged).not.toContain(URL_SECRET);
    } finally {
      await app.close();
    }
  });
});
