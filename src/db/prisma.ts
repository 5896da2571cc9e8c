import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { withCursorPages } from './cursor-pages.js';

export type { PrismaClient };
export type Db = PrismaClient;

/** The node-postgres pool under each client made by `createPrisma`. */
const pools = new WeakMap<PrismaClient, ObservedPool>();

/** What a pool tells about its connections as they are used (src/metrics.ts makes metrics of it). */
export interface PoolObserver {
  /** A caller got a connection after waiting this long (0 when one was idle; opening a new one counts). */
  waited(seconds: number): void;
  /** A caller gave a connection back after holding it this long (a statement, or a whole transaction). */
  held(seconds: number): void;
  /** A caller got no connection: the wait timed out (`connectMs`) or opening one failed. */
  failed(): void;
}

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * node-postgres' pool, timing each checkout for its observers: every caller goes through `connect`,
 * Prisma's transactions, `sqlTransaction` and single statements alike (`pool.query` calls it too).
 * Without observers it adds nothing but the check. It also closes a connection whose server stopped
 * answering (`watchForSilence`).
 */
class ObservedPool extends pg.Pool {
  private readonly observers = new Set<PoolObserver>();
  private readonly checkedOut = new WeakMap<pg.PoolClient, number>();
  private readonly watch: NodeJS.Timeout;

  /** `silenceMs`: how long a connection may wait for an answer before it is closed (`watchForSilence`). */
  constructor(config: pg.PoolConfig, silenceMs: number) {
    super(config);
    this.watch = watchForSilence(this, silenceMs);
    this.on('acquire', (client) => {
      if (this.observers.size > 0) this.checkedOut.set(client, performance.now());
    });
    this.on('release', (_error, client) => {
      const since = this.checkedOut.get(client);
      if (since === undefined) return;
      this.checkedOut.delete(client);
      const seconds = (performance.now() - since) / 1000;
      for (const observer of this.observers) observer.held(seconds);
    });
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    clearInterval(this.watch);
    return callback ? super.end(callback) : super.end();
  }

  observe(observer: PoolObserver): () => void {
    this.observers.add(observer);
    return () => void this.observers.delete(observer);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (this.observers.size === 0) return callback ? super.connect(callback) : super.connect();
    const asked = performance.now();
    const settled = (error: unknown) => {
      for (const observer of this.observers) {
        if (error) observer.failed();
        else observer.waited((performance.now() - asked) / 1000);
      }
    };
    if (!callback) {
      return super.connect().then(
        (client) => {
          settled(undefined);
          return client;
        },
        (error: unknown) => {
          settled(error);
          throw error;
        },
      );
    }
    super.connect((error, client, done) => {
      settled(error);
      callback(error, client, done);
    });
  }
}

/** How long the database may take before a caller gets an error instead of waiting (config: DATABASE_*_TIMEOUT_MS). */
export interface DatabaseTimeouts {
  /** Opening a connection, and waiting for a free one in the pool. */
  connectMs: number;
  /** One statement, and a pause inside a transaction (PostgreSQL ends either). */
  statementMs: number;
}

export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = { connectMs: 5_000, statementMs: 30_000 };

/** A hung server answers nothing, not even with the statement timeout's error: the pool closes its connection this much later. */
const CLIENT_GRACE_MS = 2_000;

/** What the watch keeps of a connection: numbers only, never a statement, its result or a request. */
interface Exchange {
  /** Messages sent that PostgreSQL answers with one ReadyForQuery each: a simple Query, an extended query's Sync. */
  sent: number;
  /** ReadyForQuery messages received since the connection was opened (the startup's is not counted). */
  answered: number;
  /** `answered` when a tick last found the connection waiting; -1 when it found it not waiting. */
  seen: number;
  /** When a tick first found it waiting with `answered` at `seen`. */
  since: number;
}

/**
 * Closes a connection that waited `silenceMs` for an answer that did not come: PostgreSQL
 * stopped, or the network to it died. node-postgres' own `query_timeout` does this with a
 * timer per statement (armed, then cleared); with it, V8 copied far more of each request into
 * its old generation (the status read alone, `readMemberStatus` under `--trace-gc-nvp`: 130 MB
 * over 12 000 reads against 0.1 MB without) and a member-status answer cost 15 % more API CPU
 * (`bench/ab.ts`, bench/README.md). Here one interval per pool looks at two counts per connection. Counted on the wire, not per `client.query`: a statement that
 * node-postgres refuses before sending it, or queues behind another, waits for nothing.
 * A statement that PostgreSQL itself ends (`statement_timeout`, shorter) is answered, with
 * an error, before the watch would close its connection. Closing the socket fails the
 * connection's statements, and the pool drops it. Returns the interval; `end` clears it.
 */
