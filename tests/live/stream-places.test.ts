// No useTestApp(): stream places are a Redis structure; these tests read no database.
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createStreamPlaces } from '../../src/live/stream-places.js';
import { testLogger } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

/**
 * The places of open live streams, counted in Redis per caller and kind of stream (src/live/stream-places.ts). The
 * streams through two API processes: tests/live/stream-limits.test.ts.
 */
describe('stream places whose process stopped renewing their leases', () => {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  afterEach(() => resetRedis(redis));
  afterAll(() => redis.disconnect());
  const places = (leaseMs: number) =>
    createStreamPlaces({ logger: testLogger, redis: { client: redis, prefix: testQueuePrefix() }, maxPerWatcher: 2, leaseMs });

  it('are freed when their lease runs out; places renewed by a live process are not', async () => {
    const dead = places(2_000);
    const live = places(2_000);
    await dead.ready;
    expect(await dead.take('memberStatus', 'member:m-1')).toBeTypeOf('function');
    expect(await live.take('memberStatus', 'member:m-1')).toBeTypeOf('function');
    expect(await live.take('memberStatus', 'member:m-1')).toBeUndefined();
    // The dead process renews nothing from now on (as one killed would), and releases nothing.
    dead.close();
    await until(async () => (await live.take('memberStatus', 'member:m-1')) !== undefined, 10_000, 50, "the dead process's place");
    // The live process's first place was renewed all along: still counted, so the caller is at the limit again.
    expect(await live.take('memberStatus', 'member:m-1')).toBeUndefined();
    live.close();
  });

  it('a release frees one place, once, and a place is counted under one key per caller and kind of stream', async () => {
    const one = places(30_000);
    await one.ready;
    const release = (await one.take('approvalQueue', 'staff:s-1'))!;
    await one.take('approvalQueue', 'staff:s-1');
    expect(await one.take('approvalQueue', 'staff:s-1')).toBeUndefined();
    expect(await one.take('memberStatus', 'staff:s-1')).toBeTypeOf('function');
    release();
    release();
    expect(await one.take('approvalQueue', 'staff:s-1')).toBeTypeOf('function');
    expect(await one.take('approvalQueue', 'staff:s-1')).toBeUndefined();
    expect((await redis.keys(`${testQueuePrefix()}:live-streams:*`)).sort()).toEqual([
      `${testQueuePrefix()}:live-streams:approvalQueue:staff:s-1`,
      `${testQueuePrefix()}:live-streams:memberStatus:staff:s-1`,
    ]);
    one.close();
  });

  it("renews every caller's places together, in one pipeline per tick, not one command per caller", async () => {
    const client = redis.duplicate();
    try {
      const one = createStreamPlaces({
        logger: testLogger,
        redis: { client, prefix: testQueuePrefix() },
        maxPerWatcher: 2,
        leaseMs: 1_500,
      });
      await one.ready;
      const callers = ['member:m-1', 'member:m-2', 'staff:s-1'];
      for (const caller of callers) await one.take('memberStatus', caller);
      const key = (caller: string) => `${testQueuePrefix()}:live-streams:memberStatus:${caller}`;
      const leases = async () =>
        Promise.all(callers.map(async (caller) => Number((await redis.zrange(key(caller), 0, 0, 'WITHSCORES'))[1])));
      const taken = await leases();

      // Watched from here on: commands sent on their own, and the size of each pipeline sent.
      const evals = vi.spyOn(client, 'eval');
      const pipelines: number[] = [];
      const pipeline = client.pipeline.bind(client);
      vi.spyOn(client, 'pipeline').mockImplementation((...args: Parameters<typeof client.pipeline>) => {
        const batch = pipeline(...args);
        const exec = batch.exec.bind(batch);
        batch.exec = (...execArgs: Parameters<typeof batch.exec>) => {
          pipelines.push(batch.length);
          return exec(...execArgs);
        };
        return batch;
      });
      await until(async () => (await leases()).every((lease, i) => lease > taken[i]!), 10_000, 20, 'every lease renewed');
      one.close();

      expect(evals).not.toHaveBeenCalled();
      expect(pipelines.length).toBeGreaterThan(0);
      expect(new Set(pipelines)).toEqual(new Set([callers.length]));
    } finally {
      client.disconnect();
    }
  });
});
