import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Counter, Registry } from 'prom-client';
import type { Config } from '../src/config/env.js';
import type { PrismaClient } from '../src/db/prisma.js';
import { nowOf } from '../src/domain/deps.js';
import { PermanentJobError } from '../src/domain/errors.js';
import { closeRefusedOutboxEvent, type OutboxQueue } from '../src/domain/outbox/outbox.service.js';
import { CompensationGroups } from '../src/domain/service-failures/compensation-groups.js';
import type { Logger } from '../src/logger.js';
import { EndpointGate, type EndpointGateOptions } from '../src/domain/webhooks/endpoint-gate.js';
import { DEFAULT_DELIVERY_SETTINGS } from '../src/domain/webhooks/webhook-delivery.service.js';
import { createApprovalQueueBus } from '../src/live/approval-queue-bus.js';
import { invalidatingChanges } from '../src/cache/invalidating-changes.js';
import { createResponseCacheStore, type ResponseCacheStore } from '../src/cache/response-cache-store.js';
import { createMemberChangeBus } from '../src/live/member-change-bus.js';
import { createProducerConnection, OutboxQueues } from '../src/queues/outbox-queues.js';
import { OPEN_METRICS_WARNING } from '../src/http/metrics-access.js';
import { createWorkerMetrics, serveMetrics, trackDatabasePool } from '../src/metrics.js';
import { connectRedis, onEveryPrimary, type RedisClient } from '../src/redis/redis-client.js';
import { contextOf, inSpan } from '../src/telemetry/trace-context.js';
import { startTracing } from '../src/telemetry/tracing.js';
import { createWebhookSender } from '../src/webhooks/webhook-sender.js';
import { MAINTENANCE_JOB, MAINTENANCE_QUEUE, PASSIVE_SWEEP_JOB, processMaintenanceJob, RETENTION_JOB } from './maintenance.processor.js';
import { startOutboxRelay, type RelayOptions } from './outbox-relay.js';
import { concurrencyOf, outboxProcessors, putsBack, type OutboxProcessor, type ProcessorDeps } from './registry.js';

export interface WorkerDeps {
  config: Config;
  logger: Logger;
  prisma: PrismaClient;
  redisUrl: string;
}

export interface StartWorkersOptions {
  /** Run the repeatable maintenance job (default true). */
  maintenance?: boolean;
  /** How often the maintenance schedule is checked in Redis and put back if missing (default 60 s). */
  maintenanceScheduleCheckMs?: number;
  /** Relay settings, or false for no relay (default: on, with the configured staleness). */
  relay?: Partial<RelayOptions> | false;
  /** Only these outbox queues (default: all of the registry). */
  queues?: (keyof typeof outboxProcessors)[];
  /** The clock of the services (tests move time); the real one by default. */
  now?: () => Date;
  /** The webhook endpoint gate's circuit settings (tests shorten the cool-down). */
  webhookGate?: Omit<EndpointGateOptions, 'maxInFlight'>;
}

export interface WorkersHandle {
  /** The producer side (tests and the relay use it). */
  queues: OutboxQueues;
  /** This process's metrics: the jobs' business counters (served at WORKER_METRICS_PORT when set). */
  metrics: Registry;
  /** Where the metrics are served, when WORKER_METRICS_PORT is set. */
  metricsUrl: string | undefined;
  /** Stops the relay, lets running jobs finish, then closes the queues and the Redis connections. */
  close(): Promise<void>;
}

const MAINTENANCE_EVERY_MS = 5 * 60_000;
const PASSIVE_SWEEP_EVERY_MS = 60 * 60_000;
const RETENTION_EVERY_MS = 60 * 60_000;
const MAINTENANCE_SCHEDULE_CHECK_MS = 60_000;
const REDIS_READY_TIMEOUT_MS = 10_000;

function whenReady(connection: RedisClient, timeoutMs: number): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (error: Error) => (lastError = error);
    const timer = setTimeout(() => {
      connection.off('ready', onReady);
      connection.off('error', onError);
      reject(new Error(`cannot reach Redis within ${timeoutMs / 1000} s: ${lastError?.message ?? 'no answer'}`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      connection.off('error', onError);
      resolve();
    };
    connection.once('ready', onReady);
    connection.on('error', onError);
  });
}

