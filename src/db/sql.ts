import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { Prisma } from '../generated/prisma/client.js';
import { poolOf, type PrismaClient } from './prisma.js';

/**
 * Raw SQL in a transaction, the way the hot paths need it. The same tagged
 * templates as Prisma's `$queryRaw` / `$executeRaw` (a Prisma transaction
 * client is a `RawSql` too), so one implementation of a rule runs on either:
 *
 * - on the node-postgres pool under the Prisma client (`createPrisma` shares
 *   it): each template becomes a named prepared statement — parsed and
 *   planned once per connection — and no query goes through Prisma's engine,
 *   whose per-query cost (~0.5 ms of CPU here, 5–8 × node-postgres) dominated
 *   the point operations;
 * - on a Prisma interactive transaction, for a client built elsewhere (a test
 *   logging Prisma's queries, say).
 *
 * Templates must cast what they return to types both read the same way
 * (int, bigint, text, boolean, timestamptz, jsonb): numeric differs (Decimal
 * in Prisma, a string in node-postgres). A bigint is a JS bigint in both
 * (`INT8_AS_BIGINT`): exact past 2^53 and never an int32, as a bigint column's
 * field is in Prisma's own reads (members.lifetime_points).
 */
export interface RawSql {
  $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
}

interface Statement {
  name: string | undefined;
  text: string;
  values: unknown[];
  types: pg.CustomTypesConfig;
}

/**
 * node-postgres' own conversion of a parameter to what it sends (its documented `toPostgres`, dates, arrays, JSON),
 * which it runs while writing a query: a value it cannot convert fails the query before anything reaches the server.
 * Not in its typings; `pg/lib/*` is in its package exports.
 */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

/** PostgreSQL's type id of bigint (int8). */
const INT8 = 20;

/**
 * How a template's results are read on node-postgres: as node-postgres reads them, but a bigint as a JS bigint,
 * which Prisma's raw queries give for it too (node-postgres' own default is a string). Per statement, not set on
 * the pool: the Prisma client on the same pool reads its results itself.
 */
const INT8_AS_BIGINT: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? BigInt : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Prepared statements per connection stay few: the hot paths' templates, and at most this many texts in all. */
const MAX_PREPARED = 200;
const namesByTemplate = new WeakMap<TemplateStringsArray, { name: string | undefined; text: string }>();
const namesByText = new Map<string, string>();

function nameFor(text: string): string | undefined {
  let name = namesByText.get(text);
  if (name === undefined && namesByText.size < MAX_PREPARED) {
    name = `treue_${namesByText.size + 1}`;
    namesByText.set(text, name);
  }
  return name;
}

/**
 * A template as one statement: `$n` placeholders, named by its text so that it
 * is prepared once per connection. Nested `Prisma.sql` fragments are flattened
 * as `$queryRaw` does (a fragment with a variable number of parameters makes a
 * new text each time: past MAX_PREPARED texts, statements run unnamed).
 */
function statementOf(strings: TemplateStringsArray, values: unknown[]): Statement {
  if (values.some((value) => value instanceof Prisma.Sql)) {
    const sql = new Prisma.Sql(strings, values);
    return { name: nameFor(sql.text), text: sql.text, values: sql.values, types: INT8_AS_BIGINT };
  }
  let known = namesByTemplate.get(strings);
  if (!known) {
    const text = strings.reduce((sql, part, index) => `${sql}$${index}${part}`);
    known = { name: nameFor(text), text };
    namesByTemplate.set(strings, known);
  }
  // Field by field: `{ ...known, values }` would give every statement a hidden class of its own (src/with-fields.ts).
  return { name: known.name, text: known.text, values, types: INT8_AS_BIGINT };
}

