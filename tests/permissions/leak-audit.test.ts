import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_SETTINGS, deliverWebhook } from '../../src/domain/webhooks/webhook-delivery.service.js';
import {
  createWebhookEndpoint,
  replayWebhookDeliveries,
  replayWebhookDelivery,
  updateWebhookEndpoint,
} from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { ValidationError } from '../../src/domain/errors.js';
import { createWebhookSender } from '../../src/webhooks/webhook-sender.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * An adversarial audit of where member data can reach someone the permission matrix does not allow
 * (docs/permissions.md). What the GraphQL contract answers is covered elsewhere (tests/graphql/member-isolation,
 * visibility, staff-only-details, unowned-node-read, tests/permissions/permission-matrix); this file holds the
 * holes found outside it.
 */
const { prisma } = useTestApp();
const admin = staffCaller('ADMIN');
const deps = { prisma, logger: testLogger, webhookUrls: { allowHttp: true, allowPrivateAddresses: true } };
const sender = createWebhookSender({ allowPrivateAddresses: true });
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
});
afterAll(async () => {
  sender.close();
  await receiver.stop();
});

const deliver = (deliveryId: string) =>
  deliverWebhook({ prisma, logger: testLogger, send: sender, settings: DEFAULT_DELIVERY_SETTINGS, random: () => 0.5 }, deliveryId);

/** A voucher.issued event, as the vouchers service writes it: the code is a bearer credential of the member's. */
const VOUCHER_ISSUED = { type: 'voucher.issued' as const, data: { memberId: 'm-1', voucherId: 'v-1', code: 'SECRET-CODE-1' } };

describe('webhooks carry only the event types their endpoint subscribes to', () => {
  it('a delivery waiting when its type is unsubscribed is not sent: it ends DEAD, saying why', async () => {
    const { endpoint } = await createWebhookEndpoint(
      deps,
      { url: receiver.url('/crm'), eventTypes: ['member.enrolled', 'voucher.issued'] },
      admin,
    );
    await recordWebhookEvents(prisma, [VOUCHER_ISSUED], new Date());
    const delivery = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id } });
    // The admin decides this receiver may not hold voucher codes (docs/webhooks.md) while the delivery still waits.
    await updateWebhookEndpoint(deps, { id: endpoint.id, eventTypes: ['member.enrolled'] }, admin);

    const outcome = await deliver(delivery.id);

    expect(receiver.at('/crm')).toEqual([]);
    expect(outcome).toMatchObject({ outcome: 'DEAD', attempt: null });
    const after = await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: delivery.id } });
    expect(after).toMatchObject({ status: 'DEAD', lastError: 'the endpoint no longer subscribes to voucher.issued' });
  });

  it('a delivery of an unsubscribed type is not replayed, one by one or by endpoint', async () => {
    const { endpoint } = await createWebhookEndpoint(
      deps,
      { url: receiver.url('/helpdesk'), eventTypes: ['member.enrolled', 'voucher.issued'] },
      admin,
    );
    await recordWebhookEvents(prisma, [VOUCHER_ISSUED], new Date());
    const sent = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id } });
    await deliver(sent.id);
    expect(receiver.at('/helpdesk')).toHaveLength(1);
    await recordWebhookEvents(prisma, [{ ...VOUCHER_ISSUED, data: { ...VOUCHER_ISSUED.data, code: 'SECRET-CODE-2' } }], new Date());
    const waiting = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id, status: 'PENDING' } });
    await updateWebhookEndpoint(deps, { id: endpoint.id, eventTypes: ['member.enrolled'] }, admin);
    await deliver(waiting.id);

    await expect(replayWebhookDelivery(deps, { deliveryId: sent.id }, admin)).rejects.toThrow(
      new ValidationError('deliveryId', 'its endpoint no longer subscribes to voucher.issued'),
    );
    await expect(replayWebhookDelivery(deps, { deliveryId: waiting.id }, admin)).rejects.toThrow(ValidationError);
    const replayed = await replayWebhookDeliveries(deps, { endpointId: endpoint.id, since: new Date(0) }, admin);

    expect(replayed).toMatchObject({ replayed: 0 });
    expect(await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: waiting.id } })).toMatchObject({ status: 'DEAD' });
    expect(await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: sent.id } })).toMatchObject({ status: 'SUCCEEDED' });
    expect(receiver.at('/helpdesk')).toHaveLength(1);
  });
});
