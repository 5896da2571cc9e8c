// No useTestApp(): pools of their own with short timeouts; one test freezes its own connection's backend
// (SIGSTOP on that one process, thawed in `finally`). They write no rows.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createPrisma, poolOf } from '../../src/db/prisma.js';
import { sqlTransaction } from '../../src/db/sql.js';
import { testDatabaseUrl } from '../support/db.js';

// A hung PostgreSQL (stopped, a dead network) answers nothing: the pool must turn that into an error,
// and not with a timer per statement (node-postgres' query_timeout): with it, 12 000 readMemberStatus calls
// promoted 130 MB into V8's old generation, without it 0.1 MB (src/db/prisma.ts, `watchForSilence`).

const CONNECT_MS = 5_000;
const STATEMENT_MS = 300;
/** How long a statement may go unanswered: the statement timeout and src/db/prisma.ts's 2 s grace. */
const BOUND_MS = STATEMENT_MS + 2_000;
/** Past the bound and two of the watchdog's 1 s ticks: a wrongly counted connection would be closed by then. */
const PAST_THE_BOUND_MS = BOUND_MS + 2_000;

const short = createPrisma(testDatabaseUrl(), 2, { connectMs: CONNECT_MS, statementMs: STATEMENT_MS });
const pool = poolOf(short)!;
afterAll(() => short.$disconnect());

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const backendPid = async (client: { query: (text: string) => Promise<{ rows: Array<{ pid: number }> }> }) =>
  (await client.query('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

describe("the pool's watch for a database that answers nothing", () => {
  it('closes a connection whose server stopped answering: its statement fails, and the pool goes on with a new one', async () => {
    const client = await pool.connect();
    const frozen = await backendPid(client);
    process.kill(frozen, 'SIGSTOP');
    try {
      await expect(client.query('SELECT 1')).rejects.toThrow(`no answer from PostgreSQL within ${BOUND_MS} ms`);
    } finally {
      process.kill(frozen, 'SIGCONT');
      client.release(true);
    }
    const after = await pool.connect();
    try {
      expect(await backendPid(after)).not.toBe(frozen);
      expect((await after.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      after.release();
    }
  }, 20_000);

  it('sets no timer per statement', async () => {
    await Promise.all([pool.query('SELECT 1'), pool.query('SELECT 1')]); // both connections open
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    try {
      for (let statement = 0; statement < 50; statement++) await pool.query('SELECT 1');
      // pg-pool still times each checkout's wait for a connection (connectMs), even with one idle: not a statement's.
      const delays = setTimeoutSpy.mock.calls.map(([, delay]) => delay ?? 0).filter((delay) => delay !== CONNECT_MS);
      expect(delays.filter((delay) => delay >= STATEMENT_MS)).toEqual([]);
    } finally {
      setTimeoutSpy.mockRestore();
    }
  });

  it('lets a statement run longer than a tick of the watch, within the bound', async () => {
    const patient = createPrisma(testDatabaseUrl(), 1, { connectMs: 5_000, statementMs: 2_000 });
    try {
      const { rows } = await poolOf(patient)!.query('SELECT pg_sleep(1.5)::text AS slept');
      expect(rows).toEqual([{ slept: '' }]);
    } finally {
      await patient.$disconnect();
    }
  });

  it('leaves alone a connection checked out and left without a statement past the bound', async () => {
    const client = await pool.connect();
    try {
      const pid = await backendPid(client);
      await pause(PAST_THE_BOUND_MS);
      expect(await backendPid(client)).toBe(pid);
    } finally {
      client.release();
    }
  }, 20_000);

  it('counts every answer: after a transaction that sent BEGIN with its first statement, and a statement node-postgres refused before sending it, the idle connection is left alone', async () => {
    const one = createPrisma(testDatabaseUrl(), 1, { connectMs: 5_000, statementMs: STATEMENT_MS });
    const onePool = poolOf(one)!;
    try {
      const pid = await sqlTransaction(one, async (tx) => {
        const [{ pid }] = await tx.$queryRaw<[{ pid: number }]>`SELECT pg_backend_pid() AS pid`;
        await tx.$queryRaw`SELECT 1`;
        return pid;
      });
      const client = await onePool.connect();
      try {
        expect(await backendPid(client)).toBe(pid);
        await expect(client.query({ text: 'SELECT $1::int', values: 'not an array' as unknown as unknown[] })).rejects.toThrow(
          'Query values must be an array',
        );
      } finally {
        client.release();
      }
      await pause(PAST_THE_BOUND_MS);
      expect((await onePool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows).toEqual([{ pid }]);
    } finally {
      await one.$disconnect();
    }
  }, 20_000);
});
