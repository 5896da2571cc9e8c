import type { Plugin, YogaServerOptions } from 'graphql-yoga';
import type { Config } from '../config/env.js';

type CorsOption = YogaServerOptions<object, object>['cors'];

/**
 * Cross-origin access to /graphql: only for the configured origins, and with
 * credentials only when configured. (yoga's default reflects every origin with
 * credentials.) With no origins configured, no response carries CORS headers,
 * so browsers allow same-origin calls only.
 */
export function corsPolicy(cors: Config['cors']): CorsOption {
  if (cors.origins.length === 0) return false;
  const anyOrigin = cors.origins.includes('*');
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!origin || (!anyOrigin && !cors.origins.includes(origin))) return false;
    return {
      origin: anyOrigin ? '*' : origin,
      credentials: cors.credentials,
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'accept', 'x-request-id'],
      maxAge: 600,
    };
  };
}

/** Whether an answer depends on Origin: whenever origins are configured, but not all. */
export const variesByOrigin = (cors: Config['cors']): boolean => cors.origins.length > 0 && !cors.origins.includes('*');

/** The answer depends on Origin whenever origins are configured: caches must key on it. */
export function varyByOrigin(cors: Config['cors']): Plugin {
  const varies = variesByOrigin(cors);
  return {
    onResponse: ({ response }) => {
      if (varies) response.headers.append('vary', 'Origin');
    },
  };
}
