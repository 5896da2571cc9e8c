// No useTestApp(): pools of their own with a short statement timeout; they write no rows.
import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma, poolOf } from '../../src/db/prisma.js';
import { readOnlySnapshot, sqlTransaction } from '../../src/db/sql.js';
import { createScratchDatabase, dropTestDatabase, testDatabaseUrl } from '../support/db.js';
import { openMaintenanceClient, quoteIdent } from '../support/postgres.js';

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

describe('a database whose time zone is not UTC', () => {
  // PostgreSQL's timezone is initdb's system zone unless set: Europe/Berlin on a German company's server, say.
  // A DateTime that Prisma's adapter sends carries no offset and was read in that zone: an hour or two off.
  it('keeps every instant the service writes, through Prisma and through raw SQL', async () => {
    const url = await createScratchDatabase('berlin-connection');
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    const maintenance = await openMaintenanceClient();
    await maintenance.query(`ALTER DATABASE ${quoteIdent(name)} SET timezone TO 'Europe/Berlin'`);
    await maintenance.end();
    const berlin = createPrisma(url, 2);
    try {
      const at = new Date('2026-10-31T10:30:00.000Z');
      const member = await berlin.member.create({
        data: { externalId: 'tz-1', name: 'Zeit', enrolledAt: at, lastActivityAt: at },
        select: { id: true },
      });
      await berlin.$executeRaw`UPDATE members SET updated_at = ${at} WHERE id = ${member.id}::uuid`;
      await sqlTransaction(berlin, async (tx) => tx.$executeRaw`UPDATE members SET tier_since = ${at} WHERE id = ${member.id}::uuid`);
      const [row] = await berlin.$queryRaw<{ enrolled: string; updated: string; changed: string; zone: string }[]>`
        SELECT to_char(enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS enrolled,
               to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS updated,
               to_char(tier_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS changed,
               current_setting('TimeZone') AS zone
        FROM members WHERE id = ${member.id}::uuid`;
      expect(row).toEqual({ enrolled: '2026-10-31T10:30', updated: '2026-10-31T10:30', changed: '2026-10-31T10:30', zone: 'UTC' });
    } finally {
      await berlin.$disconnect();
      await dropTestDatabase(url);
    }
  });
});
