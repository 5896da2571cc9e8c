import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../src/config/env.js';
import type { PrismaClient } from '../src/db/prisma.js';
import type { Logger } from '../src/logger.js';
import { MAINTENANCE_QUEUE, processMaintenance } from './maintenance.processor.js';

export interface WorkerDeps {
  config: Config;
  logger: Logger;
  prisma: PrismaClient;
  redisUrl: string;
}

const MAINTENANCE_EVERY_MS = 5 * 60_000;

/**
 * Starts the BullMQ workers. Workers block on Redis, so they get their own
 * connection with `maxRetriesPerRequest: null` (BullMQ requires it).
 */
export async function startWorkers(deps: WorkerDeps): Promise<{ close(): Promise<void> }> {
  const { config, logger, prisma } = deps;
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (error) => logger.warn({ err: error }, 'worker redis connection error'));
  const prefix = config.queuePrefix;

  const maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
  await maintenanceQueue.upsertJobScheduler(
    'points-maintenance',
    { every: MAINTENANCE_EVERY_MS },
    { name: 'points-maintenance', opts: { removeOnComplete: 100, removeOnFail: 500 } },
  );
  const maintenance = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => {
      const report = await processMaintenance({ prisma, logger: logger.child({ jobId: job.id }) });
      logger.info({ jobId: job.id, ...report }, 'maintenance done');
      return report;
    },
    { connection, prefix, concurrency: 1 },
  );
  maintenance.on('failed', (job, error) => logger.error({ jobId: job?.id, err: error }, 'maintenance job failed'));
  maintenance.on('error', (error) => logger.error({ err: error }, 'maintenance worker error'));
  logger.info('workers started');

  return {
    close: async () => {
      await maintenance.close();
      await maintenanceQueue.close();
      connection.disconnect();
    },
  };
}
