import { createRemoteJWKSet, errors as joseErrors, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';

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
 * The key set at `url` for jose's `jwtVerify`: jose's remote key set as `createRemoteJWKSet` makes it (its fetch —
 * no redirects, 5 s timeout — shared while in flight, its key selection), but when to fetch is decided here, on
 * `now`: the set is fetched when there is none or it is older than `JWKS_MAX_AGE_MS`, and when a token names a
 * key it lacks, at most once per `JWKS_COOLDOWN_MS`. jose starts that cooldown only on a successful fetch, so while
 * the provider failed every such token fetched again: a flood of them hammered the provider, and each request
 * waited for its fetch. Here a failed fetch starts the cooldown too; until it ends, a token that would need a fetch
 * (a key the set lacks, or a set too old or never fetched) is refused at once with `JwksUnavailableError`, keys of
 * a set still fresh keep verifying, and then one fetch is tried again.
 */
export function createJwksKeySet(url: URL, options: { now: () => number }): JwksKeySet {
  const { now } = options;
  // Infinity: jose fetches only when told (`reload`) once it holds a set.
  const remote = createRemoteJWKSet(url, { cooldownDuration: Infinity, cacheMaxAge: Infinity });
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
