// No useTestApp(): a handler in production configuration with its own metrics; no request writes a row.
import { afterAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { getSchema } from '../../src/graphql/schema.js';
import { createMetrics } from '../../src/metrics.js';
import { TEST_JWT_SECRET, testLogger } from '../support/app.js';
import { createTestPrisma } from '../support/db.js';

const prisma = createTestPrisma(2);
afterAll(async () => prisma.$disconnect());

const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent' });

async function post(yoga: ReturnType<typeof createGraphQLHandler>, body: Record<string, unknown>) {
  const response = await yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.text();
}

function rootFieldNames(): Set<string> {
  const schema = getSchema();
  const names = new Set<string>(['other']);
  for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const name of Object.keys(type?.getFields() ?? {})) names.add(name);
  }
  return names;
}

describe('GraphQL operation metrics', () => {
  it('label by root field, never by the client-chosen operation name: 300 distinct names make a handful of series', async () => {
    const metrics = createMetrics();
    const yoga = createGraphQLHandler({ config, logger: testLogger, prisma }, metrics);
    for (let i = 0; i < 150; i++) {
      const name = `Op${i}_${'x'.repeat(i)}`;
      await post(yoga, { query: `query ${name} { __typename }`, operationName: name });
      await post(yoga, { query: `query ${name}T { tiers { key } } query Other${i} { __typename }`, operationName: `${name}T` });
    }
    const counter = await metrics.registry.getSingleMetric('treue_graphql_operations_total')!.get();
    const labels = counter.values.map((value) => value.labels);
    const known = rootFieldNames();
    for (const label of labels) expect(known.has(String(label.field)), JSON.stringify(label)).toBe(true);
    expect(labels.length).toBeLessThanOrEqual(4);
    expect(counter.values.find((value) => value.labels.field === 'tiers')?.value).toBe(150);
    expect(counter.values.find((value) => value.labels.field === 'other')?.value).toBe(150);

    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/Op\d+_/);
  });

  it('count each root field an operation selects, through fragments and aliases', async () => {
    const metrics = createMetrics();
    const yoga = createGraphQLHandler({ config, logger: testLogger, prisma }, metrics);
    await post(yoga, {
      query: 'query Q { a: tiers { key } b: tiers { key } ...F } fragment F on Query { rewards { edges { cursor } } }',
    });
    const counter = await metrics.registry.getSingleMetric('treue_graphql_operations_total')!.get();
    const byField = Object.fromEntries(counter.values.map((value) => [value.labels.field, value.value]));
    expect(byField).toMatchObject({ tiers: 2 });
    expect(Object.keys(byField).sort()).toEqual(['rewards', 'tiers']);
  });
});
