import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * MAX_BODY_BYTES for /graphql, in place of yoga's `maxRequestBodySize`, with the
 * same answers (413 `REQUEST_ENTITY_TOO_LARGE`, 400 for a malformed
 * Content-Length) but without its cost on every request: yoga pipes every body
 * through a counting stream, and each such pipeline builds an AbortController and,
 * when it ends, a DOMException with its stack (about 3 % of the API's CPU on an
 * earn or a status read). A body that came through Node's HTTP parser with a
 * Content-Length cannot be longer than that length (the parser reads exactly that
 * many bytes), so only a body without one (chunked) is counted as it arrives. A
 * request built in process (`yoga.fetch`) has no parser behind it: its body is
 * always counted.
 */
export function limitBodySize(limit: number): Plugin<Record<string, unknown>, { req?: IncomingMessage }> {
  return {
    onRequestParse({ request, requestParser, setRequestParser, serverContext, fetchAPI }) {
      const declared = request.headers.get('content-length');
      if (declared !== null) {
        // One non-negative integer; anything else (a comma-joined list, a sign) may be a smuggling attempt.
        if (!/^\d+$/.test(declared)) throw tooLarge('Content-Length header is invalid.', 400, 'BAD_REQUEST');
        if (Number(declared) > limit) throw tooLarge('Request body too large', 413, 'REQUEST_ENTITY_TOO_LARGE');
        if (serverContext.req !== undefined) return;
      }
      if (!requestParser || !request.body) return;
      const parse = requestParser;
      setRequestParser(async (original) => parse(await counted(original, limit, fetchAPI)));
    },
  };
}

function tooLarge(message: string, status: number, code: string) {
  return new GraphQLError(message, { extensions: { http: { status }, code } });
}

/**
 * The request with its body read in full, or a 413 once more than `limit` bytes have arrived (the rest is not
 * read). Read chunk by chunk rather than piped through a counting stream: a pipeline builds an AbortController
 * and, when it ends, a DOMException with its stack, on every such request.
 */
async function counted(request: Request, limit: number, fetchAPI: { Request: typeof Request }): Promise<Request> {
  const reader = request.body!.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge('Request body too large', 413, 'REQUEST_ENTITY_TOO_LARGE');
    }
    chunks.push(value);
  }
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body: Buffer.concat(chunks, received),
  });
}
