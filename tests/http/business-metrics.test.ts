import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type Api } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { DEFAULT_DELIVERY_SETTINGS, deliverWebhook } from '../../src/domain/webhooks/webhook-delivery.service.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { createWebhookSender } from '../../src/webhooks/webhook-sender.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { staffCaller } from '../support/callers.js';
import { TEST_JWT_SECRET, testLogger, useTestApp } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * The business metrics as an operator scrapes them: the API's /metrics and the
 * worker process's own, over real ports, before and after real requests and jobs.
 */
const { prisma, app } = useTestApp();
const env = {
  NODE_ENV: 'test',
  PORT: '0',
  HOST: '127.0.0.1',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'silent',
  QUEUE_PREFIX: testQueuePrefix(),
  RATE_LIMIT_ADDRESS_MUTATIONS: '2',
  WORKER_METRICS_PORT: '0',
};
let api: Api;
let workers: WorkersHandle;
let redis: Redis;
let receiver: WebhookReceiver;
const sender = createWebhookSender({ allowPrivateAddresses: true });

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  receiver = await new WebhookReceiver().start();
  const config = loadConfig(env);
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
  workers = await startWorkers(
    { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
    { maintenance: false, queues: ['compensation'], relay: { intervalMs: 100, freshGraceMs: 300 } },
  );
});
afterAll(async () => {
  await api.close();
  await workers.close();
  await resetRedis(redis);
  redis.disconnect();
  sender.close();
  await receiver.stop();
});

/** GET /metrics as Prometheus reads it: `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}
const apiMetrics = () => scrape(api.url.replace('/graphql', '/metrics'));
const workerMetrics = () => scrape(workers.metricsUrl!);

/** How much each series moved between two scrapes (only those that moved). */
function moved(before: Map<string, number>, after: Map<string, number>, prefix: string): Record<string, number> {
  const diff: Record<string, number> = {};
  for (const [name, value] of after) {
    if (!name.startsWith(prefix)) continue;
    const delta = value - (before.get(name) ?? 0);
    if (delta !== 0) diff[name] = delta;
  }
  return diff;
}

async function post(query: string, variables: Record<string, unknown>, headers: Record<string, string>) {
  const response = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: Record<string, any>; errors?: unknown[] } };
}

