import { describe, expect, it } from 'vitest';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { pruneRetainedLogs, type RetentionSettings } from '../../src/domain/outbox/retention.service.js';
import { CompensationGroups } from '../../src/domain/service-failures/compensation-groups.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays } from '../../src/domain/time.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { remindExpiringPoints } from '../../src/domain/points/expiry-reminders.service.js';
import type { WebhookDeliveryStatus } from '../../src/generated/prisma/client.js';
import { createWorkerMetrics } from '../../src/metrics.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processRetention } from '../../workers/maintenance.processor.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { ADMIN } from '../support/ledger-writes.js';
import { subscribedEndpoint } from '../support/webhook-endpoints.js';

/**
 * Retention (src/domain/outbox/retention.service.ts): completed outbox events past OUTBOX_RETENTION_DAYS and
 * delivered webhook deliveries past WEBHOOK_RETENTION_DAYS (with their attempts, and their event once it has no
 * delivery left) are deleted by the hourly maintenance job; nothing still to be done, nothing an admin may replay.
 */
const { prisma, app } = useTestApp();
const T = new Date('2026-09-01T12:00:00.000Z');
const at = (now: Date, extra: Partial<ServiceDeps> = {}): ServiceDeps => ({ prisma, logger: testLogger, now: () => now, ...extra });
const OUTBOX_ONLY: RetentionSettings = { outboxDays: 7, webhookDays: 0 };
const WEBHOOKS_ONLY: RetentionSettings = { outboxDays: 0, webhookDays: 30 };

async function outboxEvent(label: string, createdAt: Date, completedAt: Date | null, enqueuedAt: Date | null = null) {
  const { id } = await prisma.outboxEvent.create({
    data: { queue: 'compensation', jobName: 'compensate', payload: { label }, createdAt, completedAt, enqueuedAt },
    select: { id: true },
  });
  return id;
}

async function outboxLabels(): Promise<string[]> {
  const rows = await prisma.outboxEvent.findMany({ select: { payload: true } });
  return rows.map((row) => (row.payload as { label: string }).label).sort();
}

const endpoint = () => subscribedEndpoint(prisma, ['voucher.issued']);

async function webhookEvent(label: string, createdAt: Date): Promise<string> {
  const { id } = await prisma.webhookEvent.create({
    data: { type: 'voucher.issued', payload: { label }, createdAt },
    select: { id: true },
  });
  return id;
}

/** A delivery of `eventId` to its own endpoint, in `status`, with `attempts` attempts recorded. */
async function delivery(eventId: string, status: WebhookDeliveryStatus, deliveredAt: Date | null, attempts = 1): Promise<string> {
  const { id } = await prisma.webhookDelivery.create({
    data: {
      eventId,
      endpointId: await endpoint(),
      eventType: 'voucher.issued',
      status,
      attempts,
      deliveredAt,
      createdAt: addDays(T, -60),
      attemptList: {
        create: Array.from({ length: attempts }, (_, i) => ({ number: i + 1, startedAt: addDays(T, -60), durationMs: 5 })),
      },
    },
    select: { id: true },
  });
  return id;
}

