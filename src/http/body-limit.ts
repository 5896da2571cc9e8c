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
      setRequestParser((original) => parse(counted(original, limit, fetchAPI)));
    },
  };
}

function tooLarge(message: string, status: number, code: string) {
  return new GraphQLError(message, { extensions: { http: { status }, code } });
}

/** The request with a body that fails with 413 once more than `limit` bytes have arrived. */
function counted(request: Request, limit: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): Request {
  let received = 0;
  // A native stream (undici's Request) needs the native TransformStream; the ponyfill's needs the ponyfill's.
  const Transform = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const body = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > limit) controller.error(tooLarge('Request body too large', 413, 'REQUEST_ENTITY_TOO_LARGE'));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body,
    duplex: 'half',
  } as RequestInit);
}
