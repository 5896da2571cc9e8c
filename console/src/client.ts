import { cacheExchange, Client, fetchExchange, mapExchange } from 'urql';

/**
 * urql: a small GraphQL client (≈ 10 KB gzipped) with a document cache, React hooks and room for
 * graphcache and SSE subscriptions later. Every request carries the signed-in staff token as the API
 * expects it (`Authorization: Bearer …`, src/auth); a 401 (expired or revoked token) signs out.
 */
export function createApiClient(token: string, onUnauthenticated: () => void): Client {
  return new Client({
    url: '/graphql',
    exchanges: [
      mapExchange({
        onError(error) {
          if ((error.response as Response | undefined)?.status === 401) onUnauthenticated();
        },
      }),
      cacheExchange,
      fetchExchange,
    ],
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    requestPolicy: 'cache-and-network',
  });
}
