import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimOutboxEvents } from '../../src/domain/outbox/outbox.service.js';
import { EndpointGate } from '../../src/domain/webhooks/endpoint-gate.js';
import {
  DEFAULT_DELIVERY_SETTINGS,
  deliverWebhook,
  retryDelayMs,
  type WebhookDeliveryDeps,
} from '../../src/domain/webhooks/webhook-delivery.service.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { trackOutboxLag, trackWebhookEndpoints } from '../../src/metrics.js';
import { createWebhookSender } from '../../src/webhooks/webhook-sender.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * What goes wrong on the way out, one delivery at a time through the domain's
 * `deliverWebhook` (the plain function the `webhooks` worker calls) with the
 * real sender and a receiver on 127.0.0.1: refused addresses, redirects,
 * retries and their schedule, an endpoint failing for a day, the endpoint gate.
 * The clock is injected; nothing sleeps.
 */
const { prisma } = useTestApp();
const admin = staffCaller('ADMIN');
const LENIENT = { allowHttp: true, allowPrivateAddresses: true };
const HOUR = 3_600_000;
let receiver: WebhookReceiver;
const strictSender = createWebhookSender({ allowPrivateAddresses: false });
const lenientSender = createWebhookSender({ allowPrivateAddresses: true });

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
});
afterAll(async () => {
  strictSender.close();
  lenientSender.close();
  await receiver.stop();
});

function deliveryDeps(now: Date, overrides: Partial<WebhookDeliveryDeps> = {}): WebhookDeliveryDeps {
  return {
    prisma,
    logger: testLogger,
    now: () => now,
    send: lenientSender,
    settings: DEFAULT_DELIVERY_SETTINGS,
    random: () => 0.5,
    ...overrides,
  };
}

async function oneDelivery(path: string, now = new Date()) {
  const { endpoint } = await createWebhookEndpoint(
    { prisma, logger: testLogger, webhookUrls: LENIENT },
    { url: receiver.url(path), eventTypes: ['member.enrolled'] },
    admin,
  );
  await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-1' } }], now);
  const [delivery] = await prisma.webhookDelivery.findMany({ where: { endpointId: endpoint.id }, orderBy: { createdAt: 'desc' } });
  return { endpoint, deliveryId: delivery!.id };
}

describe('no server-side request forgery', () => {
  it('refuses a name that resolves to a loopback address, and a literal one, unless allowed', async () => {
    const target = receiver.url('/internal').replace('127.0.0.1', 'localhost');
    // The receiver's port listed (WEBHOOK_ALLOWED_PORTS): what refuses the name is its address.
    const onItsPort = createWebhookSender({ allowPrivateAddresses: false, allowedPorts: [Number(new URL(target).port)] });
    const byName = await onItsPort({ url: target, headers: {}, body: '{}', timeoutMs: 2_000 }).finally(() => onItsPort.close());
    expect(byName).toMatchObject({ statusCode: null, error: expect.stringMatching(/refused: localhost resolves to a loopback address/) });
    const literal = await strictSender({ url: receiver.url('/internal'), headers: {}, body: '{}', timeoutMs: 2_000 });
    expect(literal).toMatchObject({ statusCode: null, error: 'refused: 127.0.0.1 is a loopback address' });
    const metadata = await strictSender({ url: 'http://169.254.169.254/latest/meta-data', headers: {}, body: '{}', timeoutMs: 2_000 });
    expect(metadata.error).toBe('refused: 169.254.169.254 is a link-local address');
    expect(receiver.at('/internal')).toHaveLength(0);
    expect((await lenientSender({ url: target, headers: {}, body: '{}', timeoutMs: 2_000 })).statusCode).toBe(200);
  });

  it('a refused address is a failed attempt, recorded with its reason', async () => {
    const { deliveryId } = await oneDelivery('/guarded');
    const outcome = await deliverWebhook(deliveryDeps(new Date(), { send: strictSender }), deliveryId);
    expect(outcome).toMatchObject({ outcome: 'RETRY', statusCode: null, error: 'refused: 127.0.0.1 is a loopback address' });
    expect(receiver.at('/guarded')).toHaveLength(0);
  });

  it('never follows a redirect: a 3xx is a failed attempt and its target gets nothing', async () => {
    receiver.always('/moved', { status: 302, headers: { location: receiver.url('/elsewhere') } });
    const { deliveryId } = await oneDelivery('/moved');
    const outcome = await deliverWebhook(deliveryDeps(new Date()), deliveryId);
    expect(outcome).toMatchObject({ outcome: 'RETRY', statusCode: 302, error: `redirect to ${receiver.url('/elsewhere')} not followed` });
    expect(receiver.at('/elsewhere')).toHaveLength(0);
  });
});

