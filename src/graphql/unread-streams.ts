import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Ends a subscription's stream that no response will carry: the request accepts no media type a stream is sent in
 * (yoga sends subscriptions as Server-Sent Events only), so yoga answers 406 Not Acceptable after the stream was
 * opened, and nothing ever reads it or returns it. Without this, each such request kept its stream for good — its
 * place in the caller's limit of open streams (LIVE_MAX_STREAMS_PER_CALLER), its bus listener and its periodic
 * credential re-check against the database — without holding a connection: a few requests with the wrong Accept
 * locked a member's app (or a supervisor's queue) out of live updates on that process until it restarted.
 * Register it after every plugin that may pick a result processor (it reads whether one was picked).
 */
export function endUnreadStreams(): Plugin {
  return {
    onResultProcess({ result, resultProcessor }) {
      if (resultProcessor === undefined && isAsyncIterable(result)) void result[Symbol.asyncIterator]().return?.();
    },
  };
}
