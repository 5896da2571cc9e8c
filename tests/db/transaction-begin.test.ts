// No useTestApp(): a pool of one connection of its own, so that every statement below is on the one socket it spies on.
import { afterAll, describe, expect, it } from 'vitest';
import { sqlTransaction } from '../../src/db/sql.js';
import { createTestPrisma } from '../support/db.js';
import { statementsDuring } from '../support/statements.js';
import { socketWritesDuring } from '../support/socket-writes.js';

const prisma = createTestPrisma(1);
afterAll(async () => prisma.$disconnect());

describe('a transaction on node-postgres (sqlTransaction)', () => {
  it('sends BEGIN with its first statement, in one socket write', async () => {
    await sqlTransaction(prisma, async (tx) => tx.$queryRaw`SELECT 1 AS warm`);

    const writes = await socketWritesDuring(() =>
      sqlTransaction(prisma, async (tx) => {
        await tx.$queryRaw`SELECT 1 AS one`;
        await tx.$queryRaw`SELECT 2 AS two`;
      }),
    );

    // BEGIN + the first statement, the second, COMMIT: three writes where BEGIN alone took one more.
    expect(writes).toBe(3);
  });

  it('runs the first statement inside the transaction: a throw takes its write back', async () => {
    await prisma.$executeRaw`CREATE TABLE IF NOT EXISTS begin_probe (id int PRIMARY KEY)`;
    await expect(
      sqlTransaction(prisma, async (tx) => {
        await tx.$executeRaw`INSERT INTO begin_probe (id) VALUES (1)`;
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await prisma.$queryRaw`SELECT count(*)::int AS n FROM begin_probe`).toEqual([{ n: 0 }]);

    await sqlTransaction(prisma, async (tx) => tx.$executeRaw`INSERT INTO begin_probe (id) VALUES (1)`);
    expect(await prisma.$queryRaw`SELECT count(*)::int AS n FROM begin_probe`).toEqual([{ n: 1 }]);
    await prisma.$executeRaw`DROP TABLE begin_probe`;
  });

  it('a failing first statement fails the transaction and leaves the connection as it was', async () => {
    await expect(sqlTransaction(prisma, async (tx) => tx.$queryRaw`SELECT 1 / 0 AS broken`)).rejects.toThrow(/division by zero/);

    // The one connection again: out of the transaction, and answering one statement at a time.
    const after = await sqlTransaction(prisma, async (tx) => {
      const [first] = await tx.$queryRaw<{ level: string }[]>`SELECT current_setting('transaction_isolation') AS level`;
      const [second] = await tx.$queryRaw<{ open: boolean }[]>`SELECT now() = statement_timestamp() AS open`;
      return { first, second };
    });
    expect(after).toEqual({ first: { level: 'read committed' }, second: { open: false } });
  });

  it('statements sent at once are answered in order, inside the transaction', async () => {
    const answers = await sqlTransaction(prisma, async (tx) =>
      Promise.all([
        tx.$queryRaw<{ n: number; at: Date }[]>`SELECT 1 AS n, now() AS at`,
        tx.$queryRaw<{ n: number; at: Date }[]>`SELECT 2 AS n, now() AS at`,
        tx.$queryRaw<{ n: number; at: Date }[]>`SELECT 3 AS n, now() AS at`,
      ]),
    );

    expect(answers.map(([row]) => row!.n)).toEqual([1, 2, 3]);
    // now() is the transaction's start: one transaction for the three.
    expect(new Set(answers.map(([row]) => row!.at.getTime())).size).toBe(1);
  });

  it('a transaction that runs no statement sends nothing', async () => {
    const { statements, result } = await statementsDuring(() => sqlTransaction(prisma, async () => 'nothing to do'));
    expect(result).toBe('nothing to do');
    expect(statements).toEqual([]);
  });
});
