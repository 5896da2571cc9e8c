import { createRequire } from 'node:module';
import {
  context,
  diag,
  DiagLogLevel,
  propagation,
  trace,
  type DiagLogger,
  type Exception,
  type TextMapGetter,
  type TextMapPropagator,
  type TracerProvider,
} from '@opentelemetry/api';
import type { Sampler, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Plugin } from 'graphql-yoga';
import type { Propagator, TracesSampler, TracingConfig } from '../config/env.js';
import { withoutInputValues } from '../graphql/error-masking.js';
import type { Logger } from '../logger.js';

/**
 * OpenTelemetry traces of one process: GraphQL operations (@envelop/opentelemetry),
 * every statement on node-postgres (@opentelemetry/instrumentation-pg: Prisma's
 * adapter and the hot paths' raw SQL share its pool), and the jobs a request
 * caused (src/telemetry/trace-context.ts: the traceparent travels with the outbox
 * event and the BullMQ job). An operation continues the trace of a caller that sends
 * a W3C `traceparent`, and keeps its W3C `baggage` on its context, as OTEL_PROPAGATORS
 * says; OTEL_TRACES_SAMPLER decides what is recorded (src/config/env.ts).
 * Started only when an OTLP endpoint is configured:
 * the SDK, the exporter and the instrumentations are imported here, dynamically,
 * so a process without tracing never loads them and its spans are the API's no-ops;
 * of the two exporters, only the one OTEL_EXPORTER_OTLP_PROTOCOL chose is loaded.
 * Every setting the SDK and the exporter would otherwise read from `process.env` by
 * themselves (OTEL_BSP_*, span limits, compression, TLS files) is passed explicitly,
 * from the validated configuration: what they read is never what decides.
 */
export interface Tracing {
  /** The yoga plugin that makes one span per GraphQL operation: a child of the caller's `traceparent`, else a trace's root. */
  graphqlPlugin: Plugin;
  /** Exports what is buffered (tests, shutdown). */
  flush(): Promise<void>;
  /** Flushes, unhooks node-postgres and unregisters the SDK. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go instead of OTLP (tests: an InMemorySpanExporter); exported one by one. */
  exporter?: SpanExporter;
  /**
   * Where the SDK's own warnings and errors go — an export the collector refused or could not be reached for, which
   * the SDK otherwise drops in silence (`diagnosticsTo`).
   */
  logger?: Logger;
}

let started: Promise<Tracing> | undefined;
/** node-postgres's instrumentation, kept from one start to the next (see loadTracing). */
let pgInstrumentation: import('@opentelemetry/instrumentation-pg').PgInstrumentation | undefined;

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
    { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator },
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
  const exporter = options.exporter ?? (await otlpExporter(config));
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes(config.resourceAttributes),
    sampler: samplerOf(sdk, config.sampler, config.sampleRatio),
    // Every limit given, none left to the SDK's own reading of the environment.
    spanLimits: { ...config.spanLimits, attributeValueLengthLimit: config.spanLimits.attributeValueLengthLimit ?? Infinity },
    spanProcessors: [options.exporter ? new sdk.SimpleSpanProcessor(exporter) : new sdk.BatchSpanProcessor(exporter, config.batch)],
  });
  if (options.logger) diag.setLogger(diagnosticsTo(options.logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const propagatorOf = (name: Propagator): TextMapPropagator =>
    name === 'tracecontext' ? new W3CTraceContextPropagator() : new W3CBaggagePropagator();
  // What jobs carry (src/telemetry/trace-context.ts); with `none`, nothing: a job starts a trace of its own.
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: config.propagators.map(propagatorOf) }));
  trace.setGlobalTracerProvider(provider);

  // No parentless statements (pool housekeeping, the relay's polling): only those of a request or a job.
  // One instrumentation per process, re-enabled by a later start: its require hook sees pg once per process (the
  // hook library caches what it patched), so a second instance would never patch pg again.
  pgInstrumentation ??= new PgInstrumentation({ requireParentSpan: true, enabled: false });
  const pg = pgInstrumentation;
  // A statement's error message can quote a parameter (`invalid input syntax for type uuid: "…"`).
  pg.setTracerProvider(withoutErrorMessages(provider));
  pg.enable();
  // The hook patches pg when it is required; an ES import of pg does not pass through it, so require it
  // once here: the prototypes it patches are the ones every importer of pg shares.
  createRequire(import.meta.url)('pg');

  const operationSpans = envelop.useOpenTelemetry(
    // No variables or results in spans: they hold members' data. Documents only when they carry no inline arguments.
    // Nor the errors' messages (withoutErrorMessages).
    { resolvers: false, variables: false, result: false },
    boundedOperationNames(withoutErrorMessages(provider)),
    undefined,
    undefined,
    config.serviceName,
  ) as Plugin;
  // Before the operation's span starts: what the request carries is read onto its context. Its trace context becomes
  // the span's parent under a parent-based sampler only. The others ignore the caller (docs/operations.md#traces): a
  // span that took the caller's trace id would be decided on it, and a client sending a trace id of its choice (…0001)
  // would have every request recorded under a 1 % traceidratio. Baggage decides nothing: it is read under any sampler.
  const followsCaller = config.sampler.startsWith('parentbased_');
  const readFromCallers = config.propagators.filter((name) => followsCaller || name === 'baggage');
  const callers = new CompositePropagator({ propagators: readFromCallers.map(propagatorOf) });
  const callersContext = (args: { contextValue: unknown }) => {
    const request = (args.contextValue as { request?: Request }).request;
    if (request) envelop.setCurrentOtelContext(args.contextValue, callers.extract(context.active(), request.headers, headerGetter));
  };
  const graphqlPlugin: Plugin = {
    onPluginInit: ({ addPlugin }) => {
      if (readFromCallers.length > 0) {
        addPlugin({ onExecute: ({ args }) => callersContext(args), onSubscribe: ({ args }) => callersContext(args) });
      }
      addPlugin(operationSpans);
    },
  };

  return {
    graphqlPlugin,
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      started = undefined;
      // A collector that is away must not stop the shutdown half-way (node-postgres left patched, the SDK registered).
      await provider.forceFlush().catch((error: unknown) => diag.error('the last spans could not be exported', error));
      pg.disable();
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
      diag.disable();
    },
  };
}

