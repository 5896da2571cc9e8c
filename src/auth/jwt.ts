import { errors as joseErrors, jwtVerify, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
import { z } from 'zod';
import type { Config } from '../config/env.js';
import type { Logger } from '../logger.js';
import { createJwksKeySet, type JwksFetchFailureReason } from './jwks.js';
import type { Principal } from './principal.js';
import { withFields } from '../with-fields.js';

/**
 * The caller could not be identified: a malformed header, a bad or expired token,
 * an unknown or revoked API key. Not a `DomainError`: the whole request is refused
 * before any resolver runs (HTTP 401 with `WWW-Authenticate: Bearer
 * error="invalid_token"`, see src/app.ts), not answered as a typed union member.
 * A request with no credentials at all is anonymous, never an AuthenticationError.
 *
 * `message` is safe to show to the caller and never contains token contents;
 * `reason` is a short code for the log (jose's error code, for example).
 */
export class AuthenticationError extends Error {
  readonly code = 'UNAUTHENTICATED';
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'AuthenticationError';
  }
}

export const TOKEN_ROLES = ['AGENT', 'SUPERVISOR', 'ADMIN', 'MEMBER'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** Asymmetric algorithms accepted from an identity provider's JWKS. Never HS* or `none` here. */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** Tolerated clock skew between us and the token's issuer. */
export const CLOCK_TOLERANCE_SECONDS = 5;

const claimsSchema = z.discriminatedUnion('role', [
  // Members' ids are database UUIDs; anything else cannot name a member. A UUID is case-insensitive: read in the
  // service's spelling (lower case), so that ownership checks, the closed-member cache and budgets see one member.
  z.object({
    role: z.literal('MEMBER'),
    sub: z.uuid().transform((id) => id.toLowerCase()),
    exp: z.number(),
    iat: z.number().optional(),
  }),
  z.object({
    role: z.enum(['AGENT', 'SUPERVISOR', 'ADMIN']),
    sub: z.string().min(1).max(256),
    exp: z.number(),
    iat: z.number().optional(),
  }),
]);

const INVALID_TOKEN = 'invalid or expired token';

export type JwtVerifier = (token: string) => Promise<Principal>;

export interface JwtVerifierOptions {
  /** The clock, in milliseconds (tests move it). */
  now?: () => number;
  /** With `JWKS_URL`: where a failed fetch of the key set is logged (src/auth/jwks.ts). */
  logger?: Logger;
  /** With `JWKS_URL`: counts a failed fetch of the key set, by reason (`treue_jwks_fetch_failures_total`). */
  jwksFetchFailed?: (reason: JwksFetchFailureReason) => void;
  /** With `JWKS_URL`: how long a fetch of the key set may take (jose's 5 s by default; tests shorten it). */
  jwksTimeoutMs?: number;
}

/**
 * Verifies a bearer JWT and maps its claims to a staff or member principal.
 * HS256 with `config.secret`, or the identity provider's keys from `config.jwksUrl`
 * (fetched once, cached, and fetched again when older than 10 min or when an unknown `kid` shows up, at most once per
 * 30 s after any fetch, a failed one included: src/auth/jwks.ts).
 * `exp` is required; `iss`/`aud` are checked when configured. A token may not live
 * longer than `config.maxLifetimeSeconds` for its kind (staff or member): its
 * lifetime is `exp − iat`, or `exp − now` without `iat`, so a token minted to
 * expire in the year 2999 is refused, and so is one issued in the future. Every
 * failure is an `AuthenticationError`; with neither secret nor JWKS configured,
 * JWTs are refused.
 */
export function createJwtVerifier(config: Config['jwt'], options: JwtVerifierOptions = {}): JwtVerifier {
  const now = options.now ?? Date.now;
  if (config.secret && config.jwksUrl) {
    throw new Error('JWT: configure either a secret or a JWKS URL, not both');
  }
  const common: JWTVerifyOptions = {
    requiredClaims: ['exp', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  let verify: (token: string) => Promise<JWTVerifyResult>;
  if (config.secret) {
    const secret = new TextEncoder().encode(config.secret);
    verify = (token) => jwtVerify(token, secret, withFields(common, { currentDate: new Date(now()), algorithms: ['HS256'] }));
  } else if (config.jwksUrl) {
    const jwks = createJwksKeySet(new URL(config.jwksUrl), {
      now,
      logger: options.logger,
      fetchFailed: options.jwksFetchFailed,
      timeoutMs: options.jwksTimeoutMs,
    });
    verify = (token) => jwtVerify(token, jwks, withFields(common, { currentDate: new Date(now()), algorithms: JWKS_ALGORITHMS }));
  } else {
    return () => Promise.reject(new AuthenticationError('JWT authentication is not configured', 'ERR_JWT_NOT_CONFIGURED'));
  }

  return async (token) => {
    let payload: unknown;
    try {
      ({ payload } = await verify(token));
    } catch (error) {
      // Keep jose's code for the log, never its message or payload (they may carry claims).
      // Anything else is the key set out of reach (JwksUnavailableError, src/auth/jwks.ts), not the token.
      const reason = error instanceof joseErrors.JOSEError ? error.code : config.jwksUrl ? 'ERR_JWKS_FETCH' : 'ERR_JWT_VERIFY';
      throw new AuthenticationError(INVALID_TOKEN, reason);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) {
      throw new AuthenticationError(INVALID_TOKEN, 'ERR_JWT_CLAIMS');
    }
    const { role, sub, exp, iat } = claims.data;
    const nowSeconds = now() / 1000;
    if (iat !== undefined && iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
      throw new AuthenticationError(INVALID_TOKEN, 'ERR_JWT_IAT_IN_FUTURE');
    }
    const maxLifetime = role === 'MEMBER' ? config.maxLifetimeSeconds.member : config.maxLifetimeSeconds.staff;
    if (exp - (iat ?? nowSeconds) > maxLifetime + CLOCK_TOLERANCE_SECONDS) {
      throw new AuthenticationError(INVALID_TOKEN, 'ERR_JWT_LIFETIME');
    }
    return role === 'MEMBER' ? { kind: 'member', memberId: sub } : { kind: 'staff', staffId: sub, role };
  };
}
