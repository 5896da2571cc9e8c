import { decodeJwt } from 'jose';
import type { Config } from '../config/env.js';
import type { PrismaClient } from '../db/prisma.js';
import type { RateLimitedError } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import { createApiKeyVerifier, isApiKeyToken, type ApiKeyVerifier } from './api-keys.js';
import type { JwksFetchFailureReason } from './jwks.js';
import { AuthenticationError, CLOCK_TOLERANCE_SECONDS, createJwtVerifier } from './jwt.js';
import { createMemberAccountCheck, type MemberAccountCheck } from './member-accounts.js';
import type { Principal } from './principal.js';

/**
 * `address`: reads the client's address (src/http/rate-limit.ts, clientAddress), for the budget of failed
 * authentications, only for an API key not known already; without it (a live stream's re-check)
 * credentials are always verified.
 */
export type Authenticator = (authorizationHeader: string | null | undefined, address?: () => string) => Promise<Principal>;

// RFC 6750 b64token; the scheme name is case-insensitive (RFC 9110).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Resolves `Authorization: Bearer <token>` to a principal, once per request.
 * - no header (or an empty one, which some clients send when logged out) → anonymous;
 * - `Bearer trk_…` → a storefront API key;
 * - any other bearer token → a staff or member JWT; a member token of a CLOSED member is refused;
 * - anything else, or a token that does not verify → `AuthenticationError`.
 * `apiKeys` and `memberAccounts` are this process's caches of those checks (one per
 * API process, invalidated through Redis by src/auth/credential-sync.ts); without
 * them the authenticator keeps its own.
 *
 * With `failedAuthenticationsSpent` and the client's address: an API key this process has not verified already (its
 * API-key cache) is looked up only while the address has failed authentications left in its budget
 * (RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS); once it is used up such a key is refused with the `RateLimitedError`
 * before any database lookup, so guessing keys costs the service one Redis read. Keys verified before keep working
 * (storefronts behind the same NAT as the guesser). JWTs are verified whatever the budget: a signature check costs
 * no database or Redis work (a member's account is read only once the signature holds; with `JWKS_URL`, a token
 * naming a key the cached key set lacks makes one fetch of the set, at most once per 30 s per process after any
 * fetch, a failed one included: src/auth/jwks.ts, besides the refresh of a set older than 10 min), so a staff
 * member who just signed in gets in and an app whose token expired is told 401 to refresh, from behind the
 * guesser's NAT too; one that does not verify is counted by the caller as before. Should the budget not be
 * readable (Redis and its in-memory insurance both failing), the key is looked up as without a budget.
 */
export function createAuthenticator(deps: {
  prisma: PrismaClient;
  jwt: Config['jwt'];
  apiKeys?: ApiKeyVerifier;
  memberAccounts?: MemberAccountCheck;
  /** The clock in milliseconds (tests move it). */
  now?: () => number;
  /** Whether an address's budget of failed authentications is used up (src/http/rate-limit.ts), read without spending. */
  failedAuthenticationsSpent?: (address: string) => Promise<RateLimitedError | null>;
  /** With `JWKS_URL`: where a failed fetch of the identity provider's key set is logged (src/auth/jwks.ts). */
  logger?: Logger;
  /** With `JWKS_URL`: counts a failed fetch of the key set, by reason (`treue_jwks_fetch_failures_total`). */
  jwksFetchFailed?: (reason: JwksFetchFailureReason) => void;
}): Authenticator {
  const now = deps.now ?? Date.now;
  const verifyJwt = cachedJwtVerifier(
    createJwtVerifier(deps.jwt, { now, logger: deps.logger, jwksFetchFailed: deps.jwksFetchFailed }),
    now,
  );
  const verifyApiKey = deps.apiKeys ?? createApiKeyVerifier(deps.prisma, { now });
  const memberMayUse = deps.memberAccounts ?? createMemberAccountCheck(deps.prisma, { now });
  const spent = deps.failedAuthenticationsSpent;
  return async (authorizationHeader, address) => {
    if (authorizationHeader == null || authorizationHeader.trim() === '') return { kind: 'anonymous' };
    const token = BEARER.exec(authorizationHeader)?.[1];
    if (!token) {
      throw new AuthenticationError('malformed Authorization header, expected "Bearer <token>"', 'ERR_AUTH_HEADER');
    }
    if (isApiKeyToken(token)) {
      const known = verifyApiKey.known(token);
      if (!known && spent && address !== undefined) {
        const refused = await spent(address()).catch(() => null);
        if (refused) throw refused;
      }
      const principal = known ?? (await verifyApiKey(token));
      if (!principal) throw new AuthenticationError('invalid API key', 'ERR_API_KEY');
      return principal;
    }
    const principal = await verifyJwt(token);
    // After the JWT cache: that cache holds what the token says, this what the member is now.
    if (principal.kind === 'member' && !(await memberMayUse(principal.memberId))) {
      throw new AuthenticationError(INVALID_TOKEN_MESSAGE, 'ERR_MEMBER_CLOSED');
    }
    return principal;
  };
}

