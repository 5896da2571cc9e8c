import { randomUUID } from 'node:crypto';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { addMonths } from '../../src/domain/time.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller } from '../support/callers.js';

/**
 * Whose the idempotency key of a supervisor's one-time decision is (2026-12-06, stop 53): `approveGoodwill`,
 * `rejectGoodwill`, `reviewServiceFailure` and `decideRenewalBonus` decide an object once, and their keys were scoped
 * per object, shared by every supervisor. A second supervisor sending a key the first had used on the same object got
 * the first one's answer replayed — a success, as if their own decision had been taken, with none of it recorded — or
 * IdempotencyConflictError for a key they never used. The key is now the caller's own, as every other operation's (and
 * `decideServiceIncident`'s since stop 52): the second supervisor is told the object is decided already, as with a key
 * of their own; the first one's retry still replays. A record stored before under the shared scope replays for the
 * supervisor who took that decision and is ignored for anyone else. A decided object never waits for a decision again
 * (a reactivation or a settings change does not bring it back), so a retry of a decision never meets a new state.
 */
const { app, prisma } = useTestApp();

const billing = apiKeyCaller('billing', ['contracts:write']);

const APPROVE = `mutation($i: ApproveGoodwillInput!) { approveGoodwill(input: $i) { __typename
  ... on ApproveGoodwillPayload { status gesture { decidedBy } }
  ... on GoodwillNotPendingError { status }
  ... on ValidationError { field }
  ... on Error { code message } } }`;
const REJECT = `mutation($i: RejectGoodwillInput!) { rejectGoodwill(input: $i) { __typename
  ... on RejectGoodwillPayload { status gesture { decidedBy } }
  ... on GoodwillNotPendingError { status }
  ... on ValidationError { field }
  ... on Error { code message } } }`;
const REVIEW = `mutation($i: ReviewServiceFailureInput!) { reviewServiceFailure(input: $i) { __typename
  ... on ReviewServiceFailurePayload { failure { status decidedBy } }
  ... on ValidationError { field }
  ... on Error { code message } } }`;
const DECIDE_BONUS = `mutation($i: DecideRenewalBonusInput!) { decideRenewalBonus(input: $i) { __typename
  ... on DecideRenewalBonusPayload { renewal { bonusStatus } }
  ... on ValidationError { field }
  ... on Error { code message } } }`;
const ISSUE = `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) { __typename
  ... on IssueGoodwillPayload { status gesture { id } } ... on Error { code message } } }`;
const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) { __typename
  ... on ReportServiceFailurePayload { failure { id } } ... on Error { code message } } }`;
const UPDATE_MEMBER = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename ... on Error { code message } } }`;

type Answer = { __typename: string; [field: string]: unknown };

async function send(document: string, input: object, token: string): Promise<Answer> {
  const answer = await app.gql(document, { i: input }, token);
  expect(answer.errors, JSON.stringify(answer)).toBeUndefined();
  return Object.values(answer.data as Record<string, Answer>)[0]!;
}

const tokens = async () => ({
  first: await app.staffToken('SUPERVISOR', 'supervisor-a'),
  second: await app.staffToken('SUPERVISOR', 'supervisor-b'),
});

async function setStatus(memberId: string, status: 'SUSPENDED' | 'ACTIVE'): Promise<void> {
  const answer = await send(UPDATE_MEMBER, { id: encodeGlobalID('Member', memberId), status }, await app.staffToken('SUPERVISOR', 'desk'));
  expect(answer.__typename).toBe('UpdateMemberPayload');
}

/** A VOUCHER gesture of 40.00, above an agent's default per-gesture limit of 25.00: PENDING_APPROVAL. Its raw id. */
async function pendingGesture(): Promise<string> {
  const input = {
    memberId: await app.enroll(),
    kind: 'VOUCHER',
    amount: '40.00',
    reason: 'POOR_EXPERIENCE',
    note: 'rude',
    idempotencyKey: `issue-${randomUUID()}`,
  };
  const issued = await send(ISSUE, input, await app.staffToken('AGENT', 'agent-g'));
  expect(issued).toMatchObject({ __typename: 'IssueGoodwillPayload', status: 'PENDING_APPROVAL' });
  return decodeGlobalID((issued.gesture as { id: string }).id).id;
}

