import pg from 'pg';

/** One statement the service sent, and the rows PostgreSQL went through to answer it, by table. */
export interface StatementScan {
  sql: string;
  /** Per table: each scan's rows — those it passed on and those its filter dropped — times its loops. */
  read: Map<string, number>;
  /** The plan in a line: each node, its index, and the rows it went through in all (for a failing test's message). */
  plan: string;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** The rows a node went through in all its loops: those it passed on and those its filters dropped. */
const rowsOf = (node: PlanNode) =>
  ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) *
  (node['Actual Loops'] ?? 1);

function addScans(node: PlanNode, read: Map<string, number>): void {
  const table = node['Relation Name'];
  if (table !== undefined) read.set(table, (read.get(table) ?? 0) + rowsOf(node));
  for (const child of node.Plans ?? []) addScans(child, read);
}

function describe(node: PlanNode): string {
  const index = node['Index Name'] ? ` ${node['Index Name']}` : node['Relation Name'] ? ` ${node['Relation Name']}` : '';
  const children = (node.Plans ?? []).map(describe);
  return `${node['Node Type']}${index} (${rowsOf(node)})${children.length > 0 ? ` [${children.join(', ')}]` : ''}`;
}

/**
 * What PostgreSQL read for the statements sent while `run` runs, not only what it answered (tests/support/rows-read.ts):
 * each read-only statement (a SELECT) is run again afterwards, with the same parameters, under `EXPLAIN (ANALYZE)`,
 * and every scan of a table counts the rows it went through — a sort of 5 000 rows for a page of 10 reads 5 000 here,
 * where its answer holds 11. Run again on a connection of its own (`url`), after `run`: the plan is PostgreSQL's for
 * those parameters, as the service's was.
 */
export async function rowsScannedDuring<T>(
  url: string,
  run: () => Promise<T>,
): Promise<{ result: T; statements: StatementScan[]; read: (table: string) => number }> {
  const sent: { text: string; values: unknown[] }[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string; values?: unknown[] };
    const text = typeof first === 'string' ? first : (first?.text ?? '');
    const values = typeof first === 'string' ? (Array.isArray(args[1]) ? (args[1] as unknown[]) : []) : (first?.values ?? []);
    if (/^\s*SELECT\b/i.test(text)) sent.push({ text, values });
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  let result: T;
  try {
    result = await run();
  } finally {
    pg.Client.prototype.query = original;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const statements: StatementScan[] = [];
  try {
    for (const { text, values } of sent) {
      const explained = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${text}`,
        values,
      );
      const plan = explained.rows[0]!['QUERY PLAN'][0].Plan;
      const read = new Map<string, number>();
      addScans(plan, read);
      statements.push({ sql: text, read, plan: describe(plan) });
    }
  } finally {
    await client.end();
  }
  const read = (table: string) => statements.reduce((sum, statement) => sum + (statement.read.get(table) ?? 0), 0);
  return { result, statements, read };
}
