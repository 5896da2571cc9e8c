import pg from 'pg';
import type { PrismaClient } from '../../src/db/prisma.js';
import { testDatabaseUrl } from './db.js';
import { sessionsWaitingForLocks, until } from './until.js';

/** What the holder does in its open transaction before the request starts: lock or write the rows it holds. */
export type Hold = (holder: pg.Client) => Promise<unknown>;

/** The member's row, as an operation on the member holds it (the ledger kernel locks it first). */
export const holdMember =
  (memberId: string): Hold =>
  (holder) =>
    holder.query('SELECT 1 FROM members WHERE id = $1 FOR UPDATE', [memberId]);

export interface WhileHolding {
  /** Runs once the request is queued, before the holder's transaction ends: a change committed meanwhile, or more on the holder. */
  meanwhile?: (holder: pg.Client) => Promise<unknown>;
  /** How the holder's transaction ends: COMMIT, or ROLLBACK when what it wrote must not stay. */
  release?: 'COMMIT' | 'ROLLBACK';
}

/**
 * A race made deterministic. A second connection (the holder) opens a transaction and runs `hold`; `request`
 * starts, and this waits until it is queued behind what the holder holds (it fails at once if the request
 * answered without waiting, so the race did not happen); then `meanwhile` runs, then the holder's transaction
 * ends by `release`. What the request answered: its result, or its rejection.
 */
export async function whileHolding<T>(
  prisma: PrismaClient,
  hold: Hold,
  request: () => Promise<T>,
  { meanwhile, release = 'COMMIT' }: WhileHolding = {},
): Promise<T> {
  const holder = new pg.Client({ connectionString: testDatabaseUrl() });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await hold(holder);
    const running = request();
    let answered: { value: unknown } | undefined;
    running.then(
      (value) => (answered = { value }),
      (error: unknown) => (answered = { value: error }), // the rejection is the caller's, awaited below
    );
    await until(
      async () => {
        if (answered) throw new Error('the request answered before it queued behind the held rows', { cause: answered.value });
        return (await sessionsWaitingForLocks(prisma)) >= 1;
      },
      15_000,
      20,
      'the request to queue behind the held rows',
    );
    await meanwhile?.(holder);
    await holder.query(release);
    return await running;
  } finally {
    await holder.end();
  }
}