/** BullMQ must never lose a queue key to eviction: refuse any other policy. */
export async function assertNoEviction(connection: RedisClient): Promise<void> {
  // On a cluster each primary holds its own keys and has its own policy.
  const policies = await onEveryPrimary(connection, async (node) => /^maxmemory_policy:(\S+)/m.exec(await node.info('memory'))?.[1]);
  const policy = policies.find((found) => found && found !== 'noeviction');
  if (policy) {
    throw new Error(
      `Redis maxmemory-policy is ${policy}: queued jobs could be evicted. Set maxmemory-policy noeviction (BullMQ requires it).`,
    );
  }
}

/**
 * Schedules the maintenance job (every 5 minutes), the passive sweep and retention (hourly), and keeps them
 * scheduled: the schedule lives only in Redis, so a Redis lost while the workers run (an empty one on
 * the same address) would otherwise end maintenance until the next start. Checked when the worker
 * connection is ready again (ioredis emits `ready` after each reconnect) and every `checkEveryMs`,
 * which also covers a Redis emptied without a reconnect (FLUSHALL, a proxy in front of a new server);
 * a scheduler found missing is put back, idempotently (upserts by scheduler id, from every worker).
 */
async function keepMaintenanceScheduled(
  queue: Queue,
  connection: RedisClient,
  logger: Logger,
  checkEveryMs = MAINTENANCE_SCHEDULE_CHECK_MS,
): Promise<{ stop(): void }> {
  const kept = { removeOnComplete: 100, removeOnFail: 500 };
  const schedules = [
    { id: MAINTENANCE_JOB, every: MAINTENANCE_EVERY_MS },
    { id: PASSIVE_SWEEP_JOB, every: PASSIVE_SWEEP_EVERY_MS },
    { id: RETENTION_JOB, every: RETENTION_EVERY_MS },
  ];
  const upsert = (id: string, every: number) => queue.upsertJobScheduler(id, { every }, { name: id, opts: kept });
  // At start unconditionally: a changed interval replaces the one scheduled.
  for (const { id, every } of schedules) await upsert(id, every);

  let stopped = false;
  let checking: Promise<void> | undefined;
  const check = async () => {
    for (const { id, every } of schedules) {
      if (await queue.getJobScheduler(id)) continue;
      await upsert(id, every);
      logger.warn(
        { queue: MAINTENANCE_QUEUE, scheduler: id },
        'maintenance schedule missing from Redis (Redis lost or emptied?): put back',
      );
    }
  };
  const recheck = () => {
    if (stopped) return;
    // While Redis is away a check waits for it; the next one waits for that one rather than pile up.
    checking ??= check()
      .catch((error: unknown) => {
        if (!stopped) logger.warn({ err: error }, 'maintenance schedule check failed; checked again later');
      })
      .finally(() => (checking = undefined));
  };
  const onReady = () => {
    if (checking) void checking.then(recheck);
    else recheck();
  };
  connection.on('ready', onReady);
  const timer = setInterval(recheck, checkEveryMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      connection.off('ready', onReady);
    },
  };
}

/**
 * Starts the worker side: one BullMQ worker per outbox queue (compensation,
 * renewal bonus), the maintenance worker and its schedule, and the outbox
 * relay. Workers block on Redis, so they get their own connection with
 * `maxRetriesPerRequest: null` (BullMQ requires it); producers use a separate
 * fail-fast connection. Refuses a Redis whose eviction policy is not
 * `noeviction`.
 */