/**
 * A statement assembled from `Prisma.sql` fragments once and run many times with other values. `build` is given
 * `slots` — one sentinel per value that changes between runs, of the type the fragments expect — and each run sends
 * the statement with its own values in their places: `db.$queryRaw(template.strings, ...template.values(values))`.
 * Every run has the same template, so the statement is named and prepared by its identity (`namesByTemplate`), with
 * no flattening of fragments, no new text and no lookup by text per run; values that are not slots are the ones
 * `build` gave, sent as they are each time. A slot the statement does not use is ignored; a slot it uses in several
 * places is one parameter, sent once (`$n` again in the text where it recurs: a run's `now` or member id is converted,
 * sent and parsed once, not once per place). PostgreSQL types that parameter at its first place, so every place must
 * give it the same type: a slot cast to two types (`::timestamptz` here, `::date` there) is refused; a place without a
 * cast takes the type from its context.
 *
 * `build` is called twice, with two sets of sentinels (`slots`: each set's sentinels distinct from one another and
 * from every value `build` fixes — an object of its own, a string or a number no real value is), and the two must
 * differ only in the slots' places: a value `build` computed from a slot (`take + 1`, a date moved by a day) would be
 * sent as computed from the sentinel on every run, so it is refused here, as is a text that depends on a slot. A
 * decision `build` takes by comparing slots (`availableAt <= now`, `points > 0`) is refused only if the two sets
 * decide it differently: let the second set reverse the order of the first's dates and numbers (and its signs), and
 * give array slots contents of their own in each set.
 */
export class StatementTemplate<S extends Record<string, unknown>> {
  readonly strings: TemplateStringsArray;
  /** Per parameter of the statement, in order: the slot it is, or undefined for a value `build` fixed. */
  private readonly slotOf: (keyof S | undefined)[];
  /** Per parameter: the value `build` fixed (for a slot, unused). */
  private readonly fixed: unknown[];

  constructor(build: (slots: S) => Prisma.Sql, slots: readonly [S, S]) {
    const [sql, again] = slots.map((set) => build(set)) as [Prisma.Sql, Prisma.Sql];
    const [slotsOf, slotsAgain] = slots.map(sentinelsOf) as [Map<unknown, keyof S>, Map<unknown, keyof S>];
    const refuse = (why: string) => {
      throw new Error(`StatementTemplate: ${why}`);
    };
    if (sql.strings.length !== again.strings.length || sql.strings.some((part, index) => part !== again.strings[index]))
      refuse('its text depends on a slot');
    const slotOfValue = sql.values.map((value, index) => {
      const slot = slotsOf.get(value);
      const other = again.values[index];
      if (slot === undefined ? slotsAgain.has(other) || !isDeepStrictEqual(other, value) : slotsAgain.get(other) !== slot)
        refuse(`value ${index + 1} is computed from a slot, or a sentinel equals a value it fixes`);
      return slot;
    });
    // One parameter per slot: where a slot recurs, the text names the parameter of its first place (parameters are
    // numbered in order, `$1` first, by whoever runs the template: statementOf here, Prisma on its own transactions).
    const parts = [sql.strings[0]!];
    this.slotOf = [];
    this.fixed = [];
    const parameterOf = new Map<keyof S, number>();
    const castOf = new Map<keyof S, string>();
    slotOfValue.forEach((slot, index) => {
      const after = sql.strings[index + 1]!;
      if (slot !== undefined) {
        const cast = CAST.exec(after)?.[0];
        const earlier = castOf.get(slot);
        if (cast !== undefined && earlier !== undefined && cast !== earlier)
          refuse(`slot ${String(slot)} is cast to ${earlier} and to ${cast}: one parameter has one type`);
        if (cast !== undefined) castOf.set(slot, cast);
      }
      const known = slot === undefined ? undefined : parameterOf.get(slot);
      if (known !== undefined) {
        parts[parts.length - 1] += `$${known}${after}`;
        return;
      }
      this.slotOf.push(slot);
      this.fixed.push(sql.values[index]);
      if (slot !== undefined) parameterOf.set(slot, this.slotOf.length);
      parts.push(after);
    });
    this.strings = Object.freeze(Object.assign(parts, { raw: Object.freeze([...parts]) })) as unknown as TemplateStringsArray;
  }

  /** The statement's parameters for one run, `values` in the slots' places. */
  values(values: S): unknown[] {
    const out = new Array<unknown>(this.fixed.length);
    for (let index = 0; index < out.length; index++) {
      const slot = this.slotOf[index];
      out[index] = slot === undefined ? this.fixed[index] : values[slot];
    }
    return out;
  }
}

