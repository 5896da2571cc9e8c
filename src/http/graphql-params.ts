import type { IncomingMessage } from 'node:http';
import { attached } from '../attached.js';

/** The request body a POST may have to be read before yoga; a larger one goes to yoga unread. */
const MAX_READ_BYTES = 16 * 1024;

/**
 * The media types answered before yoga, by the request's whole Accept header, as yoga's result processor would
 * (the first acceptable type wins; tests/graphql/response-cache-shortcut.test.ts and direct-execution.test.ts hold
 * the two equal). Any other Accept goes to yoga.
 */
const MEDIA_TYPES: ReadonlyMap<string, string> = new Map([
  ['', 'application/json'],
  ['*/*', 'application/json'],
  ['application/json', 'application/json'],
  ['application/graphql-response+json', 'application/graphql-response+json'],
  ['application/graphql-response+json, application/json', 'application/graphql-response+json'],
  ['application/json, application/graphql-response+json', 'application/json'],
]);

/** The GraphQL-over-HTTP parameters of a request, as far as the paths before yoga read them. */
export interface GraphQLParams {
  query?: unknown;
  documentId?: unknown;
  operationName?: unknown;
  variables?: unknown;
  extensions?: unknown;
}

/** What a request's JSON body held, once read (undefined: not an object). */
const parsedBodies = attached<IncomingMessage, GraphQLParams | undefined>('GraphQL params');

/** The media type yoga would answer a request with this Accept header in, when it is one of MEDIA_TYPES. */
export const mediaTypeOf = (accept: string | undefined): string | undefined => MEDIA_TYPES.get((accept ?? '').trim().toLowerCase());

/**
 * Whether yoga's JSON body parser takes a request with this Content-Type: its first entry (before any comma) is
 * `application/json`, alone or with parameters, spelt exactly so (yoga's `isContentTypeMatch`: case and spaces
 * count). Yoga refuses any other spelling with 415, so the paths before it must not run such a request either.
 */
export function isJsonContentType(contentType: string | undefined): boolean {
  const first = contentType?.split(',')[0];
  return first === 'application/json' || first?.startsWith('application/json;') === true;
}

/**
 * The request's GraphQL-over-HTTP parameters when a path before yoga may answer it: a GET's, or a POST's JSON body
 * of at most MAX_READ_BYTES (and the service's own limit, `maxBodyBytes`: a larger body is yoga's to refuse with 413)
 * with its Content-Length. Undefined leaves the request to yoga, with a body already read
 * handed over as `req.body` (which yoga's Node adapter takes instead of the stream). Throws when the client went
 * away while sending its body.
 */
export async function readGraphQLParams(req: IncomingMessage, maxBodyBytes: number): Promise<GraphQLParams | undefined> {
  if (req.method === 'GET') {
    const search = new URL(req.url ?? '/', 'http://api').searchParams;
    const json = (name: string) => {
      const value = search.get(name);
      return value === null ? undefined : (JSON.parse(value) as unknown);
    };
    try {
      return {
        query: search.get('query') ?? undefined,
        documentId: search.get('documentId') ?? undefined,
        operationName: search.get('operationName') ?? undefined,
        variables: json('variables'),
        extensions: json('extensions'),
      };
    } catch {
      return undefined;
    }
  }
  const length = Number(req.headers['content-length']);
  if (
    req.method !== 'POST' ||
    !(length > 0 && length <= Math.min(MAX_READ_BYTES, maxBodyBytes)) ||
    !isJsonContentType(req.headers['content-type'])
  ) {
    return undefined;
  }
  // Read and parsed once: a second path before yoga (the direct execution after the shortcut) takes what the first
  // one read, and yoga the body (`req.body`).
  if (parsedBodies.has(req)) return parsedBodies.get(req);
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  (req as IncomingMessage & { body?: Buffer }).body = body;
  let params: GraphQLParams | undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    params = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as GraphQLParams) : undefined;
  } catch {
    params = undefined;
  }
  parsedBodies.set(req, params);
  return params;
}