/** A failure HELD because its member is suspended (reported over GraphQL, its compensation job run). Its raw id. */
async function heldFailure(memberId?: string): Promise<{ failureId: string; memberId: string }> {
  const member = memberId ?? (await app.enroll());
  await setStatus(member, 'SUSPENDED');
  const input = {
    memberId: encodeGlobalID('Member', member),
    type: 'LATE_DELIVERY',
    severity: 'HIGH',
    orderRef: `order-${randomUUID()}`,
    idempotencyKey: `report-${randomUUID()}`,
  };
  const reported = await send(REPORT, input, await app.apiKeyToken(['failures:report']));
  const failureId = decodeGlobalID((reported.failure as { id: string }).id).id;
  expect(await processCompensation({ failureId }, app.deps)).toMatchObject({ outcome: 'HELD' });
  return { failureId, memberId: member };
}

/** A renewal bonus HELD because its member is suspended (a contract up for renewal on the real clock, extended). */
async function heldBonus(): Promise<{ renewalId: string; memberId: string }> {
  const memberId = await app.enroll();
  await setStatus(memberId, 'SUSPENDED');
  const externalRef = `c-${randomUUID()}`;
  const contract = { memberId, externalRef, plan: 'p', startsAt: addMonths(new Date(), -11), termMonths: 12 };
  const { contractId } = await registerContract(app.deps, contract, billing);
  const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: `x-${externalRef}` }, billing);
  expect(await processRenewalBonus({ renewalId }, app.deps)).toMatchObject({ outcome: 'HELD' });
  return { renewalId, memberId };
}

/** One decision's operation, as the tests below drive it. */
interface Decision {
  name: string;
  /** An object waiting for a decision: its raw id. */
  waiting: () => Promise<string>;
  /** Decides `id` under `key`: the decision the tests take, or (`other`) the other one. */
  decide: (id: string, key: string, token: string, other?: boolean) => Promise<Answer>;
  /** The answer of a decision taken. */
  taken: Answer;
  /** The answer to a supervisor deciding an object decided already, with a key of their own. */
  decidedAlready: Answer;
  /** The scope every supervisor shared before stop 53. */
  sharedScope: (id: string) => string;
  /** Who decided the object (null: nobody yet). */
  decider: (id: string) => Promise<string | null>;
  /** What the decisions granted or recorded, counted: exactly one per object decided. */
  effects: () => Promise<number>;
}

const DECISIONS: Decision[] = [
  {
    name: 'approveGoodwill',
    waiting: pendingGesture,
    decide: (id, key, token, other = false) =>
      send(APPROVE, { gestureId: encodeGlobalID('GoodwillGesture', id), idempotencyKey: key, ...(other && { note: 'fine' }) }, token),
    taken: { __typename: 'ApproveGoodwillPayload', status: 'GRANTED' },
    decidedAlready: { __typename: 'GoodwillNotPendingError', status: 'GRANTED' },
    sharedScope: (id) => `approveGoodwill:${id}`,
    decider: async (id) => (await prisma.goodwillGesture.findUniqueOrThrow({ where: { id } })).decidedBy,
    effects: () => prisma.voucher.count({ where: { causeType: 'GESTURE' } }),
  },
  {
    name: 'rejectGoodwill',
    waiting: pendingGesture,
    decide: (id, key, token, other = false) =>
      send(
        REJECT,
        { gestureId: encodeGlobalID('GoodwillGesture', id), note: other ? 'another reason' : 'outside policy', idempotencyKey: key },
        token,
      ),
    taken: { __typename: 'RejectGoodwillPayload', status: 'REJECTED' },
    decidedAlready: { __typename: 'GoodwillNotPendingError', status: 'REJECTED' },
    sharedScope: (id) => `rejectGoodwill:${id}`,
    decider: async (id) => (await prisma.goodwillGesture.findUniqueOrThrow({ where: { id } })).decidedBy,
    effects: () => prisma.goodwillAuditEntry.count({ where: { action: 'REJECTED' } }),
  },
  {
    name: 'reviewServiceFailure',
    waiting: async () => (await heldFailure()).failureId,
    decide: (id, key, token, other = false) =>
      send(
        REVIEW,
        {
          failureId: encodeGlobalID('ServiceFailure', id),
          decision: other ? 'DECLINE' : 'GRANT',
          note: 'held too long',
          idempotencyKey: key,
        },
        token,
      ),
    taken: { __typename: 'ReviewServiceFailurePayload' },
    decidedAlready: { __typename: 'ValidationError', field: 'failureId' },
    sharedScope: (id) => `reviewServiceFailure:${id}`,
    decider: async (id) => (await prisma.serviceFailure.findUniqueOrThrow({ where: { id } })).decidedBy,
    effects: () => prisma.voucher.count({ where: { causeType: 'FAILURE' } }),
  },
  {
    name: 'decideRenewalBonus',
    waiting: async () => (await heldBonus()).renewalId,
    decide: (id, key, token, other = false) =>
      send(
        DECIDE_BONUS,
        { renewalId: encodeGlobalID('ContractRenewal', id), approve: !other, note: 'loyal customer', idempotencyKey: key },
        token,
      ),
    taken: { __typename: 'DecideRenewalBonusPayload', renewal: { bonusStatus: 'GRANTED' } },
    decidedAlready: { __typename: 'ValidationError', field: 'renewalId' },
    sharedScope: (id) => `decideRenewalBonus:${id}`,
    decider: async (id) => (await prisma.contractRenewal.findUniqueOrThrow({ where: { id } })).bonusDecidedBy,
    effects: () => prisma.ledgerEntry.count({ where: { kind: 'RENEWAL_BONUS' } }),
  },
];

