import DataLoader from 'dataloader';
import type { GraphQLContext } from './context.js';
import { perRequest } from './per-request.js';

/** Batches form over one turn of the event loop: the resolvers of a list page's nodes all run before the next one. */
export const nextTurn = (dispatch: () => void): void => void setImmediate(dispatch);

/** One ask of a grouped batch: asks of one `group` are one call, which answers each by its `id`; `args` are the call's. */
export interface GroupedAsk<Args> {
  group: string;
  id: string;
  args: Args;
}

/**
 * Per request (a `dataloader` each), what the resolvers of one turn ask, loaded on the next turn in one call per group:
 * the resolvers of a list page's nodes run in the same turn, so a page of 20 incidents reads its 20 pages of failures
 * in one call, and 50 members' questions about one cursor row are one. A call gets its group's ids, each once, and the
 * `args` of the group's first ask (asks of one group carry the same). Each ask is answered as soon as its own group's
 * call is — a slow group does not hold the others — and a call that fails fails its own group's asks only, with the
 * error it threw. Nothing is kept after a batch: a later ask in the same request (a later mutation's payload) loads
 * afresh.
 */
export function groupedBatches<Args, T>(
  load: (ctx: GraphQLContext, ids: string[], args: Args) => Promise<Map<string, T>>,
): (ctx: GraphQLContext) => DataLoader<GroupedAsk<Args>, T | undefined> {
  return perRequest(
    (ctx) =>
      new DataLoader<GroupedAsk<Args>, T | undefined>(
        async (asks) => {
          const calls = new Map<string, { args: Args; ids: Set<string> }>();
          for (const { group, id, args } of asks) {
            let call = calls.get(group);
            if (!call) calls.set(group, (call = { args, ids: new Set() }));
            call.ids.add(id);
          }
          const loaded = new Map<string, Promise<Map<string, T>>>();
          for (const [group, { args, ids }] of calls) loaded.set(group, load(ctx, [...ids], args));
          // DataLoader resolves each ask's promise with its value, and a promise resolved with a promise follows it:
          // each ask settles with its own group's call, keeping that call's error as it was thrown.
          return asks.map(({ group, id }) => loaded.get(group)!.then((byId) => byId.get(id))) as unknown as (T | undefined)[];
        },
        { cache: false, batchScheduleFn: nextTurn },
      ),
  );
}
