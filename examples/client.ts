import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';

/**
 * The examples' whole GraphQL client: `fetch` plus the types the client preset generates.
 * A generated document is its query text typed with its result and variables
 * (`TypedDocumentString`), so a request is one POST and the answer arrives typed.
 */

export type Document<TResult, TVariables> = DocumentTypeDecoration<TResult, TVariables> & {
  toString(): string;
  /** Set by the generator for apps whose documents the service knows (trusted documents): `hash` is the document's id. */
  __meta__?: Record<string, unknown>;
};

export interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string };
}

export interface Connection {
  /** The service's GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  /** An API key or a JWT, sent as `Authorization: Bearer …`. */
  token: string;
}

/** Thrown for request-level errors: the request itself was wrong (a bug or bad credentials), unlike a typed error. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly errors: GraphQLError[],
  ) {
    super(`GraphQL request failed (HTTP ${status}): ${errors.map((error) => error.message).join('; ')}`);
  }
}

/**
 * A document the service knows (the member app's, see docs/caching.md) goes by its id alone, as
 * trusted documents require; any other as its text.
 */
function request(
  connection: Connection,
  document: { toString(): string; __meta__?: Record<string, unknown> },
  variables: unknown,
  accept: string,
): Promise<Response> {
  const id = document.__meta__?.hash;
  return fetch(connection.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${connection.token}` },
    body: JSON.stringify(typeof id === 'string' ? { documentId: id, variables } : { query: document.toString(), variables }),
  });
}

/** Runs a query or mutation; its typed errors are data, anything at the request level throws. */
export async function execute<TResult, TVariables>(
  connection: Connection,
  document: Document<TResult, TVariables>,
  ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]
): Promise<TResult> {
  const response = await request(connection, document, variables, 'application/graphql-response+json');
  const body = (await response.json()) as { data?: TResult | null; errors?: GraphQLError[] };
  if (body.errors?.length || body.data == null) throw new RequestError(response.status, body.errors ?? []);
  return body.data;
}

/**
 * A subscription over Server-Sent Events (graphql-yoga's protocol, docs/live-status.md): each
 * `event: next` carries one result; `:` lines are keep-alive pings; `event: complete` ends it.
 * Stops reading when the loop that consumes it breaks.
 */
export async function* subscribe<TResult, TVariables>(
  connection: Connection,
  document: Document<TResult, TVariables>,
  ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]
): AsyncGenerator<TResult> {
  const response = await request(connection, document, variables, 'text/event-stream');
  if (!response.ok || !response.body) throw new RequestError(response.status, [{ message: await response.text() }]);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const event = lines
          .find((line) => line.startsWith('event:'))
          ?.slice(6)
          .trim();
        if (event === 'complete') return;
        const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trim());
        if (event !== 'next' || data.length === 0) continue;
        const result = JSON.parse(data.join('\n')) as { data?: TResult | null; errors?: GraphQLError[] };
        if (result.errors?.length || result.data == null) throw new RequestError(response.status, result.errors ?? []);
        yield result.data;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** For the `default` branch of an exhaustive switch: a new member of the union breaks compilation here. */
export function assertNever(value: never): never {
  throw new Error(`unhandled result ${JSON.stringify(value)}`);
}

/** The endpoint and credentials from the environment (TREUE_URL, and the named token variable). */
export function connectionFromEnv(tokenVariable: string): Connection {
  const url = process.env.TREUE_URL ?? 'http://localhost:4000/graphql';
  const token = process.env[tokenVariable];
  if (!token) throw new Error(`set ${tokenVariable}`);
  return { url, token };
}