/**
 * The OTLP/HTTP exporter of the configured protocol, the one package of the two imported: protobuf bodies
 * (`application/x-protobuf`) or JSON ones (`application/json`). Both come from the same OpenTelemetry JS release and
 * share its transport and serialization packages. Each also reads OTEL_EXPORTER_OTLP_* from `process.env` itself and
 * takes what it read where no option is given: every one is given, so that a value the configuration refused or
 * resolved otherwise never wins. (The headers it reads are merged under the given ones; parsed as core parses them, their
 * names are among the configured ones, so the configured values are what is sent.)
 */
async function otlpExporter(config: TracingConfig): Promise<SpanExporter> {
  type Options = NonNullable<ConstructorParameters<typeof import('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter>[0]>;
  const { ca, cert, key } = config.tls;
  const options: Options = {
    url: config.url,
    headers: config.headers,
    timeoutMillis: config.timeoutMs,
    compression: config.compression as Options['compression'],
    // The exporter's own agent options, plus the TLS files (used on https:// only; src/config/env.ts refuses them on http://).
    httpAgentOptions: { keepAlive: true, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
  };
  switch (config.protocol) {
    case 'http/protobuf':
      return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(options);
    case 'http/json':
      return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(options);
  }
}

/**
 * A provider whose spans record errors without their messages: the operation spans' and the statements'.
 * @envelop/opentelemetry records `JSON.stringify(result.errors)` as the span's exception, before yoga masks them: a
 * variable that does not coerce is quoted by graphql-js's message (`Variable "$i" got invalid value { code: "TRU-…",
 * … }`: a voucher code, an e-mail, a name), and an unexpected error's message is what masking keeps from clients. The
 * exception keeps where each error was and its code; the message stays with the client, and with the log (keyed by
 * request id) for unexpected errors. node-postgres's instrumentation puts the database's message in the span's
 * status (`invalid input syntax for type uuid: "<the parameter>"`): the status keeps its code, and the exception
 * event the instrumentation records already names only the error's class and SQLSTATE.
 */
export function withoutErrorMessages(provider: TracerProvider): TracerProvider {
  return {
    getTracer: (name, version, options) => {
      const tracer = provider.getTracer(name, version, options);
      return {
        startSpan: (spanName, spanOptions, parent) => {
          const span = tracer.startSpan(spanName, spanOptions, parent);
          const record = span.recordException.bind(span);
          const setStatus = span.setStatus.bind(span);
          span.recordException = (exception, time) => record(errorSummary(exception), time);
          span.setStatus = (status) => setStatus({ code: status.code });
          return span;
        },
        startActiveSpan: tracer.startActiveSpan.bind(tracer) as typeof tracer.startActiveSpan,
      };
    },
  };
}

/**
 * What an operation's name must look like to name its span: an identifier of at most 64 characters. @envelop/opentelemetry
 * takes the name from the operation the request runs (`query.<name>`, `graphql.execute.operationName`), which is
 * whatever the client wrote there: 100 KB of text, a member's e-mail spelt as an identifier.
 */
export const SPAN_OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** The name of an operation span whose operation's name is not one (SPAN_OPERATION_NAME). */
export const UNNAMED_OPERATION_SPAN = 'graphql.operation';

/**
 * A provider whose GraphQL operation spans (those @envelop/opentelemetry starts with `graphql.execute.operationType`)
 * keep their name only when the operation's name is SPAN_OPERATION_NAME's; any other is named UNNAMED_OPERATION_SPAN,
 * without the operation's name and without the document (which holds it). Trace back-ends index span names: their
 * length stays bounded whatever clients send.
 */
export function boundedOperationNames(provider: TracerProvider): TracerProvider {
  return {
    getTracer: (name, version, options) => {
      const tracer = provider.getTracer(name, version, options);
      return {
        startSpan: (spanName, spanOptions, parent) => {
          const attributes = spanOptions?.attributes;
          const operationName = attributes?.['graphql.execute.operationName'];
          if (attributes?.['graphql.execute.operationType'] === undefined || typeof operationName !== 'string') {
            return tracer.startSpan(spanName, spanOptions, parent);
          }
          if (SPAN_OPERATION_NAME.test(operationName)) return tracer.startSpan(spanName, spanOptions, parent);
          const { ['graphql.execute.operationName']: _name, ['graphql.execute.document']: _document, ...kept } = attributes;
          return tracer.startSpan(UNNAMED_OPERATION_SPAN, { ...spanOptions, attributes: kept }, parent);
        },
        startActiveSpan: tracer.startActiveSpan.bind(tracer) as typeof tracer.startActiveSpan,
      };
    },
  };
}

/** An exception as `withoutErrorMessages` records it: its name, and of GraphQL errors each one's path and code. */
function errorSummary(exception: Exception): Exception {
  const name = typeof exception === 'string' ? 'Error' : (exception.name ?? 'Error');
  const message = typeof exception === 'string' ? undefined : exception.message;
  let errors: unknown;
  try {
    errors = message === undefined ? undefined : JSON.parse(message);
  } catch {
    errors = undefined;
  }
  if (!Array.isArray(errors)) return { name, message: 'an error (its message is not recorded)' };
  const described = errors.map((error: { message?: unknown; path?: unknown; extensions?: { code?: unknown } } | null) => ({
    // A variable that did not coerce: which one and where, without what was sent.
    ...(typeof error?.message === 'string' && error.message.startsWith('Variable "$')
      ? { message: withoutInputValues(error.message, undefined) }
      : {}),
    ...(Array.isArray(error?.path) ? { path: error.path.map(String) } : {}),
    ...(typeof error?.extensions?.code === 'string' ? { code: error.extensions.code } : {}),
  }));
  return { name, message: JSON.stringify(described) };
}

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/** The sampler OTEL_TRACES_SAMPLER names; `ratio` is OTEL_TRACES_SAMPLER_ARG, for the two ratio samplers. */
function samplerOf(sdk: typeof import('@opentelemetry/sdk-trace-base'), name: TracesSampler, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return new sdk.TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio) });
  }
}