/** The rows a decision writes, counted. */
async function rows(decision: Decision) {
  return {
    effects: await decision.effects(),
    answers: await prisma.idempotencyRecord.count(),
    audit: await prisma.goodwillAuditEntry.count(),
    ledger: await prisma.ledgerEntry.count(),
    vouchers: await prisma.voucher.count(),
    webhookEvents: await prisma.webhookEvent.count(),
  };
}

describe.each(DECISIONS)('$name: the idempotency key is the supervisor’s own', (decision) => {
  it('a second supervisor sending the first one’s key and decision is told it is decided already, not the first answer', async () => {
    const { first, second } = await tokens();
    const id = await decision.waiting();
    const key = `decision-${randomUUID()}`;
    const ofFirst = await decision.decide(id, key, first);
    expect(ofFirst).toMatchObject(decision.taken);
    expect(await decision.decider(id)).toBe('supervisor-a');
    const afterFirst = await rows(decision);
    expect(afterFirst.effects).toBe(1);

    // Before: the first supervisor's answer replayed to the second, a success for a decision never taken.
    expect(await decision.decide(id, key, second)).toMatchObject(decision.decidedAlready);
    // Before: IdempotencyConflictError, for a key the second supervisor had never used.
    expect(await decision.decide(id, key, second, true)).toMatchObject(decision.decidedAlready);
    // As with a key of their own.
    expect(await decision.decide(id, `own-${randomUUID()}`, second)).toMatchObject(decision.decidedAlready);

    // The first supervisor's retry replays their decision; their key with the other decision is a conflict.
    expect(await decision.decide(id, key, first)).toEqual(ofFirst);
    expect(await decision.decide(id, key, first, true)).toMatchObject({ __typename: 'IdempotencyConflictError' });
    expect(await rows(decision)).toEqual(afterFirst);
    expect(await decision.decider(id)).toBe('supervisor-a');
  });

  it('two supervisors sending one key at once, three times each: one decision, one effect, the other told it is decided', async () => {
    const { first, second } = await tokens();
    const id = await decision.waiting();
    const before = await rows(decision);
    const key = `race-${randomUUID()}`;
    const sent = [first, second, first, second, first, second];

    const answers = await Promise.all(sent.map((token) => decision.decide(id, key, token)));

    const decider = await decision.decider(id);
    expect(['supervisor-a', 'supervisor-b']).toContain(decider);
    const winner = decider === 'supervisor-a' ? first : second;
    answers.forEach((answer, index) => {
      expect(answer).toMatchObject(sent[index] === winner ? decision.taken : decision.decidedAlready);
    });
    const after = await rows(decision);
    expect(after.effects).toBe(before.effects + 1);
    // One stored answer: the deciding supervisor's.
    expect(after.answers).toBe(before.answers + 1);
  });

  it('a record stored before under the shared scope replays for the supervisor who decided and is ignored for another', async () => {
    const { first, second } = await tokens();
    const id = await decision.waiting();
    const key = `before-${randomUUID()}`;
    const ofFirst = await decision.decide(id, key, first);
    expect(ofFirst).toMatchObject(decision.taken);
    // The record as the code before stop 53 wrote it: same key, request hash and answer, the shared scope.
    expect(await prisma.$executeRaw`UPDATE idempotency_records SET operation = ${decision.sharedScope(id)} WHERE key = ${key}`).toBe(1);
    const afterFirst = await rows(decision);

    // A retry across the upgrade replays the first answer; other input under that key is still a conflict.
    expect(await decision.decide(id, key, first)).toEqual(ofFirst);
    expect(await decision.decide(id, key, first, true)).toMatchObject({ __typename: 'IdempotencyConflictError' });
    // Another supervisor's request under that key is their own: decided already.
    expect(await decision.decide(id, key, second)).toMatchObject(decision.decidedAlready);
    expect(await decision.decide(id, key, second, true)).toMatchObject(decision.decidedAlready);
    expect(await rows(decision)).toEqual(afterFirst);
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(1);
  });
});

