import pg from 'pg';

/**
 * The SQL statements node-postgres sends while `run` runs — Prisma's (through
 * its pg adapter) and raw ones alike — in order, with `run`'s result. For
 * tests that hold a hot path to its number of round trips.
 */
export async function statementsDuring<T>(run: () => Promise<T>): Promise<{ statements: string[]; result: T }> {
  const statements: string[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    statements.push((typeof first === 'string' ? first : (first?.text ?? '?')).trim());
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { statements, result: await run() };
  } finally {
    pg.Client.prototype.query = original;
  }
}
