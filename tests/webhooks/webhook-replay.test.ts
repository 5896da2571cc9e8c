import { describe, expect, it } from 'vitest';
import {
  createWebhookEndpoint,
  replayWebhookDeliveries,
  replayWebhookDelivery,
  updateWebhookEndpoint,
} from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { until } from '../support/until.js';
import { useWebhookWorkers } from '../support/webhook-workers.js';

/**
 * docs/webhooks.md: an endpoint that was disabled (by an admin, or after a day of failing) has its
 * waiting deliveries end DEAD; "Re-enable it with updateWebhookEndpoint(enabled: true), then replay",
 * and `replayWebhookDelivery` "sends a DEAD delivery again with a fresh retry budget". A delivery
 * dead-lettered while its job waited in BullMQ for a retry used to wait for that retry's time after
 * the replay too (up to 10 hours with the default schedule; 5 minutes here).
 */
const { prisma } = useTestApp();
const hooks = useWebhookWorkers(prisma, {
  // The first retry after a failed attempt is due in 5 minutes (± 20 %): far beyond this test.
  WEBHOOK_RETRY_BASE_MS: '300000',
  WEBHOOK_MAX_ATTEMPTS: '5',
  WEBHOOK_TIMEOUT_MS: '1000',
});
const { receiver } = hooks;
const deps = { prisma, logger: testLogger, webhookUrls: hooks.config.webhooks };
const admin = staffCaller('ADMIN');

describe('replay after the endpoint was disabled and enabled again', () => {
  it('a replayed DEAD delivery is sent at once, not when the retry it had before the endpoint was disabled falls due', async () => {
    const { endpoint } = await createWebhookEndpoint(deps, { url: receiver.url('/flaky'), eventTypes: ['member.enrolled'] }, admin);
    // The endpoint has been failing for a day already (its earlier deliveries): the next failed attempt disables it.
    await prisma.webhookEndpoint.update({ where: { id: endpoint.id }, data: { failingSince: new Date(Date.now() - 25 * 3_600_000) } });
    receiver.answers('/flaky', 500);
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-1' } }], new Date());
    const dead = await until(
      async () => (await prisma.webhookDelivery.findFirst({ where: { endpointId: endpoint.id, status: 'DEAD' } })) ?? null,
      15_000,
      50,
      'the failed attempt to disable the endpoint and dead-letter the delivery',
    );
    expect(receiver.at('/flaky')).toHaveLength(1);
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).enabled).toBe(false);

    // As docs/webhooks.md says: the receiver is fixed, the admin enables the endpoint again, then replays.
    await updateWebhookEndpoint(deps, { id: endpoint.id, enabled: true }, admin);
    await replayWebhookDelivery(deps, { deliveryId: dead.id }, admin);

    // The relay hands replays over within half a second; the worker sends them at once.
    await until(async () => receiver.at('/flaky').length === 2, 10_000, 50, 'the replayed delivery to reach the receiver');
    const delivery = await until(
      async () => {
        const row = await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: dead.id } });
        return row.status === 'SUCCEEDED' ? row : null;
      },
      5_000,
      50,
      'the replay to succeed',
    );
    expect(receiver.at('/flaky').at(-1)!.headers['webhook-id']).toBe(dead.id);
    expect(delivery.attemptsAtReplay).toBe(1);
  });

  it('another delivery dead-lettered with the endpoint while it waited for a retry is sent at once when replayed', async () => {
    const { endpoint } = await createWebhookEndpoint(deps, { url: receiver.url('/down'), eventTypes: ['member.enrolled'] }, admin);
    receiver.always('/down', 500);
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-2' } }], new Date());
    const waiting = await until(
      async () => (await prisma.webhookDelivery.findFirst({ where: { endpointId: endpoint.id, status: 'FAILED' } })) ?? null,
      15_000,
      50,
      'the first attempt to fail and put its job back for 5 minutes',
    );
    expect(await hooks.workers().queues.queue('webhooks').getJobState(waiting.id)).toBe('delayed');

    // A day of failures later, the next delivery's failed attempt disables the endpoint: both end DEAD.
    await prisma.webhookEndpoint.update({ where: { id: endpoint.id }, data: { failingSince: new Date(Date.now() - 25 * 3_600_000) } });
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-3' } }], new Date());
    const buried = await until(
      async () => {
        const rows = await prisma.webhookDelivery.findMany({ where: { endpointId: endpoint.id } });
        return rows.length === 2 && rows.every((row) => row.status === 'DEAD') ? rows : null;
      },
      15_000,
      50,
      'the endpoint to be disabled and both deliveries dead-lettered',
    );
    expect(await hooks.workers().queues.queue('webhooks').getJobState(waiting.id)).toBe('delayed');

    receiver.always('/down', 200);
    await updateWebhookEndpoint(deps, { id: endpoint.id, enabled: true }, admin);
    expect(await replayWebhookDeliveries(deps, { endpointId: endpoint.id, since: new Date(0) }, admin)).toMatchObject({ replayed: 2 });

    await until(
      async () => (await prisma.webhookDelivery.count({ where: { endpointId: endpoint.id, status: 'SUCCEEDED' } })) === 2,
      10_000,
      50,
      'both replayed deliveries to succeed',
    );
    const delivered = receiver.at('/down').map((request) => request.headers['webhook-id']);
    expect(delivered.filter((id) => id === waiting.id)).toHaveLength(2);
    expect(new Set(delivered)).toEqual(new Set(buried.map((row) => row.id)));
  });
});
