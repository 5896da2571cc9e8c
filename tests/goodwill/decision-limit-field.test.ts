import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { decideRenewalBonus, extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { addMonths } from '../../src/domain/time.js';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { memberNearTheLimit } from '../support/ledger-writes.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { ISSUE } from './goodwill-documents.js';

/**
 * A supervisor's decision that would take the member's points past 2 147 483 647 is a ValidationError on a field of
 * the decision's own input — the gesture or the renewal that set the amount — not on `points`, which neither
 * ApproveGoodwillInput nor DecideRenewalBonusInput has. Nothing is written.
 */
const { prisma, app } = useTestApp();

const supervisor = staffCaller('SUPERVISOR', 'supervisor-l');

const APPROVE = `mutation($input: ApproveGoodwillInput!) { approveGoodwill(input: $input) {
  __typename ... on ValidationError { field message } ... on Error { message code } } }`;
const DECIDE = `mutation($input: DecideRenewalBonusInput!) { decideRenewalBonus(input: $input) {
  __typename ... on ValidationError { field message } ... on Error { message code } } }`;

async function snapshot(memberId: string) {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  return {
    available: member.availablePoints,
    lifetime: member.lifetimePoints,
    entries: await prisma.ledgerEntry.count(),
    lots: await prisma.pointLot.count(),
    answers: await prisma.idempotencyRecord.count(),
    audit: await prisma.goodwillAuditEntry.count(),
    webhookEvents: await prisma.webhookEvent.count(),
  };
}

describe('a decided grant past the balance limit names a field of its input', () => {
  it('approveGoodwill: a ValidationError on gestureId; the gesture stays pending', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    // 3 000 points: above the agent's per-gesture points limit (2 500), so it waits for a supervisor.
    const issued = await app.gql(
      ISSUE,
      { input: { memberId, kind: 'POINTS', points: 3000, reason: 'LONG_WAIT', note: 'sorry', idempotencyKey: 'gw' } },
      await app.staffToken('AGENT', 'agent-l'),
    );
    expect(issued.data?.issueGoodwill).toMatchObject({ status: 'PENDING_APPROVAL' });
    const gestureId = issued.data!.issueGoodwill.gesture.id as string;
    const before = await snapshot(memberId);

    const refused = await app.gql(
      APPROVE,
      { input: { gestureId, note: 'ok', idempotencyKey: 'approve' } },
      await app.staffToken('SUPERVISOR', 'supervisor-l'),
    );
    expect(refused.errors).toBeUndefined();
    expect(refused.data?.approveGoodwill).toMatchObject({ __typename: 'ValidationError', field: 'gestureId' });
    expect(refused.data?.approveGoodwill.message).toContain(String(MAX_POINTS));
    expect(await snapshot(memberId)).toEqual(before);
    expect(await prisma.goodwillGesture.findFirstOrThrow({ where: { memberId } })).toMatchObject({
      status: 'PENDING_APPROVAL',
      ledgerEntryId: null,
      decidedBy: null,
    });
  });

  it('decideRenewalBonus: a ValidationError on renewalId; the bonus stays held', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    const billing = apiKeyCaller('billing', ['contracts:write']);
    const { contractId } = await registerContract(
      app.deps,
      { memberId, externalRef: 'C-full', plan: 'p', startsAt: addMonths(new Date(), -11), termMonths: 12 },
      billing,
    );
    await updateMember(app.deps, { id: memberId, status: 'SUSPENDED' }, supervisor);
    const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: 'r' }, billing);
    expect(await processRenewalBonus({ renewalId }, app.deps)).toMatchObject({ outcome: 'HELD' });
    const held = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(held.bonusPoints).toBeGreaterThan(100);
    const before = await snapshot(memberId);

    await expect(
      decideRenewalBonus(app.deps, { renewalId, approve: true, note: 'grant it', idempotencyKey: 'd1' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'renewalId' });
    const refused = await app.gql(
      DECIDE,
      { input: { renewalId: encodeGlobalID('ContractRenewal', renewalId), approve: true, note: 'grant it', idempotencyKey: 'd2' } },
      await app.staffToken('SUPERVISOR', 'supervisor-l'),
    );
    expect(refused.errors).toBeUndefined();
    expect(refused.data?.decideRenewalBonus).toMatchObject({ __typename: 'ValidationError', field: 'renewalId' });
    expect(await snapshot(memberId)).toEqual(before);
    expect(await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } })).toEqual(held);
  });
});
