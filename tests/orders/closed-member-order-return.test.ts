import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';

/**
 * DESIGN.md: "a CLOSED member receives nothing". docs/domain-rules.md, Member eligibility: a cancel or
 * return of a closed member's order goes ahead — what the order earned is reversed (a debit that corrects
 * the ledger) — but the points redeemed on it are not given back (`RESTORE` is refused for CLOSED). A
 * suspended member gets them back; vouchers redeemed on the order come back whatever the status.
 */
const { prisma, app } = useTestApp();

const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  __typename ... on RedeemPointsPayload { points } ... on Error { code message } } }`;
const REDEEM_VOUCHER = `mutation($input: RedeemVoucherInput!) { redeemVoucher(input: $input) { __typename ... on Error { code message } } }`;
const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
  __typename ... on EarnPointsPayload { points } ... on Error { code message } } }`;
const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename } }`;
const OUTCOME = `pointsReversed pointsRestored vouchersRestored { status } member { balance { available pending } }
  order { pointsRedeemed pointsRestored }`;
const CANCEL = `mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
  __typename ... on CancelOrderPayload { ${OUTCOME} } ... on Error { code message } } }`;
const RETURN = `mutation($input: ReturnOrderItemsInput!) { returnOrderItems(input: $input) {
  __typename ... on ReturnOrderItemsPayload { ${OUTCOME} } ... on Error { code message } } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) {
  __typename ... on RefundOrderPayload { points } ... on Error { code message } } }`;

/**
 * A member who paid for ORD-1 (4 × TEE at 25.00, 100.00 paid) with 200 of their 500 points and a 5.00
 * voucher, the order earning 100 points; then a supervisor set their status to `status`.
 */
async function memberWithOrder(status: 'CLOSED' | 'SUSPENDED') {
  const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'vouchers:redeem', 'members:read']);
  const memberId = await app.enroll();
  await app.gql(ADJUST, { input: { memberId, points: 500, reason: 'welcome', idempotencyKey: 'grant' } }, await app.staffToken('ADMIN'));
  const redeemed = await app.gql(REDEEM, { input: { memberId, points: 200, orderReference: 'ORD-1', idempotencyKey: 'pay' } }, storefront);
  expect(redeemed.data?.redeemPoints).toMatchObject({ points: -200 });
  const voucher = await issueTestVoucher(prisma, memberId, { value: { type: 'FIXED', amount: '5.00' } });
  const paidWithVoucher = await app.gql(
    REDEEM_VOUCHER,
    { input: { code: voucher.code, orderRef: 'ORD-1', orderTotal: '105.00', idempotencyKey: 'pay-voucher' } },
    storefront,
  );
  expect(paidWithVoucher.data?.redeemVoucher.__typename).toBe('RedeemVoucherPayload');
  const order = {
    reference: 'ORD-1',
    total: { amount: '100.00', currency: 'EUR' },
    lines: [{ sku: 'TEE', quantity: 4, unitPrice: '25.00' }],
  };
  expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints.points).toBe(100);
  const changed = await app.gql(UPDATE, { i: { id: memberId, status } }, await app.staffToken('SUPERVISOR'));
  expect(changed.data?.updateMember).toEqual({ __typename: 'UpdateMemberPayload' });
  return { memberId, storefront };
}

const restoreEntries = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId, kind: 'RESTORE' } });
const balances = async (memberId: string) => {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  return [member.availablePoints, member.pendingPoints];
};

describe('an order of a CLOSED member coming back', () => {
  it('cancelOrder reverses the earned points, gives no redeemed points back, and puts the voucher back to ISSUED', async () => {
    const { memberId, storefront } = await memberWithOrder('CLOSED');
    expect(await balances(memberId)).toEqual([300, 100]);

    const cancelled = await app.gql(CANCEL, { input: { memberId, orderReference: 'ORD-1', idempotencyKey: 'c' } }, storefront);
    expect(cancelled.data?.cancelOrder).toEqual({
      __typename: 'CancelOrderPayload',
      pointsReversed: 100,
      pointsRestored: 0,
      vouchersRestored: [{ status: 'ISSUED' }],
      member: { balance: { available: 300, pending: 0 } },
      order: { pointsRedeemed: 200, pointsRestored: 0 },
    });
    expect(await restoreEntries(memberId)).toBe(0);
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'REVERSAL' } })).toBe(1);
    expect(await prisma.orderReturn.findMany({ select: { kind: true, pointsReversed: true, pointsRestored: true } })).toEqual([
      { kind: 'CANCEL', pointsReversed: 100, pointsRestored: 0 },
    ]);
  });

  it('returnOrderItems of part of the order reverses its share and gives no redeemed points back', async () => {
    const { memberId, storefront } = await memberWithOrder('CLOSED');
    const returned = await app.gql(
      RETURN,
      { input: { memberId, orderReference: 'ORD-1', items: [{ sku: 'TEE', quantity: 2 }], idempotencyKey: 'r' } },
      storefront,
    );
    expect(returned.data?.returnOrderItems).toMatchObject({
      __typename: 'ReturnOrderItemsPayload',
      pointsReversed: 50,
      pointsRestored: 0,
      order: { pointsRestored: 0 },
    });
    expect(await restoreEntries(memberId)).toBe(0);
    expect(await balances(memberId)).toEqual([300, 50]);
  });

  it('refundOrder reverses the earned points and gives no redeemed points back', async () => {
    const { memberId, storefront } = await memberWithOrder('CLOSED');
    const refunded = await app.gql(REFUND, { input: { memberId, orderRef: 'ORD-1', idempotencyKey: 'f' } }, storefront);
    expect(refunded.data?.refundOrder).toEqual({ __typename: 'RefundOrderPayload', points: -100 });
    expect(await restoreEntries(memberId)).toBe(0);
    expect(await balances(memberId)).toEqual([300, 0]);
  });
});

describe('an order of a SUSPENDED member coming back', () => {
  it('gives the redeemed points back: they are what the member paid with, not a grant', async () => {
    const { memberId, storefront } = await memberWithOrder('SUSPENDED');
    const cancelled = await app.gql(CANCEL, { input: { memberId, orderReference: 'ORD-1', idempotencyKey: 'c' } }, storefront);
    expect(cancelled.data?.cancelOrder).toMatchObject({
      pointsReversed: 100,
      pointsRestored: 200,
      member: { balance: { available: 500, pending: 0 } },
    });
    expect(await restoreEntries(memberId)).toBe(1);
  });
});
