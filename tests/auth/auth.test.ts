import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/env.js';
import { clearApiKeyCache, createApiKeyVerifier, generateApiKeyToken, verifyApiKey } from '../../src/auth/api-keys.js';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { AuthenticationError, createJwtVerifier } from '../../src/auth/jwt.js';
import { signMemberToken, signStaffToken } from '../../src/auth/tokens.js';
import { useTestApp } from '../support/app.js';
import { testDatabaseUrl } from '../support/db.js';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const LIFETIMES = { staff: 12 * 3_600, member: 24 * 3_600 };
const hs256: Config['jwt'] = { secret: SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined, maxLifetimeSeconds: LIFETIMES };

const { prisma } = useTestApp(4);

beforeEach(() => clearApiKeyCache(prisma));

/** Rejects with an AuthenticationError whose message reveals nothing of the token. */
async function expectRefused(promise: Promise<unknown>, token?: string): Promise<AuthenticationError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the token to be refused');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  const authError = error as AuthenticationError;
  if (token) {
    for (const part of token.split('.')) {
      if (part.length > 0) expect(authError.message).not.toContain(part);
    }
  }
  return authError;
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('JWT with HS256', () => {
  const verify = createJwtVerifier(hs256);

  it('verifies a staff token round trip', async () => {
    const token = await signStaffToken(SECRET, { staffId: 'agent-42', role: 'SUPERVISOR', expiresIn: '10m' });
    await expect(verify(token)).resolves.toEqual({ kind: 'staff', staffId: 'agent-42', role: 'SUPERVISOR' });
  });

  it('verifies a member token round trip', async () => {
    const memberId = randomUUID();
    const token = await signMemberToken(SECRET, { memberId, expiresIn: 600 });
    await expect(verify(token)).resolves.toEqual({ kind: 'member', memberId });
  });

  it('refuses an expired token', async () => {
    const token = await signStaffToken(SECRET, { staffId: 'agent-42', role: 'AGENT', expiresIn: '-1m' });
    const error = await expectRefused(verify(token), token);
    expect(error.message).toBe('invalid or expired token');
    expect(error.reason).toBe('ERR_JWT_EXPIRED');
  });

  it('refuses a token signed with another secret', async () => {
    const token = await signStaffToken('another-secret-that-is-at-least-32-characters', { staffId: 'a', role: 'ADMIN' });
    await expectRefused(verify(token), token);
  });

  it('refuses an unsigned token (alg none)', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'root', role: 'ADMIN', exp })}.`;
    await expectRefused(verify(token), token);
  });

  it('refuses an HS256 token whose header claims another algorithm', async () => {
    const key = new TextEncoder().encode(SECRET);
    const token = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('root')
      .setExpirationTime('5m')
      .sign(key);
    await expectRefused(verify(token), token);
  });

  it('refuses a token without exp', async () => {
    const token = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('root')
      .sign(new TextEncoder().encode(SECRET));
    await expectRefused(verify(token), token);
  });

  it('refuses a member token whose sub is not a UUID', async () => {
    const token = await signMemberToken(SECRET, { memberId: 'customer-17' });
    const error = await expectRefused(verify(token), token);
    expect(error.reason).toBe('ERR_JWT_CLAIMS');
  });

  it('refuses a role outside AGENT | SUPERVISOR | ADMIN | MEMBER', async () => {
    const token = await new SignJWT({ role: 'ROOT' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('root')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    await expectRefused(verify(token), token);
  });

  it('refuses garbage', async () => {
    await expectRefused(verify('not-a-jwt'));
  });

  it('checks issuer and audience when configured', async () => {
    const strict = createJwtVerifier({ ...hs256, issuer: 'https://id.example', audience: 'treue' });
    const good = await signStaffToken(SECRET, { staffId: 's1', role: 'AGENT', issuer: 'https://id.example', audience: 'treue' });
    await expect(strict(good)).resolves.toEqual({ kind: 'staff', staffId: 's1', role: 'AGENT' });
    const wrongAudience = await signStaffToken(SECRET, { staffId: 's1', role: 'AGENT', issuer: 'https://id.example', audience: 'crm' });
    await expectRefused(strict(wrongAudience));
    const noIssuer = await signStaffToken(SECRET, { staffId: 's1', role: 'AGENT', audience: 'treue' });
    await expectRefused(strict(noIssuer));
  });

  it('refuses a staff token that expires in the year 2999', async () => {
    const token = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('root')
      .setIssuedAt()
      .setExpirationTime(Date.UTC(2999, 0, 1) / 1000)
      .sign(new TextEncoder().encode(SECRET));
    const error = await expectRefused(verify(token), token);
    expect(error.reason).toBe('ERR_JWT_LIFETIME');
  });

  it('measures a token without iat from now: refused while it has more than the maximum left', async () => {
    const withoutIat = (expiresIn: string) =>
      new SignJWT({ role: 'AGENT' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('agent-1')
        .setExpirationTime(expiresIn)
        .sign(new TextEncoder().encode(SECRET));
    expect((await expectRefused(verify(await withoutIat('13h')))).reason).toBe('ERR_JWT_LIFETIME');
    await expect(verify(await withoutIat('11h'))).resolves.toMatchObject({ kind: 'staff', staffId: 'agent-1' });
  });

  it('measures a token with iat by exp − iat, with a separate maximum for member tokens', async () => {
    const memberId = randomUUID();
    // 12 h staff, 24 h member maximum (LIFETIMES).
    await expect(verify(await signStaffToken(SECRET, { staffId: 's', role: 'AGENT', expiresIn: '12h' }))).resolves.toMatchObject({
      kind: 'staff',
    });
    expect((await expectRefused(verify(await signStaffToken(SECRET, { staffId: 's', role: 'AGENT', expiresIn: '13h' })))).reason).toBe(
      'ERR_JWT_LIFETIME',
    );
    await expect(verify(await signMemberToken(SECRET, { memberId, expiresIn: '20h' }))).resolves.toEqual({ kind: 'member', memberId });
    expect((await expectRefused(verify(await signMemberToken(SECRET, { memberId, expiresIn: '2d' })))).reason).toBe('ERR_JWT_LIFETIME');
    // An old iat cannot stretch the window either: issued 30 h ago, expiring in 1 h, is 31 h long.
    const now = Math.floor(Date.now() / 1000);
    const stretched = await new SignJWT({ role: 'MEMBER' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(memberId)
      .setIssuedAt(now - 30 * 3_600)
      .setExpirationTime(now + 3_600)
      .sign(new TextEncoder().encode(SECRET));
    expect((await expectRefused(verify(stretched))).reason).toBe('ERR_JWT_LIFETIME');
  });

  it('refuses a token issued in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('root')
      .setIssuedAt(now + 3_600)
      .setExpirationTime(now + 7_200)
      .sign(new TextEncoder().encode(SECRET));
    expect((await expectRefused(verify(token))).reason).toBe('ERR_JWT_IAT_IN_FUTURE');
  });

  it('refuses every JWT when neither secret nor JWKS is configured', async () => {
    const unconfigured = createJwtVerifier({
      secret: undefined,
      jwksUrl: undefined,
      issuer: undefined,
      audience: undefined,
      maxLifetimeSeconds: LIFETIMES,
    });
    const token = await signStaffToken(SECRET, { staffId: 's1', role: 'ADMIN' });
    const error = await expectRefused(unconfigured(token), token);
    expect(error.message).toBe('JWT authentication is not configured');
  });
});

describe('JWT through a JWKS URL', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: CryptoKey;
  let jwksRequests = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      jwksRequests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const signRs256 = (claims: Record<string, unknown>, sub: string, expiresIn = '5m') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject(sub)
      .setIssuer('https://id.example')
      .setExpirationTime(expiresIn)
      .sign(privateKey);

  it('verifies a token signed by the identity provider', async () => {
    const verify = createJwtVerifier({
      secret: undefined,
      jwksUrl,
      issuer: 'https://id.example',
      audience: undefined,
      maxLifetimeSeconds: LIFETIMES,
    });
    const memberId = randomUUID();
    await expect(verify(await signRs256({ role: 'ADMIN' }, 'staff-1'))).resolves.toEqual({
      kind: 'staff',
      staffId: 'staff-1',
      role: 'ADMIN',
    });
    await expect(verify(await signRs256({ role: 'MEMBER' }, memberId))).resolves.toEqual({ kind: 'member', memberId });
    // The key set is fetched once and then cached.
    expect(jwksRequests).toBe(1);
  });

  it('refuses an HS256 token signed with the public key (algorithm confusion)', async () => {
    const verify = createJwtVerifier({ secret: undefined, jwksUrl, issuer: undefined, audience: undefined, maxLifetimeSeconds: LIFETIMES });
    const token = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setSubject('root')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    await expectRefused(verify(token), token);
  });

  it('refuses an expired or foreign-issuer token', async () => {
    const verify = createJwtVerifier({
      secret: undefined,
      jwksUrl,
      issuer: 'https://other.example',
      audience: undefined,
      maxLifetimeSeconds: LIFETIMES,
    });
    await expectRefused(verify(await signRs256({ role: 'ADMIN' }, 'staff-1')));
    const expired = createJwtVerifier({
      secret: undefined,
      jwksUrl,
      issuer: undefined,
      audience: undefined,
      maxLifetimeSeconds: LIFETIMES,
    });
    await expectRefused(expired(await signRs256({ role: 'ADMIN' }, 'staff-1', '-10m')));
  });
});

describe('API keys', () => {
  async function storeKey(scopes: string[], name = 'web shop') {
    const generated = generateApiKeyToken();
    const row = await prisma.apiKey.create({
      data: { name, prefix: generated.prefix, secretHash: generated.secretHash, scopes, createdBy: 'test' },
    });
    return { ...generated, id: row.id };
  }

  it('generates keys in the trk_<prefix>_<secret> format with 256-bit secrets', () => {
    const { token, prefix, secretHash } = generateApiKeyToken();
    expect(token).toMatch(/^trk_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$/);
    expect(token.slice(4, 12)).toBe(prefix);
    expect(secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(generateApiKeyToken().token).not.toBe(token);
  });

  it('verifies a generated key with its scopes', async () => {
    const key = await storeKey(['points:earn', 'vouchers:redeem']);
    const principal = await verifyApiKey(prisma, key.token);
    expect(principal).toEqual({
      kind: 'apiKey',
      apiKeyId: key.id,
      name: 'web shop',
      scopes: new Set(['points:earn', 'vouchers:redeem']),
    });
  });

  it('ignores scopes it does not know', async () => {
    const key = await storeKey(['points:earn', 'everything']);
    const principal = await verifyApiKey(prisma, key.token);
    expect(principal?.kind === 'apiKey' && [...principal.scopes]).toEqual(['points:earn']);
  });

  it('refuses a revoked key', async () => {
    const key = await storeKey(['points:earn']);
    await prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    await expect(verifyApiKey(prisma, key.token)).resolves.toBeNull();
  });

  it('refuses a key with a tampered secret', async () => {
    const key = await storeKey(['points:earn']);
    const last = key.token.at(-1) === 'A' ? 'B' : 'A';
    await expect(verifyApiKey(prisma, key.token.slice(0, -1) + last)).resolves.toBeNull();
    // Same prefix, a whole new secret.
    const other = generateApiKeyToken().token.slice(13);
    await expect(verifyApiKey(prisma, `trk_${key.prefix}_${other}`)).resolves.toBeNull();
  });

  it('refuses unknown and malformed keys', async () => {
    await expect(verifyApiKey(prisma, generateApiKeyToken().token)).resolves.toBeNull();
    await expect(verifyApiKey(prisma, 'trk_short_abc')).resolves.toBeNull();
    await expect(verifyApiKey(prisma, 'trk_')).resolves.toBeNull();
  });

  it('never stores the plaintext token or secret', async () => {
    const key = await storeKey(['admin']);
    const secret = key.token.slice(13);
    const db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    try {
      const { rows } = await db.query<{ row: string }>('SELECT row_to_json(k)::text AS row FROM api_keys k');
      expect(rows).toHaveLength(1);
      expect(rows[0]!.row).not.toContain(secret);
      expect(rows[0]!.row).not.toContain(key.token);
      expect(rows[0]!.row).toContain(key.prefix);
    } finally {
      await db.end();
    }
  });

  it('a revocation takes effect once the cache entry expires', async () => {
    let clock = 1_000_000;
    const verify = createApiKeyVerifier(prisma, { ttlMs: 30_000, now: () => clock });
    const key = await storeKey(['points:earn']);
    expect(await verify(key.token)).not.toBeNull();
    await prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    clock += 29_000;
    expect(await verify(key.token)).not.toBeNull();
    clock += 2_000;
    expect(await verify(key.token)).toBeNull();
  });

  it('keeps the cache bounded', async () => {
    const verify = createApiKeyVerifier(prisma, { maxEntries: 2 });
    const keys = [await storeKey(['points:earn'], 'a'), await storeKey(['points:earn'], 'b'), await storeKey(['points:earn'], 'c')];
    for (const key of keys) expect(await verify(key.token)).not.toBeNull();
    await prisma.apiKey.updateMany({ data: { revokedAt: new Date() } });
    // 'a' was evicted when 'c' came in, so it is checked again; 'c' is still cached.
    expect(await verify(keys[0]!.token)).toBeNull();
    expect(await verify(keys[2]!.token)).not.toBeNull();
  });
});

describe('createAuthenticator', () => {
  const authenticate = () => createAuthenticator({ prisma, jwt: hs256 });

  it('treats a missing or empty header as anonymous', async () => {
    await expect(authenticate()(null)).resolves.toEqual({ kind: 'anonymous' });
    await expect(authenticate()('')).resolves.toEqual({ kind: 'anonymous' });
  });

  it('routes trk_ tokens to API keys and others to JWT', async () => {
    const generated = generateApiKeyToken();
    const row = await prisma.apiKey.create({
      data: { name: 'billing', prefix: generated.prefix, secretHash: generated.secretHash, scopes: ['contracts:write'], createdBy: 'test' },
    });
    await expect(authenticate()(`Bearer ${generated.token}`)).resolves.toMatchObject({ kind: 'apiKey', apiKeyId: row.id });
    const memberId = randomUUID();
    const jwt = await signMemberToken(SECRET, { memberId });
    await expect(authenticate()(`bearer ${jwt}`)).resolves.toEqual({ kind: 'member', memberId });
  });

  it('refuses an unknown API key', async () => {
    const { token } = generateApiKeyToken();
    const error = await expectRefused(authenticate()(`Bearer ${token}`), token);
    expect(error.message).toBe('invalid API key');
  });

  it('refuses malformed headers', async () => {
    const jwt = await signStaffToken(SECRET, { staffId: 's', role: 'ADMIN' });
    for (const header of [jwt, `Basic ${jwt}`, 'Bearer', 'Bearer ', `Bearer ${jwt} extra`, `Token ${jwt}`]) {
      await expectRefused(authenticate()(header));
    }
  });

  it('refuses an invalid JWT', async () => {
    await expectRefused(authenticate()('Bearer abc.def.ghi'));
  });
});

describe('the authenticator’s cache of verified JWTs', () => {
  it('answers a repeat from the cache but never past the token’s own expiry', async () => {
    let clock = Date.now();
    const authenticate = createAuthenticator({ prisma, jwt: hs256, now: () => clock });
    const token = await signStaffToken(SECRET, { staffId: 'cached', role: 'AGENT', expiresIn: 1 });
    expect(await authenticate(`Bearer ${token}`)).toEqual({ kind: 'staff', staffId: 'cached', role: 'AGENT' });
    clock += 500;
    expect(await authenticate(`Bearer ${token}`)).toEqual({ kind: 'staff', staffId: 'cached', role: 'AGENT' });
    // exp has second precision, and the verifier tolerates 5 s of clock skew: move past both.
    clock += 7_100;
    await expect(authenticate(`Bearer ${token}`)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('does not cache a failure: a bad token stays refused and a good one still passes', async () => {
    const authenticate = createAuthenticator({ prisma, jwt: hs256 });
    const good = await signStaffToken(SECRET, { staffId: 'x', role: 'ADMIN' });
    const forged = await signStaffToken('another-secret-that-is-at-least-32-characters', { staffId: 'x', role: 'ADMIN' });
    await expect(authenticate(`Bearer ${forged}`)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(authenticate(`Bearer ${forged}`)).rejects.toBeInstanceOf(AuthenticationError);
    expect(await authenticate(`Bearer ${good}`)).toMatchObject({ kind: 'staff', role: 'ADMIN' });
  });
});
