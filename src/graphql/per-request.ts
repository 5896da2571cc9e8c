import { attached } from '../attached.js';
import type { GraphQLContext } from './context.js';

/**
 * State that lives as long as one request: made by `create` the first time a
 * resolver of the request asks for it, the same object for every later ask,
 * and dropped with the request's context (kept on it: src/attached.ts says
 * why not in a WeakMap).
 * For what one request reads once and many fields share — the program's
 * currency, a member's visibility rule, a batch of ids to load together.
 */
export function perRequest<State>(create: (ctx: GraphQLContext) => State): (ctx: GraphQLContext) => State {
  const states = attached<GraphQLContext, State>('per request');
  return (ctx) => {
    let state = states.get(ctx);
    if (state === undefined) {
      state = create(ctx);
      states.set(ctx, state);
    }
    return state;
  };
}
