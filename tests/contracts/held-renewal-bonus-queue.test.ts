import { encodeGlobalID } from '@pothos/plugin-relay';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { addMonths } from '../../src/domain/time.js';
import { createApprovalQueueBus } from '../../src/live/approval-queue-bus.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { testQueuePrefix, testRedisUrl } from '../support/db.js';
import { memberNearTheLimit } from '../support/ledger-writes.js';
import type { SseSubscription } from '../support/sse.js';

/**
 * Held renewal bonuses in the supervisors' approval queue: `heldRenewalBonuses` lists every bonus HELD for a decision
 * — the member suspended, or past the balance limit — with its member, points and reason, to supervisors and admins
 * only; a decision (or the contract's cancellation) takes it out; the live queue (approvalQueueChanged) hears it held
 * (RENEWAL_BONUS_HELD, from the worker) and decided (RENEWAL_BONUS_DECIDED). A BRONZE member's first 12-month
 * renewal: 500 points.
 */
const { prisma, app } = useTestApp();

const billing = apiKeyCaller('billing', ['contracts:write']);
const supervisor = staffCaller('SUPERVISOR', 'sup-queue');

const HELD = `query($reason: RenewalBonusHoldReason) {
  heldRenewalBonuses(first: 50, filter: { reason: $reason }) {
    totalCount
    edges { node { id bonusStatus bonusPoints bonusHeldReason bonusHeldAt contract { externalRef member { id name } } } }
  }
}`;
const DECIDE = `mutation($i: DecideRenewalBonusInput!) {
  decideRenewalBonus(input: $i) { __typename ... on DecideRenewalBonusPayload { renewal { bonusStatus } } ... on Error { message } }
}`;

type HeldNode = {
  id: string;
  bonusStatus: string;
  bonusPoints: number;
  bonusHeldReason: string;
  contract: { externalRef: string; member: { id: string; name: string } };
};
type Held = { totalCount: number; edges: { node: HeldNode }[] };

/** A contract up for renewal on the real clock, extended once: its renewal, bonus still PENDING. */
async function renewed(memberId: string, externalRef: string) {
  const startsAt = addMonths(new Date(), -11);
  const { contractId } = await registerContract(app.deps, { memberId, externalRef, plan: 'p', startsAt, termMonths: 12 }, billing);
  const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: `x-${externalRef}` }, billing);
  return { memberId, contractId, renewalId };
}

/** A bonus held because its member is suspended. */
async function heldSuspended(deps = app.deps) {
  const memberId = await app.enroll({ name: 'Susi Suspended' });
  await updateMember(app.deps, { id: memberId, status: 'SUSPENDED' }, supervisor);
  const renewal = await renewed(memberId, 'Q-suspended');
  expect(await processRenewalBonus({ renewalId: renewal.renewalId }, deps)).toMatchObject({ outcome: 'HELD' });
  return renewal;
}

/** A bonus held because it would take its member past the balance limit. */
async function heldAtTheLimit(deps = app.deps) {
  const memberId = await memberNearTheLimit(app, 100);
  const renewal = await renewed(memberId, 'Q-limit');
  expect(await processRenewalBonus({ renewalId: renewal.renewalId }, deps)).toMatchObject({ outcome: 'HELD' });
  return renewal;
}

const heldAs = async (token: string, reason: string | null = null) => {
  const answer = await app.gql<{ heldRenewalBonuses: Held | null }>(HELD, { reason }, token);
  return answer;
};
const listed = async (token: string, reason: string | null = null) => {
  const answer = await heldAs(token, reason);
  expect(answer.errors).toBeUndefined();
  return answer.data!.heldRenewalBonuses!;
};
const renewalGid = (renewalId: string) => encodeGlobalID('ContractRenewal', renewalId);

