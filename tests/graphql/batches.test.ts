// No useTestApp(): the per-request batching alone, with loads of the test's own; no database involved.
import { describe, expect, it } from 'vitest';
import { groupedBatches } from '../../src/graphql/batches.js';
import type { GraphQLContext } from '../../src/graphql/context.js';

/** A promise and the hand that settles it. */
function gate<T>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

class GroupRefused extends Error {}

describe('groupedBatches', () => {
  it('one call per group of a turn, each id once; each ask settles with its own group, failures as thrown', async () => {
    const ctx = {} as GraphQLContext;
    const calls: [string, string[]][] = [];
    const slow = gate<void>();
    const refused = new GroupRefused('this group only');
    const load = groupedBatches(
      (group: string) => group,
      async (_ctx, ids, group: string) => {
        calls.push([group, ids]);
        if (group === 'slow') await slow.promise;
        if (group === 'bad') throw refused;
        return new Map(ids.filter((id) => id !== 'nowhere').map((id) => [id, `${group}:${id}`]));
      },
    );
    const ask = (group: string, id: string) => load(ctx, id, group);
    const fastA = ask('fast', 'a');
    const fastAgain = ask('fast', 'a');
    const fastB = ask('fast', 'b');
    const slowA = ask('slow', 'a');
    const bad = ask('bad', 'a');
    const missing = ask('fast', 'nowhere');

    // The slow group is still waiting: the fast one has answered, the bad one has failed with its own error.
    expect(await Promise.all([fastA, fastAgain, fastB])).toEqual(['fast:a', 'fast:a', 'fast:b']);
    await expect(bad).rejects.toBe(refused);
    expect(await missing).toBeUndefined();
    let slowAnswered = false;
    void slowA.then(() => (slowAnswered = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(slowAnswered).toBe(false);
    slow.open();
    expect(await slowA).toBe('slow:a');

    expect(calls).toEqual([
      ['fast', ['a', 'b', 'nowhere']],
      ['slow', ['a']],
      ['bad', ['a']],
    ]);
    // Nothing kept: a later ask loads afresh.
    expect(await ask('fast', 'a')).toBe('fast:a');
    expect(calls).toHaveLength(4);
  });
});