const ADJUST = `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`;
const REDEEM = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename } }`;
const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename ... on ReportServiceFailurePayload { failure { id } } } }`;
const REDEEM_VOUCHER = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename } }`;

const HOUR = 3_600_000;

/** A webhook event written at `writtenAt` whose first attempt, right then, got a 500 and a retry an hour later. */
async function deliveryPutBack(writtenAt: Date) {
  receiver.always('/down', 500);
  const { endpoint } = await createWebhookEndpoint(
    { prisma, logger: testLogger, webhookUrls: { allowHttp: true, allowPrivateAddresses: true } },
    { url: receiver.url('/down'), eventTypes: ['member.enrolled'] },
    staffCaller('ADMIN'),
  );
  await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-1' } }], writtenAt);
  const delivery = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id } });
  const outcome = await deliverWebhook(
    {
      prisma,
      logger: testLogger,
      now: () => writtenAt,
      send: sender,
      settings: { ...DEFAULT_DELIVERY_SETTINGS, retryBaseMs: HOUR },
      random: () => 0.5,
    },
    delivery.id,
  );
  return { delivery, outcome };
}

describe('business metrics on /metrics', () => {
  it('points granted and spent by entry kind move by what committed, once; a replay or a refusal moves nothing', async () => {
    const key = { authorization: `Bearer ${await app.apiKeyToken(['admin', 'points:earn', 'points:redeem'])}` };
    const memberId = await app.enroll();
    const before = await apiMetrics();
    const calls = [
      [ADJUST, { memberId, points: 500, reason: 'welcome', idempotencyKey: 'adj-1' }],
      [
        EARN,
        { memberId, points: 120, order: { reference: 'ord-1', total: { amount: '50.00', currency: 'EUR' } }, idempotencyKey: 'earn-1' },
      ],
      [REDEEM, { memberId, points: 200, idempotencyKey: 'redeem-1' }],
      [REDEEM, { memberId, points: 200, idempotencyKey: 'redeem-1' }],
      [REDEEM, { memberId, points: 10_000, idempotencyKey: 'redeem-too-much' }],
      [ADJUST, { memberId, points: -30, reason: 'correction', idempotencyKey: 'adj-2' }],
    ] as const;
    const typenames = [];
    for (const [query, input] of calls) typenames.push((await post(query, { i: input }, key)).body.data);
    expect(typenames.map((data) => Object.values(data ?? {})[0]?.__typename)).toEqual([
      'AdjustPointsPayload',
      'EarnPointsPayload',
      'RedeemPointsPayload',
      'RedeemPointsPayload',
      'InsufficientPointsError',
      'AdjustPointsPayload',
    ]);
    expect(moved(before, await apiMetrics(), 'treue_points_')).toEqual({
      'treue_points_granted_total{kind="ADJUST"}': 500,
      'treue_points_granted_total{kind="EARN"}': 120,
      'treue_points_spent_total{kind="REDEEM"}': 200,
      'treue_points_spent_total{kind="ADJUST"}': 30,
    });
    expect(moved(before, await apiMetrics(), 'treue_ledger_entries_total')).toEqual({
      'treue_ledger_entries_total{kind="ADJUST"}': 2,
      'treue_ledger_entries_total{kind="EARN"}': 1,
      'treue_ledger_entries_total{kind="REDEEM"}': 1,
    });
  });

  it('rate-limit refusals count by whose budget was spent', async () => {
    const before = await apiMetrics();
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(ADJUST, { i: {} }, {})).status);
    expect(statuses.filter((status) => status === 429)).toHaveLength(3);
    expect(moved(before, await apiMetrics(), 'treue_rate_limit_refusals_total')).toEqual({
      'treue_rate_limit_refusals_total{subject="address"}': 3,
    });
  });

  it('a compensation decided by the worker and its voucher redeemed at the API: each process counts its own', async () => {
    const key = { authorization: `Bearer ${await app.apiKeyToken(['failures:report', 'vouchers:redeem'])}` };
    const memberId = await app.enroll();
    const [apiBefore, workerBefore] = [await apiMetrics(), await workerMetrics()];
    const report = await post(
      REPORT,
      { i: { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'o-1', idempotencyKey: 'r-1' } },
      key,
    );
    const failureId = report.body.data?.reportServiceFailure.failure.id as string;
    const voucher = await until(async () =>
      prisma.voucher.findFirst({ where: { memberId, kind: 'COMPENSATION' }, select: { code: true } }),
    );
    await until(async () => ((await workerMetrics()).get('treue_compensation_decisions_total{outcome="COMPENSATED"}') ?? 0) > 0);
    expect(failureId).toBeTruthy();
    const workerAfter = await workerMetrics();
    const workerMoved = moved(workerBefore, workerAfter, 'treue_');
    // The process's database pool (its own series, below) moved too: the job's transaction went through it.
    const poolWaits = workerMoved['treue_db_pool_wait_seconds_count'];
    expect(Object.fromEntries(Object.entries(workerMoved).filter(([name]) => !name.startsWith('treue_db_pool_')))).toEqual({
      'treue_compensation_decisions_total{outcome="COMPENSATED"}': 1,
      'treue_vouchers_total{event="issued"}': 1,
    });
    expect(poolWaits).toBeGreaterThan(0);
    expect(workerAfter.get('treue_db_pool_checkout_failures_total')).toBe(0);

    const redeemed = await post(
      REDEEM_VOUCHER,
      { i: { code: voucher.code, memberId, orderRef: 'o-2', orderTotal: '40.00', idempotencyKey: 'v-1' } },
      key,
    );
    expect(redeemed.body.data?.redeemVoucher.__typename).toBe('RedeemVoucherPayload');
    const apiMoved = moved(apiBefore, await apiMetrics(), 'treue_vouchers_total');
    expect(apiMoved).toEqual({ 'treue_vouchers_total{event="redeemed"}': 1 });
  });

  it('outbox lag: the age of the oldest event not yet completed, read at scrape time', async () => {
    const id = randomUUID();
    await prisma.$executeRaw`
      INSERT INTO outbox_events (id, queue, job_name, payload, created_at)
      VALUES (${id}::uuid, 'nowhere', 'probe', '{}'::jsonb, now() - interval '120 seconds')`;
    const waiting = (await apiMetrics()).get('treue_outbox_oldest_pending_age_seconds')!;
    expect(waiting).toBeGreaterThanOrEqual(120);
    expect(waiting).toBeLessThan(180);
    await prisma.$executeRaw`UPDATE outbox_events SET completed_at = now() WHERE id = ${id}::uuid`;
    expect((await apiMetrics()).get('treue_outbox_oldest_pending_age_seconds')).toBe(0);
  });

  it('outbox lag: a webhook delivery whose next retry is not due yet is no lag', async () => {
    // One customer's endpoint answering 500 is none of what the alert is for (workers down, Redis away, a queue
    // backed up): nothing is late. The event was written 20 minutes ago; its retry is due in 40.
    const writtenAt = new Date(Date.now() - 20 * 60_000);
    const { delivery, outcome } = await deliveryPutBack(writtenAt);
    expect(outcome).toMatchObject({ outcome: 'RETRY', retryAt: new Date(writtenAt.getTime() + HOUR) });
    const row = await prisma.outboxEvent.findUniqueOrThrow({ where: { id: delivery.id } });
    // Not done, and not due before 40 minutes from now: nothing waits on a worker, Redis or a queue.
    expect(row.completedAt).toBeNull();
    expect(row.enqueuedAt!.getTime()).toBeGreaterThan(Date.now());

    expect((await apiMetrics()).get('treue_outbox_oldest_pending_age_seconds')).toBeLessThan(300);
  });

  it("outbox lag: a webhook retry that is due counts from the retry's time, not from the event's", async () => {
    // Written 3 hours ago, its retry due 2 hours ago and still not done (no webhook worker runs here).
    const writtenAt = new Date(Date.now() - 3 * HOUR);
    const { outcome } = await deliveryPutBack(writtenAt);
    expect(outcome).toMatchObject({ outcome: 'RETRY', retryAt: new Date(writtenAt.getTime() + HOUR) });
    const waiting = (await apiMetrics()).get('treue_outbox_oldest_pending_age_seconds')!;
    expect(waiting).toBeGreaterThanOrEqual(2 * 3600);
    expect(waiting).toBeLessThan(2 * 3600 + 60);
  });
});
