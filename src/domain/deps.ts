import type { PrismaClient } from '../db/prisma.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { Logger } from '../logger.js';

/** An outbox event as committed, ready to be handed to its queue (job id = event id). */
export interface CommittedOutboxEvent {
  id: string;
  queue: string;
  jobName: string;
  payload: Prisma.JsonObject | Prisma.InputJsonObject;
}

/**
 * The API's shortcut to the queues: after a commit, a service hands its outbox
 * events over at once so that jobs start without waiting for the relay. Best
 * effort only: it never throws, and when it cannot reach Redis the relay in the
 * worker process enqueues the events from the outbox table later.
 */
export interface OutboxPublisher {
  publish(events: readonly CommittedOutboxEvent[]): Promise<void>;
}

/**
 * Tells every API process that a credential changed — an API key was revoked, a
 * member's status changed — so that their caches drop it at once. Called after
 * commit; best effort: it never throws (src/auth/credential-sync.ts).
 */
export interface CredentialEvents {
  apiKeyRevoked(apiKeyId: string): Promise<void>;
  memberStatusChanged(memberId: string): Promise<void>;
}

/** What every domain service needs. `now` is injectable so tests can move time. */
export interface ServiceDeps {
  prisma: PrismaClient;
  logger: Logger;
  now?: () => Date;
  /** Immediate enqueue after commit (the API has one; workers and tests may not). */
  outbox?: OutboxPublisher;
  /** Credential cache invalidation across API processes (the API has one; workers and tests may not). */
  credentials?: CredentialEvents;
  /** Which webhook URLs admins may register (WEBHOOK_ALLOW_*); none: https to public addresses only. */
  webhookUrls?: { allowHttp: boolean; allowPrivateAddresses: boolean };
}

export type Tx = Prisma.TransactionClient;

export const nowOf = (deps: ServiceDeps): Date => (deps.now ? deps.now() : new Date());
