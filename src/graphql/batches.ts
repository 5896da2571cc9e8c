import DataLoader from 'dataloader';
import type { GraphQLContext } from './context.js';
import { perRequest } from './per-request.js';

/** Batches form over one turn of the event loop: the resolvers of a list page's nodes all run before the next one. */
export const nextTurn = (dispatch: () => void): void => void setImmediate(dispatch);

/** One ask of a grouped batch: the id its group's call answers it by, and the call's arguments. */
interface GroupedAsk<Args> {
  id: string;
  args: Args;
}

/**
 * Per request (a `dataloader` each), what the resolvers of one turn ask, loaded on the next turn in one call per group
 * — asks whose `args` have the same `groupOf` — the resolvers of a list page's nodes run in the same turn, so a page of
 * 20 incidents reads its 20 pages of failures in one call, and 50 members' questions about one cursor row are one. A
 * call gets its group's ids, each once, and the `args` of the group's first ask. Each ask is answered as soon as its
 * own group's call is — a slow group does not hold the others — and a call that fails fails its own group's asks
 * only, with the error it threw. Nothing is kept after a batch: a later ask in the same request (a later mutation's
 * payload) loads afresh.
 */
export function groupedBatches<Args, T>(
  groupOf: (args: Args) => string,
  load: (ctx: GraphQLContext, ids: string[], args: Args) => Promise<Map<string, T>>,
): (ctx: GraphQLContext, id: string, args: Args) => Promise<T | undefined> {
  const loaders = perRequest(
    (ctx) =>
      new DataLoader<GroupedAsk<Args>, T | undefined>(
        async (asks) => {
          const calls = new Map<string, { args: Args; ids: Set<string> }>();
          const groups = asks.map(({ id, args }) => {
            const group = groupOf(args);
            let call = calls.get(group);
            if (!call) calls.set(group, (call = { args, ids: new Set() }));
            call.ids.add(id);
            return group;
          });
          const loaded = new Map<string, Promise<Map<string, T>>>();
          for (const [group, { args, ids }] of calls) loaded.set(group, load(ctx, [...ids], args));
          // DataLoader resolves each ask's promise with its value, and a promise resolved with a promise follows it:
          // each ask settles with its own group's call, keeping that call's error as it was thrown.
          return asks.map(({ id }, index) => loaded.get(groups[index]!)!.then((byId) => byId.get(id))) as unknown as (T | undefined)[];
        },
        { cache: false, batchScheduleFn: nextTurn },
      ),
  );
  return (ctx, id, args) => loaders(ctx).load({ id, args });
}
