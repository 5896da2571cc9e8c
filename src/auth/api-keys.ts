import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '../db/prisma.js';
import { isUuid } from '../domain/validation.js';
import { CredentialCache } from './credential-cache.js';
import { API_KEY_SCOPES, type ApiKeyScope, type Principal } from './principal.js';

/**
 * Storefront API keys: `trk_<prefix>_<secret>`.
 * - `prefix`: 8 random base32 characters, stored in plain text to find the row.
 * - `secret`: 32 random bytes, base64url.
 * Only the SHA-256 hex of the whole token is stored (`secretHash`). A slow password
 * hash (bcrypt, scrypt) protects low-entropy secrets against guessing; a 256-bit
 * random secret cannot be guessed from its hash, and a fast hash keeps a check that
 * runs on every storefront request cheap.
 */
export const API_KEY_TOKEN_PREFIX = 'trk_';

const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const PREFIX_LENGTH = 8;
const SECRET_BYTES = 32;
const TOKEN_PATTERN = /^trk_([a-z2-7]{8})_([A-Za-z0-9_-]{43,128})$/;

const KNOWN_SCOPES: ReadonlySet<string> = new Set(API_KEY_SCOPES);

export function hashApiKeyToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new key. Show `token` once to its creator; store `prefix` and `secretHash`. */
export function generateApiKeyToken(): { token: string; prefix: string; secretHash: string } {
  // 256 is a multiple of 32, so `byte % 32` picks every character equally often.
  const prefix = Array.from(randomBytes(PREFIX_LENGTH), (byte) => PREFIX_ALPHABET[byte % 32]).join('');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const token = `${API_KEY_TOKEN_PREFIX}${prefix}_${secret}`;
  return { token, prefix, secretHash: hashApiKeyToken(token) };
}

export function isApiKeyToken(token: string): boolean {
  return token.startsWith(API_KEY_TOKEN_PREFIX);
}

type ApiKeyPrincipal = Extract<Principal, { kind: 'apiKey' }>;
export type ApiKeyVerifier = ((token: string) => Promise<ApiKeyPrincipal | null>) & {
  /** The key's principal when this process verified it already and still trusts it (its cache), without the database. */
  known(token: string): ApiKeyPrincipal | undefined;
  /** Forget one key (revoked): its next use is checked against the database. */
  forget(apiKeyId: string): void;
  clear(): void;
  /** While on (the revocation channel is down), every use is checked against the database. */
  setBypass(on: boolean): void;
};

export interface ApiKeyCacheOptions {
  /** How long a verified key is trusted without asking the database. Default 30 s. */
  ttlMs?: number;
  /** At most this many keys are cached; the oldest entry goes first. Default 1 000. */
  maxEntries?: number;
  now?: () => number;
}

/** `last_used_at` is written at most this often per key, and only when the database is asked anyway. */
const LAST_USED_PRECISION = '1 minute';

/**
 * Verifies API keys against the database, caching keys that verified for a short
 * time because this runs on every storefront request. The cache is keyed by the
 * token's hash (never the token), and only successes are cached, so random tokens
 * cannot fill it. A revocation reaches every API process through Redis
 * (src/auth/credential-sync.ts calls `forget`); should that message be lost, a
 * revoked key keeps working on an instance for at most `ttlMs` (30 s by default).
 * A database check also records when the key was last used (to the minute).
 */
export function createApiKeyVerifier(prisma: PrismaClient, options: ApiKeyCacheOptions = {}): ApiKeyVerifier {
  const cache = new CredentialCache<ApiKeyPrincipal>({
    ttlMs: options.ttlMs ?? 30_000,
    maxEntries: options.maxEntries ?? 1_000,
    now: options.now ?? Date.now,
  });

  const verify = async (token: string): Promise<ApiKeyPrincipal | null> => {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return null;
    const prefix = match[1]!;
    const hash = hashApiKeyToken(token);

    const cached = cache.get(hash);
    if (cached) return cached;

    const snapshot = cache.snapshot();
    const row = await prisma.apiKey.findUnique({
      where: { prefix },
      select: { id: true, name: true, secretHash: true, scopes: true, revokedAt: true },
    });
    if (!row || row.revokedAt !== null) return null;
    // The prefix is public; the secret is compared in constant time.
    const expected = Buffer.from(row.secretHash, 'hex');
    const actual = Buffer.from(hash, 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;

    const principal = principalOf(row);
    await prisma.$executeRawUnsafe(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1::uuid AND (last_used_at IS NULL OR last_used_at < now() - interval '${LAST_USED_PRECISION}')`,
      row.id,
    );
    cache.set(hash, principal, snapshot);
    return principal;
  };
  return Object.assign(verify, {
    known: (token: string) => (TOKEN_PATTERN.test(token) ? cache.get(hashApiKeyToken(token)) : undefined),
    forget: (apiKeyId: string) => cache.deleteWhere((principal) => principal.apiKeyId === apiKeyId),
    clear: () => cache.clear(),
    setBypass: (on: boolean) => cache.setBypass(on),
  });
}

function principalOf(row: { id: string; name: string; scopes: string[] }): ApiKeyPrincipal {
  // A scope this version does not know grants nothing.
  const scopes = new Set(row.scopes.filter((scope): scope is ApiKeyScope => KNOWN_SCOPES.has(scope)));
  return { kind: 'apiKey', apiKeyId: row.id, name: row.name, scopes };
}

/**
 * An API key as the database holds it now, by its id (no token: for a session the key started earlier),
 * null once revoked or when there is no such key. Always asks the database.
 */
export async function currentApiKey(prisma: PrismaClient, apiKeyId: string): Promise<ApiKeyPrincipal | null> {
  if (!isUuid(apiKeyId)) return null;
  const row = await prisma.apiKey.findUnique({ where: { id: apiKeyId }, select: { id: true, name: true, scopes: true, revokedAt: true } });
  return row && row.revokedAt === null ? principalOf(row) : null;
}

/** One verifier (and cache) per Prisma client, i.e. per database. */
const defaultVerifiers = new WeakMap<PrismaClient, ApiKeyVerifier>();

function defaultVerifier(prisma: PrismaClient): ApiKeyVerifier {
  let verifier = defaultVerifiers.get(prisma);
  if (!verifier) {
    verifier = createApiKeyVerifier(prisma);
    defaultVerifiers.set(prisma, verifier);
  }
  return verifier;
}

/**
 * The principal of a valid API key, or null when the token is malformed, unknown,
 * revoked or does not match. Cached for 30 s per process (see `createApiKeyVerifier`).
 */
export async function verifyApiKey(prisma: PrismaClient, token: string): Promise<Principal | null> {
  return defaultVerifier(prisma)(token);
}

/** Forget cached keys, so a revocation takes effect at once in this process. */
export function clearApiKeyCache(prisma: PrismaClient): void {
  defaultVerifiers.get(prisma)?.clear();
}
