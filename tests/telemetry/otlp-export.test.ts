import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import { decodeOtlpProtobuf, OTLP_TLS, useOtlpSink, useTracing, type ExportedSpan, type OtlpSink } from '../support/tracing.js';

/**
 * What the service's OTLP exporter puts on the wire (OTEL_EXPORTER_OTLP_PROTOCOL): a GraphQL operation traced by
 * the service's own exporter, its export posted to a local HTTP collector (tests/support/tracing.ts) and read back.
 */
const { prisma } = useTestApp();

/** `query Me` of a new member through a handler traced by `traces`, then everything buffered exported. */
async function me(traces: ReturnType<typeof useTracing>): Promise<void> {
  const app = createTestApp(prisma, { tracing: traces.tracing.graphqlPlugin });
  try {
    const memberId = await app.enroll();
    const { body } = await app.request('query Me { me { status } }', {}, { token: await app.memberToken(memberId) });
    expect(body).toEqual({ data: { me: { status: 'ACTIVE' } } });
    await traces.tracing.flush();
  } finally {
    await app.close();
  }
}

/** The export requests are POSTs to the traces path with this content type; their spans, decoded with `decode`. */
function exported(sink: OtlpSink, contentType: string, decode: (body: Buffer) => ExportedSpan[]): ExportedSpan[] {
  const requests = sink.requests.map((request) => [request.method, request.path, request.contentType]);
  expect(requests.length).toBeGreaterThan(0);
  expect(requests).toEqual(requests.map(() => ['POST', '/v1/traces', contentType]));
  return sink.requests.flatMap((request) => decode(request.body));
}

/** The operation's span, a trace's root with the resource, and the SQL statements it ran as its children. */
function expectOperationTrace(spans: ExportedSpan[]) {
  const operation = spans.find((span) => span.name === 'query.Me');
  expect(operation, JSON.stringify(spans.map((span) => span.name))).toBeDefined();
  expect(operation!.traceId).toMatch(/^[0-9a-f]{32}$/);
  expect(operation!.spanId).toMatch(/^[0-9a-f]{16}$/);
  expect(operation!.parentSpanId).toBe('');
  expect(operation!.resource).toMatchObject({ 'service.name': 'treue-test', 'deployment.environment': 'test eu' });
  const statements = spans.filter((span) => span.parentSpanId === operation!.spanId);
  expect(statements.map((span) => span.traceId)).toEqual(statements.map(() => operation!.traceId));
  expect(statements.map((span) => span.attributes['db.query.text'] ?? span.attributes['db.statement'])).toContainEqual(
    expect.stringMatching(/\bFROM members\b/),
  );
}