/** How often the same SDK message is logged at most: a collector that is down fails every batch (every 5 s). */
const DIAGNOSTIC_REPEAT_MS = 60_000;
/** Messages remembered for that at most, the oldest forgotten first: a message can carry what varies (a span's name). */
const DIAGNOSTIC_MESSAGES_KEPT = 100;

/**
 * The SDK's warnings and errors (OpenTelemetry's `diag`: a failed export, a refused span) as warnings of the
 * service's log, `component: "opentelemetry"` — tracing trouble never stops a request, but an operator whose traces
 * are missing finds why. The same message is logged once a minute at most, with how often it came meanwhile (of the last 100 messages).
 */
export function diagnosticsTo(logger: Logger, now: () => number = Date.now): DiagLogger {
  const log = logger.child({ component: 'opentelemetry' });
  const seen = new Map<string, { at: number; repeated: number }>();
  const warn = (message: string, ...args: unknown[]) => {
    const at = now();
    const last = seen.get(message);
    if (last && at - last.at < DIAGNOSTIC_REPEAT_MS) {
      last.repeated += 1;
      return;
    }
    seen.delete(message); // set again below: the newest last, in the map's order
    if (seen.size >= DIAGNOSTIC_MESSAGES_KEPT) seen.delete(seen.keys().next().value!);
    seen.set(message, { at, repeated: 0 });
    const err = args.find((arg) => arg instanceof Error);
    log.warn({ ...(err ? { err } : {}), ...(last?.repeated ? { repeated: last.repeated } : {}) }, `opentelemetry: ${message}`);
  };
  const ignore = () => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}
