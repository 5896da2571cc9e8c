import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rawSql } from './db/sql.js';
import type { PrismaClient } from './db/prisma.js';
import { AUTO_DISABLED_REASON } from './domain/webhooks/webhook-delivery.service.js';

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
  return { registry, httpDuration, graphqlOperations };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The states `treue_webhook_endpoints` counts (deleted endpoints are not counted). */
export const WEBHOOK_ENDPOINT_STATES = ['healthy', 'failing', 'disabled', 'disabled_failing'] as const;

/**
 * `treue_webhook_endpoints{state}`: endpoints by state, read from the database
 * when scraped (every API process reports the same figures): `failing` is
 * enabled but without a success since its last failure, `disabled_failing`
 * was disabled after failing for a day (alert on it), `disabled` by an admin.
 * The read gives up after `timeoutMs`, so a hung database cannot hang /metrics.
 */
export function trackWebhookEndpoints(registry: Registry, prisma: PrismaClient, timeoutMs = 1_000): Gauge<'state'> {
  return new Gauge({
    name: 'treue_webhook_endpoints',
    help: 'Webhook endpoints by state: healthy, failing (enabled, failing since its last success), disabled (by an admin), disabled_failing (disabled after failing for a day).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      const rows = await Promise.race([
        rawSql(prisma).$queryRaw<{ state: string; count: number }[]>`
          SELECT CASE WHEN enabled AND failing_since IS NULL THEN 'healthy'
                      WHEN enabled THEN 'failing'
                      WHEN disabled_reason LIKE ${`${AUTO_DISABLED_REASON}%`} THEN 'disabled_failing'
                      ELSE 'disabled' END AS state,
                 count(*)::int AS count
          FROM webhook_endpoints WHERE deleted_at IS NULL GROUP BY 1`,
        timeout,
      ]).catch(() => null);
      clearTimeout(timer);
      if (rows === null) return;
      for (const state of WEBHOOK_ENDPOINT_STATES) this.set({ state }, rows.find((row) => row.state === state)?.count ?? 0);
    },
  });
}
