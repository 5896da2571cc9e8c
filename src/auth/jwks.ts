import { createRemoteJWKSet, errors as joseErrors, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';
import type { Logger } from '../logger.js';

/** After a fetch of the key set, successful or not, a token naming a key the set lacks fetches again only after this long. */
export const JWKS_COOLDOWN_MS = 30_000;
/** A key set older than this is fetched again before it is used (jose's default `cacheMaxAge`). */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

/** The identity provider's key set could not be fetched (down, not 200, not a key set, timeout), or not tried again yet. */
export class JwksUnavailableError extends Error {
  constructor(cause?: unknown) {
    super("the identity provider's key set is out of reach", { cause });
    this.name = 'JwksUnavailableError';
  }
}

export type JwksKeySet = (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/**
 * Why a fetch of the key set failed, a fixed set (`treue_jwks_fetch_failures_total{reason}`, the warn log line):
 * `timeout` (no answer within jose's 5 s), `http_status` (an answer other than 200, a redirect included: jose follows
 * none), `network` (refused, reset, DNS, TLS — before or while the body was read), `invalid_body` (not JSON, or JSON
 * that is no key set).
 */
export const JWKS_FETCH_FAILURE_REASONS = ['timeout', 'http_status', 'network', 'invalid_body'] as const;
export type JwksFetchFailureReason = (typeof JWKS_FETCH_FAILURE_REASONS)[number];

/** The reason class of what jose's fetch of the key set threw (`JWKS_FETCH_FAILURE_REASONS`). */
export function jwksFetchFailureReason(error: unknown): JwksFetchFailureReason {
  if (error instanceof joseErrors.JWKSTimeout) return 'timeout';
  // JSON that is no key set; or jose's generic error around the body's JSON.parse failing.
  if (error instanceof joseErrors.JWKSInvalid) return 'invalid_body';
  if (error instanceof joseErrors.JOSEError && error.cause instanceof SyntaxError) return 'invalid_body';
  // jose's generic error without a cause: "Expected 200 OK".
  if (error instanceof joseErrors.JOSEError && error.cause === undefined) return 'http_status';
  return 'network';
}

export interface JwksKeySetOptions {
  /** The clock, in milliseconds (tests move it). */
  now: () => number;
  /** Where a failed fetch is told, once per fetch (warn): its reason class and the URL's origin, nothing else. */
  logger?: Logger;
  /** Counts a failed fetch, once per fetch (not per request refused during its cooldown). */
  fetchFailed?: (reason: JwksFetchFailureReason) => void;
  /** How long a fetch may take; jose's 5 s by default (tests shorten it). */
  timeoutMs?: number;
}

/**
 * The key set at `url` for jose's `jwtVerify`: jose's remote key set as `createRemoteJWKSet` makes it (its fetch —
 * no redirects, 5 s timeout — shared while in flight, its key selection), but when to fetch is decided here, on
 * `now`: the set is fetched when there is none or it is older than `JWKS_MAX_AGE_MS`, and when a token names a
 * key it lacks, at most once per `JWKS_COOLDOWN_MS`. jose starts that cooldown only on a successful fetch, so while
 * the provider failed every such token fetched again: a flood of them hammered the provider, and each request
 * waited for its fetch. Here a failed fetch starts the cooldown too; until it ends, a token that would need a fetch
 * (a key the set lacks, or a set too old or never fetched) is refused at once with `JwksUnavailableError`, keys of
 * a set still fresh keep verifying, and then one fetch is tried again. Each failed fetch is logged (warn) and counted
 * once, by its reason class (`JWKS_FETCH_FAILURE_REASONS`): the requests refused during its cooldown are not.
 */
export function createJwksKeySet(url: URL, options: JwksKeySetOptions): JwksKeySet {
  const { now, logger, fetchFailed } = options;
  // Infinity: jose fetches only when told (`reload`) once it holds a set.
  const remote = createRemoteJWKSet(url, {
    cooldownDuration: Infinity,
    cacheMaxAge: Infinity,
    ...(options.timeoutMs === undefined ? {} : { timeoutDuration: options.timeoutMs }),
  });
  // The origin alone: a JWKS URL's path or query may carry a tenant's secret; a token is never at hand here.
  const jwksOrigin = url.origin;
  const failed = (cause: unknown) => {
    const reason = jwksFetchFailureReason(cause);
    fetchFailed?.(reason);
    // At most one per cooldown per process: nobody can fill the log with it.
    logger?.warn(
      { reason, jwksOrigin },
      `JWKS fetch failed: tokens that need the identity provider's key set are refused for ${JWKS_COOLDOWN_MS / 1000} s`,
    );
  };
  let fetchedAt: number | undefined;
  let lastFetch: { at: number; failed: boolean } | undefined;
  let fetching: Promise<void> | undefined;

  const fetchKeys = (): Promise<void> =>
    (fetching ??= remote
      .reload()
      .then(
        () => {
          fetchedAt = now();
          lastFetch = { at: fetchedAt, failed: false };
        },
        (cause: unknown) => {
          lastFetch = { at: now(), failed: true };
          failed(cause);
          throw new JwksUnavailableError(cause);
        },
      )
      .finally(() => {
        fetching = undefined;
      }));
  const coolingDown = () => lastFetch !== undefined && now() < lastFetch.at + JWKS_COOLDOWN_MS;

  return async (protectedHeader, token) => {
    if (fetchedAt === undefined || now() >= fetchedAt + JWKS_MAX_AGE_MS) {
      // Within the cooldown here, the last fetch failed (the cooldown is shorter than the set's age limit).
      if (coolingDown()) throw new JwksUnavailableError();
      await fetchKeys();
    }
    try {
      return await remote(protectedHeader, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      if (coolingDown()) {
        if (lastFetch?.failed) throw new JwksUnavailableError();
        throw error;
      }
      await fetchKeys();
      return remote(protectedHeader, token);
    }
  };
}
