// No useTestApp(): a scratch database of its own, whose time zone is Europe/Berlin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { createTestApp } from '../support/app.js';
import { createScratchDatabase, dropTestDatabase } from '../support/db.js';
import { openMaintenanceClient, quoteIdent } from '../support/postgres.js';
import { LoyaltyDataSet } from './loyalty-data-set.js';

/**
 * The same data in a database whose time zone is not UTC (a German company's PostgreSQL set to
 * Europe/Berlin, say): the figures must not change. Periods, buckets and follow-up windows are
 * instants and whole days of 24 hours (docs/metrics.md: "any instants (UTC)"). Before the service's
 * connections were set to UTC, a status change written through Prisma landed an hour early and a
 * follow-up window across the end of summer time was an hour longer.
 */
let url: string;
let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;

beforeAll(async () => {
  url = await createScratchDatabase('berlin');
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const client = await openMaintenanceClient();
  try {
    await client.query(`ALTER DATABASE ${quoteIdent(name)} SET timezone TO 'Europe/Berlin'`);
  } finally {
    await client.end();
  }
  prisma = createPrisma(url, 6);
  app = createTestApp(prisma);
});

afterAll(async () => {
  await app?.close();
  await prisma?.$disconnect();
  if (url) await dropTestDatabase(url);
});

const METRICS = `query($from: DateTime!, $to: DateTime!) {
  loyaltyMetrics(from: $from, to: $to) {
    __typename
    ... on LoyaltyMetrics { followUpDays totals { recovery { numerator denominator }
      churnAfterFailure { oneFailure { all { numerator denominator } } } } }
    ... on Error { code message }
  } }`;

describe('follow-up windows in a database whose time zone has daylight saving time', () => {
  it('an EARN 90 days and 30 minutes after the compensation (across the end of summer time) is not a recovery', async () => {
    const settings = await prisma.$queryRaw<{ setting: string }[]>`
      SELECT s.setting FROM pg_db_role_setting d, unnest(d.setconfig) AS s(setting)
      WHERE d.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    expect(settings).toEqual([{ setting: 'TimeZone=Europe/Berlin' }]);

    const s = new LoyaltyDataSet(prisma);
    await s.relaxServiceLevels();
    await s.enroll('ana', '2026-07-01T09:00:00.000Z');
    await s.failure('f1', 'ana', '2026-08-01T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    expect((await s.compensate('f1', '2026-08-01T10:00:00.000Z')).outcome).toBe('COMPENSATED');
    // 90 × 24 h after the voucher is 2026-10-30T10:00Z; this earn is half an hour later.
    await s.earn('ana', '2026-10-30T10:30:00.000Z');

    const answer = await app.gql(METRICS, { from: '2026-08-01T00:00:00Z', to: '2026-09-01T00:00:00Z' }, await app.staffToken('SUPERVISOR'));
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.loyaltyMetrics.followUpDays).toBe(90);
    expect(answer.data!.loyaltyMetrics.totals.recovery).toEqual({ numerator: 0, denominator: 1 });
  });

  it('a member closed 90 days and 30 minutes after their only failure did not churn after it', async () => {
    const s = new LoyaltyDataSet(prisma);
    await s.enroll('ben', '2026-07-01T09:00:00.000Z');
    await s.failure('f2', 'ben', '2026-08-02T10:00:00.000Z', 'LATE_DELIVERY', 'LOW');
    // 90 × 24 h after the failure is 2026-10-31T10:00Z.
    await s.setStatus('ben', '2026-10-31T10:30:00.000Z', 'CLOSED');

    const answer = await app.gql(METRICS, { from: '2026-08-02T00:00:00Z', to: '2026-08-03T00:00:00Z' }, await app.staffToken('SUPERVISOR'));
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.loyaltyMetrics.totals.churnAfterFailure.oneFailure.all).toEqual({ numerator: 0, denominator: 1 });
  });
});