/** What a slot of a `StatementTemplate` holds, as `slotSentinels` makes its sentinels. */
type SlotKindOf<T> = T extends Date
  ? 'date'
  : T extends number
    ? 'number'
    : T extends string
      ? 'text'
      : T extends readonly number[]
        ? 'numbers'
        : T extends readonly (string | null)[]
          ? 'texts'
          : never;

/** The kind of each slot of `S` (its named fields, not its index signature); a nullable slot is its value's kind. */
export type SlotKinds<S> = { [K in keyof S as string extends K ? never : K]-?: SlotKindOf<NonNullable<S[K]>> };

/**
 * The two sets of sentinels of a `StatementTemplate`, made from each slot's kind by the rules its constructor states:
 * texts that no real value is (a NUL, the slot's name, one NUL more in the second set), numbers at the ends of the
 * safe integers and a thousand apart (no sum of one set's gives another of its own; the second set's positive and in
 * the reverse order of the first's), dates a millisecond apart (the second set's in the reverse order), arrays of one
 * sentinel of their own. A decision taken by comparing slots then comes out otherwise in the two builds, and is
 * refused.
 */
export function slotSentinels<S extends Record<string, unknown>>(kinds: SlotKinds<S>): readonly [S, S] {
  const set = (second: boolean) => {
    const sentinels: Record<string, unknown> = {};
    Object.entries(kinds as Record<string, string>).forEach(([name, kind], index) => {
      const text = `\u0000${name}${second ? '\u0000' : ''}`;
      const number = second ? Number.MAX_SAFE_INTEGER - index * 1_000 : Number.MIN_SAFE_INTEGER + index * 1_000;
      const date = new Date(second ? 2_000 - index : 1_000 + index);
      const byKind = { text, number, date, texts: [text], numbers: [number] } as const;
      sentinels[name] = byKind[kind as keyof typeof byKind];
    });
    return sentinels as S;
  };
  return [set(false), set(true)];
}

/** The cast right after a parameter (`::timestamptz`, `::"ActorType"`, `::text[]`), as written in a template's text. */
const CAST = /^::(?:"[^"]+"|[a-z_][a-z0-9_]*)(?:\[\])*/i;

/** A set of sentinels by value, each distinct. */
function sentinelsOf<S extends Record<string, unknown>>(slots: S): Map<unknown, keyof S> {
  const bySentinel = new Map<unknown, keyof S>();
  for (const key of Object.keys(slots) as (keyof S)[]) {
    if (bySentinel.has(slots[key])) throw new Error(`StatementTemplate: slot ${String(key)} shares its sentinel with another`);
    bySentinel.set(slots[key], key);
  }
  return bySentinel;
}

/** On one connection (a transaction's) or on the pool (single statements, each on any free connection). */
class PgRunner implements RawSql {
  constructor(private readonly client: pg.PoolClient | pg.Pool) {}

  async $queryRaw<T = unknown>(strings: TemplateStringsArray, ...values: unknown[]): Promise<T> {
    const result = await this.run(statementOf(strings, values));
    return result.rows as T;
  }

  async $executeRaw(strings: TemplateStringsArray, ...values: unknown[]): Promise<number> {
    const result = await this.run(statementOf(strings, values));
    return result.rowCount ?? 0;
  }

  protected run(statement: Statement): Promise<pg.QueryResult> {
    return this.client.query(statement);
  }
}

/** What this module reaches of a node-postgres client beyond its typings: the pipelining switch and the socket. */
interface PipelinedClient {
  pipeline?: boolean;
  connection?: { stream?: { cork?: () => void; uncork?: () => void } };
}

/**
 * A transaction's connection, which sends BEGIN together with the transaction's first statement:
 * one socket write and one round trip for both, where BEGIN alone cost a write, a wait and a
 * wake-up on each side. node-postgres sends a query only after the answer to the one before
 * unless the client pipelines (its documented `pipeline` option): for these two it does, the
 * switch on only while both are on their way, and the socket corked around them as
 * node-postgres corks each query's own messages. PostgreSQL runs them in order, so the
 * statement runs inside the transaction; should BEGIN fail, the connection is broken and the
 * statement fails with it.
 *
 * Likewise the transaction's last statement, when its caller says which it is (`lastStatement`), goes out with
 * COMMIT. Each query carries its own Sync: a statement that fails aborts the transaction and the COMMIT behind it
 * answers ROLLBACK, so nothing of it is kept; a statement that succeeds is committed before its answer is read.
 */
