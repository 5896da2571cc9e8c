import { decodeGlobalID } from '@pothos/plugin-relay';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { ISSUE } from './goodwill-documents.js';

/**
 * rejectGoodwill's optional idempotency key: a supervisor's console that retries a reject whose answer was lost is
 * told the gesture was rejected (its first answer), not GoodwillNotPendingError; without a key it answers as before.
 */

const REJECT = `mutation($input: RejectGoodwillInput!) { rejectGoodwill(input: $input) {
  __typename
  ... on RejectGoodwillPayload { status gesture { id status decidedBy decidedAt decisionNote ledgerEntry { id } voucher { id } } }
  ... on GoodwillNotPendingError { status }
  ... on IdempotencyConflictError { idempotencyKey }
  ... on ValidationError { field }
  ... on Error { message code } } }`;

let agent: string;
let supervisor: string;

const { prisma, app } = useTestApp();
beforeAll(async () => {
  agent = await app.staffToken('AGENT', 'agent-r');
  supervisor = await app.staffToken('SUPERVISOR', 'supervisor-r');
});

let issued = 0;
/** A VOUCHER gesture of 40.00 (above the default per-gesture limit of 25.00): PENDING_APPROVAL. */
async function pendingGesture(): Promise<string> {
  const memberId = await app.enroll();
  const input = { memberId, kind: 'VOUCHER', amount: '40.00', reason: 'POOR_EXPERIENCE', note: 'rude', idempotencyKey: `rj-${++issued}` };
  const result = await app.gql(ISSUE, { input }, agent);
  expect(result.data?.issueGoodwill).toMatchObject({ __typename: 'IssueGoodwillPayload', status: 'PENDING_APPROVAL' });
  return result.data!.issueGoodwill.gesture.id as string;
}

/** The stored gesture row of a global id. */
const storedGesture = (gestureId: string) => prisma.goodwillGesture.findUniqueOrThrow({ where: { id: decodeGlobalID(gestureId).id } });

const reject = (input: Record<string, unknown>) => app.gql(REJECT, { input }, supervisor).then((r) => r.data?.rejectGoodwill ?? r.errors);

/** The rows a reject could write, counted: one decision (audit entry), events, stored answers, grants. */
async function rowCounts() {
  return {
    audit: await prisma.goodwillAuditEntry.count(),
    rejections: await prisma.goodwillAuditEntry.count({ where: { action: 'REJECTED' } }),
    outbox: await prisma.outboxEvent.count(),
    webhookEvents: await prisma.webhookEvent.count(),
    answers: await prisma.idempotencyRecord.count(),
    ledger: await prisma.ledgerEntry.count(),
    vouchers: await prisma.voucher.count(),
  };
}

describe('rejectGoodwill with an idempotency key', () => {
  it('the same key again answers the first rejection, with one decision written', async () => {
    const gestureId = await pendingGesture();
    const before = await rowCounts();
    const input = { gestureId, note: 'outside policy', idempotencyKey: 'reject-once' };

    const first = await reject(input);
    expect(first).toMatchObject({
      __typename: 'RejectGoodwillPayload',
      status: 'REJECTED',
      gesture: {
        id: gestureId,
        status: 'REJECTED',
        decidedBy: 'supervisor-r',
        decisionNote: 'outside policy',
        ledgerEntry: null,
        voucher: null,
      },
    });
    const afterFirst = await rowCounts();
    expect(afterFirst).toEqual({ ...before, audit: before.audit + 1, rejections: 1, answers: before.answers + 1 });

    const again = await reject(input);
    expect(again).toEqual(first);
    expect(await rowCounts()).toEqual(afterFirst);
  });

  it('concurrent rejects with one key all answer the same rejection; it is decided once', async () => {
    const gestureId = await pendingGesture();
    const before = await rowCounts();
    const input = { gestureId, note: 'not our fault', idempotencyKey: 'reject-race' };

    const answers = await Promise.all(Array.from({ length: 6 }, () => reject(input)));

    for (const answer of answers) {
      expect(answer).toMatchObject({
        __typename: 'RejectGoodwillPayload',
        status: 'REJECTED',
        gesture: { id: gestureId, status: 'REJECTED', decisionNote: 'not our fault' },
      });
    }
    expect(new Set(answers.map((answer) => JSON.stringify(answer))).size).toBe(1);
    expect(await rowCounts()).toEqual({ ...before, audit: before.audit + 1, rejections: 1, answers: before.answers + 1 });
  });

  it('the same key with another note is an IdempotencyConflictError and writes nothing', async () => {
    const gestureId = await pendingGesture();
    const first = await reject({ gestureId, note: 'outside policy', idempotencyKey: 'reject-conflict' });
    expect(first).toMatchObject({ __typename: 'RejectGoodwillPayload', status: 'REJECTED' });
    const afterFirst = await rowCounts();
    const stored = await storedGesture(gestureId);

    const other = await reject({ gestureId, note: 'changed my mind about the wording', idempotencyKey: 'reject-conflict' });
    expect(other).toMatchObject({ __typename: 'IdempotencyConflictError', idempotencyKey: 'reject-conflict' });
    const recased = await reject({ gestureId, note: 'Outside policy', idempotencyKey: 'reject-conflict' });
    expect(recased).toMatchObject({ __typename: 'IdempotencyConflictError' });

    expect(await rowCounts()).toEqual(afterFirst);
    expect(await storedGesture(gestureId)).toEqual(stored);
  });

  it('a malformed key is a ValidationError and the gesture stays pending', async () => {
    const gestureId = await pendingGesture();
    const before = await rowCounts();
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(121)]) {
      expect(await reject({ gestureId, note: 'outside policy', idempotencyKey })).toMatchObject({
        __typename: 'ValidationError',
        field: 'idempotencyKey',
      });
    }
    expect(await rowCounts()).toEqual(before);
    expect((await storedGesture(gestureId)).status).toBe('PENDING_APPROVAL');
  });

  it('another key after the rejection is GoodwillNotPendingError: a key replays only its own request', async () => {
    const gestureId = await pendingGesture();
    await reject({ gestureId, note: 'outside policy', idempotencyKey: 'reject-first' });
    const afterFirst = await rowCounts();
    expect(await reject({ gestureId, note: 'outside policy', idempotencyKey: 'reject-second' })).toMatchObject({
      __typename: 'GoodwillNotPendingError',
      status: 'REJECTED',
    });
    expect(await rowCounts()).toEqual(afterFirst);
  });
});

describe('rejectGoodwill without an idempotency key', () => {
  it('answers as before: the second reject is GoodwillNotPendingError, and no answer is stored', async () => {
    const gestureId = await pendingGesture();
    const before = await rowCounts();
    const input = { gestureId, note: 'outside policy' };

    expect(await reject(input)).toMatchObject({ __typename: 'RejectGoodwillPayload', status: 'REJECTED' });
    const afterFirst = await rowCounts();
    expect(afterFirst).toEqual({ ...before, audit: before.audit + 1, rejections: 1 });

    expect(await reject(input)).toMatchObject({ __typename: 'GoodwillNotPendingError', status: 'REJECTED' });
    expect(await reject({ ...input, idempotencyKey: null })).toMatchObject({ __typename: 'GoodwillNotPendingError', status: 'REJECTED' });
    expect(await rowCounts()).toEqual(afterFirst);
  });
});
