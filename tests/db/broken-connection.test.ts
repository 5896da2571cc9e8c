// No useTestApp(): a small pool of its own whose connections it terminates on purpose; it writes no rows.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { sqlTransaction } from '../../src/db/sql.js';
import { createTestPrisma, testDatabaseUrl } from '../support/db.js';
import { until } from '../support/until.js';

// PostgreSQL restarted or a backend terminated while the service holds a connection between
// two statements of a transaction: the pool listens only on idle clients, so the client's
// 'error' event was uncaught and took the whole API process down (found by the fault scripts).

const prisma = createTestPrisma(2);
afterAll(async () => prisma.$disconnect());

describe('a connection broken while checked out', () => {
  it('fails the transaction that holds it, not the process, and the pool goes on with a new connection', async () => {
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const attempt = sqlTransaction(prisma, async (tx) => {
        const [{ pid }] = await tx.$queryRaw<[{ pid: number }]>`SELECT pg_backend_pid() AS pid`;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // Between statements: the server's FATAL arrives while no query is running.
        await until(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, 5_000);
        await new Promise((resolve) => setImmediate(resolve));
        await tx.$queryRaw`SELECT 1`;
      });
      await expect(attempt).rejects.toThrow();
      expect(uncaught).toEqual([]);
      expect(await sqlTransaction(prisma, async (tx) => tx.$queryRaw`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await admin.end();
    }
  });
});
