// No useTestApp(): configuration and the worker's choice of concurrency only; no database.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { concurrencyOf } from '../../workers/registry.js';

describe('jobs each queue runs at once per worker process', () => {
  it('gives compensation a concurrency of its own (32), its groups that size at most, and the others theirs', () => {
    const config = loadConfig({});
    expect(concurrencyOf('compensation', config)).toBe(32);
    expect(config.workers.compensationGroupSize).toBe(32);
    expect(concurrencyOf('renewal-bonus', config)).toBe(8);
    expect(concurrencyOf('webhooks', config)).toBe(config.webhooks.concurrency);
    expect(concurrencyOf('incidents', config)).toBe(2);
  });

  it('follows the settings: a group is never larger than the jobs running at once, and 1 decides each alone', () => {
    const tuned = loadConfig({ WORKER_CONCURRENCY: '1', WORKER_COMPENSATION_CONCURRENCY: '12', WORKER_COMPENSATION_GROUP_SIZE: '64' });
    expect(concurrencyOf('compensation', tuned)).toBe(12);
    expect(tuned.workers.compensationGroupSize).toBe(12);
    expect(concurrencyOf('incidents', tuned)).toBe(1);
    expect(concurrencyOf('renewal-bonus', tuned)).toBe(1);
    expect(loadConfig({ WORKER_COMPENSATION_GROUP_SIZE: '1' }).workers.compensationGroupSize).toBe(1);
  });

  it('refuses a compensation concurrency that is not a whole number from 1 to 256', () => {
    for (const value of ['0', '257', '2.5', 'many']) {
      expect(() => loadConfig({ WORKER_COMPENSATION_CONCURRENCY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ WORKER_COMPENSATION_CONCURRENCY: value })).toThrow(/WORKER_COMPENSATION_CONCURRENCY/);
    }
  });
});
