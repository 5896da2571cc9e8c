import { describe, expect, it } from 'vitest';
import { readOnlySnapshot } from '../../src/db/sql.js';
import { useTestApp } from '../support/app.js';
import { until } from '../support/until.js';

const { prisma, app } = useTestApp(4);

describe('readOnlySnapshot', () => {
  it('gives every connection the same snapshot: a row committed after it started is seen by none of them', async () => {
    await app.enroll();
    const counts = await readOnlySnapshot(prisma, 3, async (runners) => {
      expect(runners).toHaveLength(3);
      await app.enroll(); // committed on another connection, after the snapshot
      return Promise.all(runners.map(async (db) => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM members`)[0]!.n));
    });
    expect(counts).toEqual([1, 1, 1]);
    expect(await prisma.member.count()).toBe(2);
  });

  it('is read-only, and gives the connections back when the work fails', async () => {
    await expect(readOnlySnapshot(prisma, 2, async (runners) => runners[1]!.$executeRaw`DELETE FROM members`)).rejects.toThrow(/read-only/);
    // All four connections of the pool are free again: four snapshots at once still get one each.
    const sizes = await Promise.all([0, 1, 2, 3].map(() => readOnlySnapshot(prisma, 1, async (runners) => runners.length)));
    expect(sizes).toEqual([1, 1, 1, 1]);
  });

  it('takes only connections the pool has to spare', async () => {
    // Three of the pool's four connections busy in transactions elsewhere …
    let release!: () => void;
    const busy = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const holders = [0, 1, 2].map(() =>
      prisma.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT 1`;
        started += 1;
        await busy;
      }),
    );
    await until(() => started === 3, 5_000, 10, 'three transactions holding connections');
    // … a request for three connections works on the one that is free, instead of waiting.
    const got = await readOnlySnapshot(prisma, 3, async (runners) => runners.length);
    release();
    await Promise.all(holders);
    expect(got).toBe(1);
  });
});