class TransactionRunner extends PgRunner {
  /** BEGIN and the first statement, once sent; a transaction that ran no statement has nothing to end. */
  private opening: Promise<unknown> | undefined;
  /** Ended by a last statement sent with COMMIT, which PostgreSQL answered (COMMIT, or ROLLBACK after a failure). */
  private ended = false;

  constructor(private readonly connection: pg.PoolClient) {
    super(connection);
  }

  /** COMMIT or ROLLBACK, once BEGIN and the first statement are answered; nothing when no statement ran or the last one ended it. */
  async end(command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (!this.opening || this.ended) return;
    await this.opening;
    await this.connection.query(command);
  }

  protected override async run(statement: Statement): Promise<pg.QueryResult> {
    this.refuseAfterEnd();
    if (!this.opening) {
      const opened = sendTogether(this.connection, [BEGIN, statement]).then((answers) => answered(answers, 1));
      this.opening = opened.catch(() => undefined);
      return opened;
    }
    // A statement sent while the two are on their way waits for them: the switch is on only for them.
    await this.opening;
    return super.run(statement);
  }

  /** `statement` and COMMIT in one write (with BEGIN before them when it is the first); the transaction is over. */
  async runAndCommit(statement: Statement): Promise<pg.QueryResult> {
    this.refuseAfterEnd();
    for (const check of this.lastChecks) check();
    // Converted before anything is sent: a value node-postgres cannot convert would fail the statement on the client,
    // the server would never see it, and the COMMIT behind it would commit what came before.
    // A spread that only replaces a field the statement has keeps its hidden class (src/with-fields.ts).
    const prepared = { ...statement, values: statement.values.map((value) => prepareValue(value)) };
    const first = !this.opening;
    if (this.opening) await this.opening;
    const sent = sendTogether(this.connection, first ? [BEGIN, prepared, COMMIT] : [prepared, COMMIT]);
    this.opening = sent;
    const answers = await sent;
    const commit = answers[answers.length - 1]!;
    // COMMIT answered (COMMIT, or ROLLBACK after a failure before it): nothing is open. Else COMMIT itself failed, the
    // connection with it, and `end` sends ROLLBACK, as after any COMMIT that failed, and finds the connection broken.
    if (commit.status === 'fulfilled') this.ended = true;
    const [statementAnswer] = answers.slice(-2);
    if (statementAnswer!.status === 'rejected' && commit.status === 'fulfilled' && commit.value.command === 'COMMIT') {
      throw new Error("the transaction's last statement failed before it reached PostgreSQL, and what came before it was committed", {
        cause: statementAnswer!.reason,
      });
    }
    const result = answered(answers, answers.length - 2);
    const { command } = answered(answers, answers.length - 1);
    if (command !== 'COMMIT') throw new Error(`the transaction's last statement succeeded, but COMMIT answered ${command}`);
    return result;
  }

  /** Checks run before the last statement is sent (`beforeLastStatement`): a throw sends nothing. */
  readonly lastChecks: (() => void)[] = [];

  /** The runner of the last statement: `lastStatement`'s answer. */
  readonly last: RawSql = {
    $queryRaw: async <T>(strings: TemplateStringsArray, ...values: unknown[]) =>
      (await this.runAndCommit(statementOf(strings, values))).rows as T,
    $executeRaw: async (strings: TemplateStringsArray, ...values: unknown[]) =>
      (await this.runAndCommit(statementOf(strings, values))).rowCount ?? 0,
  };

  private refuseAfterEnd(): void {
    if (this.ended) throw new Error('a statement after the transaction ended with its last statement (lastStatement)');
  }
}

/**
 * `tx` for its transaction's last statement: the next statement sent through it goes out together with COMMIT, one
 * write and one round trip for both, and the transaction is over when it is answered — its caller sends nothing after
 * it (a further statement throws), and `sqlTransaction` has nothing left to commit. The statement must therefore be
 * all or nothing: a refusal decided after it, in JavaScript, would come after the commit, so such a statement
 * refuses in SQL instead (`refusalSql`), failing, and the COMMIT behind it answers ROLLBACK. On a transaction that is
 * not one of `sqlTransaction`'s on the pool (a Prisma interactive transaction), `tx` itself: its transaction commits
 * when its work returns.
 */
