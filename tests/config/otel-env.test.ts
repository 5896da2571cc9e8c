// No useTestApp(): loadConfig() is a pure function of the environment it is given; no service, database or Redis involved.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';

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

  it('OTEL_PROPAGATORS accepts tracecontext, the one propagator the service uses, and refuses the others', () => {
    expect(tracingOf({ OTEL_PROPAGATORS: 'tracecontext' })).toBeDefined();
    for (const propagators of ['tracecontext,baggage', 'b3', 'none']) {
      const { message } = refusal({ OTEL_PROPAGATORS: propagators });
      expect(message).toContain('OTEL_PROPAGATORS:');
      expect(message).toContain('tracecontext');
    }
  });

  it('OTEL_SDK_DISABLED is read case-insensitively', () => {
    expect(tracingOf({ OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined();
  });
});
