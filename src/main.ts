import { startWorkers } from '../workers/index.js';
import { startApiProcesses } from './cluster.js';
import { loadConfig, type Config } from './config/env.js';
import { applyMigrations } from './db/migrate.js';
import { createPrisma } from './db/prisma.js';
import { loadProgram } from './domain/program/program.service.js';
import { createLogger, withoutSecrets, type Logger } from './logger.js';
import { startEmbeddedPostgres } from './runtime/embedded-postgres.js';
import { connectRedis } from './redis/redis-client.js';
import { startEmbeddedRedis } from './runtime/embedded-redis.js';
import { withDevelopmentJwtSecret } from './runtime/dev-secret.js';

/**
 * `npm start`: the one command that runs everything. Without DATABASE_URL it
 * starts a private PostgreSQL, without REDIS_URL a private redis-server (both
 * keep their data under DATA_DIR); then it applies migrations and starts the
 * workers (in this process) and the API (WEB_CONCURRENCY processes, src/cluster.ts).
 * `TREUE_ROLE=api` (`npm run api`) or `workers` runs one side only, on the
 * DATABASE_URL and REDIS_URL the other side uses too.
 *
 * SIGINT/SIGTERM: stop accepting and close the API, then the workers, Prisma,
 * and last the embedded Redis and PostgreSQL, within SHUTDOWN_DEADLINE_MS,
 * after which (or on a second signal) the process exits non-zero at once.
 */

const SHUTDOWN_DEADLINE_MS = 15_000;
const DUPLICATE_SIGNAL_WINDOW_MS = 1_000;

interface Resource {
  name: string;
  close(): Promise<void>;
}

/** A startup step's failure: `message` says which step, `original` keeps the error (and its stack) for the log. */
class StepFailed extends Error {
  constructor(
    message: string,
    readonly original: unknown,
  ) {
    super(message);
  }
}

class StartupAborted extends Error {
  constructor() {
    super('shutdown requested during startup');
  }
}