export function lastStatement(tx: RawSql): RawSql {
  return tx instanceof TransactionRunner ? tx.last : tx;
}

/**
 * Runs `check` before `tx`'s last statement (`lastStatement`) is sent; should it throw, nothing is sent and the
 * transaction rolls back as after any throw. For a frame that needs something written in that statement because
 * nothing can be written after it (the ledger kernel: the request's answer, stored with the effect).
 */
export function beforeLastStatement(tx: RawSql, check: () => void): void {
  if (tx instanceof TransactionRunner) tx.lastChecks.push(check);
}

/**
 * Sends `queries` in one write, node-postgres pipelining them (its documented `pipeline` option, on only while they
 * are on their way; the socket corked around them as node-postgres corks each query's own messages), and settles
 * once every one is answered: node-postgres must not leave a pipelined query unread when the switch goes off.
 */
async function sendTogether(
  client: pg.PoolClient,
  queries: readonly (Statement | string)[],
): Promise<PromiseSettledResult<pg.QueryResult>[]> {
  const pipelined = client as unknown as PipelinedClient;
  const socket = pipelined.connection?.stream;
  pipelined.pipeline = true;
  let answers: Promise<PromiseSettledResult<pg.QueryResult>[]>;
  socket?.cork?.();
  try {
    answers = Promise.allSettled(queries.map((query) => client.query(query)));
  } finally {
    socket?.uncork?.();
  }
  return answers.finally(() => (pipelined.pipeline = false));
}

/** The answer to query `index` of queries sent together, or the first failure up to it (a failure aborts what follows). */
function answered(answers: readonly PromiseSettledResult<pg.QueryResult>[], index: number): pg.QueryResult {
  for (let at = 0; at <= index; at++) {
    const answer = answers[at]!;
    if (answer.status === 'rejected') throw answer.reason;
  }
  return (answers[index] as PromiseFulfilledResult<pg.QueryResult>).value;
}

/**
 * A transaction is bounded by its connection's own settings: `createPrisma` opens every
 * connection of the pool with `statement_timeout` and `idle_in_transaction_session_timeout`
 * at DATABASE_STATEMENT_TIMEOUT_MS, so no statement and no pause between statements may
 * take longer, or the server ends it.
 */
const BEGIN = 'BEGIN';
const COMMIT = 'COMMIT';

/** SQLSTATEs after which the connection itself is suspect (admin shutdown, crash, protocol). */
const BROKEN_CONNECTION = /^(08|57P0)/;

/**
 * Runs `work` in one READ COMMITTED transaction: COMMIT when it resolves,
 * ROLLBACK when it throws (the error propagates unchanged). On the pool shared
 * with Prisma when there is one, BEGIN going out with the first statement
 * (`TransactionRunner`), else as a Prisma interactive transaction.
 */
/**
 * `json_build_object` of `columns` (key → expression), keys in their order: the JSON of a row's chosen columns, whose
 * keys are the names a reader gives them. Keys come from code, never from input: each is written as a literal.
 */
