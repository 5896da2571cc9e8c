import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { AuthenticationError } from '../../src/auth/jwt.js';
import type { Config } from '../../src/config/env.js';
import type { createTestApp } from '../support/app.js';

type TestApp = Pick<ReturnType<typeof createTestApp>, 'request'>;
type TestResponse = Awaited<ReturnType<TestApp['request']>>;

/** How the provider's JWKS endpoint answers the next fetch. */
export type JwksAnswer = 'keys' | 'error' | 'redirect' | 'hang' | 'bad-json' | 'not-a-key-set' | 'close';

export const ISSUER = 'https://id.example';
const LIFETIMES = { staff: 12 * 3_600, member: 24 * 3_600 };

/** An identity provider on 127.0.0.1 for the file's tests (`useJwksProvider`). */
export interface JwksProvider {
  /** The key set's URL: `path` on the provider's origin. */
  readonly url: string;
  /** Its scheme, host and port. */
  readonly origin: string;
  /** Fetches of the key set since the test began. */
  readonly requests: number;
  /** How the next fetch is answered (each test begins with `keys`, none served). */
  answer: JwksAnswer;
  /** Serves the keys `kids` (of k1, k2) from now on. */
  serve(...kids: string[]): void;
  /** A staff token signed with the key `kid`, valid for an hour (so that a moved clock keeps it valid). */
  tokenOf(kid: string, staffId?: string): Promise<string>;
  /** The JWT settings that verify against this provider (JWKS_URL, its issuer). */
  jwtConfig(): Config['jwt'];
  /** Ends the fetches left hanging (`hang`) now. */
  releaseHanging(): void;
  /**
   * 30 requests to `app` with tokens of a key the provider's set lacks (k2 unless served): 20 at once with `token`,
   * then 10 one after another, each with a token of its own. Their answers, in that order.
   */
  unknownKeyRequests(app: TestApp, token: string): Promise<TestResponse[]>;
}

/**
 * A real HTTP server as the identity provider's JWKS endpoint, started before the file's tests and stopped after them:
 * two ES256 keys (k1, k2), and each fetch answered as `answer` says — the key set, a 500, a redirect, no answer, a body
 * that is not JSON, JSON that is no key set, or the connection dropped — and counted.
 */
export function useJwksProvider(path = '/.well-known/jwks.json'): JwksProvider {
  let server: Server | undefined;
  let origin = '';
  let requests = 0;
  let answer: JwksAnswer = 'keys';
  let keys: JWK[] = [];
  const hanging: ServerResponse[] = [];
  const signers = new Map<string, CryptoKey>();
  const published = new Map<string, JWK>();

  beforeAll(async () => {
    for (const kid of ['k1', 'k2']) {
      const pair = await generateKeyPair('ES256');
      signers.set(kid, pair.privateKey);
      published.set(kid, { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' });
    }
    server = createServer((req, res) => {
      requests += 1;
      switch (answer) {
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
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const res of hanging.splice(0)) res.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  beforeEach(() => {
    requests = 0;
    answer = 'keys';
    keys = [];
  });

  return {
    get url() {
      return `${origin}${path}`;
    },
    get origin() {
      return origin;
    },
    get requests() {
      return requests;
    },
    get answer() {
      return answer;
    },
    set answer(next: JwksAnswer) {
      answer = next;
    },
    serve(...kids) {
      answer = 'keys';
      keys = kids.map((kid) => published.get(kid)!);
    },
    tokenOf: (kid, staffId = `staff-${kid}`) =>
      new SignJWT({ role: 'ADMIN' })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(staffId)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(signers.get(kid)!),
    jwtConfig() {
      return { secret: undefined, jwksUrl: this.url, issuer: ISSUER, audience: undefined, maxLifetimeSeconds: LIFETIMES };
    },
    releaseHanging() {
      for (const res of hanging.splice(0)) res.destroy();
    },
    async unknownKeyRequests(app, token) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => app.request('{ __typename }', {}, { token })));
      for (let i = 0; i < 10; i += 1)
        answers.push(await app.request('{ __typename }', {}, { token: await this.tokenOf('k2', `staff-${i}`) }));
      return answers;
    },
  };
}

/** The refusal every request sees while the key set is out of reach: the usual 401 message, reason ERR_JWKS_FETCH. */
export async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => new Error('expected the token to be refused'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).message).toBe('invalid or expired token');
  expect((error as AuthenticationError).reason).toBe('ERR_JWKS_FETCH');
}
