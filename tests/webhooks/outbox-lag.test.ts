import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { trackOutboxLag, trackWebhookEndpoints } from '../../src/metrics.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { until } from '../support/until.js';
import { useWebhookWorkers } from '../support/webhook-workers.js';

/**
 * `treue_outbox_oldest_pending_age_seconds` is the relay's lag (docs/operations.md: workers down, Redis away, a
 * queue backed up), and one customer's endpoint is none of it. The endpoint gate puts a delivery back while its
 * endpoint is busy or its circuit is open (docs/webhooks.md) — for up to 10 minutes a time, for as long as the
 * endpoint is down — and such a delivery used to count as outbox lag from its event's creation: the alert fired
 * for one customer's endpoint with the relay healthy, and, the gauge being the oldest of all, a real stall of the
 * relay behind it did not move it. Real workers, relay, BullMQ and PostgreSQL.
 */
const { prisma } = useTestApp();
const hooks = useWebhookWorkers(
  prisma,
  {
    WEBHOOK_ENDPOINT_CONCURRENCY: '1',
    // A failed attempt's retry is due in 4–6 minutes: beyond these tests, so no retry is due during them.
    WEBHOOK_RETRY_BASE_MS: '300000',
    WEBHOOK_MAX_ATTEMPTS: '5',
    WEBHOOK_TIMEOUT_MS: '1000',
  },
  // The first failure opens an endpoint's circuit for 2 minutes.
  { webhookGate: { openAfterFailures: 1, cooldownMs: 120_000 } },
);
const { receiver } = hooks;
const deps = { prisma, logger: testLogger, webhookUrls: hooks.config.webhooks };
const admin = staffCaller('ADMIN');

/** A metric's value as a scrape of the API reads it (`labels` picks a series). */
async function scraped(metric: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const registry = new Registry();
  trackOutboxLag(registry, prisma);
  trackWebhookEndpoints(registry, prisma);
  const values = (await registry.getSingleMetric(metric)?.get())?.values ?? [];
  return values.find((value) => Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted))?.value;
}

/**
 * An endpoint that answers 500, two events to it: the first delivery fails (and opens the circuit), the other is put
 * back by the gate until the cool-down ends. Then that one is made an hour old: it has waited that long for its
 * endpoint (circuit open, probe after failed probe). Returns it.
 */
async function deliveryWaitingForItsEndpoint(path: string) {
  receiver.always(path, 500);
  const { endpoint } = await createWebhookEndpoint(deps, { url: receiver.url(path), eventTypes: ['member.enrolled'] }, admin);
  await recordWebhookEvents(
    prisma,
    [
      { type: 'member.enrolled', data: { memberId: 'm-1' } },
      { type: 'member.enrolled', data: { memberId: 'm-2' } },
    ],
    new Date(),
  );
  const queue = hooks.workers().queues.queue('webhooks');
  const waiting = await until(
    async () => {
      const rows = await prisma.webhookDelivery.findMany({ where: { endpointId: endpoint.id } });
      const other = rows.find((row) => row.status === 'PENDING');
      if (!rows.some((row) => row.status === 'FAILED') || !other) return null;
      const job = await queue.getJob(other.id);
      // Put back for the cool-down (a minute or more), not only for a busy moment (under a second).
      return job && (await job.getState()) === 'delayed' && job.delay >= 60_000 ? other : null;
    },
    15_000,
    50,
    'one delivery to fail, opening the circuit, and the other to be put back for the cool-down',
  );
  expect(receiver.at(path)).toHaveLength(1);
  await prisma.$executeRaw`UPDATE outbox_events SET created_at = created_at - interval '1 hour' WHERE id = ${waiting.id}::uuid`;
  await prisma.$executeRaw`UPDATE webhook_deliveries SET created_at = created_at - interval '1 hour' WHERE id = ${waiting.id}::uuid`;
  return { endpoint, waiting };
}

describe('outbox lag and an endpoint that keeps deliveries waiting', () => {
  it('a delivery put back while its endpoint’s circuit is open is no outbox lag; the endpoint’s own gauges show the wait', async () => {
    await deliveryWaitingForItsEndpoint('/down');

    // The relay handed both over at once, the worker ran both: nothing waits on the relay, a worker, Redis or a queue.
    expect(await scraped('treue_outbox_oldest_pending_age_seconds')).toBe(0);
    // The wait is the endpoint's, and shows there.
    expect(await scraped('treue_webhook_endpoints', { state: 'failing' })).toBe(1);
    expect(await scraped('treue_webhook_oldest_pending_age_seconds', { state: 'failing' })).toBeGreaterThanOrEqual(3600);
    expect(await scraped('treue_webhook_oldest_pending_age_seconds', { state: 'healthy' })).toBe(0);
  });

  it('a stall behind such a wait shows as the stalled event’s age, not the endpoint’s hour', async () => {
    await deliveryWaitingForItsEndpoint('/down-too');
    // A compensation job nobody runs (no compensation worker here: workers down) for 10 minutes.
    await prisma.$executeRaw`
      INSERT INTO outbox_events (queue, job_name, payload, created_at)
      VALUES ('compensation', 'compensate', '{"failureId": "00000000-0000-4000-8000-000000000000"}'::jsonb,
              now() - interval '10 minutes')`;

    const lag = await scraped('treue_outbox_oldest_pending_age_seconds');
    expect(lag).toBeGreaterThanOrEqual(600);
    expect(lag).toBeLessThan(3600);
  });
});
