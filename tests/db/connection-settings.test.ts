// No useTestApp(): pools of their own with a short statement timeout; they write no rows.
import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma, poolOf } from '../../src/db/prisma.js';
import { readOnlySnapshot, sqlTransaction } from '../../src/db/sql.js';
import { testDatabaseUrl } from '../support/db.js';

// DATABASE_STATEMENT_TIMEOUT_MS is the connection's own statement and idle-in-transaction timeout.
// The hot paths' transactions used to set both to 30 s for themselves, whatever the operator had set.

const STATEMENT_MS = 400;
const short = createPrisma(testDatabaseUrl(), 2, { connectMs: 5_000, statementMs: STATEMENT_MS });
const pooled = createPrisma(testDatabaseUrl(), 3);
afterAll(async () => Promise.all([short.$disconnect(), pooled.$disconnect()]));

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sqlstate = (error: unknown) => (error as { code?: string }).code;

describe("a transaction on the pool keeps to the connection's timeouts", () => {
  it('a statement longer than DATABASE_STATEMENT_TIMEOUT_MS is cancelled by the server', async () => {
    const error = await sqlTransaction(short, async (tx) => tx.$queryRaw`SELECT pg_sleep(${(STATEMENT_MS * 3) / 1000}::float8)`).catch(
      (caught: unknown) => caught,
    );
    expect(sqlstate(error)).toBe('57014'); // query_canceled: statement timeout
    const snapshotError = await readOnlySnapshot(
      short,
      1,
      async ([db]) => db!.$queryRaw`SELECT pg_sleep(${(STATEMENT_MS * 3) / 1000}::float8)`,
    ).catch((caught: unknown) => caught);
    expect(sqlstate(snapshotError)).toBe('57014');
  });

  it('a pause between statements longer than it ends the transaction', async () => {
    const attempt = sqlTransaction(short, async (tx) => {
      await tx.$queryRaw`SELECT 1`;
      await pause(STATEMENT_MS * 3);
      return tx.$queryRaw`SELECT 1 AS one`;
    });
    await expect(attempt).rejects.toThrow();
    // The pool goes on with a working connection.
    expect(await sqlTransaction(short, async (tx) => tx.$queryRaw`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
  });

  it('a statement within it runs to its end', async () => {
    const rows = await sqlTransaction(short, async (tx) => tx.$queryRaw`SELECT pg_sleep(${STATEMENT_MS / 20_000}::float8), 1 AS one`);
    expect(rows).toEqual([{ pg_sleep: '', one: 1 }]);
  });
});

describe('the pool', () => {
  it('keeps the connections it opened when they sit idle (the same backends serve the next burst)', async () => {
    const pool = poolOf(pooled)!;
    const backends = async () => {
      // Three transactions at once: each on its own connection.
      let inside = 0;
      let release!: () => void;
      const together = new Promise<void>((resolve) => (release = resolve));
      const pids = Promise.all(
        [0, 1, 2].map(() =>
          sqlTransaction(pooled, async (tx) => {
            const [row] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
            inside += 1;
            if (inside === 3) release();
            await together;
            return row!.pid;
          }),
        ),
      );
      return new Set(await pids);
    };
    const first = await backends();
    expect(first.size).toBe(3);
    // node-postgres closes a connection idle for 10 s unless the pool keeps a minimum.
    await pause(11_000);
    expect(pool.totalCount).toBe(3);
    expect(await backends()).toEqual(first);
  }, 30_000);
});
