import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
