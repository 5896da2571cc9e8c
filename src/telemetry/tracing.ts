import { createRequire } from 'node:module';
import { context, propagation, trace } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Plugin } from 'graphql-yoga';
import type { TracingConfig } from '../config/env.js';

/**
 * OpenTelemetry traces of one process: GraphQL operations (@envelop/opentelemetry),
 * every statement on node-postgres (@opentelemetry/instrumentation-pg: Prisma's
 * adapter and the hot paths' raw SQL share its pool), and the jobs a request
 * caused (src/telemetry/trace-context.ts: the traceparent travels with the outbox
 * event and the BullMQ job). Started only when an OTLP endpoint is configured:
 * the SDK, the exporter and the instrumentations are imported here, dynamically,
 * so a process without tracing never loads them and its spans are the API's no-ops.
 */
export interface Tracing {
  /** The yoga plugin that makes one span per GraphQL operation (a child of nothing: each operation is a trace). */
  graphqlPlugin: Plugin;
  /** Exports what is buffered (tests, shutdown). */
  flush(): Promise<void>;
  /** Flushes, unhooks node-postgres and unregisters the SDK. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go instead of OTLP (tests: an InMemorySpanExporter); exported one by one. */
  exporter?: SpanExporter;
}

let started: Promise<Tracing> | undefined;

/**
 * Starts tracing in this process, once: a process running both the API and the
 * workers (`npm start` with one API process) shares one SDK, and a second call
 * gets the first one's. `shutdown` ends it for the whole process.
 */
export function startTracing(config: TracingConfig, options: TracingOptions = {}): Promise<Tracing> {
  started ??= loadTracing(config, options).catch((error: unknown) => {
    started = undefined;
    throw error;
  });
  return started;
}

async function loadTracing(config: TracingConfig, options: TracingOptions): Promise<Tracing> {
  const [
    sdk,
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { resourceFromAttributes },
    { PgInstrumentation },
    envelop,
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/instrumentation-pg'),
    import('@envelop/opentelemetry'),
  ]);
  const exporter =
    options.exporter ??
    new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({
      url: config.url,
      headers: config.headers,
      timeoutMillis: config.timeoutMs,
    });
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    // A request that arrives traced stays traced; new traces are sampled at the configured share.
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [options.exporter ? new sdk.SimpleSpanProcessor(exporter) : new sdk.BatchSpanProcessor(exporter)],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);

  // No parentless statements (pool housekeeping, the relay's polling): only those of a request or a job.
  const pg = new PgInstrumentation({ requireParentSpan: true });
  pg.setTracerProvider(provider);
  pg.enable();
  // The hook patches pg when it is required; an ES import of pg does not pass through it, so require it
  // once here: the prototypes it patches are the ones every importer of pg shares.
  createRequire(import.meta.url)('pg');

  const graphqlPlugin = envelop.useOpenTelemetry(
    // No variables or results in spans: they hold members' data. Documents only when they carry no inline arguments.
    { resolvers: false, variables: false, result: false },
    provider,
    undefined,
    undefined,
    config.serviceName,
  ) as Plugin;

  return {
    graphqlPlugin,
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      started = undefined;
      await provider.forceFlush();
      pg.disable();
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
