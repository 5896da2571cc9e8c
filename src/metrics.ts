import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JWKS_FETCH_FAILURE_REASONS } from './auth/jwks.js';
import { rawSql } from './db/sql.js';
import { metricsAccess } from './http/metrics-access.js';
import { observePool, poolOf, type PrismaClient } from './db/prisma.js';
import type { BusinessMeasures, CompensationDecision, RenewalBonusDecision } from './domain/deps.js';
import { oldestDueOutboxEventAge, type OutboxQueue } from './domain/outbox/outbox.service.js';
import { RETENTION_TABLES } from './domain/outbox/retention.service.js';
import { LedgerEntryKind } from './generated/prisma/enums.js';
import type { LiveStreamKind } from './live/stream-places.js';
import {
  AUTO_DISABLED_REASON,
  oldestPendingDeliveryAges,
  PENDING_DELIVERY_ENDPOINT_STATES,
} from './domain/webhooks/webhook-delivery.service.js';

/**
 * Prometheus metrics of one process, served at /metrics. Every label value
 * comes from a fixed set (routes, status codes, the schema's root fields), never
 * from what a client sends, so the number of series cannot grow without bound.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: 'treue_http_request_duration_seconds',
    help: 'HTTP request duration by route and status.',
    labelNames: ['route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const graphqlOperations = new Counter({
    name: 'treue_graphql_operations_total',
    help: 'GraphQL root fields executed (one per selection of an operation) by root field ("other": __typename, introspection) and outcome.',
    labelNames: ['field', 'outcome'] as const,
    registers: [registry],
  });
  const graphqlExecutions = new Counter({
    name: 'treue_graphql_executions_total',
    help: 'GraphQL queries and mutations executed, by executor: compiled (graphql-jit, GRAPHQL_COMPILED) or interpreted (graphql-js).',
    labelNames: ['executor'] as const,
    registers: [registry],
  });
  for (const executor of ['compiled', 'interpreted']) graphqlExecutions.inc({ executor }, 0);
  const rateLimitRefusals: Counter<'subject'> = new Counter({
    name: 'treue_rate_limit_refusals_total',
    help: "GraphQL requests refused by a rate limit (HTTP 429), by whose budget was spent: api_key, member or address, or failed_authentication (an address's requests with credentials that did not verify).",
    labelNames: ['subject'] as const,
    registers: [registry],
  });
  for (const subject of Object.values(RATE_SUBJECT_LABELS)) rateLimitRefusals.inc({ subject }, 0);
  const liveStreamRefusals: Counter<'stream'> = new Counter({
    name: 'treue_live_stream_refusals_total',
    help: 'Live streams refused (RATE_LIMITED) because their caller held LIVE_MAX_STREAMS_PER_CALLER open streams of that kind across the API processes, by stream: member_status, approval_queue.',
    labelNames: ['stream'] as const,
    registers: [registry],
  });
  for (const stream of Object.values(LIVE_STREAM_LABELS)) liveStreamRefusals.inc({ stream }, 0);
  const jwksFetchFailures: Counter<'reason'> = new Counter({
    name: 'treue_jwks_fetch_failures_total',
    help: "Failed fetches of the identity provider's key set (JWKS_URL), by reason: timeout, http_status (not 200), network, invalid_body (not JSON, or not a key set). One per fetch: each starts a 30 s cooldown in which tokens that need the set are refused (401) without another fetch.",
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of JWKS_FETCH_FAILURE_REASONS) jwksFetchFailures.inc({ reason }, 0);
  const responseCache = new Counter({
    name: 'treue_response_cache_lookups_total',
    help: "Response cache lookups of members' status queries (docs/caching.md) by result: hit, miss, error (Redis unavailable: answered without the cache).",
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return {
    registry,
    httpDuration,
    graphqlOperations,
    graphqlExecutions,
    rateLimitRefusals,
    liveStreamRefusals,
    jwksFetchFailures,
    responseCache,
    business: createBusinessMeasures(registry),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * `treue_rate_limit_refusals_total{subject}`: whose budget a refused operation spent; `failedAuthentication`, an
 * address's budget of requests whose credentials did not verify.
 */
export const RATE_SUBJECT_LABELS = {
  apiKey: 'api_key',
  member: 'member',
  address: 'address',
  failedAuthentication: 'failed_authentication',
} as const;

