import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };
export type Db = PrismaClient;

/**
 * One Prisma client per process, on node-postgres. Interactive transactions wait
 * long enough for a pool slot under bursts (hundreds of concurrent redeems).
 */
export function createPrisma(databaseUrl: string, poolSize: number): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: poolSize });
  return new PrismaClient({
    adapter,
    transactionOptions: { maxWait: 30_000, timeout: 30_000 },
  });
}
