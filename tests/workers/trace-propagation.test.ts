import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { CompensationGroups } from '../../src/domain/service-failures/compensation-groups.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { createMetrics } from '../../src/metrics.js';
import { createOutboxPublisher } from '../../src/queues/outbox-queues.js';
import { inSpan } from '../../src/telemetry/trace-context.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createTestApp, TEST_JWT_SECRET, testLogger, useTestApp } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { useTracing } from '../support/tracing.js';
import { until } from '../support/until.js';

/**
 * One trace from the GraphQL operation to the voucher the worker issued: the
 * traceparent travels with the outbox row and the BullMQ job, through the API's
 * immediate hand-over and through the relay. Spans land in an in-memory exporter.
 */
const { prisma } = useTestApp();
const { exporter, tracing } = useTracing();
const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', QUEUE_PREFIX: testQueuePrefix() });
let workers: WorkersHandle;
let publisher: ReturnType<typeof createOutboxPublisher>;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  workers = await startWorkers(
    { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
    { maintenance: false, queues: ['compensation'], relay: { intervalMs: 100, freshGraceMs: 500 } },
  );
  publisher = createOutboxPublisher({ redisUrl: testRedisUrl(), prefix: testQueuePrefix(), logger: testLogger });
});
afterAll(async () => {
  await workers.close();
  await publisher.close();
  await resetRedis(redis);
  redis.disconnect();
});

const REPORT = `mutation ReportLateDelivery($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename ... on ReportServiceFailurePayload { failure { id } } } }`;

/** Reports a failure through GraphQL, waits for its voucher, and returns the spans with the outbox row's trace context. */
async function reportAndCompensate(app: ReturnType<typeof createTestApp>, orderRef: string) {
  const token = await app.apiKeyToken(['failures:report']);
  const memberId = await app.enroll();
  const response = await app.gql(
    REPORT,
    { i: { memberId, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef, idempotencyKey: orderRef } },
    token,
  );
  expect(response.data?.reportServiceFailure.__typename, JSON.stringify(response)).toBe('ReportServiceFailurePayload');
  await until(() => prisma.voucher.findFirst({ where: { memberId, kind: 'COMPENSATION' } }));
  const [event] = await prisma.$queryRaw<{ trace_context: string | null; enqueues: number }[]>`
    SELECT trace_context, enqueues FROM outbox_events WHERE queue = 'compensation' ORDER BY created_at DESC LIMIT 1`;
  // The job span ends after the voucher's transaction: wait for it too.
  await until(async () => (await spansNamed('compensation process')).length > 0 || null);
  return { spans: exporter.getFinishedSpans(), event: event! };
}

async function spansNamed(name: string): Promise<ReadableSpan[]> {
  await tracing.flush();
  return exporter.getFinishedSpans().filter((span) => span.name === name);
}

/** The chain: GraphQL operation → outbox INSERT → job → issueVoucher → INSERT INTO vouchers, one trace id. */
function expectOneTrace(spans: ReadableSpan[], traceContext: string | null) {
  const operation = spans.find((span) => span.name === 'mutation.ReportLateDelivery');
  const job = spans.find((span) => span.name === 'compensation process');
  const voucher = spans.find((span) => span.name === 'issueVoucher');
  expect(operation, spans.map((span) => span.name).join(', ')).toBeDefined();
  expect(job).toBeDefined();
  expect(voucher).toBeDefined();
  const traceId = operation!.spanContext().traceId;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);

  // The outbox row carries the operation's trace; the job continues it; the voucher is issued inside the job.
  expect(traceContext).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  expect(job!.spanContext().traceId).toBe(traceId);
  expect(job!.parentSpanContext?.spanId).toBe(traceContext!.split('-')[2]);
  expect(voucher!.spanContext().traceId).toBe(traceId);
  expect(voucher!.parentSpanContext?.spanId).toBe(job!.spanContext().spanId);
  expect(voucher!.attributes['treue.voucher.kind']).toBe('COMPENSATION');

  // Statements are traced too: the outbox write under the operation, the voucher's INSERT under issueVoucher.
  const statements = spans.filter((span) => span.spanContext().traceId === traceId && typeof statementOf(span) === 'string');
  expect(statements.some((span) => /INSERT INTO outbox_events/.test(statementOf(span)!))).toBe(true);
  const voucherInsert = statements.find((span) => /INSERT INTO vouchers/.test(statementOf(span)!));
  expect(voucherInsert?.parentSpanContext?.spanId).toBe(voucher!.spanContext().spanId);
}

