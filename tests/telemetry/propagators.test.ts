import { randomBytes } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import type { Plugin } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { currentTraceparent } from '../../src/telemetry/trace-context.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { useTracing } from '../support/tracing.js';

/**
 * OTEL_PROPAGATORS on real requests: what a request reads from its caller's W3C `traceparent` and `baggage` headers,
 * and what it would hand to the jobs it causes (the traceparent stored with an outbox event). Each block starts
 * tracing with its own variables (tests/support/tracing.ts).
 */
const { prisma } = useTestApp();

/** A caller's trace context, sampled (flag 01) as a traced client sends it. */
function sampledCaller() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** What the request's own code sees while it executes: the baggage on its context, the traceparent a job would carry. */
interface Seen {
  baggage: Record<string, string> | undefined;
  traceparent: string | null;
}

/**
 * One `query Ping` with these headers through a handler traced by `traces`; what its execution saw, and the spans.
 * The probe wraps execution inside the tracing plugin's context, as a resolver or a domain service runs.
 */
async function ping(traces: ReturnType<typeof useTracing>, headers: Record<string, string>) {
  let seen: Seen | undefined;
  const probe: Plugin = {
    onExecute: ({ executeFn, setExecuteFn }) => {
      setExecuteFn((args) => {
        const baggage = propagation.getBaggage(context.active());
        seen = {
          baggage: baggage && Object.fromEntries(baggage.getAllEntries().map(([key, entry]) => [key, entry.value])),
          traceparent: currentTraceparent(),
        };
        return executeFn(args);
      });
    },
  };
  const tracing: Plugin = {
    onPluginInit: ({ addPlugin }) => {
      addPlugin(probe);
      addPlugin(traces.tracing.graphqlPlugin);
    },
  };
  const app = createTestApp(prisma, { tracing });
  try {
    const { body } = await app.request('query Ping { __typename }', {}, { headers });
    expect(body).toEqual({ data: { __typename: 'Query' } });
  } finally {
    await app.close();
  }
  expect(seen, 'the probe saw the execution').toBeDefined();
  return { seen: seen!, spans: await traces.spans() };
}

const BAGGAGE = 'tenant=eu,user.tier=gold%20plus;meta=1';

describe('OTEL_PROPAGATORS unset: tracecontext', () => {
  const traces = useTracing();

  it("follows the caller's traceparent, hands it on to jobs, and reads no baggage", async () => {
    const caller = sampledCaller();
    const { seen, spans } = await ping(traces, { traceparent: caller.traceparent, baggage: BAGGAGE });
    expect(spans.map((span) => span.spanContext().traceId)).toEqual([caller.traceId]);
    expect(seen.traceparent).toBe(`00-${caller.traceId}-${spans[0]!.spanContext().spanId}-01`);
    expect(seen.baggage).toBeUndefined();
  });
});

describe('OTEL_PROPAGATORS=tracecontext,baggage', () => {
  const traces = useTracing({ OTEL_PROPAGATORS: 'tracecontext,baggage' });

  it("keeps the caller's baggage on the request's context, besides following its trace", async () => {
    const caller = sampledCaller();
    const { seen, spans } = await ping(traces, { traceparent: caller.traceparent, baggage: BAGGAGE });
    expect(seen.baggage).toEqual({ tenant: 'eu', 'user.tier': 'gold plus' });
    expect(spans.map((span) => span.spanContext().traceId)).toEqual([caller.traceId]);
    expect(seen.traceparent).toBe(`00-${caller.traceId}-${spans[0]!.spanContext().spanId}-01`);
  });

  it('a request without a baggage header has none', async () => {
    const { seen } = await ping(traces, { traceparent: sampledCaller().traceparent });
    expect(seen.baggage).toBeUndefined();
  });
});

describe('OTEL_PROPAGATORS=baggage,tracecontext with a sampler that ignores the caller (always_on)', () => {
  const traces = useTracing({ OTEL_PROPAGATORS: 'baggage,tracecontext', OTEL_TRACES_SAMPLER: 'always_on' });

  it("reads the baggage, which decides nothing, but not the caller's trace", async () => {
    const caller = sampledCaller();
    const { seen, spans } = await ping(traces, { traceparent: caller.traceparent, baggage: BAGGAGE });
    expect(seen.baggage).toEqual({ tenant: 'eu', 'user.tier': 'gold plus' });
    expect(spans).toHaveLength(1);
    expect(spans[0]!.spanContext().traceId).not.toBe(caller.traceId);
    expect(spans[0]!.parentSpanContext).toBeUndefined();
  });
});

describe('OTEL_PROPAGATORS=none', () => {
  const traces = useTracing({ OTEL_PROPAGATORS: 'none' });

  it("follows no caller's traceparent, reads no baggage, and hands jobs no trace context", async () => {
    const caller = sampledCaller();
    const { seen, spans } = await ping(traces, { traceparent: caller.traceparent, baggage: BAGGAGE });
    // Recorded (parentbased_always_on, the default), in a trace of its own.
    expect(spans).toHaveLength(1);
    expect(spans[0]!.spanContext().traceId).not.toBe(caller.traceId);
    expect(spans[0]!.parentSpanContext).toBeUndefined();
    expect(seen).toEqual({ baggage: undefined, traceparent: null });
  });
});
