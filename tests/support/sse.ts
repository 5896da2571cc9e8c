import type { GraphQLResponse } from './app.js';
import { until } from './until.js';

/**
 * A GraphQL subscription as an app receives it: Server-Sent Events read off a
 * response body (yoga's `event: next` / `event: complete`; `:` lines are its
 * keep-alive pings). Events are kept in order; `close()` cancels the body, as a
 * client that goes away does.
 */
export interface SseSubscription {
  /** The results received so far (`event: next`), oldest first. */
  readonly results: GraphQLResponse[];
  /** Whether the server completed the stream (`event: complete`) or the body ended. */
  readonly completed: boolean;
  /** Keep-alive comments received so far. */
  readonly pings: number;
  /** The n-th result (0-based), waiting for it with `until`. */
  result(index: number, timeoutMs?: number): Promise<GraphQLResponse>;
  /** Waits until the stream has ended. */
  ended(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The body a subscription request is sent with; `accept` asks yoga for SSE. */
export function subscriptionRequest(query: string, variables: Record<string, unknown>, token: string | undefined): RequestInit {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (token) headers.authorization = `Bearer ${token}`;
  return { method: 'POST', headers, body: JSON.stringify({ query, variables }) };
}

/**
 * Reads a subscription's SSE response; throws unless the server answered with an event stream.
 * `onResult` sees each result as it arrives (the live-status bench times them).
 */
export function readSse(response: Response, onResult?: (result: GraphQLResponse) => void): SseSubscription {
  if (!response.body || !String(response.headers.get('content-type')).startsWith('text/event-stream')) {
    throw new Error(`expected an event stream, got ${response.status} ${response.headers.get('content-type')}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const results: GraphQLResponse[] = [];
  let completed = false;
  let pings = 0;
  let buffer = '';
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const event = lines
            .find((line) => line.startsWith('event:'))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('\n');
          if (event === 'complete') completed = true;
          else if (data) {
            const result = JSON.parse(data) as GraphQLResponse;
            results.push(result);
            onResult?.(result);
          } else if (lines.every((line) => line.startsWith(':'))) pings += 1;
        }
      }
    } catch {
      // cancelled by close()
    }
    completed = true;
  })();
  return {
    results,
    get completed() {
      return completed;
    },
    get pings() {
      return pings;
    },
    result: (index, timeoutMs = 10_000) =>
      until(
        () => results[index] ?? (completed ? Promise.reject(new Error(`the stream ended after ${results.length} results`)) : null),
        timeoutMs,
        10,
        `result ${index} of the subscription`,
      ),
    ended: async (timeoutMs = 10_000) => {
      await until(() => completed, timeoutMs, 10, 'the end of the subscription');
    },
    close: async () => {
      await reader.cancel().catch(() => undefined);
      await pump;
    },
  };
}
