import { loadConfig } from '../src/config/env.js';
import { applyMigrations } from '../src/db/migrate.js';
import { createPrisma } from '../src/db/prisma.js';
import { createLogger, type Logger } from '../src/logger.js';
import { startWorkers, type WorkersHandle } from './index.js';

/**
 * `npm run workers`: the worker process on its own (production runs the API
 * and the workers as separate processes; `npm start` runs both in one). Needs
 * DATABASE_URL and REDIS_URL. It applies pending migrations first, as the API
 * does (one migrator at a time, under the migrations' advisory lock): started
 * at the same moment as the API on another host, or before it, it would
 * otherwise run jobs on the previous schema.
 *
 * SIGTERM/SIGINT: stop the relay, let running jobs commit, close the queues,
 * Redis and Prisma, within SHUTDOWN_DEADLINE_MS; then (or on a second signal)
 * exit non-zero at once. A job cut short by a hard kill is recovered by BullMQ's
 * stalled-job check and the outbox re-drive; its effect is idempotent.
 */

const SHUTDOWN_DEADLINE_MS = 15_000;

async function main(): Promise<void> {
  let logger: Logger = createLogger('info');
  let workers: WorkersHandle | undefined;
  let stopping = false;
  let prisma: ReturnType<typeof createPrisma> | undefined;

  const shutdown = async (reason: string, exitCode: number) => {
    if (stopping) {
      logger.warn(`${reason} again: exiting now without finishing shutdown`);
      process.exit(1);
    }
    stopping = true;
    logger.info({ reason, deadlineMs: SHUTDOWN_DEADLINE_MS }, 'worker process shutting down');
    const deadline = setTimeout(() => {
      logger.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s: exiting now`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    let code = exitCode;
    try {
      await workers?.close();
    } catch (error) {
      code = 1;
      logger.error({ err: error }, 'closing the workers failed');
    }
    await prisma?.$disconnect().catch(() => undefined);
    clearTimeout(deadline);
    logger.info({ exitCode: code }, 'worker process stopped');
    logger.flush();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    void shutdown('uncaught exception', 1);
  });
  process.on('unhandledRejection', (error) => {
    logger.fatal({ err: error }, 'unhandled rejection');
    void shutdown('unhandled rejection', 1);
  });

  try {
    const config = loadConfig();
    logger = createLogger(config.logLevel, { process: 'workers' });
    if (!config.databaseUrl || !config.redisUrl) {
      throw new Error('the worker process needs DATABASE_URL and REDIS_URL (`npm start` runs everything embedded)');
    }
    const migrations = await applyMigrations(config.databaseUrl, { logger });
    logger.info({ applied: migrations.applied }, migrations.applied.length ? 'migrations applied' : 'database schema is up to date');
    prisma = createPrisma(config.databaseUrl, config.databasePoolSize, config.databaseTimeouts);
    workers = await startWorkers({ config, logger, prisma, redisUrl: config.redisUrl });
    logger.info({ pid: process.pid, queuePrefix: config.queuePrefix }, 'worker process ready');
  } catch (error) {
    logger.fatal({ err: error }, `worker process failed to start: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown('startup failed', 1);
  }
}

void main();
