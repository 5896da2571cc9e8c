import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DELIVERY_SETTINGS,
  deliverWebhook,
  type SendWebhook,
  type WebhookDeliveryDeps,
} from '../../src/domain/webhooks/webhook-delivery.service.js';
import { createWebhookEndpoint, generateWebhookSecret } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';

/**
 * What the `webhook_endpoint.disabled` event tells the other receivers (audit of stop 50). A receiver's URL often
 * holds its own credentials — a token in the path or the query, or (stored before such URLs were refused) a user
 * and password — and the event goes to every endpoint subscribed to it, run by other teams or systems. It names
 * the disabled endpoint by its id and origin (scheme, host, port) only, as the worker's log line does. No network:
 * the sender answers 500 for every request.
 */
const { prisma } = useTestApp();
const admin = staffCaller('ADMIN');
const HOUR = 3_600_000;
const failing: SendWebhook = async () => ({ statusCode: 500, durationMs: 1, error: null });

function deliveryDeps(now: Date): WebhookDeliveryDeps {
  return { prisma, logger: testLogger, now: () => now, send: failing, settings: DEFAULT_DELIVERY_SETTINGS, random: () => 0.5 };
}

/** Fails the endpoint's delivery now and a day later, which disables it. */
async function failForADay(endpointId: string, T0: Date) {
  const delivery = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId } });
  await deliverWebhook(deliveryDeps(T0), delivery.id);
  const outcome = await deliverWebhook(deliveryDeps(new Date(T0.getTime() + 24 * HOUR + 1)), delivery.id);
  expect(outcome).toMatchObject({ outcome: 'DEAD', reason: 'the endpoint was disabled: no successful delivery' });
}

describe('the webhook_endpoint.disabled event', () => {
  it('names the disabled endpoint by id and origin, never the secrets its URL holds in path, query or user part', async () => {
    const T0 = new Date('2026-12-01T08:00:00.000Z');
    const watcher = await createWebhookEndpoint(
      { prisma, logger: testLogger },
      { url: 'https://ops.example.com/hooks', eventTypes: ['webhook_endpoint.disabled'] },
      admin,
    );
    const { endpoint: tokened } = await createWebhookEndpoint(
      // Its port listed by the operator (WEBHOOK_ALLOWED_PORTS): the origin keeps it.
      { prisma, logger: testLogger, webhookUrls: { allowHttp: false, allowPrivateAddresses: false, allowedPorts: [8443] } },
      { url: 'https://crm.example.com:8443/in/PATH-SECRET?token=QUERY-SECRET', eventTypes: ['member.enrolled'] },
      admin,
    );
    // Stored before URLs with credentials were refused (createWebhookEndpoint refuses them now).
    const legacy = await prisma.webhookEndpoint.create({
      data: {
        url: 'https://hook-user:USER-SECRET@legacy.example.com/hook',
        eventTypes: ['member.enrolled'],
        secret: generateWebhookSecret(),
        createdBy: 'STAFF:legacy',
      },
    });
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-1' } }], T0);

    await failForADay(tokened.id, T0);
    await failForADay(legacy.id, T0);

    const announced = await prisma.webhookDelivery.findMany({ where: { endpointId: watcher.endpoint.id }, include: { event: true } });
    const payloads = announced
      .map((delivery) => delivery.event.payload as Record<string, unknown>)
      .sort((a, b) => [tokened.id, legacy.id].indexOf(String(a['endpointId'])) - [tokened.id, legacy.id].indexOf(String(b['endpointId'])));
    const common = {
      reason: 'no successful delivery for 24 hours',
      failingSince: T0.toISOString(),
      disabledAt: new Date(T0.getTime() + 24 * HOUR + 1).toISOString(),
    };
    expect(payloads).toEqual([
      { endpointId: tokened.id, origin: 'https://crm.example.com:8443', ...common },
      { endpointId: legacy.id, origin: 'https://legacy.example.com', ...common },
    ]);
    for (const secret of ['PATH-SECRET', 'QUERY-SECRET', 'USER-SECRET', 'hook-user', '/in/', '/hook']) {
      expect(JSON.stringify(payloads)).not.toContain(secret);
    }
  });
});
