import type { PrismaClient } from '../db/prisma.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { Logger } from '../logger.js';

/** What every domain service needs. `now` is injectable so tests can move time. */
export interface ServiceDeps {
  prisma: PrismaClient;
  logger: Logger;
  now?: () => Date;
}

export type Tx = Prisma.TransactionClient;

export const nowOf = (deps: ServiceDeps): Date => (deps.now ? deps.now() : new Date());