/** `treue_live_stream_refusals_total{stream}`: the kind of live stream refused. */
export const LIVE_STREAM_LABELS = {
  memberStatus: 'member_status',
  approvalQueue: 'approval_queue',
} as const satisfies Record<LiveStreamKind, string>;

/** The states `treue_webhook_endpoints` counts (deleted endpoints are not counted). */
export const WEBHOOK_ENDPOINT_STATES = ['healthy', 'failing', 'disabled', 'disabled_failing'] as const;

/**
 * The webhook endpoints' gauges, read from the database when scraped (every API
 * process reports the same figures):
 *
 * - `treue_webhook_endpoints{state}`: endpoints by state: `failing` is enabled
 *   but without a success since its last failure, `disabled_failing` was
 *   disabled after failing for a day (alert on it), `disabled` by an admin;
 * - `treue_webhook_oldest_pending_age_seconds{state}`: the endpoints' own lag,
 *   which the outbox lag leaves out: the oldest delivery waiting for its first
 *   attempt, by its endpoint's state (`healthy`, `failing`;
 *   `oldestPendingDeliveryAges`).
 *
 * Each read gives up after `timeoutMs` (the gauge keeps its last values), so a
 * hung database cannot hang /metrics. Returns the first.
 */
export function trackWebhookEndpoints(registry: Registry, prisma: PrismaClient, timeoutMs = 1_000): Gauge<'state'> {
  new Gauge({
    name: 'treue_webhook_oldest_pending_age_seconds',
    help: 'Age in seconds of the oldest webhook delivery waiting for its first attempt (new or replayed) by its endpoint state: healthy, failing (0: none). An endpoint slower than its traffic, or down, keeps its deliveries waiting here.',
    labelNames: ['state'] as const,
    registers: [registry],
    aggregator: 'max',
    async collect() {
      const ages = await withTimeout(oldestPendingDeliveryAges(rawSql(prisma)), timeoutMs);
      if (ages === null) return;
      for (const state of PENDING_DELIVERY_ENDPOINT_STATES) this.set({ state }, ages[state]);
    },
  });
  return new Gauge({
    name: 'treue_webhook_endpoints',
    help: 'Webhook endpoints by state: healthy, failing (enabled, failing since its last success), disabled (by an admin), disabled_failing (disabled after failing for a day).',
    labelNames: ['state'] as const,
    registers: [registry],
    // Every API process reads the same rows: summed over a cluster's processes it would count each endpoint once per process.
    aggregator: 'max',
    async collect() {
      const rows = await withTimeout(
        rawSql(prisma).$queryRaw<{ state: string; count: number }[]>`
          SELECT CASE WHEN enabled AND failing_since IS NULL THEN 'healthy'
                      WHEN enabled THEN 'failing'
                      WHEN disabled_reason LIKE ${`${AUTO_DISABLED_REASON}%`} THEN 'disabled_failing'
                      ELSE 'disabled' END AS state,
                 count(*)::int AS count
          FROM webhook_endpoints WHERE deleted_at IS NULL GROUP BY 1`,
        timeoutMs,
      );
      if (rows === null) return;
      for (const state of WEBHOOK_ENDPOINT_STATES) this.set({ state }, rows.find((row) => row.state === state)?.count ?? 0);
    },
  });
}

const COMPENSATION_DECISIONS = ['COMPENSATED', 'NEEDS_REVIEW', 'HELD', 'NOT_ELIGIBLE'] as const satisfies readonly CompensationDecision[];

/** Every renewal-bonus decision, each a series from the start (a Record, so that a new decision does not compile until it is here). */
const RENEWAL_BONUS_DECISIONS = Object.keys({
  GRANTED: true,
  HELD_MEMBER_SUSPENDED: true,
  HELD_BALANCE_LIMIT: true,
  NOT_ELIGIBLE: true,
} satisfies Record<RenewalBonusDecision, true>) as RenewalBonusDecision[];

/**
 * The business counters of one process (the domain's `BusinessMeasures` port):
 * points granted and spent by ledger entry kind, vouchers issued and redeemed,
 * compensation and renewal-bonus decisions by outcome, webhook delivery failures. Every label is
 * an enum value; every series starts at 0, so a rate() sees its first increase.
 * Each process counts what it committed itself: the API the requests' moves,
 * the worker process the jobs' (compensation, renewal bonuses, deliveries).
 */
