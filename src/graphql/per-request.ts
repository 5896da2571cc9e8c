import type { GraphQLContext } from './context.js';

/**
 * State that lives as long as one request: made by `create` the first time a
 * resolver of the request asks for it, the same object for every later ask,
 * and dropped with the request's context (a WeakMap: nothing to clean up).
 * For what one request reads once and many fields share — the program's
 * currency, a member's visibility rule, a batch of ids to load together.
 */
export function perRequest<State>(create: (ctx: GraphQLContext) => State): (ctx: GraphQLContext) => State {
  const states = new WeakMap<GraphQLContext, State>();
  return (ctx) => {
    let state = states.get(ctx);
    if (state === undefined) {
      state = create(ctx);
      states.set(ctx, state);
    }
    return state;
  };
}
