import type { Config } from '../src/config/env.js';
import type { ServiceDeps } from '../src/domain/deps.js';
import type { OutboxQueue } from '../src/domain/outbox/outbox.service.js';
import type { CompensationGroups } from '../src/domain/service-failures/compensation-groups.js';
import type { WebhookDeliveryDeps } from '../src/domain/webhooks/webhook-delivery.service.js';
import { processCompensation, type CompensationJob } from './compensation.processor.js';
import { processIncidentJob, type IncidentJob } from './incident.processor.js';
import { processRenewalBonus, type RenewalBonusJob } from './renewal-bonus.processor.js';
import { processWebhookDelivery, type WebhookJob } from './webhooks.processor.js';

/**
 * What processors run with: the services' deps, for webhook deliveries the
 * sender, gate and rules, and the process's collector of compensation jobs
 * decided together.
 */
export type ProcessorDeps = ServiceDeps & {
  webhooks?: Omit<WebhookDeliveryDeps, keyof ServiceDeps>;
  compensationGroups?: CompensationGroups;
};

/** A queue processor: the job's data in, a domain call out. Plain function, testable without Redis. */
export type OutboxProcessor = (payload: unknown, deps: ProcessorDeps) => Promise<unknown>;

/**
 * A processor's answer that puts its job back until `retryAt` (the wiring moves
 * it to BullMQ's delayed set; no attempt is spent).
 */
export const putsBack = (result: unknown): result is { retryAt: Date } =>
  typeof result === 'object' && result !== null && (result as { retryAt?: unknown }).retryAt instanceof Date;

/**
 * Which processor consumes each outbox queue. Typed over every `OutboxQueue`,
 * so a queue added to the outbox without a processor does not compile. The
 * processors check the payload themselves (it comes from Redis, untyped).
 */
export const outboxProcessors: Record<OutboxQueue, OutboxProcessor> = {
  compensation: (payload, deps) => processCompensation(payload as CompensationJob, deps),
  'renewal-bonus': (payload, deps) => processRenewalBonus(payload as RenewalBonusJob, deps),
  incidents: (payload, deps) => processIncidentJob(payload as IncidentJob, deps),
  webhooks: (payload, deps) => {
    if (!deps.webhooks) throw new Error('webhook deliveries need a sender (startWorkers builds one)');
    return processWebhookDelivery(payload as WebhookJob, { ...deps, ...deps.webhooks });
  },
};

/**
 * Jobs of a queue one worker process runs at once. WORKER_CONCURRENCY, except:
 * - compensation: its jobs running at once are decided in one transaction
 *   (CompensationGroups), so its own, larger concurrency makes a backlog drain
 *   in larger groups on one connection each rather than in more transactions;
 * - webhooks: deliveries wait on other servers, not on the database;
 * - incidents: an incident's batches take its row lock one after the other, so
 *   more than two would only hold database connections while waiting.
 */
export function concurrencyOf(queue: OutboxQueue, config: Pick<Config, 'workers' | 'webhooks'>): number {
  switch (queue) {
    case 'compensation':
      return config.workers.compensationConcurrency;
    case 'webhooks':
      return config.webhooks.concurrency;
    case 'incidents':
      return Math.min(2, config.workers.concurrency);
    default:
      return config.workers.concurrency;
  }
}
