import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { tableRowCounts } from '../support/db.js';

/**
 * An order all of whose items came back (returnOrderItems), or whose whole rest was refunded (refundOrder), is as
 * final as a cancelled one (docs/orders.md): a storefront reusing its reference cannot redeem a voucher or points on
 * it, nor earn on it, again. Each is refused with the answer a cancelled order gives, and writes nothing.
 */

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
  __typename ... on EarnPointsPayload { points } ... on ValidationError { field message } ... on Error { code message } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  __typename ... on RedeemPointsPayload { points } ... on ValidationError { field message } ... on Error { code message } } }`;
const REDEEM_VOUCHER = `mutation($input: RedeemVoucherInput!) { redeemVoucher(input: $input) {
  __typename ... on RedeemVoucherPayload { voucher { status } } ... on ValidationError { field message } ... on Error { code message } } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }`;
const CANCEL = `mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
  __typename ... on CancelOrderPayload { order { status } } ... on Error { code message } } }`;
const RETURN = `mutation($input: ReturnOrderItemsInput!) { returnOrderItems(input: $input) {
  __typename ... on ReturnOrderItemsPayload { vouchersRestored { code } order { status } } ... on Error { code message } } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) {
  __typename ... on RefundOrderPayload { points } ... on Error { code message } } }`;

const { prisma, app } = useTestApp();

const issue = (memberId: string) => issueTestVoucher(prisma, memberId);

/**
 * A checkout paid partly with 200 points and a 10.00 voucher, earning on the 135.00 paid for 5 × TEE at 20.00 and
 * 1 × CAP at 50.00 (as tests/orders/order-cancel-return.test.ts).
 */
async function checkout(orderRef: string) {
  const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'vouchers:redeem', 'members:read']);
  const memberId = await app.enroll();
  await app.gql(ADJUST, { input: { memberId, points: 500, reason: 'test grant', idempotencyKey: 'grant' } }, await app.staffToken('ADMIN'));
  const voucher = await issue(memberId);
  const redeemed = await app.gql(REDEEM, { input: { memberId, points: 200, orderReference: orderRef, idempotencyKey: 'pay' } }, storefront);
  expect(redeemed.data?.redeemPoints).toEqual({ __typename: 'RedeemPointsPayload', points: -200 });
  const used = await app.gql(
    REDEEM_VOUCHER,
    { input: { code: voucher.code, orderRef, orderTotal: '150.00', memberId, idempotencyKey: 'pay-voucher' } },
    storefront,
  );
  expect(used.data?.redeemVoucher).toMatchObject({ __typename: 'RedeemVoucherPayload' });
  const order = {
    reference: orderRef,
    total: { amount: '135.00', currency: 'EUR' },
    channel: 'web',
    lines: [
      { sku: 'TEE', quantity: 5, unitPrice: '20.00' },
      { sku: 'CAP', quantity: 1, unitPrice: '50.00' },
    ],
  };
  const earned = await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront);
  expect(earned.data?.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 135 });
  return { memberId, storefront, code: voucher.code, order };
}

/** How each way of ending an order ends ORD-1 of `checkout`; the last step gives the voucher back. */
const endings = {
  'cancelled (cancelOrder)': async (memberId: string, storefront: string) => {
    const cancelled = await app.gql(CANCEL, { input: { memberId, orderReference: 'ORD-1', idempotencyKey: 'end' } }, storefront);
    expect(cancelled.data?.cancelOrder).toMatchObject({ order: { status: 'CANCELLED' } });
  },
  'returned item by item (returnOrderItems)': async (memberId: string, storefront: string) => {
    const ret = (items: { sku: string; quantity: number }[], key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'ORD-1', items, idempotencyKey: key } }, storefront);
    expect((await ret([{ sku: 'TEE', quantity: 2 }], 'r1')).data?.returnOrderItems).toMatchObject({
      order: { status: 'PARTIALLY_RETURNED' },
    });
    const rest = await ret(
      [
        { sku: 'TEE', quantity: 3 },
        { sku: 'CAP', quantity: 1 },
      ],
      'r2',
    );
    expect(rest.data?.returnOrderItems).toMatchObject({ vouchersRestored: [{}], order: { status: 'RETURNED' } });
  },
  'refunded, the whole rest (refundOrder)': async (memberId: string, storefront: string) => {
    const part = await app.gql(REFUND, { input: { memberId, orderRef: 'ORD-1', amount: '35.00', idempotencyKey: 'f1' } }, storefront);
    expect(part.data?.refundOrder).toMatchObject({ __typename: 'RefundOrderPayload' });
    const rest = await app.gql(REFUND, { input: { memberId, orderRef: 'ORD-1', idempotencyKey: 'f2' } }, storefront);
    expect(rest.data?.refundOrder).toMatchObject({ __typename: 'RefundOrderPayload' });
  },
};

describe('an order taken back in full is final', () => {
  for (const [how, end] of Object.entries(endings)) {
    it(`${how}: no voucher, points or earn on its reference any more, and nothing written`, async () => {
      const { memberId, storefront, code, order } = await checkout('ORD-1');
      await end(memberId, storefront);
      // The voucher came back ISSUED: the storefront tries it on the same reference again.
      expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('ISSUED');
      const before = await tableRowCounts(prisma);
      const memberBefore = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });

      const voucher = await app.gql(
        REDEEM_VOUCHER,
        { input: { code, orderRef: 'ORD-1', orderTotal: '150.00', memberId, idempotencyKey: 'again-voucher' } },
        storefront,
      );
      const points = await app.gql(
        REDEEM,
        { input: { memberId, points: 10, orderReference: 'ORD-1', idempotencyKey: 'again-points' } },
        storefront,
      );
      const earn = await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'again-earn' } }, storefront);

      // The answers a cancelled order gives: a ValidationError on the field naming the order, saying why.
      const message = how.startsWith('cancelled') ? 'this order is cancelled' : 'this order is returned in full';
      expect(voucher.data?.redeemVoucher).toEqual({ __typename: 'ValidationError', code: 'VALIDATION', field: 'orderRef', message });
      expect(points.data?.redeemPoints).toEqual({ __typename: 'ValidationError', code: 'VALIDATION', field: 'orderReference', message });
      // An order taken back in full had earned: earnPoints refuses it as it refuses any order that earned.
      expect(earn.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'order.reference' });
      expect(await tableRowCounts(prisma)).toEqual(before);
      expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('ISSUED');
      const memberAfter = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
      expect([memberAfter.availablePoints, memberAfter.pendingPoints]).toEqual([memberBefore.availablePoints, memberBefore.pendingPoints]);
      // Not even the purchase's activity: the refused statements kept nothing, though the voucher's went out with COMMIT.
      expect([memberAfter.lastActivityAt, memberAfter.updatedAt]).toEqual([memberBefore.lastActivityAt, memberBefore.updatedAt]);
    });
  }

  it('an order paid wholly with points (total 0.00), all of its items returned, takes no more redemptions', async () => {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'vouchers:redeem', 'members:read']);
    const memberId = await app.enroll();
    await app.gql(
      ADJUST,
      { input: { memberId, points: 500, reason: 'test grant', idempotencyKey: 'grant' } },
      await app.staffToken('ADMIN'),
    );
    await app.gql(REDEEM, { input: { memberId, points: 300, orderReference: 'FREE', idempotencyKey: 'pay' } }, storefront);
    const order = {
      reference: 'FREE',
      total: { amount: '0.00', currency: 'EUR' },
      lines: [{ sku: 'MUG', quantity: 2, unitPrice: '15.00' }],
    };
    expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints).toMatchObject({
      points: 0,
    });
    const ret = (quantity: number, key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'FREE', items: [{ sku: 'MUG', quantity }], idempotencyKey: key } }, storefront);
    expect((await ret(1, 'r1')).data?.returnOrderItems).toMatchObject({ order: { status: 'PARTIALLY_RETURNED' } });
    // Half of it back: the order still takes a redemption.
    const partly = await app.gql(REDEEM, { input: { memberId, points: 1, orderReference: 'FREE', idempotencyKey: 'p1' } }, storefront);
    expect(partly.data?.redeemPoints).toMatchObject({ __typename: 'RedeemPointsPayload' });
    expect((await ret(1, 'r2')).data?.returnOrderItems).toMatchObject({ order: { status: 'RETURNED' } });

    const voucher = await issue(memberId);
    const before = await tableRowCounts(prisma);
    const points = await app.gql(REDEEM, { input: { memberId, points: 1, orderReference: 'FREE', idempotencyKey: 'p2' } }, storefront);
    const redeemed = await app.gql(
      REDEEM_VOUCHER,
      { input: { code: voucher.code, orderRef: 'FREE', orderTotal: '30.00', memberId, idempotencyKey: 'v' } },
      storefront,
    );
    expect(points.data?.redeemPoints).toMatchObject({ __typename: 'ValidationError', field: 'orderReference' });
    expect(redeemed.data?.redeemVoucher).toMatchObject({ __typename: 'ValidationError', field: 'orderRef' });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('the last return and a voucher redemption on the same order at once: never a completed return beside a live redemption', async () => {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'vouchers:redeem', 'members:read']);
    const memberId = await app.enroll();
    for (let round = 0; round < 8; round++) {
      const orderRef = `RACE-${round}`;
      const order = {
        reference: orderRef,
        total: { amount: '40.00', currency: 'EUR' },
        lines: [{ sku: 'TEE', quantity: 2, unitPrice: '20.00' }],
      };
      expect(
        (await app.gql(EARN, { input: { memberId, order, idempotencyKey: `earn-${round}` } }, storefront)).data?.earnPoints,
      ).toMatchObject({
        __typename: 'EarnPointsPayload',
      });
      const ret = (key: string) =>
        app.gql(
          RETURN,
          { input: { memberId, orderReference: orderRef, items: [{ sku: 'TEE', quantity: 1 }], idempotencyKey: key } },
          storefront,
        );
      expect((await ret(`first-${round}`)).data?.returnOrderItems).toMatchObject({ order: { status: 'PARTIALLY_RETURNED' } });
      const voucher = await issue(memberId);
      const redeem = () =>
        app.gql(
          REDEEM_VOUCHER,
          { input: { code: voucher.code, orderRef, orderTotal: '20.00', memberId, idempotencyKey: `v-${round}` } },
          storefront,
        );
      // Either one first, alternately.
      const [last, redeemed] =
        round % 2 === 0
          ? await Promise.all([ret(`last-${round}`), redeem()])
          : (await Promise.all([redeem(), ret(`last-${round}`)])).reverse();

      // The return completes either way: after a redemption it takes the voucher back, before it the order refuses it.
      expect(last!.data?.returnOrderItems).toMatchObject({ __typename: 'ReturnOrderItemsPayload', order: { status: 'RETURNED' } });
      const answer = redeemed!.data?.redeemVoucher;
      const live = await prisma.voucherRedemption.count({ where: { voucherId: voucher.id, rolledBackAt: null } });
      expect(live).toBe(0);
      expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('ISSUED');
      if (answer.__typename === 'RedeemVoucherPayload') {
        expect(last!.data?.returnOrderItems.vouchersRestored).toEqual([{ code: voucher.code }]);
      } else {
        expect(answer).toMatchObject({ __typename: 'ValidationError', field: 'orderRef' });
        expect(await prisma.voucherRedemption.count({ where: { voucherId: voucher.id } })).toBe(0);
      }
    }
  });
});
