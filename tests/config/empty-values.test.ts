// No useTestApp(): loadConfig() is a pure function of the environment it is given; no service, database or Redis involved.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';

/**
 * src/config/env.ts promises: "An empty string counts as unset". Deployment tooling produces empty values all the
 * time (`RATE_LIMIT_MEMBER_MUTATIONS=${RATE_LIMIT:-}` in a compose file, a Helm value left blank, an env file line
 * `PORT=`). The numeric variables go through z.coerce.number(), and Number('') is 0, so an empty value silently
 * becomes 0 — which for the rate limits means "no limit".
 */
describe('empty numeric environment variables count as unset', () => {
  it('an empty RATE_LIMIT_* keeps its default budget instead of switching the limit off', () => {
    const config = loadConfig({
      RATE_LIMIT_MEMBER_MUTATIONS: '',
      RATE_LIMIT_ADDRESS_MUTATIONS: '',
      RATE_LIMIT_ADDRESS_VOUCHER_LOOKUPS: ' ',
    });
    // Defaults from env.ts; 0 would mean unlimited (src/http/rate-limit.ts skips a 0 budget).
    expect(config.rateLimits.member.mutations).toBe(60);
    expect(config.rateLimits.address.mutations).toBe(600);
    expect(config.rateLimits.address.voucherLookups).toBe(60);
  });

  it('an empty PORT listens on the default 4000, not on a random free port', () => {
    expect(loadConfig({ PORT: '' }).port).toBe(4000);
  });

  it('an empty WORKER_METRICS_PORT serves no worker metrics instead of serving them on a random port', () => {
    expect(loadConfig({ WORKER_METRICS_PORT: '' }).workers.metricsPort).toBeUndefined();
  });

  it('an empty DATA_DIR keeps the embedded data under .data, not in the working directory', () => {
    expect(loadConfig({ DATA_DIR: '' }).dataDir).toBe('.data');
  });

  it('an empty OTEL_TRACES_SAMPLER_ARG samples every trace (the default), not none', () => {
    const tracing = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_SAMPLER_ARG: '' }).tracing;
    expect(tracing?.sampleRatio).toBe(1);
  });

  it('a whitespace-only value counts as unset too, for strings with a default as for numbers', () => {
    const config = loadConfig({ DATA_DIR: '  ', HOST: '\t', LOG_LEVEL: ' ', WORKER_CONCURRENCY: ' ', JWT_MAX_LIFETIME_STAFF: ' ' });
    expect(config).toMatchObject({ dataDir: '.data', host: '0.0.0.0', logLevel: 'info', workers: { concurrency: 8 } });
    expect(config.jwt.maxLifetimeSeconds.staff).toBe(12 * 3_600);
  });
});
