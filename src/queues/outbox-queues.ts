import { Queue, type JobsOptions } from 'bullmq';
import { connectRedis, type RedisClient } from '../redis/redis-client.js';
import type { CommittedOutboxEvent, OutboxPublisher } from '../domain/deps.js';
import { RELAY_ONLY_QUEUES } from '../domain/outbox/outbox.service.js';
import type { Logger } from '../logger.js';
import { currentTraceparent } from '../telemetry/trace-context.js';

/**
 * A job's data: the event's payload, with the W3C `traceparent` its job continues —
 * the one stored with the event (the relay), else the active one (the API's hand-over
 * right after commit, still inside the request). Without tracing there is none.
 */
function jobData(event: CommittedOutboxEvent): Record<string, unknown> {
  const traceparent = event.traceContext === undefined ? currentTraceparent() : event.traceContext;
  return traceparent ? { ...event.payload, traceparent } : event.payload;
}

/**
 * The producer side of the outbox queues, shared by the API (immediate enqueue
 * after commit) and the relay in the worker process. Job id = outbox event id,
 * so adding the same event twice is one job (BullMQ ignores a duplicate id).
 */

/** Retries with exponential back-off: 1 s, 2 s, 4 s, … (about 8.5 minutes over 10 attempts). */
export const OUTBOX_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
  // Finished jobs stay a while for inspection; the outbox row is the record.
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Webhook deliveries: the job is put back (delayed) for each retry by its
 * processor, which keeps the count in the database; BullMQ's own attempts only
 * cover unexpected errors (database down). Finished jobs are removed at once:
 * the delivery row is the record, and a replay re-adds the same job id.
 */
export const WEBHOOK_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

const JOB_OPTIONS: Record<string, JobsOptions> = { webhooks: WEBHOOK_JOB_OPTIONS };

/**
 * A connection for producers: it fails fast while Redis is down (no offline
 * queue, short connect timeout, one retry) instead of holding the caller, and
 * reconnects in the background.
 */
export function createProducerConnection(redisUrl: string, logger: Logger): RedisClient {
  const connection = connectRedis(redisUrl, {
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  });
  connection.on('error', (error) => logger.debug({ err: error }, 'queue producer connection error'));
  return connection;
}

export type RedriveAction = 'added' | 'retried' | 'readded' | 'promoted' | 'alive';

/** BullMQ queues by name, created on first use, all on one producer connection. */
export class OutboxQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.connection,
        prefix: this.prefix,
        defaultJobOptions: JOB_OPTIONS[name] ?? OUTBOX_JOB_OPTIONS,
      });
      queue.on('error', (error) => this.logger.debug({ err: error, queue: name }, 'queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Adds one job per event (a job that exists already is left as it is). */
  async enqueue(events: readonly CommittedOutboxEvent[]): Promise<void> {
    if (events.length === 1) {
      // The API's case, once per request: one script call, cheaper than a bulk add's transaction.
      const [event] = events as [CommittedOutboxEvent];
      await this.queue(event.queue).add(event.jobName, jobData(event), { jobId: event.id });
      return;
    }
    const byQueue = new Map<string, CommittedOutboxEvent[]>();
    for (const event of events) byQueue.set(event.queue, [...(byQueue.get(event.queue) ?? []), event]);
    await Promise.all(
      [...byQueue].map(([name, batch]) =>
        this.queue(name).addBulk(batch.map((event) => ({ name: event.jobName, data: jobData(event), opts: { jobId: event.id } }))),
      ),
    );
  }

  /**
   * Hands an event that should have finished by now to BullMQ again: a job that
   * failed for good is retried from scratch, one that is gone (lost with Redis)
   * or — oddly — completed without finishing its event is added anew; a job
   * still waiting or running is left alone. A delayed job is left alone too,
   * but in a relay-only queue, where the event's row holds the job's schedule
   * (a webhook delivery's next attempt): there a due row's delayed job is
   * overdue — put back before its delivery was dead-lettered and then replayed,
   * say — and runs now.
   */
  async redrive(event: CommittedOutboxEvent): Promise<RedriveAction> {
    const queue = this.queue(event.queue);
    const add = () => queue.add(event.jobName, jobData(event), { jobId: event.id });
    const state = await queue.getJobState(event.id);
    if (state === 'unknown') {
      await add();
      return 'added';
    }
    if (state === 'failed') {
      const job = await queue.getJob(event.id);
      if (job) {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return 'retried';
      }
      await add();
      return 'added';
    }
    if (state === 'completed') {
      await queue.remove(event.id);
      await add();
      return 'readded';
    }
    if (state === 'delayed' && (RELAY_ONLY_QUEUES as readonly string[]).includes(event.queue)) {
      const job = await queue.getJob(event.id);
      // Gone or started meanwhile: it no longer waits for its old time.
      await job?.promote().catch(() => undefined);
      return 'promoted';
    }
    return 'alive';
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }
}

/**
 * The API's immediate enqueue: right after a commit, the events go to their
 * queues so that jobs start at once. It waits at most `timeoutMs` and never
 * throws: when Redis is unreachable the events stay in the outbox table and the
 * relay in the worker process enqueues them once Redis is back.
 */
export function createOutboxPublisher(options: {
  redisUrl: string;
  prefix: string;
  logger: Logger;
  timeoutMs?: number;
}): OutboxPublisher & { close(): Promise<void> } {
  const { logger, timeoutMs = 1_000 } = options;
  const connection = createProducerConnection(options.redisUrl, logger);
  const queues = new OutboxQueues(connection, options.prefix, logger);
  return {
    publish: async (events) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`enqueue took longer than ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([queues.enqueue(events), timeout]);
      } catch (error) {
        logger.warn(
          { err: error, eventIds: events.map((event) => event.id) },
          'immediate enqueue failed; the outbox relay will enqueue later',
        );
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      await queues.close().catch(() => undefined);
      connection.disconnect();
    },
  };
}