function watchForSilence(pool: pg.Pool, silenceMs: number): NodeJS.Timeout {
  const exchanges = new Map<pg.PoolClient, Exchange>();
  // 'connect' comes once per connection, after its startup's ReadyForQuery, before any statement.
  pool.on('connect', (client) => {
    const exchange: Exchange = { sent: 0, answered: 0, seen: -1, since: 0 };
    const connection = client.connection;
    const { query, sync } = connection;
    connection.query = function (this: pg.Connection, text: string) {
      exchange.sent++;
      query.call(this, text);
    };
    connection.sync = function (this: pg.Connection) {
      exchange.sent++;
      sync.call(this);
    };
    connection.on('readyForQuery', () => exchange.answered++);
    exchanges.set(client, exchange);
  });
  pool.on('remove', (client) => exchanges.delete(client));
  // A tick first sees a statement waiting at most a tick after it was sent: its connection is closed
  // after `silenceMs` at least, and a tick after at most.
  const watch = setInterval(() => {
    const now = performance.now();
    for (const [client, exchange] of exchanges) {
      if (exchange.sent === exchange.answered) {
        exchange.seen = -1;
      } else if (exchange.answered !== exchange.seen) {
        exchange.seen = exchange.answered;
        exchange.since = now;
      } else if (now - exchange.since >= silenceMs) {
        exchanges.delete(client);
        client.connection.stream.destroy(new Error(`no answer from PostgreSQL within ${silenceMs} ms`));
      }
    }
  }, CLIENT_GRACE_MS / 2);
  watch.unref();
  return watch;
}

/**
 * One Prisma client per process, on node-postgres. Interactive transactions wait
 * long enough for a pool slot under bursts (hundreds of concurrent redeems).
 * The pool is also open to the hot paths' raw SQL (`sqlTransaction` in
 * db/sql.ts), so both share `poolSize` connections.
 *
 * Nothing waits on the database without bound: connecting (and waiting for a
 * pool slot) fails after `connectMs`; PostgreSQL ends a statement or an idle
 * transaction after `statementMs`; and when the server itself hangs (stopped,
 * a dead network), the pool closes a connection that got no answer for
 * `statementMs` + CLIENT_GRACE_MS (up to a second later, `watchForSilence`),
 * failing its statements, so a hung database turns into errors instead of
 * requests that never return. The first two are the connection's own settings
 * and the third watches every connection, so they bound `sqlTransaction`'s
 * transactions too.
 *
 * Its reads page after (before) a cursor from the cursor's place, the cursor's
 * own row left out whether or not it is still in the list, none other
 * (src/db/cursor-pages.ts); and a page of a
 * relation under a list of parents reads that page from PostgreSQL, each
 * parent's with its LIMIT, whatever the cursors (src/db/keyset-pages.ts):
 * one query extension for both (`withCursorPages`).
 */
export function createPrisma(databaseUrl: string, poolSize: number, timeouts: DatabaseTimeouts = DEFAULT_DATABASE_TIMEOUTS): PrismaClient {
  const pool = new ObservedPool(
    {
      connectionString: databaseUrl,
      max: poolSize,
      // A fixed-size pool: a connection once opened stays open, as HikariCP's default. node-postgres
      // would close one idle for 10 s, and the burst after a lull paid for it again: a new backend,
      // and every hot statement parsed again and planned anew for its first five runs.
      min: poolSize,
      connectionTimeoutMillis: timeouts.connectMs,
      statement_timeout: timeouts.statementMs,
      idle_in_transaction_session_timeout: timeouts.statementMs,
      keepAlive: true,
      // Every connection's session in UTC, whatever the server's `timezone` (initdb takes the system's zone):
      // Prisma's adapter sends a DateTime without an offset, which PostgreSQL reads in the session's zone,
      // and an interval of days added to a timestamptz follows it across summer time.
      options: '-c TimeZone=UTC',
    },
    timeouts.statementMs + CLIENT_GRACE_MS,
  );
  // An idle connection that breaks is dropped by the pool; without a listener it would crash the process.
  pool.on('error', () => undefined);
  // So would one that breaks while checked out between two statements (PostgreSQL restarted, the
  // backend terminated): the pool listens only on idle clients. The break still reaches the holder:
  // its next statement fails, and sqlTransaction / the adapter release the client as broken.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  const prisma = withCursorPages(
    new PrismaClient({
      adapter,
      transactionOptions: { maxWait: 30_000, timeout: 30_000 },
    }),
  );
  pools.set(prisma, pool);
  return prisma;
}

/** The pool under a client made by `createPrisma`; undefined for a client built elsewhere. */
export function poolOf(prisma: PrismaClient): pg.Pool | undefined {
  return pools.get(prisma);
}

/** Tells `observer` about every checkout of the client's pool from now on; returns the way to stop. Undefined for a client built elsewhere. */
export function observePool(prisma: PrismaClient, observer: PoolObserver): (() => void) | undefined {
  return pools.get(prisma)?.observe(observer);
}
