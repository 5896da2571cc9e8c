import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import { useTracing } from '../support/tracing.js';

/**
 * OTEL_TRACES_SAMPLER as the SDK applies it to a GraphQL request, with or without the W3C `traceparent` of a
 * traced caller; each block starts tracing with its own variables (tests/support/tracing.ts).
 */
const { prisma } = useTestApp();

/** A caller's trace context, sampled (flag 01) as a traced client sends it. */
function sampledCaller() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** One `query Ping` through a handler traced by `traces`, with the caller's traceparent if given; every span recorded. */
async function ping(traces: ReturnType<typeof useTracing>, traceparent?: string) {
  const app = createTestApp(prisma, { tracing: traces.tracing.graphqlPlugin });
  try {
    const { body } = await app.request('query Ping { __typename }', {}, { headers: traceparent ? { traceparent } : {} });
    expect(body).toEqual({ data: { __typename: 'Query' } });
  } finally {
    await app.close();
  }
  return traces.spans();
}

describe('parentbased_always_on (the default)', () => {
  const traces = useTracing();

  it('records a root request', async () => {
    expect((await ping(traces)).map((span) => span.name)).toEqual(['query.Ping']);
  });

  it("follows a caller's decision not to sample (flag 00)", async () => {
    expect(await ping(traces, sampledCaller().traceparent.replace(/-01$/, '-00'))).toEqual([]);
  });
});

describe('always_off', () => {
  const traces = useTracing({ OTEL_TRACES_SAMPLER: 'always_off' });

  it('records no span, for a root request nor for one whose caller sampled its trace', async () => {
    expect(await ping(traces)).toEqual([]);
    expect(await ping(traces, sampledCaller().traceparent)).toEqual([]);
  });
});

describe('traceidratio with OTEL_TRACES_SAMPLER_ARG=0', () => {
  const traces = useTracing({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });

  it('records no root request', async () => {
    expect(await ping(traces)).toEqual([]);
  });

  it("ignores the caller's decision: the ratio alone decides, parent or not", async () => {
    expect(await ping(traces, sampledCaller().traceparent)).toEqual([]);
  });
});

describe('parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0', () => {
  const traces = useTracing({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });

  it("records no root request, but follows a caller's sampled trace", async () => {
    expect(await ping(traces)).toEqual([]);
    const caller = sampledCaller();
    expect((await ping(traces, caller.traceparent)).map((span) => span.spanContext().traceId)).toEqual([caller.traceId]);
  });
});

describe('parentbased_always_off', () => {
  const traces = useTracing({
    OTEL_TRACES_SAMPLER: 'parentbased_always_off',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu',
  });

  it('records a request whose incoming traceparent is sampled, in the caller trace, with the resource attributes', async () => {
    const caller = sampledCaller();
    const spans = await ping(traces, caller.traceparent);
    expect(spans.map((span) => span.name)).toEqual(['query.Ping']);
    expect(spans[0]!.spanContext().traceId).toBe(caller.traceId);
    expect(spans[0]!.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(spans[0]!.resource.attributes).toMatchObject({ 'service.name': 'treue-test', 'deployment.environment': 'test eu' });
  });

  it('records no root request', async () => {
    expect(await ping(traces)).toEqual([]);
  });
});
