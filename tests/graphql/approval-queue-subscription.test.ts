import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { compensateServiceFailure, reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { createApprovalQueueBus } from '../../src/live/approval-queue-bus.js';
import { staffCaller } from '../support/callers.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';
import { testQueuePrefix, testRedisUrl } from '../support/db.js';
import type { SseSubscription } from '../support/sse.js';

/**
 * approvalQueueChanged: supervisors' open queues hear what changes the queue, from
 * whichever API process or worker made the change (Redis pub/sub between two
 * handlers, as two API processes; the worker's publisher-only bus).
 */
const QUEUE = 'subscription { approvalQueueChanged { change { kind reference } changes { kind reference } } }';
const ISSUE = `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) {
  __typename ... on IssueGoodwillPayload { status gesture { id } } } }`;
const APPROVE = `mutation($i: ApproveGoodwillInput!) { approveGoodwill(input: $i) { __typename } }`;

type QueueEvent = { change: { kind: string; reference: string | null }; changes: { kind: string; reference: string | null }[] };
const eventOf = (result: { data?: Record<string, unknown> | null }) => result.data!.approvalQueueChanged as QueueEvent;

describe('approvalQueueChanged', () => {
  const { prisma: db } = useTestApp();
  const closing: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });
  const twoApiProcesses = async () => {
    const a = createTestApp(db, { redis: true });
    const b = createTestApp(db, { redis: true });
    closing.push(a.close, b.close);
    await Promise.all([a.yoga.approvalQueueReady, b.yoga.approvalQueueReady]);
    return { a, b };
  };
  const watch = async (app: ReturnType<typeof createTestApp>, token: string): Promise<SseSubscription> => {
    const stream = await app.subscribe(QUEUE, {}, token);
    closing.push(() => stream.close());
    return stream;
  };

  it('a supervisor watching on one API process hears a gesture sent for approval and its decision through another', async () => {
    const { a, b } = await twoApiProcesses();
    const memberId = await a.enroll();
    const stream = await watch(a, await a.staffToken('SUPERVISOR'));
    expect(eventOf(await stream.result(0)).change).toEqual({ kind: 'CURRENT', reference: null });

    const issued = await b.gql(
      ISSUE,
      { i: { memberId, kind: 'VOUCHER', amount: '40.00', reason: 'POOR_EXPERIENCE', note: 'above authority', idempotencyKey: 'g-1' } },
      await b.staffToken('AGENT'),
    );
    expect(issued.data!.issueGoodwill.status).toBe('PENDING_APPROVAL');
    const gestureId = (await db.goodwillGesture.findFirstOrThrow({ where: { memberId } })).id;
    expect(eventOf(await stream.result(1)).change).toEqual({ kind: 'GESTURE_PENDING', reference: gestureId });

    // Within authority: not for the queue, nothing sent. The approval is.
    await b.gql(
      ISSUE,
      { i: { memberId, kind: 'POINTS', points: 100, reason: 'LONG_WAIT', note: 'within authority', idempotencyKey: 'g-2' } },
      await b.staffToken('AGENT'),
    );
    const approved = await b.gql(
      APPROVE,
      { i: { gestureId, note: 'agreed', idempotencyKey: 'a-1' } },
      await b.staffToken('SUPERVISOR', 'sam'),
    );
    expect(approved.data!.approveGoodwill.__typename).toBe('ApproveGoodwillPayload');
    expect(eventOf(await stream.result(2)).changes).toEqual([{ kind: 'GESTURE_DECIDED', reference: gestureId }]);
  });

  it('a failure the worker holds for review reaches the open queue through the worker’s bus', async () => {
    const { a } = await twoApiProcesses();
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    closing.push(async () => redis.disconnect());
    const worker = createApprovalQueueBus({ logger: testLogger, redis: { client: redis, prefix: testQueuePrefix() } });
    const memberId = await a.enroll();
    await db.member.update({ where: { id: memberId }, data: { status: 'SUSPENDED' } });
    const stream = await watch(a, await a.staffToken('ADMIN'));
    await stream.result(0);

    const { failureId } = await reportServiceFailure(
      a.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'HIGH', idempotencyKey: 'f-1' },
      staffCaller('AGENT'),
    );
    const outcome = await compensateServiceFailure({ ...a.deps, approvalQueue: worker.events }, failureId);
    expect(outcome.outcome).toBe('HELD');
    expect(eventOf(await stream.result(1)).change).toEqual({ kind: 'FAILURE_WAITING', reference: failureId });
  });

  it('an admin key’s open queue ends as soon as the key is revoked on another API process, and hears nothing more', async () => {
    const { a, b } = await twoApiProcesses();
    const memberId = await a.enroll();
    const { apiKey, token } = await createApiKey(a.deps, { name: 'automation', scopes: ['admin'] }, staffCaller('ADMIN'));
    const stream = await watch(a, token);
    expect(eventOf(await stream.result(0)).change.kind).toBe('CURRENT');

    const revoked = await b.gql(
      `mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { __typename } }`,
      { i: { id: apiKey.id } },
      await b.staffToken('ADMIN'),
    );
    expect(revoked.data).toEqual({ revokeApiKey: { __typename: 'RevokeApiKeyPayload' } });
    // At once, not at the next periodic re-check (a minute by default).
    await stream.ended(3_000);
    // A gesture for approval now: the revoked key's stream heard nothing of it.
    const input = { memberId, kind: 'VOUCHER', amount: '40.00', reason: 'POOR_EXPERIENCE', note: 'above authority', idempotencyKey: 'g-1' };
    const issued = await b.gql(ISSUE, { i: input }, await b.staffToken('AGENT'));
    expect(issued.data).toMatchObject({ issueGoodwill: { status: 'PENDING_APPROVAL' } });
    expect(stream.results.map((result) => eventOf(result).change.kind)).toEqual(['CURRENT']);
  });

  it('one admin key at its limit of open streams does not lock another admin key out', async () => {
    // "Same limits per caller" (docs/live-status.md): each key is a caller of its own, as each staff member is.
    const app = createTestApp(db, { env: { LIVE_MAX_STREAMS_PER_CALLER: '2' } });
    closing.push(app.close);
    const automation = await createApiKey(app.deps, { name: 'automation', scopes: ['admin'] }, staffCaller('ADMIN'));
    const reporting = await createApiKey(app.deps, { name: 'reporting', scopes: ['admin'] }, staffCaller('ADMIN'));
    for (let i = 0; i < 2; i += 1) {
      const stream = await watch(app, automation.token);
      expect(eventOf(await stream.result(0))).toMatchObject({ change: { kind: 'CURRENT' } });
    }
    // The same key's third stream is over its limit, as it should be.
    expect((await (await watch(app, automation.token)).result(0)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');

    // Another key, with no stream of its own open, is not refused as if it were the first.
    const other = await (await watch(app, reporting.token)).result(0);
    expect(other.errors).toBeUndefined();
    expect(eventOf(other)).toMatchObject({ change: { kind: 'CURRENT' } });
  });

  it('agents, members and keys may not watch the queue', async () => {
    const { a } = await twoApiProcesses();
    const memberId = await a.enroll();
    for (const token of [
      await a.staffToken('AGENT'),
      await a.memberToken(memberId),
      await a.apiKeyToken(['members:read', 'failures:report']),
    ]) {
      const stream = await watch(a, token);
      const first = await stream.result(0);
      expect(first.data?.approvalQueueChanged ?? null).toBeNull();
      expect(first.errors?.[0]?.extensions?.code).toMatch(/FORBIDDEN|UNAUTHENTICATED/);
    }
  });
});
