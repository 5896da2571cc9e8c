import { cacheExchange, Client, fetchExchange, mapExchange } from 'urql';

/**
 * urql: a small GraphQL client (≈ 10 KB gzipped) with a document cache and React hooks. Every request
 * carries the signed-in staff token as the API expects it (`Authorization: Bearer …`, src/auth); a 401
 * (expired or revoked token) signs out. Subscriptions go through the same fetchExchange
 * (`fetchSubscriptions`): a POST with `Accept: text/event-stream`, read as GraphQL over SSE as yoga
 * serves it (docs/live-status.md), so they carry the token in the header like every other request.
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
    fetchSubscriptions: true,
  });
}