describe('retries', () => {
  it('back off exponentially over about a day: 5 s, 15 s, 45 s … capped at 10 h, with ±20 % jitter', () => {
    const delays = Array.from({ length: 10 }, (_unused, i) => retryDelayMs(DEFAULT_DELIVERY_SETTINGS, i + 1, () => 0.5));
    expect(delays).toEqual([5_000, 15_000, 45_000, 135_000, 405_000, 1_215_000, 3_645_000, 10_935_000, 32_805_000, 36_000_000]);
    const total = delays.reduce((sum, delay) => sum + delay, 0);
    expect(total / HOUR).toBeGreaterThan(23);
    expect(total / HOUR).toBeLessThan(24);
    expect(retryDelayMs(DEFAULT_DELIVERY_SETTINGS, 1, () => 0)).toBe(4_000);
    expect(retryDelayMs(DEFAULT_DELIVERY_SETTINGS, 1, () => 1)).toBe(6_000);
  });

  it('a failed attempt schedules the next; a job that comes early is put back, not sent', async () => {
    receiver.always('/down', 500);
    const T0 = new Date();
    const { deliveryId } = await oneDelivery('/down', T0);
    const first = await deliverWebhook(deliveryDeps(T0), deliveryId);
    expect(first).toEqual({ outcome: 'RETRY', attempt: 1, statusCode: 500, error: 'HTTP 500', retryAt: new Date(T0.getTime() + 5_000) });
    const early = await deliverWebhook(deliveryDeps(new Date(T0.getTime() + 1_000)), deliveryId);
    expect(early).toEqual({ outcome: 'DEFERRED', retryAt: new Date(T0.getTime() + 5_000) });
    expect(receiver.at('/down')).toHaveLength(1);
    // The outbox row is not stale before the retry is due: the relay leaves it alone.
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: deliveryId } })).enqueuedAt).toEqual(new Date(T0.getTime() + 5_000));
  });
});

