// No useTestApp(): a local JWKS server and the verifier; the HTTP test starts its own app with JWKS_URL set.
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { JWKS_COOLDOWN_MS, JWKS_FETCH_FAILURE_REASONS, type JwksFetchFailureReason } from '../../src/auth/jwks.js';
import { createJwtVerifier } from '../../src/auth/jwt.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { createTestApp } from '../support/app.js';
import { createTestPrisma } from '../support/db.js';
import { expectUnavailable, ISSUER, useJwksProvider, type JwksAnswer } from './jwks-provider.js';

/**
 * A failed fetch of the identity provider's key set (JWKS_URL) is visible to operators: one warn log line and one
 * increase of `treue_jwks_fetch_failures_total{reason}` per failed fetch — not per request refused during the 30 s
 * cooldown it starts (tests/auth/jwks-cooldown.test.ts) — with the reason class from a fixed set. The line names the
 * URL's origin, never its path or query, and never a token. The endpoint is a real HTTP server that answers 500, a
 * redirect, hangs, bad JSON, JSON that is no key set, or drops the connection.
 */

/** A secret in the JWKS URL's path and query (some providers put a tenant key there): never in a log line. */
const URL_SECRET = 'tenant-secret-4f1c9a';
const provider = useJwksProvider(`/${URL_SECRET}/.well-known/jwks.json?tenant=${URL_SECRET}`);

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

describe('a failed JWKS fetch: one warn line and one count, by reason', () => {
  const cases: [JwksAnswer, JwksFetchFailureReason][] = [
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
      const verify = createJwtVerifier(provider.jwtConfig(), {
        now: () => clock,
        logger,
        jwksFetchFailed: (failed) => metrics.jwksFetchFailures.inc({ reason: failed }),
        // jose's 5 s, shortened: the hanging endpoint's fetch times out sooner.
        jwksTimeoutMs: 300,
      });
      // Every series is there from the start, at 0.
      expect(await failures(metrics)).toEqual(only(reason, 0));
      provider.answer = answer;
      const k2 = await provider.tokenOf('k2');

      // Twenty at once share one fetch; twenty more one after another during its cooldown fetch nothing.
      await Promise.all(Array.from({ length: 20 }, () => expectUnavailable(verify(k2))));
      for (let i = 0; i < 20; i += 1) await expectUnavailable(verify(await provider.tokenOf('k2', `staff-${i}`)));
      expect(provider.requests).toBe(1);
      expect(await failures(metrics)).toEqual(only(reason, 1));
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatchObject({ reason, jwksOrigin: provider.origin });

      // The cooldown is over: one more fetch, failing the same way: one more count, one more line.
      clock += JWKS_COOLDOWN_MS;
      await Promise.all(Array.from({ length: 10 }, () => expectUnavailable(verify(k2))));
      expect(provider.requests).toBe(2);
      expect(await failures(metrics)).toEqual(only(reason, 2));
      expect(warnings()).toHaveLength(2);

      // No token, no path or query of the URL, in anything logged.
      const logged = lines.join('\n');
      expect(logged).not.toContain(k2.split('.')[1]);
      expect(logged).not.toContain(URL_SECRET);
      expect(logged).not.toContain('jwks.json');
      provider.releaseHanging();
    });
  }

  it('a successful fetch is neither counted nor logged', async () => {
    const metrics = createMetrics();
    const { logger, warnings } = capturingLogger();
    const verify = createJwtVerifier(provider.jwtConfig(), {
      logger,
      jwksFetchFailed: (reason) => metrics.jwksFetchFailures.inc({ reason }),
    });
    provider.serve('k1');
    await expect(verify(await provider.tokenOf('k1'))).resolves.toMatchObject({ staffId: 'staff-k1' });
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
    const app = createTestApp(prisma, { metrics, logger, env: { JWT_SECRET: '', JWKS_URL: provider.url, JWT_ISSUER: ISSUER } });
    try {
      provider.answer = 'error';
      const token = await provider.tokenOf('k2');
      const answers = await provider.unknownKeyRequests(app, token);
      for (const answer of answers) expect(answer.status).toBe(401);
      expect(provider.requests).toBe(1);

      const scraped = await metrics.registry.metrics();
      expect(scraped).toContain('treue_jwks_fetch_failures_total{reason="http_status"} 1\n');
      for (const other of ['timeout', 'network', 'invalid_body']) {
        expect(scraped).toContain(`treue_jwks_fetch_failures_total{reason="${other}"} 0\n`);
      }
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatchObject({ reason: 'http_status', jwksOrigin: provider.origin });
      const logged = lines.join('\n');
      expect(logged).not.toContain(token);
      expect(logged).not.toContain(token.split('.')[1]);
      expect(logged).not.toContain(URL_SECRET);
    } finally {
      await app.close();
    }
  });
});