export async function startWorkers(deps: WorkerDeps, options: StartWorkersOptions = {}): Promise<WorkersHandle> {
  const { config, logger, prisma } = deps;
  const prefix = config.queuePrefix;
  const producer = createProducerConnection(deps.redisUrl, logger);
  try {
    await whenReady(producer, REDIS_READY_TIMEOUT_MS);
    await assertNoEviction(producer);
  } catch (error) {
    producer.disconnect();
    throw error;
  }

  // Jobs join the traces of the requests that caused them; the relay's own statements are not traced.
  const tracing = config.tracing && (await startTracing(config.tracing, { logger }));
  const connection = connectRedis(deps.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (error) => logger.warn({ err: error }, 'worker redis connection error'));
  const queues = new OutboxQueues(producer, prefix, logger);
  // Vouchers, bonuses and expiries made here reach live member status streams on every API process.
  const memberChanges = createMemberChangeBus({ logger, redis: { client: producer, prefix } });
  // Failures held for review and incidents over budget reach open approval queues on every API process.
  const approvalQueue = createApprovalQueueBus({ logger, redis: { client: producer, prefix } });
  // ... and make the members' cached answers stale before the job that changed them completes.
  const cacheStore = createResponseCacheStore({ redis: producer, prefix, ttlSeconds: config.responseCache.ttlSeconds, logger });
  const sender = createWebhookSender({
    allowPrivateAddresses: config.webhooks.allowPrivateAddresses,
    allowedPorts: config.webhooks.allowedPorts,
    maxSocketsPerHost: config.webhooks.endpointConcurrency,
  });
  const metrics = createWorkerMetrics(Object.keys(outboxProcessors) as OutboxQueue[]);
  const stopTrackingPool = trackDatabasePool(metrics.registry, prisma);
  const serviceDeps: ProcessorDeps = {
    prisma,
    logger,
    memberChanges: memberChanges.events,
    approvalQueue: approvalQueue.events,
    measures: metrics.business,
    ...(options.now ? { now: options.now } : {}),
    // The compensation jobs running at once are decided in one transaction (unless configured alone).
    ...(config.workers.compensationGroupSize > 1
      ? { compensationGroups: new CompensationGroups(config.workers.compensationGroupSize) }
      : {}),
    webhooks: {
      send: sender,
      gate: new EndpointGate({ ...options.webhookGate, maxInFlight: config.webhooks.endpointConcurrency }),
      settings: {
        ...DEFAULT_DELIVERY_SETTINGS,
        timeoutMs: config.webhooks.timeoutMs,
        maxAttempts: config.webhooks.maxAttempts,
        retryBaseMs: config.webhooks.retryBaseMs,
        disableAfterMs: config.webhooks.disableAfterMs,
      },
    },
  };
  const workers: Worker[] = [];

  const selected = options.queues ?? (Object.keys(outboxProcessors) as (keyof typeof outboxProcessors)[]);
  const concurrencies = Object.fromEntries(selected.map((queue) => [queue, concurrencyOf(queue, config)]));
  for (const queue of selected) {
    const concurrency = concurrencies[queue]!;
    workers.push(
      outboxWorker(queue, outboxProcessors[queue], {
        connection,
        prefix,
        config,
        logger,
        serviceDeps,
        cacheStore,
        concurrency,
        jobsRefused: metrics.jobsRefused,
      }),
    );
  }

  let maintenanceQueue: Queue | undefined;
  let maintenanceSchedule: { stop(): void } | undefined;
  if (options.maintenance ?? true) {
    maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
    maintenanceQueue.on('error', (error) => logger.warn({ err: error }, 'maintenance queue error'));
    maintenanceSchedule = await keepMaintenanceScheduled(maintenanceQueue, connection, logger, options.maintenanceScheduleCheckMs);
    const maintenance = new Worker(
      MAINTENANCE_QUEUE,
      async (job) => {
        const jobLogger = logger.child({ jobId: job.id });
        const changes = invalidatingChanges(memberChanges.events, cacheStore, jobLogger);
        const deps = { ...serviceDeps, memberChanges: changes.events, logger: jobLogger };
        // The passive sweep reads every member, retention deletes in bounded batches: hourly jobs of their own,
        // not part of every five-minute run.
        const report = await processMaintenanceJob(job.name, deps, config.retention).finally(changes.settled);
        logger.info({ jobId: job.id, job: job.name, ...report }, 'maintenance done');
        return report;
      },
      { connection, prefix, concurrency: 1 },
    );
    listen(maintenance, MAINTENANCE_QUEUE, logger);
    workers.push(maintenance);
  }

  const relay =
    options.relay === false
      ? undefined
      : startOutboxRelay(serviceDeps, queues, { staleAfterMs: config.workers.outboxStaleAfterMs, ...options.relay });
  const metricsServer =
    config.workers.metricsPort === undefined
      ? undefined
      : await serveMetrics(metrics.registry, config.workers.metricsPort, config.host, config.metricsToken);
  if (metricsServer && config.isProduction && config.metricsToken === undefined) logger.warn(OPEN_METRICS_WARNING);
  logger.info(
    {
      queues: selected,
      concurrency: concurrencies,
      compensationGroupSize: config.workers.compensationGroupSize,
      relay: relay !== undefined,
      metrics: metricsServer?.url,
    },
    'workers started',
  );

  let closing: Promise<void> | undefined;
  return {
    queues,
    metrics: metrics.registry,
    metricsUrl: metricsServer?.url,
    close: () => {
      closing ??= (async () => {
        // Order matters: no new hand-overs, then let running jobs commit, then the producers and connections.
        maintenanceSchedule?.stop();
        await relay?.stop();
        await Promise.all(workers.map((worker) => worker.close()));
        await Promise.all([queues.close(), maintenanceQueue?.close()]);
        await connection.quit().catch(() => connection.disconnect());
        await producer.quit().catch(() => producer.disconnect());
        sender.close();
        await metricsServer?.close();
        await tracing?.shutdown();
        stopTrackingPool();
        logger.info('workers stopped');
      })();
      return closing;
    },
  };
}

