// No useTestApp(): the SDK's own diagnostics, no database involved; the collector is a closed port.
import { trace } from '@opentelemetry/api';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { diagnosticsTo, startTracing, type Tracing } from '../../src/telemetry/tracing.js';

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('the OpenTelemetry SDK’s own trouble reaches the service’s log', () => {
  let tracing: Tracing | undefined;
  afterAll(async () => {
    await tracing?.shutdown();
  });

  it('an export the collector cannot take is a warning of the log, not silence; shutting down still ends tracing', async () => {
    const { logger, lines } = capturingLogger();
    // Port 1 on the loopback: nothing listens, every export is refused. Batches go out every 50 ms.
    const config = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    }).tracing!;
    tracing = await startTracing(config, { logger });
    trace.getTracer('diagnostics-test').startSpan('lost').end();
    const warnings = () => lines.filter((line) => line['component'] === 'opentelemetry');
    await vi.waitFor(() => expect(warnings().length, JSON.stringify(lines)).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
    expect(warnings()[0]).toMatchObject({ level: 40, msg: expect.stringMatching(/^opentelemetry: .*ECONNREFUSED/) as unknown });

    // A span still buffered when the service stops: the flush fails, the shutdown goes on and says why.
    trace.getTracer('diagnostics-test').startSpan('lost at shutdown').end();
    await expect(tracing.shutdown()).resolves.toBeUndefined();
    tracing = undefined;
    expect(trace.getTracer('after').startSpan('none').isRecording()).toBe(false);
  });

  it('logs one message once a minute at most, then says how often it came meanwhile', () => {
    const { logger, lines } = capturingLogger();
    let now = 0;
    const diagnostics = diagnosticsTo(logger, () => now);
    diagnostics.error('export failed');
    now = 5_000;
    diagnostics.error('export failed');
    diagnostics.warn('another message');
    now = 30_000;
    diagnostics.error('export failed');
    diagnostics.info('chatter');
    diagnostics.debug('chatter');
    expect(lines.map((line) => line['msg'])).toEqual(['opentelemetry: export failed', 'opentelemetry: another message']);
    now = 60_000;
    diagnostics.error('export failed', new Error('connect ECONNREFUSED'));
    expect(lines[2]).toMatchObject({
      level: 40,
      msg: 'opentelemetry: export failed',
      repeated: 2,
      err: { message: 'connect ECONNREFUSED' },
    });
  });

  // SDK messages can carry what varies (a span's name, an error's text): what is remembered of them stays bounded.
  it('remembers the last 100 messages at most: an older one is logged again, not kept for ever', () => {
    const { logger, lines } = capturingLogger();
    const diagnostics = diagnosticsTo(logger, () => 0);
    for (let i = 0; i <= 100; i++) diagnostics.warn(`dropped span ${i}`);
    expect(lines).toHaveLength(101);
    diagnostics.warn('dropped span 100'); // the newest, still remembered: within the minute, not logged
    diagnostics.warn('dropped span 0'); // the oldest, forgotten when the 101st came
    expect(lines.slice(101).map((line) => line['msg'])).toEqual(['opentelemetry: dropped span 0']);
  });
});
