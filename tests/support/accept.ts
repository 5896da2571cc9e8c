/**
 * The Accept headers that the paths before yoga answer themselves (src/http/graphql-params.ts, `mediaTypeOf`), as
 * `it.each` rows: a name and the request headers. The response cache's shortcut and the direct execution are each
 * held equal to yoga under every one of them.
 */
export const ANSWERED_ACCEPTS: [string, Record<string, string>][] = [
  ['no Accept', {}],
  ['*/*', { accept: '*/*' }],
  ['application/json', { accept: 'application/json' }],
  ['application/graphql-response+json', { accept: 'application/graphql-response+json' }],
  ['both, the GraphQL type first', { accept: 'application/graphql-response+json, application/json' }],
  ['both, JSON first', { accept: 'application/json, application/graphql-response+json' }],
];