describe('held renewal bonuses in the approval queue', () => {
  it('a supervisor and an admin see both kinds of hold, with member, points and reason; a granted or pending bonus is not there', async () => {
    const suspended = await heldSuspended();
    const limit = await heldAtTheLimit();
    // Neither held nor decided yet (its job has not run), and one granted: not in the queue.
    await renewed(await app.enroll(), 'Q-pending');
    const granted = await renewed(await app.enroll(), 'Q-granted');
    expect(await processRenewalBonus({ renewalId: granted.renewalId }, app.deps)).toMatchObject({ outcome: 'GRANTED' });

    for (const token of [await app.staffToken('SUPERVISOR'), await app.staffToken('ADMIN'), await app.apiKeyToken(['admin'])]) {
      const held = await listed(token);
      expect(held.totalCount).toBe(2);
      // Longest waiting first.
      expect(held.edges.map((edge) => edge.node)).toEqual([
        expect.objectContaining({
          id: renewalGid(suspended.renewalId),
          bonusStatus: 'HELD',
          bonusPoints: 500,
          bonusHeldReason: 'MEMBER_SUSPENDED',
          contract: { externalRef: 'Q-suspended', member: { id: encodeGlobalID('Member', suspended.memberId), name: 'Susi Suspended' } },
        }),
        expect.objectContaining({
          id: renewalGid(limit.renewalId),
          bonusStatus: 'HELD',
          bonusPoints: 500,
          bonusHeldReason: 'BALANCE_LIMIT',
          contract: expect.objectContaining({ externalRef: 'Q-limit' }),
        }),
      ]);
    }
    const supervisorToken = await app.staffToken('SUPERVISOR');
    expect((await listed(supervisorToken, 'BALANCE_LIMIT')).edges.map((edge) => edge.node.id)).toEqual([renewalGid(limit.renewalId)]);
    expect((await listed(supervisorToken, 'MEMBER_SUSPENDED')).edges.map((edge) => edge.node.id)).toEqual([
      renewalGid(suspended.renewalId),
    ]);
  });

  it('an agent, a member and storefront keys (also the billing system’s, which reads contracts) are refused', async () => {
    const { memberId } = await heldSuspended();
    await heldAtTheLimit();
    for (const token of [
      await app.staffToken('AGENT'),
      await app.memberToken(memberId),
      await app.apiKeyToken(['contracts:write']),
      await app.apiKeyToken(['members:read', 'members:write', 'points:earn', 'points:redeem', 'failures:report']),
    ]) {
      const answer = await heldAs(token);
      expect(answer.data?.heldRenewalBonuses ?? null).toBeNull();
      expect(answer.errors?.[0]?.extensions?.code).toMatch(/FORBIDDEN|UNAUTHENTICATED/);
    }
  });

  it('deciding takes a bonus out of the queue: an approval, a decline, and a cancellation that forfeits it', async () => {
    const suspended = await heldSuspended();
    const limit = await heldAtTheLimit();
    const token = await app.staffToken('SUPERVISOR', 'sam');

    const approved = await app.gql(
      DECIDE,
      { i: { renewalId: renewalGid(suspended.renewalId), approve: true, note: 'loyal customer', idempotencyKey: 'd-1' } },
      token,
    );
    expect(approved.data!.decideRenewalBonus).toEqual({ __typename: 'DecideRenewalBonusPayload', renewal: { bonusStatus: 'GRANTED' } });
    expect((await listed(token)).edges.map((edge) => edge.node.id)).toEqual([renewalGid(limit.renewalId)]);

    const declined = await app.gql(
      DECIDE,
      { i: { renewalId: renewalGid(limit.renewalId), approve: false, note: 'no room', idempotencyKey: 'd-2' } },
      token,
    );
    expect(declined.data!.decideRenewalBonus).toMatchObject({ renewal: { bonusStatus: 'NOT_ELIGIBLE' } });
    expect(await listed(token)).toEqual({ totalCount: 0, edges: [] });

    // Held again, then the contract is cancelled within the clawback window: forfeited, out of the queue.
    const again = await renewed(await app.enroll(), 'Q-cancelled');
    await updateMember(app.deps, { id: again.memberId, status: 'SUSPENDED' }, supervisor);
    await processRenewalBonus({ renewalId: again.renewalId }, app.deps);
    expect((await listed(token)).totalCount).toBe(1);
    const cancelled = await app.gql(
      `mutation($i: CancelContractInput!) { cancelContract(input: $i) { __typename ... on CancelContractPayload { bonusesForfeited } } }`,
      { i: { externalRef: 'Q-cancelled', idempotencyKey: 'c-1' } },
      token,
    );
    expect(cancelled.data!.cancelContract).toEqual({ __typename: 'CancelContractPayload', bonusesForfeited: 1 });
    expect(await listed(token)).toEqual({ totalCount: 0, edges: [] });
  });
});

