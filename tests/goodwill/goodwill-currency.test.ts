import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { switchCurrencyMutation } from '../support/currency-switch.js';
import { APPROVE, ISSUE } from './goodwill-documents.js';

/**
 * Money keeps the currency it was decided in (docs/domain-rules.md): a VOUCHER
 * gesture held for approval keeps the currency it was issued in. Approved after
 * the program's currency changed, the member would get the same figure in
 * another currency, so the approval is refused and writes nothing; the
 * supervisor rejects it and an agent issues a new one. Points are not money
 * and are granted as before.
 */
const { prisma, app } = useTestApp();

const REJECT = `mutation($input: RejectGoodwillInput!) { rejectGoodwill(input: $input) {
  __typename ... on RejectGoodwillPayload { status } ... on Error { message code } } }`;
const TO_JPY = switchCurrencyMutation('JPY');

/** Gestures above the agent's authority, held for approval; then the program moves to JPY. */
async function heldThenJpy(...inputs: Record<string, unknown>[]): Promise<string[]> {
  const agent = await app.staffToken('AGENT', 'agent-cur');
  const ids: string[] = [];
  for (const [i, input] of inputs.entries()) {
    const held = await app.gql(
      ISSUE,
      { input: { reason: 'BILLING_ERROR', note: 'double charge', idempotencyKey: `g-${i}`, ...input } },
      agent,
    );
    expect(held.data?.issueGoodwill.status).toBe('PENDING_APPROVAL');
    ids.push(held.data!.issueGoodwill.gesture.id);
  }
  const switched = await app.gql(TO_JPY, {}, await app.staffToken('ADMIN', 'admin-cur'));
  expect(switched.data?.updateProgram.__typename).toBe('UpdateProgramPayload');
  return ids;
}

describe('approving a held gesture after the program currency changed', () => {
  it('a VOUCHER gesture issued in EUR → ValidationError on gestureId naming both currencies; nothing written, rejecting still works', async () => {
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-cur');
    const memberId = await app.enroll();
    const [gestureId] = await heldThenJpy({ memberId, kind: 'VOUCHER', amount: '40.00' });
    const gesture = await prisma.goodwillGesture.findFirstOrThrow();
    expect([gesture.amount?.toFixed(2), gesture.currency]).toEqual(['40.00', 'EUR']);

    const approved = await app.gql(APPROVE, { input: { gestureId, idempotencyKey: 'a-1' } }, supervisor);

    expect(approved.data?.approveGoodwill).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    expect(approved.data?.approveGoodwill.message).toMatch(/issued in EUR.*now uses JPY.*reject it and issue a new one/);
    expect(await prisma.voucher.count()).toBe(0);
    expect(await prisma.goodwillGesture.findUniqueOrThrow({ where: { id: gesture.id } })).toMatchObject({
      status: 'PENDING_APPROVAL',
      decidedBy: null,
      voucherId: null,
    });
    expect(await prisma.goodwillAuditEntry.count({ where: { action: 'APPROVED' } })).toBe(0);
    expect(await prisma.idempotencyRecord.count({ where: { operation: { startsWith: 'approveGoodwill' } } })).toBe(0);

    const rejected = await app.gql(REJECT, { input: { gestureId, note: 'issued in the old currency' } }, supervisor);
    expect(rejected.data?.rejectGoodwill).toEqual({ __typename: 'RejectGoodwillPayload', status: 'REJECTED' });
  });

  it('of two gestures held across the switch, the POINTS one is approved (points keep no currency), the VOUCHER one refused', async () => {
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-cur');
    const memberId = await app.enroll();
    const [pointsId, voucherId] = await heldThenJpy(
      { memberId, kind: 'POINTS', points: 3000 },
      { memberId, kind: 'VOUCHER', amount: '40.00' },
    );

    const points = await app.gql(APPROVE, { input: { gestureId: pointsId, idempotencyKey: 'a-2' } }, supervisor);
    const voucher = await app.gql(APPROVE, { input: { gestureId: voucherId, idempotencyKey: 'a-3' } }, supervisor);

    expect(points.data?.approveGoodwill).toMatchObject({ __typename: 'ApproveGoodwillPayload', status: 'GRANTED' });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(3000);
    expect(voucher.data?.approveGoodwill.__typename).toBe('ValidationError');
    expect(await prisma.voucher.count()).toBe(0);
  });
});

describe("the agent's monthly budget after the program currency changed", () => {
  it('counts the gestures valued in the program currency: euros spent before the change do not use up the yen budget', async () => {
    const agent = await app.staffToken('AGENT', 'agent-budget');
    const memberId = await app.enroll();
    // 20.00 EUR granted at once (within the default 25.00 per gesture), twice: 40.00 of the 500.00 budget.
    for (const key of ['b-1', 'b-2']) {
      const granted = await app.gql(
        ISSUE,
        { input: { memberId, kind: 'VOUCHER', amount: '20.00', reason: 'BILLING_ERROR', note: 'double charge', idempotencyKey: key } },
        agent,
      );
      expect(granted.data?.issueGoodwill.status).toBe('GRANTED');
    }
    const AUTHORITY = `{ agentAuthority { spentThisMonth { amount currency } } }`;
    expect((await app.gql(AUTHORITY, {}, agent)).data?.agentAuthority.spentThisMonth).toEqual({ amount: '40.00', currency: 'EUR' });

    const switched = await app.gql(TO_JPY, {}, await app.staffToken('ADMIN', 'admin-budget'));
    expect(switched.data?.updateProgram.__typename).toBe('UpdateProgramPayload');

    // 40 euros are not 40 yen: the budget in yen has nothing spent yet.
    expect((await app.gql(AUTHORITY, {}, agent)).data?.agentAuthority.spentThisMonth).toEqual({ amount: '0.00', currency: 'JPY' });
  });
});
