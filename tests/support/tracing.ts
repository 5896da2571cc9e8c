import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { startTracing, type Tracing } from '../../src/telemetry/tracing.js';

/**
 * Test-only TLS files (tests/support/otlp-tls, EC P-256, valid until 2126): a CA, a server certificate for 127.0.0.1
 * and localhost, and a client certificate, both signed by the CA. Their keys protect nothing but these tests.
 */
const tlsFile = (name: string) => fileURLToPath(new URL(`otlp-tls/${name}`, import.meta.url));
export const OTLP_TLS = {
  ca: tlsFile('ca.pem'),
  serverCertificate: tlsFile('server.pem'),
  serverKey: tlsFile('server-key.pem'),
  clientCertificate: tlsFile('client.pem'),
  clientKey: tlsFile('client-key.pem'),
};

/**
 * Tracing for a test file or a describe block: started from these OTEL_* variables as the service reads them
 * (loadConfig), emptied before each test; shut down after the block, so that the next block can start it with
 * other variables. Its spans are kept in an in-memory exporter (the endpoint is one nobody listens on); with a
 * `sink` (useOtlpSink, set up before this), the service's own OTLP exporter posts them to the sink instead.
 */
export function useTracing(env: Record<string, string> = {}, options: { sink?: OtlpSink } = {}) {
  const exporter = new InMemorySpanExporter();
  let started: Tracing | undefined;
  const current = () => {
    if (!started) throw new Error('tracing is started in beforeAll: use it inside a test or a later hook');
    return started;
  };
  beforeAll(async () => {
    const endpoint = options.sink ? options.sink.url() : 'http://127.0.0.1:1';
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'treue-test', ...env }).tracing;
    if (!config) throw new Error(`tracing is off with ${JSON.stringify(env)}`);
    started = await startTracing(config, options.sink ? {} : { exporter });
  });
  afterAll(async () => {
    await started?.shutdown();
    started = undefined;
  });
  beforeEach(() => exporter.reset());
  const tracing: Pick<Tracing, 'graphqlPlugin' | 'flush'> = {
    get graphqlPlugin() {
      return current().graphqlPlugin;
    },
    flush: () => current().flush(),
  };
  return {
    exporter,
    tracing,
    /** Every finished span, once the buffered ones are exported (in-memory only: with a sink, read the sink). */
    spans: async (): Promise<ReadableSpan[]> => {
      await current().flush();
      return exporter.getFinishedSpans();
    },
  };
}

/** One export request an OTLP sink received. */
export interface OtlpRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  /** The Content-Encoding header: `gzip` for a compressed export, else undefined. */
  contentEncoding: string | undefined;
  /** The body as it came over the wire. */
  received: Buffer;
  /** The body, gunzipped when it came gzipped. */
  body: Buffer;
  /** Over TLS, the common name of the client certificate the exporter presented; else undefined. */
  clientCertificate: string | undefined;
}

export interface OtlpSink {
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT (started in beforeAll). */
  url(): string;
  /** What it received since the current test began. */
  requests: OtlpRequest[];
}

/**
 * An OTLP/HTTP collector for a test file or a describe block, on 127.0.0.1 (a free port): records every request
 * and answers 200 with an empty export response in the request's encoding. Set it up before useTracing, so that
 * it is listening when tracing starts and still listening when tracing's shutdown flushes. With `tls`, it serves
 * https with OTLP_TLS's server certificate and takes only exporters that present a client certificate of its CA.
 */
export function useOtlpSink(options: { tls?: boolean } = {}): OtlpSink {
  let server: Server | undefined;
  const scheme = options.tls ? 'https' : 'http';
  const sink: OtlpSink = {
    url: () => {
      if (!server) throw new Error('the OTLP sink starts in beforeAll');
      return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    requests: [],
  };
  const receive = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const contentType = request.headers['content-type'];
      const contentEncoding = request.headers['content-encoding'];
      const received = Buffer.concat(chunks);
      const commonName = (request.socket as Partial<TLSSocket>).getPeerCertificate?.().subject?.CN;
      sink.requests.push({
        method: request.method ?? '',
        path: request.url ?? '/',
        contentType,
        contentEncoding,
        received,
        body: contentEncoding === 'gzip' ? gunzipSync(received) : received,
        clientCertificate: Array.isArray(commonName) ? commonName.join(', ') : commonName,
      });
      // An empty ExportTraceServiceResponse: no bytes in protobuf, `{}` in JSON.
      const json = contentType?.startsWith('application/json') ?? false;
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  };
  beforeAll(async () => {
    server = options.tls
      ? createTlsServer(
          {
            cert: readFileSync(OTLP_TLS.serverCertificate),
            key: readFileSync(OTLP_TLS.serverKey),
            ca: readFileSync(OTLP_TLS.ca),
            requestCert: true,
            rejectUnauthorized: true,
          },
          receive,
        )
      : createServer(receive);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });
  beforeEach(() => {
    sink.requests.length = 0;
  });
  return sink;
}

/** A span as an OTLP export request carries it, the fields a test reads. */
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  /** '' for a trace's root. */
  parentSpanId: string;
  name: string;
  /** The string-valued attributes. */
  attributes: Record<string, string>;
  /** The string-valued attributes of the resource it was exported with. */
  resource: Record<string, string>;
}

/**
 * The spans of an ExportTraceServiceRequest in the protobuf encoding (opentelemetry-proto's trace.proto and
 * common.proto: the field numbers below), decoded by hand from the wire format: the exporter's own serializer
 * only encodes requests, and the test should not trust the encoder it checks.
 */
export function decodeOtlpProtobuf(body: Uint8Array): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const resourceSpans of fields(body, 1)) {
    const resource = keyValues(fields(fields(resourceSpans, 1)[0] ?? new Uint8Array(), 1));
    for (const scopeSpans of fields(resourceSpans, 2)) {
      for (const span of fields(scopeSpans, 2)) {
        const hex = (field: number) => Buffer.from(fields(span, field)[0] ?? []).toString('hex');
        spans.push({
          traceId: hex(1),
          spanId: hex(2),
          parentSpanId: hex(4),
          name: text(fields(span, 5)[0]),
          attributes: keyValues(fields(span, 9)),
          resource,
        });
      }
    }
  }
  return spans;
}

/** KeyValue messages (key = 1, value = 2: an AnyValue whose string_value = 1) as a record of their strings. */
function keyValues(messages: Uint8Array[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (const message of messages) {
    const value = fields(fields(message, 2)[0] ?? new Uint8Array(), 1)[0];
    if (value) record[text(fields(message, 1)[0])] = text(value);
  }
  return record;
}

const text = (bytes: Uint8Array | undefined) => new TextDecoder('utf-8', { fatal: true }).decode(bytes ?? new Uint8Array());

/** The length-delimited values of field `wanted` in one protobuf message; other fields are skipped, a malformed message throws. */
function fields(message: Uint8Array, wanted: number): Uint8Array[] {
  const found: Uint8Array[] = [];
  let at = 0;
  const varint = () => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= message.length || shift > 63n) throw new Error('malformed protobuf: varint');
      const byte = message[at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < message.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    let length = 0;
    if (wireType === 0) varint();
    else if (wireType === 1) length = 8;
    else if (wireType === 5) length = 4;
    else if (wireType === 2) length = Number(varint());
    else throw new Error(`malformed protobuf: wire type ${wireType}`);
    if (at + length > message.length) throw new Error('malformed protobuf: truncated');
    if (wireType === 2 && field === wanted) found.push(message.subarray(at, at + length));
    at += length;
  }
  return found;
}
