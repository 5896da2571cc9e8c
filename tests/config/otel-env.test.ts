// No useTestApp(): loadConfig() reads the environment it is given and the TLS files it names; no service, database or Redis.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { OTLP_TLS } from '../support/tracing.js';

/**
 * The OpenTelemetry variables (docs/operations.md#traces): each value of the specification is either honoured or
 * refused at startup with an error naming the variable, never replaced by something else in silence.
 */
const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
const tracingOf = (env: Record<string, string>) => loadConfig({ ...ENDPOINT, ...env }).tracing;

/** The error loadConfig throws for `env`, with tracing configured. */
function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...ENDPOINT, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

const SAMPLERS = 'always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio';

describe('OTEL_TRACES_SAMPLER', () => {
  it('defaults to parentbased_always_on, the specification default', () => {
    expect(tracingOf({})).toMatchObject({ sampler: 'parentbased_always_on', sampleRatio: 1 });
  });

  it.each(['always_on', 'always_off', 'parentbased_always_on', 'parentbased_always_off'])('honours %s', (sampler) => {
    expect(tracingOf({ OTEL_TRACES_SAMPLER: sampler })?.sampler).toBe(sampler);
  });

  it.each(['traceidratio', 'parentbased_traceidratio'])('honours %s with OTEL_TRACES_SAMPLER_ARG as its ratio', (sampler) => {
    expect(tracingOf({ OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: '0.25' })).toMatchObject({ sampler, sampleRatio: 0.25 });
    expect(tracingOf({ OTEL_TRACES_SAMPLER: sampler })).toMatchObject({ sampler, sampleRatio: 1 });
  });

  it('reads the value case-insensitively, as the specification asks of enumerations', () => {
    expect(tracingOf({ OTEL_TRACES_SAMPLER: ' ALWAYS_OFF ' })?.sampler).toBe('always_off');
  });

  it('keeps the ratio of OTEL_TRACES_SAMPLER_ARG alone as parentbased_traceidratio (the service did so before it read the sampler)', () => {
    expect(tracingOf({ OTEL_TRACES_SAMPLER_ARG: '0.1' })).toMatchObject({ sampler: 'parentbased_traceidratio', sampleRatio: 0.1 });
  });

  it.each(['jaeger_remote', 'parentbased_jaeger_remote', 'xray', 'always-off', 'traceidratio,always_on'])(
    'refuses %s, naming the variable and the accepted values',
    (sampler) => {
      const { message } = refusal({ OTEL_TRACES_SAMPLER: sampler });
      expect(message).toContain('OTEL_TRACES_SAMPLER:');
      expect(message).toContain(SAMPLERS);
    },
  );

  it('refuses an unsupported sampler even while tracing is off: a typo is not left for the day tracing is switched on', () => {
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: 'xray' })).toThrow(/OTEL_TRACES_SAMPLER:/);
  });

  it.each(['1.5', '-0.1', 'half'])('refuses the ratio %s (0 to 1)', (ratio) => {
    expect(refusal({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio }).message).toContain('OTEL_TRACES_SAMPLER_ARG:');
  });
});