function outboxWorker(
  queue: string,
  process: OutboxProcessor,
  ctx: {
    connection: RedisClient;
    prefix: string;
    config: Config;
    logger: Logger;
    serviceDeps: ProcessorDeps;
    cacheStore: ResponseCacheStore;
    concurrency: number;
    jobsRefused: Counter<'queue'>;
  },
): Worker {
  const worker = new Worker(
    queue,
    async (job: Job, token?: string) => {
      let result: unknown;
      const logger = ctx.logger.child({ queue, jobId: job.id });
      // The job completes only after the members it changed have had their cached answers made stale.
      const changes = ctx.serviceDeps.memberChanges && invalidatingChanges(ctx.serviceDeps.memberChanges, ctx.cacheStore, logger);
      try {
        // The job joins the trace of the request that caused it (the traceparent its outbox event carried).
        result = await inSpan(
          `${queue} process`,
          () => process(job.data, { ...ctx.serviceDeps, ...(changes ? { memberChanges: changes.events } : {}), logger }),
          {
            parent: contextOf(job.data),
            consumer: true,
            attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': queue, 'messaging.message.id': job.id ?? '' },
          },
        );
      } catch (error) {
        // Retrying cannot help (the subject does not exist, the payload is malformed): fail at once, and close
        // the job's outbox event, or the relay would find the job failed and run it again, every time.
        if (error instanceof PermanentJobError) {
          // If the close itself fails (database away), that error fails the job as any other: it is retried.
          const eventClosed = await closeRefusedOutboxEvent(ctx.serviceDeps, job.id ?? '');
          ctx.jobsRefused.inc({ queue });
          logger.error(
            { eventId: job.id, eventClosed, err: error },
            'job refused for good: failed without retries, its outbox event closed (the relay will not run it again)',
          );
          throw new UnrecoverableError(error.message);
        }
        throw error;
      } finally {
        await changes?.settled();
      }
      if (putsBack(result)) {
        // Put back until then (a retry, or a busy endpoint): same job, no BullMQ attempt spent.
        const delayMs = Math.max(0, result.retryAt.getTime() - nowOf(ctx.serviceDeps).getTime());
        await job.moveToDelayed(Date.now() + delayMs, token);
        throw new DelayedError();
      }
      return result;
    },
    {
      connection: ctx.connection,
      prefix: ctx.prefix,
      concurrency: ctx.concurrency,
      lockDuration: ctx.config.workers.lockDurationMs,
      // A dead worker's jobs go back to waiting within about one lock duration.
      stalledInterval: ctx.config.workers.lockDurationMs,
    },
  );
  listen(worker, queue, ctx.logger);
  return worker;
}

function listen(worker: Worker, queue: string, logger: Logger): void {
  worker.on('failed', (job, error) => {
    // A job refused for good was logged where it was refused, with its outbox event.
    if (error instanceof UnrecoverableError) return;
    const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1);
    const fields = { queue, jobId: job?.id, attemptsMade: job?.attemptsMade, err: error };
    if (final) logger.error(fields, 'job failed for good');
    else logger.warn(fields, 'job failed; retrying with back-off');
  });
  worker.on('stalled', (jobId) => logger.warn({ queue, jobId }, 'job stalled (its worker died?); recovering it'));
  worker.on('error', (error) => logger.error({ queue, err: error }, 'worker error'));
}