function main(): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    createLogger('info').fatal(`startup failed: ${messageOf(error)}`);
    process.exitCode = 1;
    return;
  }
  const logger = createLogger(config.logLevel);

  /** In start order; closed in reverse. */
  const resources: Resource[] = [];
  let stopping = false;

  const checkpoint = () => {
    if (stopping) throw new StartupAborted();
  };
  const own = (resource: Resource) => {
    resources.push(resource);
  };

  const startup = start(config, logger, own, checkpoint);

  async function shutdown(reason: string, exitCode: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    logger.info({ reason, deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s: exiting now`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();

    await startup.catch(() => undefined); // let a step in progress finish, so that it can be closed too
    let failed = false;
    for (const resource of [...resources].reverse()) {
      const started = Date.now();
      logger.info(`closing ${resource.name}`);
      try {
        await resource.close();
        logger.info({ ms: Date.now() - started }, `closed ${resource.name}`);
      } catch (error) {
        failed = true;
        logger.error({ err: error }, `closing ${resource.name} failed: ${messageOf(error)}`);
      }
    }
    clearTimeout(deadline);
    const code = failed ? Math.max(exitCode, 1) : exitCode;
    logger.info({ exitCode: code }, 'shutdown complete');
    exitAfterFlush(logger, code);
  }

  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      firstSignalAt = Date.now();
      void shutdown(`received ${signal}`, 0);
      return;
    }
    // One Ctrl-C under `npm start` arrives more than once (the terminal signals the whole
    // process group, and npm and tsx relay it again): only a later one means "force".
    if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_WINDOW_MS) {
      logger.debug({ signal }, 'ignoring a relayed copy of the shutdown signal');
      return;
    }
    logger.warn(`received ${signal} again: exiting now without finishing shutdown`);
    process.exit(1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, `uncaught exception: ${messageOf(error)}`);
    void shutdown('uncaught exception', 1);
  });
  process.on('unhandledRejection', (error) => {
    logger.fatal({ err: error }, `unhandled rejection: ${messageOf(error)}`);
    void shutdown('unhandled rejection', 1);
  });

  startup.then(
    (url) => logger.info({ url, role: config.role }, url ? `Treue ready: GraphQL at ${url}` : 'Treue ready: workers running'),
    (error: unknown) => {
      if (error instanceof StartupAborted) return; // shutdown() is already under way
      if (stopping) {
        // e.g. a terminal's Ctrl-C also reached initdb: the interruption, not a fault
        logger.info(`startup interrupted: ${messageOf(error)}`);
        return;
      }
      logger.fatal({ err: error instanceof StepFailed ? error.original : error }, `startup failed: ${messageOf(error)}`);
      void shutdown('startup failed', 1);
    },
  );
}

/** Starts everything, handing each started piece to `own`; resolves with the GraphQL URL (none for the workers role). */
async function start(
  givenConfig: Config,
  logger: Logger,
  own: (resource: Resource) => void,
  checkpoint: () => void,
): Promise<string | undefined> {
  const config = await withDevelopmentJwtSecret(givenConfig, logger);
  const { role } = config;
  if (role !== 'all' && (!config.databaseUrl || !config.redisUrl)) {
    // Embedded servers are private to one process; the other side could not reach them.
    throw new Error(
      `TREUE_ROLE=${role} runs one side of a deployment: set DATABASE_URL and REDIS_URL (unset TREUE_ROLE to run everything, embedded)`,
    );
  }
  logger.info({ role }, role === 'all' ? 'running the API and the workers' : `running the ${role} only`);
  if (!config.environmentSet) {
    logger.warn(
      'NODE_ENV is not set: running as development (GraphQL introspection on, the development JWT secret when none is configured); set NODE_ENV=production in a deployment',
    );
  }
  let databaseUrl = config.databaseUrl;
  if (databaseUrl) {
    logger.info({ databaseUrl: withoutSecrets(databaseUrl) }, 'using PostgreSQL from DATABASE_URL');
  } else {
    logger.info({ dataDir: config.dataDir }, 'no DATABASE_URL: starting embedded PostgreSQL');
    const postgres = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPostgresPort, logger });
    own({ name: 'embedded PostgreSQL', close: postgres.stop });
    databaseUrl = postgres.databaseUrl;
  }
  checkpoint();

  let redisUrl = config.redisUrl;
  if (redisUrl) {
    logger.info({ redisUrl: withoutSecrets(redisUrl) }, 'using Redis from REDIS_URL');
  } else {
    logger.info({ dataDir: config.dataDir }, 'no REDIS_URL: starting embedded Redis');
    const redis = await startEmbeddedRedis({ dataDir: config.dataDir, port: config.embeddedRedisPort, logger });
    own({ name: 'embedded Redis', close: redis.stop });
    redisUrl = redis.redisUrl;
  }
  checkpoint();

  const migrations = await applyMigrations(databaseUrl, { logger }).catch((error: unknown) => {
    throw new StepFailed(`applying migrations failed: ${messageOf(error)}`, error);
  });
  logger.info({ applied: migrations.applied }, migrations.applied.length ? 'migrations applied' : 'database schema is up to date');
  checkpoint();

  await checkRedis(redisUrl);
  checkpoint();

  const prisma = createPrisma(databaseUrl, config.databasePoolSize, config.databaseTimeouts);
  own({ name: 'Prisma', close: () => prisma.$disconnect() });
  // The program's row, created once on a fresh database here rather than by the first requests' transactions: two
  // of those each inserting it, one holding a member's lock and the other a contract's, deadlocked.
  await loadProgram(prisma);

  const deps = { config, logger, prisma, redisUrl };
  // Workers first, so that shutdown (in reverse) closes the API before them.
  if (role !== 'api') {
    const workers = await startWorkers(deps);
    own({ name: 'workers', close: () => workers.close() });
    checkpoint();
  }
  if (role === 'workers') return undefined;

  const api = await startApiProcesses({ ...deps, databaseUrl });
  own({ name: 'API', close: () => api.close() });
  checkpoint();

  const handle = api as { url?: unknown };
  if (typeof handle.url === 'string') return handle.url;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host}:${config.port}/graphql`;
}

/**
 * Fails fast, with one clear line, when Redis cannot be reached. (The eviction
 * policy is checked where it matters: startWorkers refuses anything but
 * `noeviction`.)
 */
async function checkRedis(redisUrl: string): Promise<void> {
  const client = connectRedis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => (lastError = error)); // the socket's own error says more than "Connection is closed."
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(`cannot reach Redis at ${withoutSecrets(redisUrl)}: ${messageOf(lastError ?? error)}`);
  }
  await client.quit().catch(() => client.disconnect());
}

/** Exits once pino has written what it buffered (a plain process.exit can reorder the last lines). */
function exitAfterFlush(logger: Logger, code: number): void {
  const exit = () => process.exit(code);
  setTimeout(exit, 1_000).unref();
  try {
    logger.flush(exit);
  } catch {
    exit();
  }
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.replace(/\s+/g, ' ').trim();
}

main();
