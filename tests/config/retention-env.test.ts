// No useTestApp(): loadConfig() is a pure function of the environment it is given; no service, database or Redis involved.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';

describe('OUTBOX_RETENTION_DAYS and WEBHOOK_RETENTION_DAYS', () => {
  it('default to 7 and 30 days, and take 0 as "kept forever"', () => {
    expect(loadConfig({}).retention).toEqual({ outboxDays: 7, webhookDays: 30 });
    expect(loadConfig({ OUTBOX_RETENTION_DAYS: '0', WEBHOOK_RETENTION_DAYS: '0' }).retention).toEqual({ outboxDays: 0, webhookDays: 0 });
    expect(loadConfig({ OUTBOX_RETENTION_DAYS: '14', WEBHOOK_RETENTION_DAYS: ' ' }).retention).toEqual({ outboxDays: 14, webhookDays: 30 });
  });

  it.each(['-1', '1.5', 'seven', '7d'])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ OUTBOX_RETENTION_DAYS: value })).toThrow(/OUTBOX_RETENTION_DAYS/);
    expect(() => loadConfig({ WEBHOOK_RETENTION_DAYS: value })).toThrow(/WEBHOOK_RETENTION_DAYS/);
  });
});
