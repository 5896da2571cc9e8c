// No useTestApp(): a pool of one connection of its own, so that every statement below is on the one socket it spies on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma } from '../../src/generated/prisma/client.js';
import { beforeLastStatement, lastStatement, refusalOf, refusalSql, sqlTransaction, type RawSql } from '../../src/db/sql.js';
import { createTestPrisma } from '../support/db.js';
import { socketWritesDuring } from '../support/socket-writes.js';

const prisma = createTestPrisma(1);
beforeAll(async () => {
  await prisma.$executeRaw`DROP TABLE IF EXISTS last_probe`;
  await prisma.$executeRaw`CREATE TABLE last_probe (id int PRIMARY KEY)`;
});
afterAll(async () => {
  await prisma.$executeRaw`DROP TABLE IF EXISTS last_probe`;
  await prisma.$disconnect();
});

const probeIds = async () => (await prisma.$queryRaw<{ id: number }[]>`SELECT id FROM last_probe ORDER BY id`).map((row) => row.id);

/** The one connection is out of any transaction, answering one statement at a time. */
async function expectConnectionClean(): Promise<void> {
  const after = await sqlTransaction(prisma, async (tx) => {
    const [first] = await tx.$queryRaw<{ level: string }[]>`SELECT current_setting('transaction_isolation') AS level`;
    const [second] = await tx.$queryRaw<{ open: boolean }[]>`SELECT now() = statement_timestamp() AS open`;
    return { first, second };
  });
  expect(after).toEqual({ first: { level: 'read committed' }, second: { open: false } });
}

describe("a transaction's last statement (lastStatement)", () => {
  it('goes out with COMMIT in one socket write, committed when it answers', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    await sqlTransaction(prisma, async (tx) => tx.$queryRaw`SELECT 1 AS warm`);

    const writes = await socketWritesDuring(() =>
      sqlTransaction(prisma, async (tx) => {
        await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (1)`;
        await lastStatement(tx).$executeRaw`INSERT INTO last_probe (id) VALUES (2)`;
      }),
    );

    // BEGIN + the first statement, then the last + COMMIT: two writes where a separate COMMIT took a third.
    expect(writes).toBe(2);
    expect(await probeIds()).toEqual([1, 2]);
    await expectConnectionClean();
  });

  it('may be the first: BEGIN, the statement and COMMIT in one write', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    const writes = await socketWritesDuring(() =>
      sqlTransaction(
        prisma,
        async (tx) => lastStatement(tx).$queryRaw<{ id: number }[]>`INSERT INTO last_probe (id) VALUES (3) RETURNING id`,
      ),
    );
    expect(writes).toBe(1);
    expect(await probeIds()).toEqual([3]);
  });

  it('returns its rows, and the transaction has nothing left to commit', async () => {
    const rows = await sqlTransaction(prisma, async (tx) => {
      await tx.$queryRaw`SELECT 1 AS first`;
      return lastStatement(tx).$queryRaw<{ n: number; inside: boolean }[]>`SELECT 7 AS n, now() <> statement_timestamp() AS inside`;
    });
    // now() is the transaction's start, older than the statement's: it ran inside the transaction.
    expect(rows).toEqual([{ n: 7, inside: true }]);
    await expectConnectionClean();
  });

  it('a statement after it throws, and what it committed stays', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    await expect(
      sqlTransaction(prisma, async (tx) => {
        await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (4)`;
        await lastStatement(tx).$executeRaw`INSERT INTO last_probe (id) VALUES (5)`;
        await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (6)`;
      }),
    ).rejects.toThrow(/a statement after the transaction ended/);
    expect(await probeIds()).toEqual([4, 5]);
    await expectConnectionClean();
  });

  it('failing, keeps nothing of the transaction: the error as PostgreSQL raised it, the connection clean', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    await prisma.$executeRaw`INSERT INTO last_probe (id) VALUES (7)`;
    const failure = await sqlTransaction(prisma, async (tx) => {
      await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (8)`;
      await lastStatement(tx).$executeRaw`INSERT INTO last_probe (id) VALUES (7)`;
    }).catch((error: unknown) => error);

    expect(failure).toMatchObject({ code: '23505', constraint: 'last_probe_pkey' });
    // 8 went with it: the COMMIT behind the failed statement answered ROLLBACK.
    expect(await probeIds()).toEqual([7]);
    await expectConnectionClean();
  });

  it('a refusal decided in it (refusalSql) fails it with its word, and nothing is kept', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    const insertUnlessTaken = (tx: RawSql, id: number) =>
      lastStatement(tx).$queryRaw`
        WITH added AS (INSERT INTO last_probe (id) VALUES (${id}) ON CONFLICT DO NOTHING RETURNING id)
        SELECT ${refusalSql(Prisma.sql`EXISTS (SELECT 1 FROM added)`, Prisma.sql`${'TAKEN'}::text`)} AS added`;

    expect(await sqlTransaction(prisma, async (tx) => insertUnlessTaken(tx, 9))).toEqual([{ added: true }]);
    const refused = await sqlTransaction(prisma, async (tx) => {
      await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (10)`;
      await insertUnlessTaken(tx, 9);
    }).catch((error: unknown) => error);

    expect(refusalOf(refused)).toBe('TAKEN');
    expect(await probeIds()).toEqual([9]);
    // Any other failure is no refusal.
    expect(refusalOf(Object.assign(new Error('x'), { code: '23505', detail: 'Key (id)=(9) already exists.' }))).toBeNull();
    await expectConnectionClean();
  });
});

describe('nothing is sent with COMMIT that could commit a transaction half done', () => {
  it('a value node-postgres cannot convert: the statement fails before anything is sent, and what came before is rolled back', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    const unconvertible = {
      toPostgres: () => {
        throw new Error('cannot bind this value');
      },
    };
    await expect(
      sqlTransaction(prisma, async (tx) => {
        await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (13)`;
        await lastStatement(tx).$executeRaw`INSERT INTO last_probe (id) VALUES (${unconvertible}::int)`;
      }),
    ).rejects.toThrow('cannot bind this value');
    // Sent with COMMIT after a failure of its own on the client, the server would have committed 13.
    expect(await probeIds()).toEqual([]);
    await expectConnectionClean();
  });

  it('a check before the last statement (beforeLastStatement) that throws: nothing sent, the transaction rolled back', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    await expect(
      sqlTransaction(prisma, async (tx) => {
        await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (14)`;
        beforeLastStatement(tx, () => {
          throw new Error('the answer is not in the statement');
        });
        await lastStatement(tx).$executeRaw`INSERT INTO last_probe (id) VALUES (15)`;
      }),
    ).rejects.toThrow('the answer is not in the statement');
    expect(await probeIds()).toEqual([]);
    await expectConnectionClean();
  });
});

describe('lastStatement on a Prisma interactive transaction', () => {
  it('is the transaction itself: it commits when its work returns', async () => {
    await prisma.$executeRaw`DELETE FROM last_probe`;
    await prisma.$transaction(async (tx) => {
      expect(lastStatement(tx)).toBe(tx);
      await lastStatement(tx).$executeRaw`INSERT INTO last_probe (id) VALUES (11)`;
      await tx.$executeRaw`INSERT INTO last_probe (id) VALUES (12)`;
    });
    expect(await probeIds()).toEqual([11, 12]);
  });
});