describe('OTEL_TRACES_EXPORTER', () => {
  it('otlp (the default) exports to the configured endpoint', () => {
    expect(tracingOf({ OTEL_TRACES_EXPORTER: 'otlp' })?.url).toBe('http://127.0.0.1:4318/v1/traces');
    expect(tracingOf({})?.url).toBe('http://127.0.0.1:4318/v1/traces');
  });

  it('none switches tracing off, endpoint or not', () => {
    expect(tracingOf({ OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
  });

  it('otlp set explicitly without an endpoint is refused, not left off in silence', () => {
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'otlp' })).toThrow(/OTEL_TRACES_EXPORTER: .*OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it.each(['console', 'zipkin', 'otlp,console', 'jaeger'])('refuses %s, naming the accepted values', (exporter) => {
    const { message } = refusal({ OTEL_TRACES_EXPORTER: exporter });
    expect(message).toContain('OTEL_TRACES_EXPORTER:');
    expect(message).toContain('otlp, none');
  });
});

describe('OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', () => {
  it('default to http/json, what the service sent before it read them (not the specification default)', () => {
    expect(tracingOf({})?.protocol).toBe('http/json');
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http/json', 'http/json'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf', 'http/protobuf'],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'HTTP/JSON', 'http/json'],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', ' http/protobuf ', 'http/protobuf'],
  ])('accept %s=%s, as %s', (variable, value, protocol) => {
    expect(tracingOf({ [variable]: value })?.protocol).toBe(protocol);
  });

  it.each(['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'])(
    'refuse %s=grpc, naming the variable and the accepted values',
    (variable) => {
      const { message } = refusal({ [variable]: 'grpc' });
      expect(message).toContain(`${variable}: grpc is not supported`);
      expect(message).toContain('accepted: http/protobuf, http/json');
    },
  );

  it('the traces variable wins over the general one, as the specification orders them', () => {
    expect(tracingOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })?.protocol).toBe(
      'http/protobuf',
    );
    expect(tracingOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })?.protocol).toBe(
      'http/json',
    );
    expect(refusal({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }).message).toContain(
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: grpc',
    );
  });

  it('refuses a value the specification does not know', () => {
    expect(refusal({ OTEL_EXPORTER_OTLP_PROTOCOL: 'json' }).message).toContain('OTEL_EXPORTER_OTLP_PROTOCOL:');
    expect(refusal({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/proto' }).message).toContain('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL:');
  });
});

describe('OTEL_RESOURCE_ATTRIBUTES', () => {
  it('are key=value pairs separated by commas, values percent-decoded', () => {
    const tracing = tracingOf({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, team=loyalty%20core,note=a%2Cb%3Dc' });
    expect(tracing?.resourceAttributes).toEqual({
      'deployment.environment': 'prod',
      team: 'loyalty core',
      note: 'a,b=c',
      'service.name': 'treue',
    });
  });

  it('give service.name when OTEL_SERVICE_NAME is unset; OTEL_SERVICE_NAME wins when set', () => {
    expect(tracingOf({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=loyalty' })).toMatchObject({
      serviceName: 'loyalty',
      resourceAttributes: { 'service.name': 'loyalty' },
    });
    expect(tracingOf({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=loyalty', OTEL_SERVICE_NAME: 'treue-eu' })).toMatchObject({
      serviceName: 'treue-eu',
      resourceAttributes: { 'service.name': 'treue-eu' },
    });
  });

  it.each(['team', '=prod', 'team=%zz', ' =x'])('refuses %s', (attributes) => {
    expect(refusal({ OTEL_RESOURCE_ATTRIBUTES: attributes }).message).toContain('OTEL_RESOURCE_ATTRIBUTES:');
  });
});

describe('the other OTLP variables', () => {
  it('a malformed percent-encoding in OTEL_EXPORTER_OTLP_HEADERS is a configuration error naming it', () => {
    expect(refusal({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key=%E0%A4%A' }).message).toContain('OTEL_EXPORTER_OTLP_HEADERS:');
  });

  it('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT wins over OTEL_EXPORTER_OTLP_TIMEOUT', () => {
    expect(tracingOf({ OTEL_EXPORTER_OTLP_TIMEOUT: '5000' })?.timeoutMs).toBe(5_000);
    expect(tracingOf({ OTEL_EXPORTER_OTLP_TIMEOUT: '5000', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2000' })?.timeoutMs).toBe(2_000);
  });

  it('OTEL_SDK_DISABLED is read case-insensitively', () => {
    expect(tracingOf({ OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined();
  });
});

describe('OTEL_PROPAGATORS', () => {
  it('defaults to tracecontext, what the service read before it accepted baggage', () => {
    expect(tracingOf({})?.propagators).toEqual(['tracecontext']);
  });

  it.each([
    ['tracecontext', ['tracecontext']],
    ['tracecontext,baggage', ['tracecontext', 'baggage']],
    [' Baggage , TRACECONTEXT ', ['tracecontext', 'baggage']],
    ['baggage', ['baggage']],
    ['tracecontext,tracecontext,baggage', ['tracecontext', 'baggage']],
    ['none', []],
    ['none, NONE', []],
  ])('accepts %j as %j (none: nothing read from callers, nothing carried into jobs)', (propagators, expected) => {
    expect(tracingOf({ OTEL_PROPAGATORS: propagators })?.propagators).toEqual(expected);
  });

  it.each(['b3', 'b3multi', 'jaeger', 'xray', 'ottrace', 'tracecontext,b3', 'trace-context'])(
    'refuses %s, naming the variable and the accepted values',
    (propagators) => {
      const { message } = refusal({ OTEL_PROPAGATORS: propagators });
      expect(message).toContain('OTEL_PROPAGATORS:');
      expect(message).toContain('accepted: tracecontext, baggage, none');
    },
  );

  it('refuses none together with a propagator: it cannot mean both', () => {
    expect(refusal({ OTEL_PROPAGATORS: 'none,tracecontext' }).message).toMatch(/OTEL_PROPAGATORS: none .*alone/);
  });

  it('refuses an unsupported propagator even while tracing is off', () => {
    expect(() => loadConfig({ OTEL_PROPAGATORS: 'b3' })).toThrow(/OTEL_PROPAGATORS:/);
  });
});

describe('OTEL_EXPORTER_OTLP_COMPRESSION and OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', () => {
  it('default to none', () => {
    expect(tracingOf({})?.compression).toBe('none');
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'gzip', 'gzip'],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'none', 'none'],
    ['OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', ' GZIP ', 'gzip'],
  ])('accept %s=%j, as %s', (variable, value, compression) => {
    expect(tracingOf({ [variable]: value })?.compression).toBe(compression);
  });

  it('the traces variable wins over the general one', () => {
    expect(tracingOf({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'none' })?.compression).toBe('none');
    expect(tracingOf({ OTEL_EXPORTER_OTLP_COMPRESSION: 'none', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip' })?.compression).toBe('gzip');
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'deflate'],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zstd'],
    ['OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'gzip,none'],
  ])('refuse %s=%s, naming the variable and the accepted values', (variable, value) => {
    const { message } = refusal({ [variable]: value });
    expect(message).toContain(`${variable}:`);
    expect(message).toContain('accepted: gzip, none');
  });
});

describe('TLS of the export: OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY and their TRACES_ variants', () => {
  const HTTPS = { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example:4318' };
  const pem = (file: string) => readFileSync(file, 'utf8');
  const scratch = mkdtempSync(join(tmpdir(), 'treue-otel-tls-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  /** A file in the scratch directory holding `text`, by its path. */
  const file = (name: string, text: string) => {
    const path = join(scratch, name);
    writeFileSync(path, text);
    return path;
  };

  it('are unset by default: the system CAs, no client certificate', () => {
    expect(tracingOf(HTTPS)?.tls).toEqual({ ca: undefined, cert: undefined, key: undefined });
  });

  it("read each file's PEM text at startup and pass it on; a path is relative to the working directory", () => {
    const tls = tracingOf({
      ...HTTPS,
      OTEL_EXPORTER_OTLP_CERTIFICATE: relative(process.cwd(), OTLP_TLS.ca),
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate,
      OTEL_EXPORTER_OTLP_CLIENT_KEY: OTLP_TLS.clientKey,
    })?.tls;
    expect(tls).toEqual({ ca: pem(OTLP_TLS.ca), cert: pem(OTLP_TLS.clientCertificate), key: pem(OTLP_TLS.clientKey) });
  });

  it('the traces variables win over the general ones, each on its own', () => {
    const tls = tracingOf({
      ...HTTPS,
      OTEL_EXPORTER_OTLP_CERTIFICATE: OTLP_TLS.clientCertificate,
      OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: OTLP_TLS.ca,
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: OTLP_TLS.serverCertificate,
      OTEL_EXPORTER_OTLP_CLIENT_KEY: OTLP_TLS.serverKey,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: OTLP_TLS.clientKey,
    })?.tls;
    expect(tls).toEqual({ ca: pem(OTLP_TLS.ca), cert: pem(OTLP_TLS.clientCertificate), key: pem(OTLP_TLS.clientKey) });
  });

  it.each([
    'OTEL_EXPORTER_OTLP_CERTIFICATE',
    'OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE',
    'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE',
    'OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE',
    'OTEL_EXPORTER_OTLP_CLIENT_KEY',
    'OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY',
  ])('%s naming a file that is not there, or a directory, is refused at startup with the variable and the path', (variable) => {
    const missing = join(scratch, 'missing.pem');
    expect(refusal({ ...HTTPS, [variable]: missing }).message).toContain(`${variable}: cannot read ${missing}`);
    const directory = join(scratch, 'a-directory');
    mkdirSync(directory, { recursive: true });
    expect(refusal({ ...HTTPS, [variable]: directory }).message).toContain(`${variable}: cannot read ${directory}`);
  });

  it('refuses a file without PEM text, or with the wrong kind of it, naming the variable', () => {
    const text = file('not-pem.txt', 'just some text\n');
    expect(refusal({ ...HTTPS, OTEL_EXPORTER_OTLP_CERTIFICATE: text }).message).toContain(
      `OTEL_EXPORTER_OTLP_CERTIFICATE: ${text} holds no PEM certificate`,
    );
    expect(refusal({ ...HTTPS, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: OTLP_TLS.clientKey }).message).toContain(
      `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: ${OTLP_TLS.clientKey} holds no PEM certificate`,
    );
    expect(
      refusal({ ...HTTPS, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate, OTEL_EXPORTER_OTLP_CLIENT_KEY: OTLP_TLS.ca })
        .message,
    ).toContain(`OTEL_EXPORTER_OTLP_CLIENT_KEY: ${OTLP_TLS.ca} holds no PEM private key`);
    const garbled = file('garbled.pem', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    expect(refusal({ ...HTTPS, OTEL_EXPORTER_OTLP_CERTIFICATE: garbled }).message).toContain('OTEL_EXPORTER_OTLP_CERTIFICATE:');
  });

  it('refuses an encrypted private key (no passphrase can be given), without its text in the message', () => {
    const { privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const encrypted = file('encrypted-key.pem', privateKey);
    const { message } = refusal({
      ...HTTPS,
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate,
      OTEL_EXPORTER_OTLP_CLIENT_KEY: encrypted,
    });
    expect(message).toContain(`OTEL_EXPORTER_OTLP_CLIENT_KEY: ${encrypted} holds an encrypted private key`);
    expect(message).not.toContain(privateKey.split('\n')[1]);
  });

  it('refuses a client key without a client certificate and the other way round', () => {
    expect(refusal({ ...HTTPS, OTEL_EXPORTER_OTLP_CLIENT_KEY: OTLP_TLS.clientKey }).message).toContain(
      'OTEL_EXPORTER_OTLP_CLIENT_KEY: needs OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE or OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE',
    );
    expect(refusal({ ...HTTPS, OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate }).message).toContain(
      'OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: needs OTEL_EXPORTER_OTLP_CLIENT_KEY or OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY',
    );
  });

  it("refuses a client key that is not the certificate's, without the key in the message", () => {
    const { message } = refusal({
      ...HTTPS,
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate,
      OTEL_EXPORTER_OTLP_CLIENT_KEY: OTLP_TLS.serverKey,
    });
    expect(message).toContain(
      'OTEL_EXPORTER_OTLP_CLIENT_KEY: the key does not belong to the certificate of OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE',
    );
    expect(message).not.toContain(pem(OTLP_TLS.serverKey).split('\n')[1]);
  });

  it('refuses them with a plain http:// endpoint, where they would not be used', () => {
    expect(refusal({ OTEL_EXPORTER_OTLP_CERTIFICATE: OTLP_TLS.ca }).message).toContain(
      'OTEL_EXPORTER_OTLP_CERTIFICATE: needs an https:// endpoint; the traces are sent to http://127.0.0.1:4318/v1/traces',
    );
    expect(
      refusal({ OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: OTLP_TLS.clientCertificate, OTEL_EXPORTER_OTLP_CLIENT_KEY: OTLP_TLS.clientKey })
        .message,
    ).toContain('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: needs an https:// endpoint');
  });

  it('refuses a file that cannot be read even while tracing is off', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_CERTIFICATE: join(scratch, 'missing.pem') })).toThrow(
      /OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read/,
    );
  });
});

describe('the batch span processor: OTEL_BSP_*', () => {
  it("default to the specification's values", () => {
    expect(tracingOf({})?.batch).toEqual({
      scheduledDelayMillis: 5_000,
      exportTimeoutMillis: 30_000,
      maxQueueSize: 2_048,
      maxExportBatchSize: 512,
    });
  });

  it('are honoured when set', () => {
    const batch = tracingOf({
      OTEL_BSP_SCHEDULE_DELAY: '1000',
      OTEL_BSP_EXPORT_TIMEOUT: '20000',
      OTEL_BSP_MAX_QUEUE_SIZE: '4096',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1024',
    })?.batch;
    expect(batch).toEqual({ scheduledDelayMillis: 1_000, exportTimeoutMillis: 20_000, maxQueueSize: 4_096, maxExportBatchSize: 1_024 });
  });

  it.each([
    ['OTEL_BSP_SCHEDULE_DELAY', '-1'],
    ['OTEL_BSP_SCHEDULE_DELAY', '600001'],
    ['OTEL_BSP_SCHEDULE_DELAY', 'soon'],
    ['OTEL_BSP_EXPORT_TIMEOUT', '50'],
    ['OTEL_BSP_EXPORT_TIMEOUT', '1.5'],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '0'],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '100001'],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '0'],
  ])('refuse %s=%s, naming the variable', (variable, value) => {
    expect(refusal({ [variable]: value }).message).toContain(`${variable}:`);
  });

  it('refuses a batch larger than the queue', () => {
    expect(refusal({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096' }).message).toContain(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE: at most OTEL_BSP_MAX_QUEUE_SIZE (2048)',
    );
    expect(tracingOf({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100', OTEL_BSP_MAX_QUEUE_SIZE: '100' })?.batch.maxExportBatchSize).toBe(100);
  });
});

describe('span limits: OTEL_ATTRIBUTE_*_LIMIT, OTEL_SPAN_*_LIMIT, OTEL_EVENT_ and OTEL_LINK_ATTRIBUTE_COUNT_LIMIT', () => {
  it("default to the specification's values (no limit on a value's length)", () => {
    expect(tracingOf({})?.spanLimits).toEqual({
      attributeCountLimit: 128,
      attributeValueLengthLimit: undefined,
      eventCountLimit: 128,
      linkCountLimit: 128,
      attributePerEventCountLimit: 128,
      attributePerLinkCountLimit: 128,
    });
  });

  it('take the general attribute limits for spans; the span ones win', () => {
    expect(tracingOf({ OTEL_ATTRIBUTE_COUNT_LIMIT: '64', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4096' })?.spanLimits).toMatchObject({
      attributeCountLimit: 64,
      attributeValueLengthLimit: 4_096,
    });
    const limits = tracingOf({
      OTEL_ATTRIBUTE_COUNT_LIMIT: '64',
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4096',
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '32',
      OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1024',
    })?.spanLimits;
    expect(limits).toMatchObject({ attributeCountLimit: 32, attributeValueLengthLimit: 1_024 });
  });

  // A compensation group's span links the trace of every job it decides (src/domain/service-failures/compensation-groups.ts):
  // with groups of up to 256 jobs (WORKER_COMPENSATION_CONCURRENCY, WORKER_COMPENSATION_GROUP_SIZE), the SDK's 128
  // would drop the links of the jobs after the 128th, and with them the way from those reports to their vouchers.
  it("keep every job's link of a compensation group when the link limit is not set: the largest group, at least 128", () => {
    expect(tracingOf({ WORKER_COMPENSATION_CONCURRENCY: '200' })?.spanLimits.linkCountLimit).toBe(200);
    expect(tracingOf({ WORKER_COMPENSATION_CONCURRENCY: '256', WORKER_COMPENSATION_GROUP_SIZE: '160' })?.spanLimits.linkCountLimit).toBe(
      160,
    );
    expect(tracingOf({ WORKER_COMPENSATION_CONCURRENCY: '64' })?.spanLimits.linkCountLimit).toBe(128);
    // Set, it is what it says, lower than a group or not.
    expect(tracingOf({ WORKER_COMPENSATION_CONCURRENCY: '200', OTEL_SPAN_LINK_COUNT_LIMIT: '16' })?.spanLimits.linkCountLimit).toBe(16);
  });

  it('honour the event, link and per-event and per-link attribute limits', () => {
    const limits = tracingOf({
      OTEL_SPAN_EVENT_COUNT_LIMIT: '10',
      OTEL_SPAN_LINK_COUNT_LIMIT: '256',
      OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: '5',
      OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: '0',
    })?.spanLimits;
    expect(limits).toMatchObject({
      eventCountLimit: 10,
      linkCountLimit: 256,
      attributePerEventCountLimit: 5,
      attributePerLinkCountLimit: 0,
    });
  });

  it.each([
    ['OTEL_ATTRIBUTE_COUNT_LIMIT', '-1'],
    ['OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', '1e9'],
    ['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'many'],
    ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', '0.5'],
    ['OTEL_SPAN_EVENT_COUNT_LIMIT', '10001'],
    ['OTEL_SPAN_LINK_COUNT_LIMIT', '-5'],
    ['OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT', 'x'],
    ['OTEL_LINK_ATTRIBUTE_COUNT_LIMIT', '20000'],
  ])('refuse %s=%s, naming the variable', (variable, value) => {
    expect(refusal({ [variable]: value }).message).toContain(`${variable}:`);
  });

  it.each([
    ['OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT', 'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT'],
    ['OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT', 'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT'],
  ])("refuse the SDK's own name %s, naming the specification's %s", (variable, specified) => {
    expect(refusal({ [variable]: '16' }).message).toContain(`${variable}: not read; set ${specified}`);
  });
});
