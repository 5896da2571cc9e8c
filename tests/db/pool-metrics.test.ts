// No useTestApp(): a pool of one connection of its own, so that a second caller must wait; it writes no rows.
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma, poolOf } from '../../src/db/prisma.js';
import { rawSql, sqlTransaction } from '../../src/db/sql.js';
import { trackDatabasePool } from '../../src/metrics.js';
import { testDatabaseUrl } from '../support/db.js';
import { until } from '../support/until.js';

// Long enough to open the connection on a loaded machine; the third test waits it out once.
const CONNECT_MS = 1_000;
const prisma = createPrisma(testDatabaseUrl(), 1, { connectMs: CONNECT_MS, statementMs: 30_000 });
const pool = poolOf(prisma)!;
afterAll(() => prisma.$disconnect());

async function read(registry: Registry) {
  const metrics = await registry.getMetricsAsJSON();
  const values = (name: string) => metrics.find((metric) => metric.name === name)?.values ?? [];
  const of = (name: string, suffix: string) =>
    values(name).find((value) => (value as { metricName?: string }).metricName === `${name}_${suffix}`)?.value ?? NaN;
  return {
    busy: values('treue_db_pool_connections').find((value) => value.labels.state === 'busy')?.value,
    idle: values('treue_db_pool_connections').find((value) => value.labels.state === 'idle')?.value,
    waiting: values('treue_db_pool_waiting')[0]?.value,
    waits: of('treue_db_pool_wait_seconds', 'count'),
    waitedSeconds: of('treue_db_pool_wait_seconds', 'sum'),
    holds: of('treue_db_pool_hold_seconds', 'count'),
    heldSeconds: of('treue_db_pool_hold_seconds', 'sum'),
    failures: values('treue_db_pool_checkout_failures_total')[0]?.value,
  };
}

/** Holds the pool's only connection in a transaction until `release` is called; resolves once it holds it. */
async function holdTheConnection() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: () => void;
  const held = new Promise<void>((resolve) => (holding = resolve));
  const transaction = sqlTransaction(prisma, async (tx) => {
    await tx.$queryRaw`SELECT 1`;
    holding();
    await released;
  });
  await held;
  return { release, transaction };
}

describe("the database pool's metrics", () => {
  it('tell how long a caller waited for the connection another one held, and what was busy meanwhile', async () => {
    await rawSql(prisma).$queryRaw`SELECT 1`; // the one connection is open
    const registry = new Registry();
    const stop = trackDatabasePool(registry, prisma);
    expect(await read(registry)).toMatchObject({ busy: 0, idle: 1, waiting: 0, waits: 0, holds: 0, failures: 0 });

    const holder = await holdTheConnection();
    const asked = performance.now();
    const second = rawSql(prisma).$queryRaw<{ one: number }[]>`SELECT 1 AS one`;
    await until(() => pool.waitingCount === 1, 5_000, 10, 'the second caller to wait');
    expect(await read(registry)).toMatchObject({ busy: 1, idle: 0, waiting: 1, waits: 1, holds: 0 });

    const releasedAt = performance.now();
    holder.release();
    await holder.transaction;
    expect(await second).toEqual([{ one: 1 }]);

    const after = await read(registry);
    expect(after).toMatchObject({ busy: 0, idle: 1, waiting: 0, waits: 2, holds: 2, failures: 0 });
    // The second caller got the connection only after the holder let go of it; the holder held it at least that long.
    expect(after.waitedSeconds).toBeGreaterThanOrEqual((releasedAt - asked) / 1000);
    expect(after.heldSeconds).toBeGreaterThanOrEqual((releasedAt - asked) / 1000);
    stop();
  });

  it('do not count as waiting a caller that node-postgres queues only until its next tick, a connection being idle', async () => {
    const registry = new Registry();
    const stop = trackDatabasePool(registry, prisma);
    expect(pool.idleCount).toBe(1);
    const queued = pool.connect();
    expect(pool.waitingCount).toBe(1);
    // The gauge is read at once (prom-client calls collect synchronously), before the next tick hands the connection over.
    const waiting = registry.getSingleMetric('treue_db_pool_waiting')!.get();
    (await queued).release();
    expect((await waiting).values[0]?.value).toBe(0);
    stop();
  });

  it('count a caller that got no connection within the connect timeout, and stop when told', async () => {
    const registry = new Registry();
    const stop = trackDatabasePool(registry, prisma);
    const holder = await holdTheConnection();
    const refused = await rawSql(prisma).$queryRaw`SELECT 1`.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String(refused)).toMatch(/timeout/);
    expect(await read(registry)).toMatchObject({ waits: 1, failures: 1, waiting: 0 });
    holder.release();
    await holder.transaction;

    stop();
    await rawSql(prisma).$queryRaw`SELECT 1`;
    expect(await read(registry)).toMatchObject({ waits: 1, holds: 1, failures: 1 });
  });
});
