import pg from 'pg';

/** One statement node-postgres sent, and the rows PostgreSQL answered it with. */
export interface StatementRows {
  sql: string;
  /** Its result rows, and every object among their JSON values (a relation's row Prisma read as JSON), at any depth. */
  rows: number;
}

/**
 * The rows PostgreSQL hands the service while `run` runs, statement by statement: each result row, and each row of a
 * relation that Prisma reads inside its parent's row (`relationJoins`: a JSON array of objects per parent, or one
 * object for a to-one relation, counted object by object, nested ones too; a JSON column's objects count as well).
 * What a request made PostgreSQL send, whichever way Prisma asked for it.
 */
export async function rowsDuring<T>(run: () => Promise<T>): Promise<{ statements: StatementRows[]; total: number; result: T }> {
  const statements: StatementRows[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    const sql = (typeof first === 'string' ? first : (first?.text ?? '?')).trim();
    const note = (result: unknown) => statements.push({ sql, rows: rowsOf(result) });
    // node-postgres answers through a callback when given one (the pool's own queries), a promise otherwise.
    const callback = args.findIndex((arg) => typeof arg === 'function');
    if (callback >= 0) {
      const answer = args[callback] as (error: unknown, result: unknown) => void;
      args[callback] = (error: unknown, result: unknown) => {
        if (!error) note(result);
        answer(error, result);
      };
    }
    const answered = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (answered instanceof Promise) answered.then(note, () => undefined);
    return answered;
  } as typeof original;
  try {
    const result = await run();
    return { statements, total: statements.reduce((sum, statement) => sum + statement.rows, 0), result };
  } finally {
    pg.Client.prototype.query = original;
  }
}

function rowsOf(result: unknown): number {
  const rows = (result as { rows?: unknown[] } | undefined)?.rows;
  if (!Array.isArray(rows)) return 0;
  return rows.reduce<number>((sum, row) => sum + 1 + nestedRows(Array.isArray(row) ? row : Object.values(row as object)), 0);
}

/** The rows among `values` read as JSON (a JSON text or parsed): each object, in an array or not, and theirs. */
function nestedRows(values: readonly unknown[]): number {
  let count = 0;
  for (let value of values) {
    if (typeof value === 'string' && (value.startsWith('[') || value.startsWith('{'))) {
      try {
        value = JSON.parse(value);
      } catch {
        continue;
      }
    }
    if (Array.isArray(value)) count += nestedRows(value);
    else if (isJsonObject(value)) count += 1 + nestedRows(Object.values(value));
  }
  return count;
}

/** An object JSON makes (a relation's row), not a column's value such as a Date or a Buffer. */
function isJsonObject(value: unknown): value is object {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}
