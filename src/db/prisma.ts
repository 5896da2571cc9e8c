import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };
export type Db = PrismaClient;

/** The node-postgres pool under each client made by `createPrisma`. */
const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * One Prisma client per process, on node-postgres. Interactive transactions wait
 * long enough for a pool slot under bursts (hundreds of concurrent redeems).
 * The pool is also open to the hot paths' raw SQL (`sqlTransaction` in
 * db/sql.ts), so both share `poolSize` connections.
 */
export function createPrisma(databaseUrl: string, poolSize: number): PrismaClient {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize, connectionTimeoutMillis: 30_000 });
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