describe('a decided object does not wait for a decision again', () => {
  it('a held failure declined stays declined through the member’s reactivation: a new review is refused, the first one’s retry replays', async () => {
    const { first, second } = await tokens();
    const { failureId, memberId } = await heldFailure();
    const review = (key: string, token: string, decision = 'DECLINE') =>
      send(REVIEW, { failureId: encodeGlobalID('ServiceFailure', failureId), decision, note: 'held too long', idempotencyKey: key }, token);
    const declined = await review('review-1', first);
    expect(declined).toMatchObject({
      __typename: 'ReviewServiceFailurePayload',
      failure: { status: 'NOT_ELIGIBLE', decidedBy: 'supervisor-a' },
    });

    await setStatus(memberId, 'ACTIVE');
    // The reactivation releases what is HELD only: nothing to compensate, no job queued for it.
    expect(await prisma.outboxEvent.count({ where: { queue: 'compensation', completedAt: null } })).toBe(0);
    expect(await processCompensation({ failureId }, app.deps)).toMatchObject({ status: 'NOT_ELIGIBLE' });
    // A second suspension holds nothing again.
    await setStatus(memberId, 'SUSPENDED');
    expect(await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } })).toMatchObject({ status: 'NOT_ELIGIBLE' });

    expect(await review('review-2', first, 'GRANT')).toMatchObject({ __typename: 'ValidationError', field: 'failureId' });
    expect(await review('review-2', second, 'GRANT')).toMatchObject({ __typename: 'ValidationError', field: 'failureId' });
    expect(await review('review-1', first)).toEqual(declined);
    expect(await prisma.voucher.count()).toBe(0);
  });

  it('a held renewal bonus declined stays declined through the member’s reactivation; the first decision’s retry replays', async () => {
    const { first } = await tokens();
    const { renewalId, memberId } = await heldBonus();
    const decide = (key: string, approve: boolean) =>
      send(
        DECIDE_BONUS,
        { renewalId: encodeGlobalID('ContractRenewal', renewalId), approve, note: 'not this time', idempotencyKey: key },
        first,
      );
    const declined = await decide('bonus-1', false);
    expect(declined).toMatchObject({ __typename: 'DecideRenewalBonusPayload', renewal: { bonusStatus: 'NOT_ELIGIBLE' } });

    await setStatus(memberId, 'ACTIVE');
    expect(await prisma.outboxEvent.count({ where: { queue: 'renewal-bonus', completedAt: null } })).toBe(0);
    expect(await processRenewalBonus({ renewalId }, app.deps)).toMatchObject({ outcome: 'ALREADY_DONE' });

    expect(await decide('bonus-2', true)).toMatchObject({ __typename: 'ValidationError', field: 'renewalId' });
    expect(await decide('bonus-1', false)).toEqual(declined);
    expect(await prisma.ledgerEntry.count({ where: { kind: 'RENEWAL_BONUS' } })).toBe(0);
  });
});