describe('retention', () => {
  it('deletes completed outbox events older than the window, and keeps newer and uncompleted ones', async () => {
    await outboxEvent('done 8 days ago', addDays(T, -9), addDays(T, -8));
    await outboxEvent('done 6 days ago', addDays(T, -9), addDays(T, -6));
    await outboxEvent('waiting for 30 days', addDays(T, -30), null);
    await outboxEvent('put back for a retry', addDays(T, -30), null, addDays(T, 1));

    expect(await pruneRetainedLogs(at(T), OUTBOX_ONLY)).toMatchObject({ outbox_events: 1 });
    expect(await outboxLabels()).toEqual(['done 6 days ago', 'put back for a retry', 'waiting for 30 days']);
    expect(await pruneRetainedLogs(at(T), OUTBOX_ONLY)).toMatchObject({ outbox_events: 0 });
  });

  it('deletes delivered deliveries older than the window with their attempts, and an event once it has none left', async () => {
    const alone = await webhookEvent('alone', addDays(T, -40));
    const shared = await webhookEvent('shared with a dead delivery', addDays(T, -40));
    const recent = await webhookEvent('delivered recently', addDays(T, -40));
    const waiting = await webhookEvent('waiting', addDays(T, -40));
    await delivery(alone, 'SUCCEEDED', addDays(T, -31), 2);
    await delivery(shared, 'SUCCEEDED', addDays(T, -31));
    const dead = await delivery(shared, 'DEAD', null, 11);
    const kept = await delivery(recent, 'SUCCEEDED', addDays(T, -29));
    const pending = await delivery(waiting, 'PENDING', null, 0);
    const failed = await delivery(waiting, 'FAILED', null, 3);

    expect(await pruneRetainedLogs(at(T), WEBHOOKS_ONLY)).toEqual({
      outbox_events: 0,
      webhook_deliveries: 2,
      webhook_delivery_attempts: 3,
      webhook_events: 1,
    });
    const deliveries = await prisma.webhookDelivery.findMany({ select: { id: true } });
    expect(deliveries.map((d) => d.id).sort()).toEqual([dead, kept, pending, failed].sort());
    const events = await prisma.webhookEvent.findMany({ select: { id: true } });
    expect(events.map((e) => e.id).sort()).toEqual([shared, recent, waiting].sort());
    // The attempts of the deliveries kept are kept: 11 + 1 + 0 + 3.
    expect(await prisma.webhookDeliveryAttempt.count()).toBe(15);
  });

  it('deletes nothing when a window is 0 (kept forever)', async () => {
    await outboxEvent('done a year ago', addDays(T, -400), addDays(T, -365));
    await delivery(await webhookEvent('delivered a year ago', addDays(T, -400)), 'SUCCEEDED', addDays(T, -365));

    expect(await pruneRetainedLogs(at(T), { outboxDays: 0, webhookDays: 0 })).toEqual({
      outbox_events: 0,
      webhook_deliveries: 0,
      webhook_delivery_attempts: 0,
      webhook_events: 0,
    });
    expect(await prisma.outboxEvent.count()).toBe(1);
    expect(await prisma.webhookDelivery.count()).toBe(1);
  });

  it('a run deletes at most its bound, oldest first, and the next run continues', async () => {
    for (let i = 1; i <= 5; i += 1) {
      await outboxEvent(`done ${10 + i} days ago`, addDays(T, -20), addDays(T, -10 - i));
      await delivery(await webhookEvent(`event ${i}`, addDays(T, -60)), 'SUCCEEDED', addDays(T, -30 - i));
    }
    const bound = { batchSize: 2, maxBatches: 2 };
    const settings = { outboxDays: 7, webhookDays: 30 };

    expect(await pruneRetainedLogs(at(T), settings, bound)).toMatchObject({ outbox_events: 4, webhook_deliveries: 4, webhook_events: 4 });
    expect(await outboxLabels()).toEqual(['done 11 days ago']);
    expect(await pruneRetainedLogs(at(T), settings, bound)).toMatchObject({ outbox_events: 1, webhook_deliveries: 1, webhook_events: 1 });
    expect(await pruneRetainedLogs(at(T), settings, bound)).toMatchObject({ outbox_events: 0, webhook_deliveries: 0 });
    expect(await prisma.webhookDelivery.count()).toBe(0);
  });

  it('counts what it deleted in treue_retention_deleted_total{table}, every table from 0', async () => {
    const metrics = createWorkerMetrics();
    const counted = async () => {
      const metric = await metrics.registry.getSingleMetric('treue_retention_deleted_total')!.get();
      return Object.fromEntries(metric.values.map((value) => [value.labels.table, value.value]));
    };
    expect(await counted()).toEqual({ outbox_events: 0, webhook_deliveries: 0, webhook_delivery_attempts: 0, webhook_events: 0 });

    await outboxEvent('done 8 days ago', addDays(T, -9), addDays(T, -8));
    await outboxEvent('done 9 days ago', addDays(T, -9), addDays(T, -9));
    await delivery(await webhookEvent('delivered', addDays(T, -40)), 'SUCCEEDED', addDays(T, -31), 3);
    // The hourly job's processor, with the worker's settings shape (config.retention).
    const report = await processRetention(at(T, { measures: metrics.business }), { outboxDays: 7, webhookDays: 30 });

    expect(report.retentionDeleted).toEqual({ outbox_events: 2, webhook_deliveries: 1, webhook_delivery_attempts: 3, webhook_events: 1 });
    expect(await counted()).toEqual({ outbox_events: 2, webhook_deliveries: 1, webhook_delivery_attempts: 3, webhook_events: 1 });
  });

  describe.each([
    ['alone', () => ({})],
    ['in a group', () => ({ compensationGroups: new CompensationGroups(8) })],
  ])('a late duplicate of a compensation job whose outbox row was pruned (%s)', (_label, groups) => {
    it('does nothing: still exactly one voucher, nothing else written', async () => {
      const memberId = await app.enroll({ enrolledAt: addDays(T, -365) });
      await subscribedEndpoint(prisma, ['service_failure.compensated', 'voucher.issued']);
      const { failureId } = await reportServiceFailure(
        at(T),
        { memberId, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'order-1', idempotencyKey: 'k-1' },
        apiKeyCaller('shop', STOREFRONT_SCOPES),
      );
      expect((await processCompensation({ failureId }, at(T, groups()))).outcome).toBe('COMPENSATED');
      expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: failureId } })).completedAt).toEqual(T);

      // Eight days on, the job's completed row is pruned (the compensation's webhook rows with it).
      const later = addDays(T, 8);
      expect((await pruneRetainedLogs(at(later), { outboxDays: 7, webhookDays: 30 })).outbox_events).toBeGreaterThanOrEqual(1);
      expect(await prisma.outboxEvent.findUnique({ where: { id: failureId } })).toBeNull();

      const written = async () => ({
        failure: await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } }),
        member: await prisma.member.findUniqueOrThrow({ where: { id: memberId } }),
        vouchers: await prisma.voucher.findMany({ orderBy: { id: 'asc' } }),
        ledgerEntries: await prisma.ledgerEntry.count(),
        outboxEvents: await prisma.outboxEvent.findMany({ orderBy: { id: 'asc' } }),
        webhookEvents: await prisma.webhookEvent.count(),
        webhookDeliveries: await prisma.webhookDelivery.count(),
      });
      const before = await written();
      expect(before.vouchers).toHaveLength(1);

      // The same job again, as BullMQ would run a duplicate that turned up late.
      const outcome = await processCompensation({ failureId }, at(later, groups()));
      expect(outcome).toMatchObject({ outcome: 'ALREADY_DECIDED', status: 'COMPENSATED' });
      expect(await written()).toEqual(before);
    });
  });

  it('a lot announced as expiring is not announced again once its delivered event is pruned', async () => {
    // The event's dedupe key ("points.expiring:<lot>") goes with the event; the lot's expiry_reminded_at stays.
    await subscribedEndpoint(prisma, ['points.expiring']);
    const memberId = await app.enroll({ enrolledAt: addDays(T, -800) });
    await adjustPoints(at(addDays(T, -700)), { memberId, points: 10, reason: 'grant', idempotencyKey: 'g-1' }, ADMIN);
    const expiring = async () => prisma.webhookEvent.count({ where: { type: 'points.expiring' } });
    // The lot expires 24 months after its grant: within the 30-day reminder window at T, not yet expired two days later.
    expect(await remindExpiringPoints(at(T))).toBe(1);
    expect(await expiring()).toBe(1);
    await prisma.webhookDelivery.updateMany({ data: { status: 'SUCCEEDED', deliveredAt: T } });

    const later = addDays(T, 2);
    expect(await pruneRetainedLogs(at(later), { outboxDays: 0, webhookDays: 1 })).toMatchObject({
      webhook_deliveries: 1,
      webhook_events: 1,
    });
    expect(await expiring()).toBe(0);
    expect(await remindExpiringPoints(at(later))).toBe(0);
    expect(await expiring()).toBe(0);
  });
});
