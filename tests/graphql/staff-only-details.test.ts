import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * What staff did and wrote about a member is for staff (docs/errors.md): a member reading their own ledger,
 * gesture or voucher gets `null` for those details, without an error, where staff get them.
 */
const { app } = useTestApp();

const ISSUE = `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) {
  __typename ... on IssueGoodwillPayload { gesture { id } } } }`;
const ADJUST = `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }`;
const LEDGER = `query($id: ID!) { member(id: $id) { ledger(first: 10) { edges { node { kind actorType actorId note } } } } }`;
const GESTURE = `query($id: ID!) { node(id: $id) { ... on GoodwillGesture { reason note agentId decidedBy decisionNote } } }`;

describe('staff-only details', () => {
  it('a member reads null, without an error, for who at the program moved their points and what staff wrote', async () => {
    const memberId = await app.enroll();
    const agent = await app.staffToken('AGENT', 'agent-7');
    const gesture = {
      memberId,
      kind: 'POINTS',
      points: 20,
      reason: 'DELAYED_DELIVERY',
      note: 'angry on the phone',
      idempotencyKey: 'gw-1',
    };
    const issued = await app.gql<{ issueGoodwill: { gesture: { id: string } } }>(ISSUE, { i: gesture }, agent);
    const gestureId = issued.data!.issueGoodwill.gesture.id;
    await app.gql(
      ADJUST,
      { i: { memberId, points: 5, reason: 'internal: duplicate account', idempotencyKey: 'adj-1' } },
      await app.staffToken('ADMIN', 'admin-3'),
    );

    const asStaff = await app.gql(LEDGER, { id: memberId }, agent);
    expect(asStaff.errors).toBeUndefined();
    expect(asStaff.data!.member.ledger.edges.map((edge: { node: unknown }) => edge.node)).toEqual([
      { kind: 'ADJUST', actorType: 'STAFF', actorId: 'admin-3', note: 'internal: duplicate account' },
      { kind: 'GOODWILL', actorType: 'STAFF', actorId: 'agent-7', note: 'angry on the phone' },
    ]);

    const member = await app.memberToken(memberId);
    const asMember = await app.gql(LEDGER, { id: memberId }, member);
    expect(asMember.errors).toBeUndefined();
    expect(asMember.data!.member.ledger.edges.map((edge: { node: unknown }) => edge.node)).toEqual([
      { kind: 'ADJUST', actorType: 'STAFF', actorId: null, note: null },
      { kind: 'GOODWILL', actorType: 'STAFF', actorId: null, note: null },
    ]);
    const ownGesture = await app.gql(GESTURE, { id: gestureId }, member);
    expect(ownGesture.errors).toBeUndefined();
    expect(ownGesture.data!.node).toEqual({ reason: 'DELAYED_DELIVERY', note: null, agentId: null, decidedBy: null, decisionNote: null });
  });

  it('a member reads null, without an error, for why staff voided their voucher', async () => {
    const memberId = await app.enroll();
    const agent = await app.staffToken('AGENT');
    const gesture = { memberId, kind: 'VOUCHER', amount: '5.00', reason: 'DELAYED_DELIVERY', note: 'late', idempotencyKey: 'gw-v' };
    const issued = await app.gql(
      `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) {
      ... on IssueGoodwillPayload { gesture { voucher { code } } } } }`,
      { i: gesture },
      agent,
    );
    const code = issued.data!.issueGoodwill.gesture.voucher.code as string;
    const voided = await app.gql(
      `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename } }`,
      {
        i: { code, reason: 'issued twice by mistake', idempotencyKey: 'void-1' },
      },
      agent,
    );
    expect(voided.data!.voidVoucher.__typename).toBe('VoidVoucherPayload');
    const VOUCHERS = `query($id: ID!) { member(id: $id) { vouchers(first: 5) { edges { node { code status voidReason } } } } }`;
    expect((await app.gql(VOUCHERS, { id: memberId }, agent)).data!.member.vouchers.edges[0].node.voidReason).toBe(
      'issued twice by mistake',
    );
    const asMember = await app.gql(VOUCHERS, { id: memberId }, await app.memberToken(memberId));
    expect(asMember.errors).toBeUndefined();
    expect(asMember.data!.member.vouchers.edges[0].node).toEqual({ code, status: 'VOIDED', voidReason: null });
  });
});