const statementOf = (span: ReadableSpan) => (span.attributes['db.query.text'] ?? span.attributes['db.statement']) as string | undefined;

describe('one trace from the request to the job it caused', () => {
  it('through the API hand-over right after commit', async () => {
    const app = createTestApp(prisma, { outbox: publisher, tracing: tracing.graphqlPlugin });
    const { spans, event } = await reportAndCompensate(app, 'order-direct');
    expectOneTrace(spans, event.trace_context);
    await app.close();
  });

  it('with the operation compiled (its second execution), the operation span still wraps it', async () => {
    const metrics = createMetrics();
    const app = createTestApp(prisma, { outbox: publisher, tracing: tracing.graphqlPlugin, metrics });
    await reportAndCompensate(app, 'order-interpreted'); // the first execution of the document is interpreted
    exporter.reset();
    const { spans, event } = await reportAndCompensate(app, 'order-compiled');
    expectOneTrace(spans, event.trace_context);
    const runs = Object.fromEntries((await metrics.graphqlExecutions.get()).values.map((value) => [value.labels.executor, value.value]));
    expect(runs).toEqual({ compiled: 1, interpreted: 1 });
    await app.close();
  });

  it('through the outbox relay when the API could not hand it over', async () => {
    // No immediate enqueue: the event waits in the outbox until the relay takes it, trace context and all.
    const app = createTestApp(prisma, { tracing: tracing.graphqlPlugin });
    const { spans, event } = await reportAndCompensate(app, 'order-relayed');
    expectOneTrace(spans, event.trace_context);
    expect(event.enqueues).toBe(1);
    await app.close();
  });
});

describe('compensation jobs decided in one group', () => {
  it("one span for the group's transaction, linked to the span of each job", async () => {
    const deps = { prisma, logger: testLogger };
    const failureIds: string[] = [];
    for (const orderRef of ['group-1', 'group-2', 'group-3']) {
      const reported = await reportServiceFailure(
        deps,
        { memberId: await createTestApp(prisma).enroll(), type: 'LATE_DELIVERY', severity: 'LOW', orderRef, idempotencyKey: orderRef },
        apiKeyCaller('shop', STOREFRONT_SCOPES),
      );
      failureIds.push(reported.failureId);
    }
    exporter.reset();
    const groups = new CompensationGroups(8);
    // Each job in a span of its own, as the worker wiring runs it; they arrive together.
    const outcomes = await Promise.all(
      failureIds.map((failureId) =>
        inSpan('compensation process', () => processCompensation({ failureId }, { ...deps, compensationGroups: groups }), {
          consumer: true,
        }),
      ),
    );
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['COMPENSATED', 'COMPENSATED', 'COMPENSATED']);
    const group = await spansNamed('compensation group');
    expect(group).toHaveLength(1);
    expect(group[0]!.attributes['treue.group.size']).toBe(3);
    const jobs = (await spansNamed('compensation process')).map((span) => span.spanContext().spanId);
    expect(jobs).toHaveLength(3);
    expect(group[0]!.links.map((link) => link.context.spanId).sort()).toEqual([...jobs].sort());
    // The group's statements are traced under its span.
    const voucherInsert = exporter
      .getFinishedSpans()
      .find(
        (span) => span.spanContext().traceId === group[0]!.spanContext().traceId && /INSERT INTO vouchers/.test(statementOf(span) ?? ''),
      );
    expect(voucherInsert).toBeDefined();
  });
});