describe('OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf', () => {
  const sink = useOtlpSink();
  const traces = useTracing(
    { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu' },
    { sink },
  );

  it("posts a GraphQL operation's spans to /v1/traces as application/x-protobuf, a body that decodes to the operation's trace", async () => {
    await me(traces);
    expectOperationTrace(exported(sink, 'application/x-protobuf', decodeOtlpProtobuf));
  });
});

describe('no protocol set: http/json, as before', () => {
  const sink = useOtlpSink();
  const traces = useTracing({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu' }, { sink });

  it("posts a GraphQL operation's spans to /v1/traces as application/json", async () => {
    await me(traces);
    expectOperationTrace(exported(sink, 'application/json', decodeOtlpJson));
  });
});

describe('OTEL_EXPORTER_OTLP_COMPRESSION=gzip', () => {
  const sink = useOtlpSink();
  const traces = useTracing(
    {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu',
    },
    { sink },
  );

  it('posts each export gzipped (Content-Encoding: gzip), a body that gunzips to the operation trace', async () => {
    await me(traces);
    expect(sink.requests.map((request) => request.contentEncoding)).toEqual(sink.requests.map(() => 'gzip'));
    // gzip's magic bytes on the wire, and a body that is not the protobuf it holds.
    expect(sink.requests.map((request) => request.received.subarray(0, 2).toString('hex'))).toEqual(sink.requests.map(() => '1f8b'));
    expect(sink.requests.every((request) => !request.received.equals(request.body))).toBe(true);
    expectOperationTrace(exported(sink, 'application/x-protobuf', decodeOtlpProtobuf));
  });
});

describe('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=none over a general gzip', () => {
  const sink = useOtlpSink();
  const traces = useTracing(
    {
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'none',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu',
    },
    { sink },
  );

  it('posts the exports uncompressed: the traces variable wins', async () => {
    await me(traces);
    expect(sink.requests.map((request) => request.contentEncoding)).toEqual(sink.requests.map(() => undefined));
    expectOperationTrace(exported(sink, 'application/json', decodeOtlpJson));
  });
});

describe('OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1', () => {
  const sink = useOtlpSink();
  const traces = useTracing(
    { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu' },
    { sink },
  );

  it('sends one span per export request (the batch span processor takes its settings from the configuration)', async () => {
    await me(traces);
    const perRequest = sink.requests.map((request) => decodeOtlpJson(request.body).length);
    expect(perRequest.length).toBeGreaterThan(1);
    expect(perRequest).toEqual(perRequest.map(() => 1));
    expectOperationTrace(exported(sink, 'application/json', decodeOtlpJson));
  });
});

describe('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT=12', () => {
  const sink = useOtlpSink();
  const traces = useTracing({ OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '12' }, { sink });

  it("cuts the statements' text to 12 characters", async () => {
    await me(traces);
    const texts = exported(sink, 'application/json', decodeOtlpJson).flatMap((span) => {
      const text = span.attributes['db.query.text'] ?? span.attributes['db.statement'];
      return text === undefined ? [] : [text];
    });
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.every((text) => text.length === 12)).toBe(true);
  });
});

describe("the exporter's own reading of process.env", () => {
  // The exporter reads OTEL_EXPORTER_OTLP_COMPRESSION from process.env itself; the service's configuration (here:
  // none, from the variables useTracing gives loadConfig) is passed explicitly and wins.
  beforeAll(() => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_COMPRESSION', 'gzip');
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });
  const sink = useOtlpSink();
  const traces = useTracing({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu' }, { sink });

  it('does not decide: the configured compression (none) is what goes on the wire', async () => {
    await me(traces);
    expect(sink.requests.map((request) => request.contentEncoding)).toEqual(sink.requests.map(() => undefined));
    expectOperationTrace(exported(sink, 'application/json', decodeOtlpJson));
  });
});

describe('an https:// collector with OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY', () => {
  // The sink's certificate is signed by a CA no system trusts, and it takes only clients with a certificate of it.
  const sink = useOtlpSink({ tls: true });
  const traces = useTracing(
    {
      OTEL_EXPORTER_OTLP_CERTIFICATE: OTLP_TLS.ca,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: OTLP_TLS.clientKey,
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%20eu',
    },
    { sink },
  );

  it('trusts the collector by the configured CA and presents the configured client certificate', async () => {
    await me(traces);
    expect(sink.requests.map((request) => request.clientCertificate)).toEqual(sink.requests.map(() => 'treue-test-exporter'));
    expectOperationTrace(exported(sink, 'application/json', decodeOtlpJson));
  });
});

/** OTLP/JSON (trace and span ids in hex, attribute values as AnyValue objects), to the fields a test reads. */
function decodeOtlpJson(body: Buffer): ExportedSpan[] {
  type KeyValue = { key: string; value: { stringValue?: string } };
  type Span = { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: KeyValue[] };
  type Request = { resourceSpans: { resource?: { attributes?: KeyValue[] }; scopeSpans: { spans: Span[] }[] }[] };
  const strings = (attributes: KeyValue[] = []) =>
    Object.fromEntries(attributes.flatMap(({ key, value }) => (value.stringValue === undefined ? [] : [[key, value.stringValue]])));
  return (JSON.parse(body.toString('utf8')) as Request).resourceSpans.flatMap((resourceSpans) =>
    resourceSpans.scopeSpans.flatMap((scopeSpans) =>
      scopeSpans.spans.map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? '',
        name: span.name,
        attributes: strings(span.attributes),
        resource: strings(resourceSpans.resource?.attributes),
      })),
    ),
  );
}
