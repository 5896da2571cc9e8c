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

/*
 * docs/operations.md#traces: "`always_on`, `always_off` and `traceidratio` ignore the caller" — only the
 * `parentbased_*` samplers let a client's `traceparent` decide. Were the operation's span to take the caller's trace
 * id anyway, TraceIdRatioBasedSampler would decide on that id: a client sending
 * `traceparent: 00-00000000000000000000000000000001-…-00` (not even sampled) would be recorded on every request
 * under a 1 % ratio, in a trace id it chose (a review found it so).
 */
describe('traceidratio at 1 % (not parent-based)', () => {
  const traces = useTracing({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' });

  it("ignores the caller: a client's chosen trace id (…0001, flag 00) is not recorded on every request", async () => {
    const chosen = '00000000000000000000000000000001';
    let recorded = 0;
    const traceIds = new Set<string>();
    for (let i = 0; i < 20; i++) {
      // Each request's spans alone: the exporter keeps what the test recorded so far. At 1 %, one of the 20 requests
      // is recorded by the ratio itself 18 % of the time, and its span counted again for every request after it.
      traces.exporter.reset();
      const spans = await ping(traces, `00-${chosen}-${randomBytes(8).toString('hex')}-00`);
      if (spans.length > 0) recorded += 1;
      for (const span of spans) traceIds.add(span.spanContext().traceId);
    }
    // At 1 %, 20 requests are all recorded with a probability of 1e-40: the caller decides, not the ratio.
    expect(recorded, `recorded in trace ids ${JSON.stringify([...traceIds])}`).toBeLessThan(5);
  });
});

describe('always_on (not parent-based)', () => {
  const traces = useTracing({ OTEL_TRACES_SAMPLER: 'always_on' });

  it('records every request in a trace of its own, not in the trace id a caller sent', async () => {
    const chosen = '0af7651916cd43dd8448eb211c80319c';
    const spans = await ping(traces, `00-${chosen}-b7ad6b7169203331-01`);
    expect(spans.length).toBeGreaterThan(0);
    expect(spans.map((span) => span.spanContext().traceId)).not.toContain(chosen);
    expect(spans.every((span) => span.parentSpanContext === undefined || span.parentSpanContext.traceId !== chosen)).toBe(true);
  });
});
