import type { PrismaClient } from '../db/prisma.js';
import type { LedgerEntryKind, Prisma } from '../generated/prisma/client.js';
import type { Logger } from '../logger.js';

/** An outbox event as committed, ready to be handed to its queue (job id = event id). */
export interface CommittedOutboxEvent {
  id: string;
  queue: string;
  jobName: string;
  payload: Prisma.JsonObject | Prisma.InputJsonObject;
  /** The W3C traceparent its job continues (the relay reads it from the row); absent: the active trace, if any. */
  traceContext?: string | null;
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

/** Why a member's status (balance, tier, vouchers, account status) changed: see member-changes.ts. */
export type MemberChangeKind =
  | 'EARNED'
  | 'REDEEMED'
  | 'REFUNDED'
  | 'ORDER_RETURNED'
  | 'ADJUSTED'
  | 'GOODWILL_GRANTED'
  | 'RENEWAL_BONUS'
  | 'REWARD_REDEEMED'
  | 'RELEASED'
  | 'EXPIRED'
  | 'VOUCHER_ISSUED'
  | 'VOUCHER_REDEEMED'
  | 'VOUCHER_VOIDED'
  | 'VOUCHER_EXPIRED'
  | 'TIER_CHANGED'
  | 'TIER_REVIEWED'
  | 'STATUS_CHANGED'
  | 'PROFILE_UPDATED';

/** "Member X changed because Y": ids only, so a subscriber reads the status fresh. */
export interface MemberChange {
  memberId: string;
  kind: MemberChangeKind;
  /** What caused it (order reference, voucher code, ledger entry, renewal…), when there is one. */
  reference: string | null;
}

/**
 * Where services report member changes after their transaction committed, for the
 * live member status (src/live/member-change-bus.ts fans them out through Redis).
 * Fire and forget: it returns at once and never throws, so a hot path never waits
 * on Redis; a lost report only delays a live screen until its next change.
 */
export interface MemberChangeEvents {
  changed(changes: readonly MemberChange[]): void;
  /**
   * The program's settings, tiers, rewards or earning rules changed (committed): what every member's status may
   * show. Optional: only the members' response cache needs it (src/cache/invalidating-changes.ts).
   */
  programChanged?(): void;
}

/** What moved in the supervisors' approval queue: see approvals/approval-queue.ts. */
export type ApprovalQueueChangeKind =
  | 'GESTURE_PENDING'
  | 'GESTURE_DECIDED'
  | 'FAILURE_WAITING'
  | 'FAILURE_DECIDED'
  | 'INCIDENT_WAITING'
  | 'INCIDENT_DECIDED'
  | 'RENEWAL_BONUS_HELD'
  | 'RENEWAL_BONUS_DECIDED'
  | 'MEMBER_STATUS_CHANGED';

/** "The approval queue changed because Y": ids only, so a supervisor's screen reads the queue fresh. */
export interface ApprovalQueueChange {
  kind: ApprovalQueueChangeKind;
  /** The gesture, failure, incident, contract renewal or member it concerns. */
  reference: string;
}

/**
 * Where services report changes of the approval queue after their transaction
 * committed (src/live/approval-queue-bus.ts fans them out through Redis). Fire
 * and forget, like MemberChangeEvents.
 */
export interface ApprovalQueueEvents {
  changed(changes: readonly ApprovalQueueChange[]): void;
}

/**
 * What the business did, counted after commit for the operators' metrics
 * (src/metrics.ts). Every argument is an enum value, never an id, so the
 * series stay bounded. Fire and forget: it never throws.
 */
export interface BusinessMeasures {
  /** Ledger entries a committed transaction wrote: kind and signed points of each. */
  pointsMoved(entries: readonly PostedPoints[]): void;
  /** Vouchers issued or redeemed by a committed transaction. */
  vouchersMoved(event: 'issued' | 'redeemed', count: number): void;
  /** A service failure's compensation was decided (a repeat of a decided job is not counted). */
  compensationDecided(outcome: CompensationDecision, count?: number): void;
  /** A renewal-bonus job decided its bonus (a repeat of a decided job is not counted). */
  renewalBonusDecided(outcome: RenewalBonusDecision): void;
  /** A webhook delivery attempt failed: `retry` (it will be tried again) or `dead` (given up). */
  webhookDeliveryFailed(outcome: 'retry' | 'dead'): void;
  /** Rows retention deleted from a table (the worker process counts them; others need not). */
  retentionDeleted?(table: RetentionTable, count: number): void;
}

/** The tables retention prunes (src/domain/outbox/retention.service.ts). */
export type RetentionTable = 'outbox_events' | 'webhook_deliveries' | 'webhook_delivery_attempts' | 'webhook_events';

/** One ledger entry as the metrics see it. */
export interface PostedPoints {
  kind: LedgerEntryKind;
  points: number;
}

export type CompensationDecision = 'COMPENSATED' | 'NEEDS_REVIEW' | 'HELD' | 'NOT_ELIGIBLE';

/** What a renewal-bonus job decided: granted, held (and why), or nothing due. */
export type RenewalBonusDecision = 'GRANTED' | 'HELD_MEMBER_SUSPENDED' | 'HELD_BALANCE_LIMIT' | 'NOT_ELIGIBLE';

/** What every domain service needs. `now` is injectable so tests can move time. */
export interface ServiceDeps {
  prisma: PrismaClient;
  logger: Logger;
  now?: () => Date;
  /** Immediate enqueue after commit (the API has one; workers and tests may not). */
  outbox?: OutboxPublisher;
  /** Credential cache invalidation across API processes (the API has one; workers and tests may not). */
  credentials?: CredentialEvents;
  /** Which webhook URLs admins may register (WEBHOOK_ALLOW_*, WEBHOOK_ALLOWED_PORTS); none: https to public addresses on 443 only. */
  webhookUrls?: { allowHttp: boolean; allowPrivateAddresses: boolean; allowedPorts?: readonly number[] };
  /** Live member status reports, called after commit (API and workers have one; tests may not). */
  memberChanges?: MemberChangeEvents;
  /** Approval queue reports, called after commit (API and workers have one; tests may not). */
  approvalQueue?: ApprovalQueueEvents;
  /** Business counters, reported after commit (API and workers have one; tests may not). */
  measures?: BusinessMeasures;
}

export type Tx = Prisma.TransactionClient;

export const nowOf = (deps: ServiceDeps): Date => (deps.now ? deps.now() : new Date());
