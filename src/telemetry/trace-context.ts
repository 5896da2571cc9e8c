import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type SpanContext } from '@opentelemetry/api';

/**
 * Trace context across the outbox and the queues, on the OpenTelemetry API
 * alone: when tracing is off (no SDK registered, src/telemetry/tracing.ts) every
 * call here is the API's no-op and costs next to nothing.
 */

const tracer = () => trace.getTracer('treue');

/** The active trace as a W3C `traceparent`, to store with an outbox event; null when there is none (tracing off). */
export function currentTraceparent(): string | null {
  const carrier: { traceparent?: string } = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** The context a job continues: the `traceparent` its data carries, else none. */
export function contextOf(carrier: unknown): Context {
  if (typeof carrier !== 'object' || carrier === null) return ROOT_CONTEXT;
  const traceparent = (carrier as { traceparent?: unknown }).traceparent;
  if (typeof traceparent !== 'string') return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The active span, for a span elsewhere to link to (work done for several at once); undefined when there is none. */
export function currentSpanLink(): SpanContext | undefined {
  return trace.getActiveSpan()?.spanContext();
}

/**
 * Runs `work` in a span of its own (a child of the active one, or with
 * `newTrace` the root of a trace of its own), ended and marked failed when it
 * throws (its status names the error's class, not its message). `links` name the spans it works for (a group of jobs).
 */
export function inSpan<T>(
  name: string,
  work: () => Promise<T>,
  options: {
    parent?: Context;
    newTrace?: boolean;
    links?: readonly SpanContext[];
    consumer?: boolean;
    attributes?: Record<string, string | number>;
  } = {},
): Promise<T> {
  return tracer().startActiveSpan(
    name,
    {
      kind: options.consumer ? SpanKind.CONSUMER : SpanKind.INTERNAL,
      attributes: options.attributes,
      links: options.links?.map((link) => ({ context: link })),
    },
    options.newTrace ? ROOT_CONTEXT : (options.parent ?? context.active()),
    async (span) => {
      try {
        return await work();
      } catch (error) {
        // The class, not the message: a database error's message can quote a member's data; the log has it.
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'Error' });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