describe('an endpoint failing for a day', () => {
  it('is disabled, its waiting deliveries dead-lettered, and a webhook_endpoint.disabled event and the metric tell the admin', async () => {
    receiver.always('/broken', 500);
    const T0 = new Date();
    const watcher = await createWebhookEndpoint(
      { prisma, logger: testLogger, webhookUrls: LENIENT },
      { url: receiver.url('/ops'), eventTypes: ['webhook_endpoint.disabled'] },
      admin,
    );
    const { endpoint, deliveryId } = await oneDelivery('/broken', T0);
    await deliverWebhook(deliveryDeps(T0), deliveryId);
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).failingSince).toEqual(T0);

    const later = new Date(T0.getTime() + 23 * HOUR);
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-2' } }], later);
    const second = (await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id, id: { not: deliveryId } } })).id;
    await deliverWebhook(deliveryDeps(later), second);
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).enabled).toBe(true);

    const dayLater = new Date(T0.getTime() + 24 * HOUR + 1);
    // The attempt that disables the endpoint dead-letters its own delivery too: its job ends, it is not put back.
    const logged: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({ write: (chunk: Buffer, _encoding, done) => (logged.push(chunk.toString()), done()) }),
    );
    expect(await deliverWebhook(deliveryDeps(dayLater, { logger }), deliveryId)).toMatchObject({ outcome: 'DEAD', attempt: 2 });
    // The operator's log names the endpoint and its origin, not its path, which may hold the receiver's own token.
    const line = logged
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((one) => String(one['msg']).startsWith('webhook endpoint disabled'));
    expect(line).toMatchObject({ endpointId: endpoint.id, origin: new URL(receiver.url('/broken')).origin });
    expect(JSON.stringify(line)).not.toContain('/broken');
    const disabled = await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } });
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'no successful delivery for 24 hours' });
    const waiting = await prisma.webhookDelivery.findMany({ where: { endpointId: endpoint.id } });
    expect(waiting.map((row) => row.status)).toEqual(['DEAD', 'DEAD']);
    const [announced] = await prisma.webhookDelivery.findMany({ where: { endpointId: watcher.endpoint.id }, include: { event: true } });
    expect(announced?.event).toMatchObject({
      type: 'webhook_endpoint.disabled',
      payload: { endpointId: endpoint.id, origin: new URL(receiver.url('/broken')).origin },
    });
    expect(JSON.stringify(announced?.event.payload)).not.toContain('/broken');

    const registry = new Registry();
    trackWebhookEndpoints(registry, prisma);
    const metric = await registry.getSingleMetricAsString('treue_webhook_endpoints');
    expect(metric).toContain('treue_webhook_endpoints{state="disabled_failing"} 1');
    expect(metric).toContain('treue_webhook_endpoints{state="healthy"} 1');
  });

  it('a success in between starts the day again', async () => {
    const T0 = new Date();
    const { endpoint, deliveryId } = await oneDelivery('/wobbly', T0);
    receiver.answers('/wobbly', 500);
    await deliverWebhook(deliveryDeps(T0), deliveryId);
    await deliverWebhook(deliveryDeps(new Date(T0.getTime() + 20 * HOUR)), deliveryId);
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).failingSince).toBeNull();
  });

  it('a failing run ends with its last waiting delivery: a failure after a quiet week starts a new day', async () => {
    // Day 0: the receiver is down; the delivery's 11 attempts (about 23.7 hours) all fail and it is dead-lettered.
    receiver.always('/outage', 503);
    const T0 = new Date();
    const { endpoint, deliveryId } = await oneDelivery('/outage', T0);
    let now = T0;
    for (;;) {
      const outcome = await deliverWebhook(deliveryDeps(now), deliveryId);
      if (outcome.outcome !== 'RETRY') {
        expect(outcome).toMatchObject({ outcome: 'DEAD', attempt: 11 });
        break;
      }
      now = outcome.retryAt;
    }
    expect(now.getTime() - T0.getTime()).toBeLessThan(24 * HOUR);
    expect(await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).toMatchObject({
      enabled: true,
      failingSince: null,
    });

    // A week later the next event's first attempt meets one 502: the endpoint has failed for seconds, not for a week.
    receiver.always('/outage', 200);
    receiver.answers('/outage', 502);
    const weekLater = new Date(T0.getTime() + 7 * 24 * HOUR);
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-2' } }], weekLater);
    const next = (await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id, id: { not: deliveryId } } })).id;
    expect(await deliverWebhook(deliveryDeps(weekLater), next)).toMatchObject({ outcome: 'RETRY', attempt: 1, statusCode: 502 });
    expect(await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).toMatchObject({
      enabled: true,
      disabledReason: null,
      failingSince: weekLater,
    });
  });

  it('a dead letter while other deliveries still wait keeps the run going', async () => {
    receiver.always('/down', 503);
    const T0 = new Date();
    const { endpoint, deliveryId } = await oneDelivery('/down', T0);
    await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-2' } }], T0);
    const other = (await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id, id: { not: deliveryId } } })).id;
    await deliverWebhook(deliveryDeps(T0), other);
    let now = T0;
    for (;;) {
      const outcome = await deliverWebhook(deliveryDeps(now), deliveryId);
      if (outcome.outcome !== 'RETRY') break;
      now = outcome.retryAt;
    }
    expect(await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).toMatchObject({
      enabled: true,
      failingSince: T0,
    });
  });
});