/**
 * Whether an Authorization header carries a token that says it is a member's (a JWT whose `role` claim is MEMBER),
 * read without verifying it. Never a grant: for a path before yoga that decides from it alone whether to read a
 * request's body (the response cache's shortcut reads members' bodies only), and then authenticates the request once
 * the body is in, as yoga does.
 */
export function claimsMemberToken(authorizationHeader: string | null | undefined): boolean {
  const token = authorizationHeader ? BEARER.exec(authorizationHeader)?.[1] : undefined;
  if (!token || isApiKeyToken(token)) return false;
  try {
    return decodeJwt(token).role === 'MEMBER';
  } catch {
    return false;
  }
}

/**
 * The instant (ms since the epoch) from which a request with these credentials is refused for their age alone: a
 * JWT's `exp` plus the clock skew the verifier tolerates. Undefined for an API key (it holds until revoked) and for
 * no credentials. Read without verifying: for credentials that verified already (a live stream ends at this instant,
 * not at its next periodic re-check).
 */
export function credentialsExpireAt(authorizationHeader: string | null | undefined): number | undefined {
  const token = authorizationHeader ? BEARER.exec(authorizationHeader)?.[1] : undefined;
  if (!token || isApiKeyToken(token)) return undefined;
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? (exp + CLOCK_TOLERANCE_SECONDS) * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The same answer as for any other token that no longer works: nothing about the account leaks. */
const INVALID_TOKEN_MESSAGE = 'invalid or expired token';

const JWT_CACHE_MAX_ENTRIES = 10_000;
const JWT_CACHE_MAX_AGE_MS = 5 * 60_000;

/**
 * Verifying a signature costs more CPU than a whole cached read, and apps send
 * the same token on every request. A verified token is remembered until its own
 * `exp` (at most 5 minutes); a token is immutable, so the cache cannot grant
 * more than the token itself did. Only successes are cached, oldest out first.
 */
function cachedJwtVerifier(verify: (token: string) => Promise<Principal>, clock: () => number): (token: string) => Promise<Principal> {
  const cache = new Map<string, { principal: Principal; until: number }>();
  /** The token's principal when it verified before and is still remembered. */
  const known = (token: string): Principal | undefined => {
    const hit = cache.get(token);
    if (hit && hit.until > clock()) return hit.principal;
    if (hit) cache.delete(token);
    return undefined;
  };
  const cached = async (token: string): Promise<Principal> => {
    const hit = known(token);
    if (hit) return hit;
    const now = clock();
    const principal = await verify(token);
    const exp = decodeJwt(token).exp;
    const until = Math.min(typeof exp === 'number' ? exp * 1000 : now, now + JWT_CACHE_MAX_AGE_MS);
    if (until > now) {
      if (cache.size >= JWT_CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
      cache.set(token, { principal, until });
    }
    return principal;
  };
  return cached;
}
