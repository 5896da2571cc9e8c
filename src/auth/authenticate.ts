import type { Config } from '../config/env.js';
import type { PrismaClient } from '../db/prisma.js';
import { isApiKeyToken, verifyApiKey } from './api-keys.js';
import { AuthenticationError, createJwtVerifier } from './jwt.js';
import type { Principal } from './principal.js';

export type Authenticator = (authorizationHeader: string | null | undefined) => Promise<Principal>;

// RFC 6750 b64token; the scheme name is case-insensitive (RFC 9110).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Resolves `Authorization: Bearer <token>` to a principal, once per request.
 * - no header (or an empty one, which some clients send when logged out) → anonymous;
 * - `Bearer trk_…` → a storefront API key;
 * - any other bearer token → a staff or member JWT;
 * - anything else, or a token that does not verify → `AuthenticationError`.
 */
export function createAuthenticator(deps: { prisma: PrismaClient; jwt: Config['jwt'] }): Authenticator {
  const verifyJwt = createJwtVerifier(deps.jwt);
  return async (authorizationHeader) => {
    if (authorizationHeader == null || authorizationHeader.trim() === '') return { kind: 'anonymous' };
    const token = BEARER.exec(authorizationHeader)?.[1];
    if (!token) {
      throw new AuthenticationError('malformed Authorization header, expected "Bearer <token>"', 'ERR_AUTH_HEADER');
    }
    if (isApiKeyToken(token)) {
      const principal = await verifyApiKey(deps.prisma, token);
      if (!principal) throw new AuthenticationError('invalid API key', 'ERR_API_KEY');
      return principal;
    }
    return verifyJwt(token);
  };
}
