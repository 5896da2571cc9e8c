import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

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
 * Without observers it adds nothing but the check.
 */
class ObservedPool extends pg.Pool {
  private readonly observers = new Set<PoolObserver>();
  private readonly checkedOut = new WeakMap<pg.PoolClient, number>();

  constructor(config: pg.PoolConfig) {
    super(config);
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

/** A hung server answers nothing, not even the statement timeout's cancel: the client gives up this much later. */
const CLIENT_GRACE_MS = 2_000;

/**
 * One Prisma client per process, on node-postgres. Interactive transactions wait
 * long enough for a pool slot under bursts (hundreds of concurrent redeems).
 * The pool is also open to the hot paths' raw SQL (`sqlTransaction` in
 * db/sql.ts), so both share `poolSize` connections.
 *
 * Nothing waits on the database without bound: connecting (and waiting for a
 * pool slot) fails after `connectMs`; PostgreSQL ends a statement or an idle
 * transaction after `statementMs`; and when the server itself hangs (stopped,
 * a dead network), the client abandons a statement shortly after, so a hung
 * database turns into errors instead of requests that never return. These are the
 * connection's own settings, so they bound `sqlTransaction`'s transactions too.
 */
export function createPrisma(databaseUrl: string, poolSize: number, timeouts: DatabaseTimeouts = DEFAULT_DATABASE_TIMEOUTS): PrismaClient {
  const pool = new ObservedPool({
    connectionString: databaseUrl,
    max: poolSize,
    // A fixed-size pool: a connection once opened stays open, as HikariCP's default. node-postgres
    // would close one idle for 10 s, and the burst after a lull paid for it again: a new backend,
    // and every hot statement parsed again and planned anew for its first five runs.
    min: poolSize,
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
    idle_in_transaction_session_timeout: timeouts.statementMs,
    query_timeout: timeouts.statementMs + CLIENT_GRACE_MS,
    keepAlive: true,
    // Every connection's session in UTC, whatever the server's `timezone` (initdb takes the system's zone):
    // Prisma's adapter sends a DateTime without an offset, which PostgreSQL reads in the session's zone,
    // and an interval of days added to a timestamptz follows it across summer time.
    options: '-c TimeZone=UTC',
  });
  // An idle connection that breaks is dropped by the pool; without a listener it would crash the process.
  pool.on('error', () => undefined);
  // So would one that breaks while checked out between two statements (PostgreSQL restarted, the
  // backend terminated): the pool listens only on idle clients. The break still reaches the holder:
  // its next statement fails, and sqlTransaction / the adapter release the client as broken.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  const prisma = new PrismaClient({
    adapter,
    transactionOptions: { maxWait: 30_000, timeout: 30_000 },
  });
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
