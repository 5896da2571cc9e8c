import type { PrismaClient } from '../../src/db/prisma.js';

/**
 * Polls `probe` until it returns something truthy and returns that value; throws
 * after `timeoutMs`. The one polling helper of the tests: for waiting on work
 * another process or a queue does, never for asserting how long it took.
 */
export async function until<T>(
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 15_000,
  everyMs = 50,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * How many sessions of the test database wait for a lock now (each query here is a transaction: pg_stat_activity
 * is read afresh).
 */
export async function sessionsWaitingForLocks(prisma: PrismaClient): Promise<number> {
  const [row] = await prisma.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return row!.n;
}

/**
 * Waits until at least `count` sessions of the test database wait for a lock: a request queued behind a row a
 * test holds in a transaction of its own (tests/support/holding.ts `whileHolding` does the whole race).
 */
export async function untilWaitingForLocks(
  prisma: PrismaClient,
  count = 1,
  what = `${count} session(s) to wait for a lock`,
): Promise<void> {
  await until(async () => (await sessionsWaitingForLocks(prisma)) >= count, 15_000, 20, what);
}