export function createBusinessMeasures(registry: Registry): BusinessMeasures & { registry: Registry } {
  const granted = new Counter({
    name: 'treue_points_granted_total',
    help: 'Points added to members by committed ledger entries, by entry kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const spent = new Counter({
    name: 'treue_points_spent_total',
    help: 'Points taken from members (redeemed, expired, reversed, adjusted down) by committed ledger entries, by entry kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const entries = new Counter({
    name: 'treue_ledger_entries_total',
    help: 'Committed ledger entries by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const vouchers = new Counter({
    name: 'treue_vouchers_total',
    help: 'Vouchers issued to or redeemed by members, by event: issued, redeemed.',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const compensations = new Counter({
    name: 'treue_compensation_decisions_total',
    help: 'Service failure compensations decided, by outcome: COMPENSATED, NEEDS_REVIEW, HELD, NOT_ELIGIBLE.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const renewalBonuses = new Counter({
    name: 'treue_renewal_bonus_decisions_total',
    help: 'Renewal bonuses decided by their job, by outcome: GRANTED, HELD_MEMBER_SUSPENDED, HELD_BALANCE_LIMIT (waits for a supervisor), NOT_ELIGIBLE.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const webhookFailures = new Counter({
    name: 'treue_webhook_delivery_failures_total',
    help: 'Failed webhook delivery attempts, by outcome: retry (tried again later) or dead (given up, dead-lettered).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const kind of Object.values(LedgerEntryKind)) {
    granted.inc({ kind }, 0);
    spent.inc({ kind }, 0);
    entries.inc({ kind }, 0);
  }
  for (const event of ['issued', 'redeemed']) vouchers.inc({ event }, 0);
  for (const outcome of COMPENSATION_DECISIONS) compensations.inc({ outcome }, 0);
  for (const outcome of RENEWAL_BONUS_DECISIONS) renewalBonuses.inc({ outcome }, 0);
  for (const outcome of ['retry', 'dead']) webhookFailures.inc({ outcome }, 0);
  return {
    registry,
    pointsMoved(moves) {
      for (const { kind, points } of moves) {
        entries.inc({ kind });
        if (points > 0) granted.inc({ kind }, points);
        if (points < 0) spent.inc({ kind }, -points);
      }
    },
    vouchersMoved: (event, count) => vouchers.inc({ event }, count),
    compensationDecided: (outcome, count = 1) => compensations.inc({ outcome }, count),
    renewalBonusDecided: (outcome) => renewalBonuses.inc({ outcome }),
    webhookDeliveryFailed: (outcome) => webhookFailures.inc({ outcome }),
  };
}

/** `read`'s value, or null when it fails or takes longer than `timeoutMs`. */
async function withTimeout<T>(read: PromiseLike<T>, timeoutMs: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const value = await Promise.race([read, timeout]).catch(() => null);
  clearTimeout(timer);
  return value;
}

/**
 * `treue_outbox_oldest_pending_age_seconds`: how long the oldest outbox event
 * that is due and not yet completed by its job has waited since it became due
 * (`oldestDueOutboxEventAge`; 0 when none waits), read when scraped: the
 * relay's and the workers' lag. A customer endpoint's own wait is none of it —
 * its retry schedule, and deliveries its gate puts back while it is busy or
 * its circuit is open (`treue_webhook_oldest_pending_age_seconds` shows that
 * wait); workers down, Redis away or a queue backed up are: alert on it. The
 * read gives up after `timeoutMs` (the gauge keeps its last value).
 */
export function trackOutboxLag(registry: Registry, prisma: PrismaClient, timeoutMs = 1_000): Gauge {
  return new Gauge({
    name: 'treue_outbox_oldest_pending_age_seconds',
    help: 'Age in seconds of the oldest outbox event that is due and whose job has not completed, since it became due (a webhook delivery put back, for a retry or by its busy endpoint: from then; 0: none pending).',
    registers: [registry],
    aggregator: 'max',
    async collect() {
      const age = await withTimeout(oldestDueOutboxEventAge(rawSql(prisma)), timeoutMs);
      if (age === null) return;
      this.set(age);
    },
  });
}

/** The states `treue_db_pool_connections` counts. */
export const POOL_CONNECTION_STATES = ['busy', 'idle'] as const;

/** Waits for and holds of a database connection, in seconds: from a fraction of a millisecond to the connect timeout's 5 s. */
const POOL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The process's database pool (`DATABASE_POOL_SIZE`): connections busy and idle and callers waiting,
 * read when scraped; how long each caller waited for a connection and held it; checkouts that got
 * none. Waits that grow while holds stay short mean the pool is too small for the load; holds that
 * grow mean the database is slow (docs/operations.md). In one process running the API and the
 * workers, both registries describe the same pool. Nothing for a client not made by `createPrisma`.
 * Returns the way to stop observing the pool (when the API or the workers close and the client lives on).
 */
export function trackDatabasePool(registry: Registry, prisma: PrismaClient): () => void {
  const pool = poolOf(prisma);
  if (!pool) return () => undefined;
  new Gauge({
    name: 'treue_db_pool_connections',
    help: "Connections of the process's database pool by state: busy (checked out) or idle.",
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const idle = pool.idleCount;
      const counts: Record<(typeof POOL_CONNECTION_STATES)[number], number> = { busy: pool.totalCount - idle, idle };
      for (const state of POOL_CONNECTION_STATES) this.set({ state }, counts[state]);
    },
  });
  new Gauge({
    name: 'treue_db_pool_waiting',
    help: "Callers waiting for a connection of the process's database pool, none being free for them.",
    registers: [registry],
    collect() {
      // node-postgres queues every caller until its next tick, idle connections or not (the scrape's own reads
      // among them): only those beyond the idle connections wait.
      this.set(Math.max(0, pool.waitingCount - pool.idleCount));
    },
  });
  const waits = new Histogram({
    name: 'treue_db_pool_wait_seconds',
    help: "How long a statement or transaction waited for a connection of the process's database pool.",
    buckets: POOL_BUCKETS,
    registers: [registry],
  });
  const holds = new Histogram({
    name: 'treue_db_pool_hold_seconds',
    help: 'How long a statement or transaction held its database connection, from checkout to release.',
    buckets: POOL_BUCKETS,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'treue_db_pool_checkout_failures_total',
    help: 'Statements or transactions that got no database connection: the wait timed out (DATABASE_CONNECT_TIMEOUT_MS) or connecting failed.',
    registers: [registry],
  });
  const stop = observePool(prisma, {
    waited: (seconds) => waits.observe(seconds),
    held: (seconds) => holds.observe(seconds),
    failed: () => failures.inc(),
  });
  return stop ?? (() => undefined);
}

/**
 * The worker process's metrics: the process's own, the business counters of the jobs it runs, and
 * `treue_jobs_refused_total{queue}`: jobs refused for good, whose outbox events were closed. `queue` is
 * one of `queues` (the outbox queues, a fixed set), each series at 0 from the start; and
 * `treue_retention_deleted_total{table}`: rows the retention job deleted, by table (a fixed set).
 */
export function createWorkerMetrics(queues: readonly OutboxQueue[] = []) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const jobsRefused: Counter<'queue'> = new Counter({
    name: 'treue_jobs_refused_total',
    help: 'Outbox jobs refused for good (their subject does not exist or their payload is malformed): failed at once, their outbox event closed, never re-driven. By queue.',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  for (const queue of queues) jobsRefused.inc({ queue }, 0);
  const retentionDeleted: Counter<'table'> = new Counter({
    name: 'treue_retention_deleted_total',
    help: 'Rows the maintenance schedule deleted past their retention (OUTBOX_RETENTION_DAYS, WEBHOOK_RETENTION_DAYS), by table.',
    labelNames: ['table'] as const,
    registers: [registry],
  });
  for (const table of RETENTION_TABLES) retentionDeleted.inc({ table }, 0);
  const business = createBusinessMeasures(registry);
  business.retentionDeleted = (table, count) => retentionDeleted.inc({ table }, count);
  return { registry, business, jobsRefused };
}

/**
 * Serves `registry` at GET /metrics on its own port (the worker process has no other HTTP server); with `token`, only
 * to a scrape that sends it as its bearer token (METRICS_TOKEN, src/http/metrics-access.ts).
 */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host: string,
  token?: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const mayScrape = metricsAccess(token);
  const server = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (!mayScrape(req, res)) return;
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${bound}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