describe('held renewal bonuses in the live approval queue', () => {
  const closing: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });
  const QUEUE = 'subscription { approvalQueueChanged { change { kind reference } changes { kind reference } } }';
  type QueueEvent = { change: { kind: string; reference: string | null }; changes: { kind: string; reference: string | null }[] };
  const eventOf = (result: { data?: Record<string, unknown> | null }) => result.data!.approvalQueueChanged as QueueEvent;

  it('a supervisor’s open queue hears a bonus the worker holds (either reason), its decision, and its forfeit', async () => {
    const api = createTestApp(prisma, { redis: true });
    closing.push(api.close);
    await api.yoga.approvalQueueReady;
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    closing.push(async () => redis.disconnect());
    const worker = {
      ...app.deps,
      approvalQueue: createApprovalQueueBus({ logger: testLogger, redis: { client: redis, prefix: testQueuePrefix() } }).events,
    };
    const stream: SseSubscription = await api.subscribe(QUEUE, {}, await api.staffToken('SUPERVISOR'));
    closing.push(() => stream.close());
    expect(eventOf(await stream.result(0)).change.kind).toBe('CURRENT');

    const suspended = await heldSuspended(worker);
    expect(eventOf(await stream.result(1)).changes).toContainEqual({ kind: 'RENEWAL_BONUS_HELD', reference: suspended.renewalId });
    const limit = await heldAtTheLimit(worker);
    const heardHeld = async (index: number) => eventOf(await stream.result(index)).changes;
    expect(await heardHeld(2)).toContainEqual({ kind: 'RENEWAL_BONUS_HELD', reference: limit.renewalId });

    const token = await api.staffToken('SUPERVISOR', 'sam');
    const input = { renewalId: renewalGid(limit.renewalId), approve: false, note: 'no room', idempotencyKey: 'd-live' };
    expect((await api.gql(DECIDE, { i: input }, token)).data!.decideRenewalBonus).toMatchObject({
      renewal: { bonusStatus: 'NOT_ELIGIBLE' },
    });
    expect(eventOf(await stream.result(3)).changes).toEqual([{ kind: 'RENEWAL_BONUS_DECIDED', reference: limit.renewalId }]);
    // A replayed decision changes nothing: nothing is heard.
    expect((await api.gql(DECIDE, { i: input }, token)).data!.decideRenewalBonus).toMatchObject({
      renewal: { bonusStatus: 'NOT_ELIGIBLE' },
    });

    const cancelled = await api.gql(
      `mutation($i: CancelContractInput!) { cancelContract(input: $i) { __typename ... on CancelContractPayload { bonusesForfeited } } }`,
      { i: { externalRef: 'Q-suspended', idempotencyKey: 'c-live' } },
      token,
    );
    expect(cancelled.data!.cancelContract).toMatchObject({ bonusesForfeited: 1 });
    expect(eventOf(await stream.result(4)).changes).toEqual([{ kind: 'RENEWAL_BONUS_DECIDED', reference: suspended.renewalId }]);
  });
});
