import { Webhook } from 'standardwebhooks';
import { beforeEach, describe, expect, it } from 'vitest';
import { extendContract, grantRenewalBonus, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { enrollMember, updateMember } from '../../src/domain/members/members.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { compensateServiceFailure, reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { redeemVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { createWebhookEndpoint, updateWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhooks/webhook-events.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { until } from '../support/until.js';
import { type Received } from '../support/webhook-receiver.js';
import { useWebhookWorkers } from '../support/webhook-workers.js';

/**
 * Webhooks end to end: domain change → event in its transaction → outbox →
 * relay → the `webhooks` worker (workers/index.ts, real BullMQ on the test
 * Redis) → a node:http receiver on 127.0.0.1, which verifies every request
 * with the `standardwebhooks` package's own Webhook.verify. Back-off is
 * shortened through configuration (WEBHOOK_RETRY_BASE_MS), never slept on.
 */
const { prisma } = useTestApp();
const hooks = useWebhookWorkers(
  prisma,
  {
    WEBHOOK_RETRY_BASE_MS: '20',
    WEBHOOK_MAX_ATTEMPTS: '5',
    WEBHOOK_TIMEOUT_MS: '1000',
    WEBHOOK_CONCURRENCY: '8',
    WEBHOOK_ENDPOINT_CONCURRENCY: '4',
  },
  { webhookGate: { cooldownMs: 200 } },
);
const { receiver } = hooks;
const app = createTestApp(prisma, { env: hooks.env });
const deps = { prisma, logger: testLogger, webhookUrls: hooks.config.webhooks };
const admin = staffCaller('ADMIN');
beforeEach(() => {
  receiver.received.length = 0;
});

async function endpoint(path: string, eventTypes: readonly string[] = WEBHOOK_EVENT_TYPES) {
  return createWebhookEndpoint(deps, { url: receiver.url(path), eventTypes: [...eventTypes] }, admin);
}

/** The event a request carries, after Webhook.verify (the standard library, not ours) accepted its signature. */
function verified(secret: string, request: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as never;
}

const deliveriesOf = (endpointId: string) =>
  prisma.webhookDelivery.findMany({ where: { endpointId }, include: { attemptList: { orderBy: { number: 'asc' } } } });

const allFinished =
  (endpointId: string, status = 'SUCCEEDED') =>
  async () => {
    const rows = await deliveriesOf(endpointId);
    return rows.length > 0 && rows.every((row) => row.status === status) ? rows : null;
  };

describe('delivery', () => {
  it('a receiver gets each event exactly once per endpoint, signed so that Webhook.verify accepts it', async () => {
    const all = await endpoint('/all');
    const earnedOnly = await endpoint('/earned', ['points.earned']);
    const agent = staffCaller('AGENT', 'agent-7');

    const member = await enrollMember(deps, { externalId: 'c-1', email: 'a@example.com', name: 'Ada' }, admin);
    await earnPoints(deps, { memberId: member.id, orderRef: 'o-1', orderTotal: '0', points: 2_000, idempotencyKey: 'e-1' }, admin);
    const voucher = await issueGoodwill(
      deps,
      { memberId: member.id, kind: 'VOUCHER', amount: '10.00', reason: 'OTHER', note: 'sorry', idempotencyKey: 'g-1' },
      agent,
    );
    await issueGoodwill(
      deps,
      { memberId: member.id, kind: 'POINTS', points: 5_000, reason: 'OTHER', note: 'big', idempotencyKey: 'g-2' },
      agent,
    );
    const { code } = await prisma.voucher.findUniqueOrThrow({
      where: { id: (await prisma.goodwillGesture.findUniqueOrThrow({ where: { id: voucher.gestureId } })).voucherId! },
    });
    await redeemVoucher(deps, { code, orderRef: 'o-2', orderTotal: '50.00', idempotencyKey: 'r-1' }, admin);
    const { failureId } = await reportServiceFailure(
      deps,
      { memberId: member.id, type: 'LATE_DELIVERY', severity: 'LOW', idempotencyKey: 'f-1' },
      admin,
    );
    await compensateServiceFailure(deps, failureId);
    const startsAt = new Date(Date.now() - 330 * 86_400_000);
    const { contractId } = await registerContract(
      deps,
      { memberId: member.id, externalRef: 'K-1', plan: 'p', startsAt, termMonths: 12 },
      admin,
    );
    const { renewalId } = await extendContract(deps, { contractId, termMonths: 12, idempotencyKey: 'x-1' }, admin);
    await grantRenewalBonus(deps, renewalId);
    await updateMember(deps, { id: member.id, status: 'SUSPENDED' }, admin);

    const delivered = await until(allFinished(all.endpoint.id), 20_000, 50, 'every delivery to /all');
    await until(allFinished(earnedOnly.endpoint.id), 20_000, 50, 'the delivery to /earned');

    const events = receiver.at('/all').map((request) => verified(all.secret, request));
    expect(events.map((event) => event.type).sort()).toEqual(
      [
        'contract.renewal_bonus_granted',
        'goodwill.pending_approval',
        'member.enrolled',
        'member.status_changed',
        'member.tier_changed',
        'points.earned',
        'service_failure.compensated',
        'voucher.issued',
        'voucher.issued',
        'voucher.redeemed',
      ].sort(),
    );
    // Exactly once: one request per delivery, each delivery id once, each succeeded at its first attempt.
    const ids = receiver.at('/all').map((request) => request.headers['webhook-id']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(delivered.map((row) => row.id).sort());
    expect(delivered.every((row) => row.attempts === 1 && row.attemptList[0]?.statusCode === 200)).toBe(true);

    const [earned] = receiver.at('/earned').map((request) => verified(earnedOnly.secret, request));
    expect(receiver.at('/earned')).toHaveLength(1);
    expect(earned).toMatchObject({
      type: 'points.earned',
      data: { memberId: member.id, orderRef: 'o-1', points: 2_000, status: 'PENDING' },
    });
    // Another endpoint's secret does not verify: each endpoint signs with its own.
    expect(() => verified(all.secret, receiver.at('/earned')[0]!)).toThrow();
    const tier = events.find((event) => event.type === 'member.tier_changed');
    expect(tier?.data).toMatchObject({ memberId: member.id, fromTier: 'BRONZE', toTier: 'SILVER', reason: 'UPGRADE' });
    const status = events.find((event) => event.type === 'member.status_changed');
    expect(status?.data).toMatchObject({ fromStatus: 'ACTIVE', toStatus: 'SUSPENDED', cause: 'STAFF' });
  });

  it('answering 500 three times still delivers the event once, after the receiver recovers', async () => {
    const { endpoint: flaky, secret } = await endpoint('/flaky', ['member.enrolled']);
    receiver.answers('/flaky', 500, 500, 500);
    await enrollMember(deps, { externalId: 'c-2', email: 'b@example.com', name: 'Bo' }, admin);

    const [delivery] = await until(allFinished(flaky.id), 20_000, 50, 'the delivery after three 500s');
    expect(delivery!.attemptList.map((attempt) => attempt.statusCode)).toEqual([500, 500, 500, 200]);
    const requests = receiver.at('/flaky');
    expect(requests).toHaveLength(4);
    // The same delivery id on every attempt: the receiver can tell it is one event.
    expect(new Set(requests.map((request) => request.headers['webhook-id']))).toEqual(new Set([delivery!.id]));
    expect(requests.every((request) => verified(secret, request).type === 'member.enrolled')).toBe(true);
  });

  it('a dead endpoint’s deliveries end DEAD; after it recovers, replay delivers them', async () => {
    const { endpoint: dead, secret } = await endpoint('/dead', ['member.enrolled']);
    receiver.always('/dead', 503);
    await enrollMember(deps, { externalId: 'c-3', email: 'c@example.com', name: 'Cy' }, admin);
    await enrollMember(deps, { externalId: 'c-4', email: 'd@example.com', name: 'Di' }, admin);
    const buried = await until(allFinished(dead.id, 'DEAD'), 20_000, 50, 'dead-lettered deliveries');
    expect(buried).toHaveLength(2);
    expect(buried.every((row) => row.attempts === 5 && row.lastStatusCode === 503)).toBe(true);

    receiver.always('/dead', 200);
    const token = await app.apiKeyToken(['admin']);
    const one = await app.gql(
      `mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) { __typename ... on ReplayWebhookDeliveryPayload { delivery { status } } } }`,
      { i: { deliveryId: buried[0]!.id } },
      token,
    );
    expect(one.data?.replayWebhookDelivery).toEqual({ __typename: 'ReplayWebhookDeliveryPayload', delivery: { status: 'PENDING' } });
    await until(async () => (await prisma.webhookDelivery.findUnique({ where: { id: buried[0]!.id } }))?.status === 'SUCCEEDED', 20_000);

    const rest = await app.gql(
      `mutation($i: ReplayWebhookDeliveriesInput!) { replayWebhookDeliveries(input: $i) { __typename ... on ReplayWebhookDeliveriesPayload { replayed } } }`,
      { i: { endpointId: dead.id, since: new Date(0).toISOString() } },
      token,
    );
    expect(rest.data?.replayWebhookDeliveries).toEqual({ __typename: 'ReplayWebhookDeliveriesPayload', replayed: 1 });
    const done = await until(allFinished(dead.id), 20_000, 50, 'replayed deliveries');
    // Same webhook-id as before the replay; a fresh retry budget, the attempt count goes on.
    expect(done.map((row) => [row.attempts, row.attemptsAtReplay])).toEqual([
      [6, 5],
      [6, 5],
    ]);
    const accepted = receiver.at('/dead').filter((request) => request.headers['webhook-id'] === buried[1]!.id);
    expect(accepted.length).toBe(6);
    expect(verified(secret, accepted.at(-1)!).type).toBe('member.enrolled');
  });

  it('during a secret rotation every delivery verifies with the old and with the new secret', async () => {
    const { endpoint: rotating, secret: old } = await endpoint('/rotating', ['member.enrolled']);
    const { secret: fresh } = await updateWebhookEndpoint(deps, { id: rotating.id, rotateSecret: true, rotationOverlapHours: 1 }, admin);
    await enrollMember(deps, { externalId: 'c-5', email: 'e@example.com', name: 'Ed' }, admin);
    await until(allFinished(rotating.id), 20_000);
    const [request] = receiver.at('/rotating');
    expect(String(request!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verified(old, request!).type).toBe('member.enrolled');
    expect(verified(fresh!, request!).type).toBe('member.enrolled');

    // Without an overlap the old secret stops at once.
    const { secret: newest } = await updateWebhookEndpoint(deps, { id: rotating.id, rotateSecret: true, rotationOverlapHours: 0 }, admin);
    await enrollMember(deps, { externalId: 'c-6', email: 'f@example.com', name: 'Fa' }, admin);
    await until(async () => receiver.at('/rotating').length === 2);
    const second = receiver.at('/rotating')[1]!;
    expect(verified(newest!, second).type).toBe('member.enrolled');
    expect(() => verified(fresh!, second)).toThrow();
  });

  it('a receiver that never answers does not hold up another endpoint', async () => {
    const { endpoint: slow } = await endpoint('/slow', ['points.earned']);
    const { endpoint: fast } = await endpoint('/fast', ['points.earned']);
    receiver.always('/slow', 'hang');
    const member = await enrollMember(deps, { externalId: 'c-7', email: 'g@example.com', name: 'Gi' }, admin);
    for (let i = 0; i < 40; i++) {
      await earnPoints(deps, { memberId: member.id, orderRef: `s-${i}`, orderTotal: '1.00', idempotencyKey: `s-${i}` }, admin);
    }
    const fastDone = await until(allFinished(fast.id), 20_000, 50, 'the fast endpoint’s deliveries');
    expect(fastDone).toHaveLength(40);
    // Meanwhile the slow one was tried by at most its in-flight limit plus the probes of its open circuit.
    const slowAttempts = await prisma.webhookDeliveryAttempt.count({ where: { delivery: { endpointId: slow.id } } });
    expect(slowAttempts).toBeLessThan(40);
  });
});