export function jsonObjectSql(columns: Readonly<Record<string, Prisma.Sql>>): Prisma.Sql {
  const pairs = Object.entries(columns).map(([key, value]) => Prisma.sql`${Prisma.raw(`'${key.replaceAll("'", "''")}'`)}, ${value}`);
  return Prisma.sql`json_build_object(${Prisma.join(pairs, ', ')})`;
}

export async function sqlTransaction<T>(prisma: PrismaClient, work: (tx: RawSql) => Promise<T>): Promise<T> {
  const pool = poolOf(prisma);
  if (!pool) return prisma.$transaction((tx) => work(tx));
  const client = await pool.connect();
  const runner = new TransactionRunner(client);
  let broken: Error | undefined;
  try {
    const result = await work(runner);
    await runner.end('COMMIT');
    return result;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && BROKEN_CONNECTION.test(code)) broken = error as Error;
    await runner.end('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.release(broken);
  }
}

const runners = new WeakMap<PrismaClient, RawSql>();

/**
 * Single statements outside a transaction (the hot reads), on the pool shared
 * with Prisma as prepared statements; a client built elsewhere runs them itself.
 */
export function rawSql(prisma: PrismaClient): RawSql {
  let runner = runners.get(prisma);
  if (!runner) {
    const pool = poolOf(prisma);
    runner = pool ? new PgRunner(pool) : prisma;
    runners.set(prisma, runner);
  }
  return runner;
}

/**
 * Runs read-only `work` on up to `connections` connections of the pool at once, all of them
 * seeing one snapshot: the first opens a REPEATABLE READ READ ONLY transaction and exports its
 * snapshot, the others import it (`SET TRANSACTION SNAPSHOT`), so statements spread over them
 * agree as if they ran in one transaction. `work` gets one `RawSql` per connection it got (at least
 * one; more only while the pool has connections to spare). Bounded like
 * `sqlTransaction` (statement and idle timeouts). A client not made by `createPrisma` runs
 * everything in one Prisma transaction (one runner).
 */
export async function readOnlySnapshot<T>(
  prisma: PrismaClient,
  connections: number,
  work: (runners: readonly RawSql[]) => Promise<T>,
): Promise<T> {
  const pool = poolOf(prisma);
  if (!pool) {
    return prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`;
      return work([tx]);
    });
  }
  const begin = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
  const clients: pg.PoolClient[] = [];
  const broken = new Map<pg.PoolClient, Error>();
  try {
    const first = await pool.connect();
    clients.push(first);
    await first.query(begin);
    const { rows } = await first.query<{ snapshot: string }>('SELECT pg_export_snapshot() AS snapshot');
    const snapshot = rows[0]!.snapshot;
    // A snapshot id is PostgreSQL's own text ("0000000A-0000001B-1"): quoted as a literal, never a client's input.
    // Only connections the pool has to spare: several requests each holding one and waiting for
    // more must not starve the pool (and the hot paths on it).
    const spare = () => pool.waitingCount === 0 && (pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? 10));
    for (let i = 1; i < connections && spare(); i++) {
      const client = await pool.connect();
      clients.push(client);
      await client.query(`${begin}; SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`);
    }
    const result = await work(clients.map((client) => new PgRunner(client)));
    for (const client of clients) await client.query('COMMIT');
    return result;
  } catch (error) {
    for (const client of clients) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => broken.set(client, rollbackError));
    }
    throw error;
  } finally {
    for (const client of clients) client.release(broken.get(client));
  }
}

/** The SQLSTATE of a refusal a statement decided itself (`refusalSql`; migration 202612261000). */
const REFUSED = 'TR001';

/**
 * `true` when `allowed` holds, else the statement fails with `refusal` (a text expression: a word the caller maps to
 * its error, `refusalOf`). Only when refused is `refusal` evaluated: a lookup that explains the refusal costs nothing
 * otherwise. For a statement that must be all or nothing — a transaction's last (`lastStatement`) — where a
 * refusal decided in JavaScript after it would come after its COMMIT.
 */
export function refusalSql(allowed: Prisma.Sql, refusal: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`CASE WHEN ${allowed} THEN true ELSE treue_refuse(${refusal}) END`;
}

/** The refusal of a statement that failed by `refusalSql`, or null for any other failure. */
export function refusalOf(error: unknown): string | null {
  // On node-postgres, its error; on a Prisma interactive transaction, the driver adapter's, inside Prisma's P2010.
  const adapted = (error as { meta?: { driverAdapterError?: { cause?: unknown } } } | null)?.meta?.driverAdapterError?.cause;
  const { code, detail } = (adapted ?? error ?? {}) as { code?: unknown; detail?: unknown };
  return code === REFUSED && typeof detail === 'string' ? detail : null;
}

/**
 * Whether `error` is PostgreSQL's refusal by one named constraint: `code` the SQLSTATE (23505 unique, 23503
 * foreign key, 23514 check), `constraint` the constraint's name, as node-postgres reports them.
 */
export function violates(error: unknown, code: '23505' | '23503' | '23514', constraint: string): boolean {
  const { code: sqlState, constraint: name } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return sqlState === code && name === constraint;
}