describe('the endpoint gate', () => {
  it('lets a limited number of requests out per endpoint; as many more wait for a slot, the rest are put back', async () => {
    const now = 1_000_000;
    const gate = new EndpointGate({ maxInFlight: 2, busyDelayMs: 50, now: () => now, random: () => 0 });
    const first = await gate.admit('a');
    const second = await gate.admit('a');
    expect([first.admitted, second.admitted]).toEqual([true, true]);
    const third = gate.admit('a');
    const fourth = gate.admit('a');
    expect(await gate.admit('a')).toEqual({ admitted: false, retryAt: now + 50 });
    expect((await gate.admit('b')).admitted).toBe(true);
    if (first.admitted) first.release(true);
    expect((await third).admitted).toBe(true);
    // Nobody released another slot: the fourth gives up its wait after busyDelayMs and is put back.
    expect(await fourth).toEqual({ admitted: false, retryAt: now + 50 });
  });

  it('opens after 5 failures in a row, probes once after the cool-down, doubles it on a failed probe and closes on success', async () => {
    let now = 0;
    const gate = new EndpointGate({ maxInFlight: 10, now: () => now, random: () => 0, cooldownMs: 1_000 });
    const out = await Promise.all(Array.from({ length: 6 }, () => gate.admit('e')));
    out.slice(0, 5).forEach((admission) => admission.admitted && admission.release(false));
    expect(gate.isOpen('e')).toBe(true);
    // A request already out when it opened does not extend it.
    if (out[5]!.admitted) out[5]!.release(false);
    expect(await gate.admit('e')).toEqual({ admitted: false, retryAt: 1_000 });
    now = 1_000;
    const probe = await gate.admit('e');
    expect(probe.admitted).toBe(true);
    const waiting = gate.admit('e'); // one probe at a time: put back at once, not waiting in a slot
    expect((await waiting).admitted).toBe(false);
    if (probe.admitted) probe.release(false);
    expect(await gate.admit('e')).toEqual({ admitted: false, retryAt: 3_000 });
    now = 3_000;
    const second = await gate.admit('e');
    if (second.admitted) second.release(true);
    expect(gate.isOpen('e')).toBe(false);
    expect((await Promise.all([gate.admit('e'), gate.admit('e'), gate.admit('e')])).every((admission) => admission.admitted)).toBe(true);
  });

  it('while a probe is out, the others wait a fifth of the cool-down and up to as much again, not a moment', async () => {
    let now = 0;
    let random = 0;
    const gate = new EndpointGate({ maxInFlight: 10, now: () => now, random: () => random, cooldownMs: 30_000 });
    for (const admission of await Promise.all(Array.from({ length: 5 }, () => gate.admit('dead')))) {
      if (admission.admitted) admission.release(false);
    }
    now = 30_000;
    const probe = await gate.admit('dead');
    expect(probe.admitted).toBe(true);
    expect(await gate.admit('dead')).toEqual({ admitted: false, retryAt: 30_000 + 6_000 });
    random = 0.5;
    expect(await gate.admit('dead')).toEqual({ admitted: false, retryAt: 30_000 + 6_000 + 3_000 });
    if (probe.admitted) probe.release(true);
    expect((await gate.admit('dead')).admitted).toBe(true);
  });

  it('a delivery put back because its endpoint is busy is not sent, says when it is tried next, and is no outbox lag', async () => {
    const { endpoint, deliveryId } = await oneDelivery('/busy');
    // The relay handed it over; it has waited an hour behind the endpoint's other deliveries.
    expect((await claimOutboxEvents({ prisma, logger: testLogger })).map((event) => event.id)).toEqual([deliveryId]);
    await prisma.$executeRaw`UPDATE outbox_events SET created_at = created_at - interval '1 hour' WHERE id = ${deliveryId}::uuid`;
    await prisma.$executeRaw`UPDATE webhook_deliveries SET created_at = created_at - interval '1 hour' WHERE id = ${deliveryId}::uuid`;
    // One request to the endpoint is out and another waits for its slot: the endpoint is busy.
    const gate = new EndpointGate({ maxInFlight: 1, busyDelayMs: 60_000, random: () => 0 });
    const inFlight = await gate.admit(endpoint.id);
    const inSlot = gate.admit(endpoint.id);

    const outcome = await deliverWebhook(deliveryDeps(new Date(), { gate }), deliveryId);
    expect(outcome.outcome).toBe('DEFERRED');
    const retryAt = (outcome as { retryAt: Date }).retryAt;
    expect(receiver.at('/busy')).toHaveLength(0);
    const registry = new Registry();
    trackOutboxLag(registry, prisma);
    trackWebhookEndpoints(registry, prisma);
    const value = async (metric: string, labels: Record<string, string> = {}) =>
      (await registry.getSingleMetric(metric)!.get()).values.find((sample) =>
        Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted),
      )?.value;
    // Nothing waits on the relay, a worker, Redis or a queue: the hour is the endpoint's, and shows there.
    expect(await value('treue_outbox_oldest_pending_age_seconds')).toBe(0);
    expect(await value('treue_webhook_oldest_pending_age_seconds', { state: 'healthy' })).toBeGreaterThanOrEqual(3600);
    // Put back like a retry: the admins' list says when it is tried next.
    const delivery = await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } });
    expect(delivery).toMatchObject({ status: 'PENDING', attempts: 0, nextAttemptAt: retryAt });

    if (inFlight.admitted) inFlight.release(true);
    const admitted = await inSlot;
    if (admitted.admitted) admitted.release(true);
  });

  it('deliveries waiting for a slot are put back when the circuit opens', async () => {
    const now = 0;
    const gate = new EndpointGate({ maxInFlight: 10, now: () => now, random: () => 0, cooldownMs: 1_000, busyDelayMs: 60_000 });
    const out = await Promise.all(Array.from({ length: 10 }, () => gate.admit('e')));
    const waiters = Array.from({ length: 10 }, () => gate.admit('e'));
    // Four failures each free a slot for a waiter; the fifth opens the circuit.
    out.slice(0, 5).forEach((admission) => admission.admitted && admission.release(false));
    const outcomes = await Promise.all(waiters);
    expect(outcomes.filter((admission) => admission.admitted)).toHaveLength(4);
    expect(outcomes.filter((admission) => !admission.admitted)).toEqual(
      Array.from({ length: 6 }, () => ({ admitted: false, retryAt: 1_000 })),
    );
  });
});
