import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../src/app.js';
import { testApiConfig, testLogger, useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { switchCurrencyMutation } from '../support/currency-switch.js';
import { testRedisUrl } from '../support/db.js';

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
  __typename ... on EarnPointsPayload { points } ... on Error { code message } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  __typename ... on RedeemPointsPayload { points } ... on Error { code message } } }`;
const REDEEM_VOUCHER = `mutation($input: RedeemVoucherInput!) { redeemVoucher(input: $input) {
  __typename ... on RedeemVoucherPayload { discount { amount } voucher { status } } ... on Error { code message } } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }`;
const OUTCOME = `pointsReversed pointsUnrecovered pointsRestored vouchersRestored { code status } vouchersExpired { code }
  member { balance { available pending } } order { status pointsEarned pointsReversed pointsRedeemed pointsRestored amountReturned { amount } }`;
const CANCEL = `mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
  __typename ... on CancelOrderPayload { ${OUTCOME} } ... on ValidationError { field message } ... on Error { code message } } }`;
const RETURN = `mutation($input: ReturnOrderItemsInput!) { returnOrderItems(input: $input) {
  __typename ... on ReturnOrderItemsPayload { ${OUTCOME} } ... on ValidationError { field message } ... on Error { code message } } }`;
const ORDER = `query($m: ID!, $r: String!) { order(memberId: $m, reference: $r) {
  reference status total { amount currency } channel pointsEarned pointsRedeemed pointsReversed pointsRestored
  lines { sku quantity returnedQuantity share { amount } }
  vouchersRedeemed { voucher { code status } discount { amount } rolledBackAt rollbackOutcome }
  returns { kind amount { amount } pointsReversed pointsRestored items { sku quantity } } } }`;

const { prisma, app } = useTestApp();

let api: Awaited<ReturnType<typeof startApi>>;
beforeAll(async () => {
  const config = testApiConfig({
    NODE_ENV: 'test',
    RATE_LIMIT_API_KEY_MUTATIONS: '1000000',
    RATE_LIMIT_ADDRESS_MUTATIONS: '1000000',
  });
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
});
afterAll(async () => api.close());

/** One request over a real socket to the running API. */
async function overHttp(query: string, variables: Record<string, unknown>, token: string) {
  const response = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

/**
 * A checkout paid partly with points and a voucher: 500 points granted, 200 of them
 * redeemed on the order, a 10.00 voucher redeemed on it, and the order earning on what was paid:
 * 5 × TEE at 20.00 and 1 × CAP at 50.00 (150.00 of goods), 135.00 paid.
 */
async function checkout(orderRef = 'ORD-1') {
  const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'vouchers:redeem', 'members:read']);
  const memberId = await app.enroll();
  await app.gql(ADJUST, { input: { memberId, points: 500, reason: 'test grant', idempotencyKey: 'grant' } }, await app.staffToken('ADMIN'));
  const voucher = await issueTestVoucher(prisma, memberId, { causeRef: `gesture-${memberId}` });
  const redeemed = await app.gql(
    REDEEM,
    { input: { memberId, points: 200, orderReference: orderRef, idempotencyKey: 'pay-points' } },
    storefront,
  );
  expect(redeemed.data?.redeemPoints).toEqual({ __typename: 'RedeemPointsPayload', points: -200 });
  const voucherUsed = await app.gql(
    REDEEM_VOUCHER,
    { input: { code: voucher.code, orderRef, orderTotal: '150.00', memberId, idempotencyKey: 'pay-voucher' } },
    storefront,
  );
  expect(voucherUsed.data?.redeemVoucher).toMatchObject({ __typename: 'RedeemVoucherPayload', voucher: { status: 'REDEEMED' } });
  const order = {
    reference: orderRef,
    total: { amount: '135.00', currency: 'EUR' },
    channel: 'web',
    lines: [
      { sku: 'TEE', category: 'shirts', quantity: 5, unitPrice: '20.00' },
      { sku: 'CAP', category: 'hats', quantity: 1, unitPrice: '50.00' },
    ],
  };
  const earned = await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront);
  expect(earned.data?.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 135 });
  return { memberId, storefront, code: voucher.code, voucherId: voucher.id, orderRef };
}

/** An enabled endpoint subscribed to the order events, so that they are written (and countable). */
async function subscribeToOrderEvents() {
  await prisma.$executeRaw`
    INSERT INTO webhook_endpoints (url, event_types, secret, created_by)
    VALUES ('https://hooks.example.com/orders', ARRAY['order.cancelled', 'order.returned'], 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0', 'test')`;
}

describe('cancelOrder', () => {
  it('20 concurrent cancels over HTTP and a retry, same key: earned points reversed, redeemed points restored, voucher ISSUED — each once', async () => {
    const { memberId, storefront, code, orderRef } = await checkout();
    await subscribeToOrderEvents();
    let member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.availablePoints, member.pendingPoints]).toEqual([300, 135]);

    const input = { memberId, orderReference: orderRef, idempotencyKey: 'cancel-1' };
    const answers = await Promise.all(Array.from({ length: 20 }, () => overHttp(CANCEL, { input }, storefront)));
    const retry = await overHttp(CANCEL, { input }, storefront);

    const first = answers[0]!.data?.cancelOrder;
    expect(first).toMatchObject({
      __typename: 'CancelOrderPayload',
      pointsReversed: 135,
      pointsUnrecovered: 0,
      pointsRestored: 200,
      vouchersRestored: [{ code, status: 'ISSUED' }],
      vouchersExpired: [],
      order: { status: 'CANCELLED', pointsEarned: 135, pointsReversed: 135, pointsRedeemed: 200, pointsRestored: 200 },
    });
    // Every answer is the first one's effect: the stored outcome (the member after it may differ in timing, not here).
    for (const answer of [...answers, retry]) {
      expect(answer.errors).toBeUndefined();
      const { member: _member, ...rest } = answer.data!.cancelOrder;
      const { member: _first, ...firstRest } = first;
      expect(rest).toEqual(firstRest);
    }

    member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.availablePoints, member.pendingPoints]).toEqual([500, 0]);
    const kinds = await prisma.ledgerEntry.groupBy({ by: ['kind'], where: { memberId }, _count: true, _sum: { amount: true } });
    expect(Object.fromEntries(kinds.map((k) => [k.kind, [k._count, k._sum.amount]]))).toEqual({
      ADJUST: [1, 500],
      REDEEM: [1, -200],
      EARN: [1, 135],
      REVERSAL: [1, -135],
      RESTORE: [1, 200],
    });
    expect(await prisma.orderReturn.count()).toBe(1);
    expect(await prisma.voucherRedemption.count({ where: { rolledBackAt: { not: null }, rollbackOutcome: 'RESTORED' } })).toBe(1);
    expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('ISSUED');
    expect(await prisma.webhookEvent.count({ where: { type: 'order.cancelled' } })).toBe(1);
    const event = await prisma.webhookEvent.findFirstOrThrow({ where: { type: 'order.cancelled' } });
    expect(event.payload).toMatchObject({ orderRef, pointsReversed: 135, pointsRestored: 200, vouchers: [{ code, status: 'ISSUED' }] });

    // Another key: the order is cancelled already, a typed error, nothing written.
    const again = await overHttp(CANCEL, { input: { ...input, idempotencyKey: 'cancel-2' } }, storefront);
    expect(again.data?.cancelOrder).toMatchObject({ __typename: 'ValidationError', field: 'orderReference' });
    expect(await prisma.orderReturn.count()).toBe(1);
    // And the order takes nothing more.
    const late = await app.gql(REDEEM, { input: { memberId, points: 1, orderReference: orderRef, idempotencyKey: 'late' } }, storefront);
    expect(late.data?.redeemPoints).toMatchObject({ __typename: 'ValidationError' });
  });

  it('the restored voucher can be redeemed again, once', async () => {
    const { memberId, storefront, code, orderRef } = await checkout();
    await app.gql(CANCEL, { input: { memberId, orderReference: orderRef, idempotencyKey: 'c' } }, storefront);
    const input = { code, orderRef: 'ORD-2', orderTotal: '30.00', memberId };
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => app.gql(REDEEM_VOUCHER, { input: { ...input, idempotencyKey: `again-${i}` } }, storefront)),
    );
    const kinds = results.map((r) => r.data?.redeemVoucher.__typename);
    expect(kinds.filter((k) => k === 'RedeemVoucherPayload')).toHaveLength(1);
    expect(await prisma.voucherRedemption.count({ where: { voucher: { code } } })).toBe(2);
    expect(await prisma.voucherRedemption.count({ where: { voucher: { code }, rolledBackAt: null } })).toBe(1);
  });

  it('a voucher past its validity is not reissued: EXPIRED, and the redemption says why', async () => {
    const { memberId, storefront, code, orderRef } = await checkout();
    await prisma.voucher.update({ where: { code }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const cancelled = await app.gql(CANCEL, { input: { memberId, orderReference: orderRef, idempotencyKey: 'c' } }, storefront);
    expect(cancelled.data?.cancelOrder).toMatchObject({ vouchersRestored: [], vouchersExpired: [{ code }], pointsRestored: 200 });
    expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('EXPIRED');
    const order = await app.gql(ORDER, { m: memberId, r: orderRef }, storefront);
    expect(order.data?.order.vouchersRedeemed).toMatchObject([{ voucher: { code, status: 'EXPIRED' }, rollbackOutcome: 'EXPIRED' }]);
  });
});

describe('returnOrderItems', () => {
  it('2 of 5 items back restores in proportion; a second return cannot exceed what is left; the last items bring the vouchers back', async () => {
    const { memberId, storefront, code, orderRef } = await checkout();
    await subscribeToOrderEvents();
    const ret = (items: { sku: string; quantity: number }[], key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: orderRef, items, idempotencyKey: key } }, storefront);

    // TEE's share of the 135.00 paid is 90.00 (100 of 150 of goods): 2 of 5 are worth 36.00, s = 36 / 135.
    const first = await ret([{ sku: 'TEE', quantity: 2 }], 'r1');
    expect(first.data?.returnOrderItems).toMatchObject({
      __typename: 'ReturnOrderItemsPayload',
      pointsReversed: 36, // floor(135 × 36 / 135)
      pointsRestored: 53, // floor(200 × 36 / 135) = floor(53.33)
      vouchersRestored: [],
      order: { status: 'PARTIALLY_RETURNED', amountReturned: { amount: '36.00' } },
    });
    expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('REDEEMED');

    const tooMany = await ret([{ sku: 'TEE', quantity: 4 }], 'r2');
    expect(tooMany.data?.returnOrderItems).toMatchObject({ __typename: 'ValidationError', field: 'items[0].quantity' });
    expect(tooMany.data?.returnOrderItems.message).toContain('at most 3');
    const unknown = await ret([{ sku: 'SOCK', quantity: 1 }], 'r3');
    expect(unknown.data?.returnOrderItems).toMatchObject({ __typename: 'ValidationError', field: 'items[0].sku' });
    // A SKU names a line of the order as stored (docs/domain-rules.md, "Text": a line stored before the key rule can
    // still come back): one no order takes names no line, as an unknown one.
    const controlled = await ret([{ sku: 'TEE\u0007', quantity: 1 }], 'r3b');
    expect(controlled.data?.returnOrderItems).toMatchObject({
      __typename: 'ValidationError',
      field: 'items[0].sku',
      message: unknown.data?.returnOrderItems.message,
    });
    const tooMuchMoney = await app.gql(
      RETURN,
      { input: { memberId, orderReference: orderRef, amount: { amount: '99.01', currency: 'EUR' }, idempotencyKey: 'r4' } },
      storefront,
    );
    expect(tooMuchMoney.data?.returnOrderItems).toMatchObject({ __typename: 'ValidationError', field: 'amount.amount' });
    expect(await prisma.orderReturn.count()).toBe(1);

    // The rest: cumulative targets, so the totals are exactly what was earned and redeemed.
    const rest = await ret(
      [
        { sku: 'TEE', quantity: 3 },
        { sku: 'CAP', quantity: 1 },
      ],
      'r5',
    );
    expect(rest.data?.returnOrderItems).toMatchObject({
      pointsReversed: 99,
      pointsRestored: 147,
      vouchersRestored: [{ code, status: 'ISSUED' }],
      order: { status: 'RETURNED', pointsReversed: 135, pointsRestored: 200, amountReturned: { amount: '135.00' } },
    });
    const nothingLeft = await ret([{ sku: 'CAP', quantity: 1 }], 'r6');
    expect(nothingLeft.data?.returnOrderItems).toMatchObject({ __typename: 'ValidationError', field: 'items[0].quantity' });

    const order = await app.gql(ORDER, { m: memberId, r: orderRef }, storefront);
    expect(order.data?.order).toMatchObject({
      status: 'RETURNED',
      total: { amount: '135.00', currency: 'EUR' },
      channel: 'web',
      lines: [
        { sku: 'TEE', quantity: 5, returnedQuantity: 5, share: { amount: '90.00' } },
        { sku: 'CAP', quantity: 1, returnedQuantity: 1, share: { amount: '45.00' } },
      ],
      returns: [
        { kind: 'RETURN', amount: { amount: '36.00' }, pointsReversed: 36, pointsRestored: 53, items: [{ sku: 'TEE', quantity: 2 }] },
        { kind: 'RETURN', amount: { amount: '99.00' }, pointsReversed: 99, pointsRestored: 147 },
      ],
    });
    expect(await prisma.webhookEvent.count({ where: { type: 'order.returned' } })).toBe(2);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.availablePoints, member.pendingPoints]).toEqual([500, 0]);
  });

  it('10 concurrent returns of one item each on a line of 5: exactly 5 succeed', async () => {
    const { memberId, storefront, orderRef } = await checkout();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        overHttp(
          RETURN,
          { input: { memberId, orderReference: orderRef, items: [{ sku: 'TEE', quantity: 1 }], idempotencyKey: `one-${i}` } },
          storefront,
        ),
      ),
    );
    const kinds = results.map((r) => r.data?.returnOrderItems.__typename);
    expect(kinds.filter((k) => k === 'ReturnOrderItemsPayload')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'ValidationError')).toHaveLength(5);
    const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId }, include: { lines: true } });
    expect(order.lines.find((l) => l.sku === 'TEE')?.returnedQuantity).toBe(5);
    // TEE is 90.00 of 135.00: floor(135 × 90 / 135) = 90 reversed, floor(200 × 90 / 135) = 133 restored.
    expect([order.amountRefunded.toFixed(2), order.pointsReversed, order.pointsRestored]).toEqual(['90.00', 90, 133]);
  });

  it('refundOrder is an amount return: the points it reverses are as before, and it restores what was redeemed in proportion', async () => {
    const { memberId, storefront, orderRef } = await checkout();
    const refund = await app.gql(
      `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { __typename ... on RefundOrderPayload { points pointsUnrecovered } } }`,
      { input: { memberId, orderRef, amount: '67.50', idempotencyKey: 'refund' } },
      storefront,
    );
    expect(refund.data?.refundOrder).toEqual({ __typename: 'RefundOrderPayload', points: -67, pointsUnrecovered: 0 });
    const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId } });
    expect([order.pointsReversed, order.pointsRestored]).toEqual([67, 100]);
  });

  it('a third of the order back takes back exactly a third of its points: the share is a fraction, not a rounded quotient', async () => {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'members:read']);
    const memberId = await app.enroll();
    await app.gql(
      ADJUST,
      { input: { memberId, points: 30, reason: 'test grant', idempotencyKey: 'grant' } },
      await app.staffToken('ADMIN'),
    );
    await app.gql(REDEEM, { input: { memberId, points: 30, orderReference: 'THIRDS', idempotencyKey: 'pay' } }, storefront);
    const order = {
      reference: 'THIRDS',
      total: { amount: '30.00', currency: 'EUR' },
      lines: [{ sku: 'A', quantity: 3, unitPrice: '10.00' }],
    };
    expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints.points).toBe(30);
    const byAmount = await app.gql(
      RETURN,
      { input: { memberId, orderReference: 'THIRDS', amount: { amount: '10.00', currency: 'EUR' }, idempotencyKey: 'r1' } },
      storefront,
    );
    // 10.00 ÷ 30.00 × 30 points is 10 (a quotient rounded to 0.333… would make it 9.999… → 9).
    expect(byAmount.data?.returnOrderItems).toMatchObject({ pointsReversed: 10, pointsRestored: 10 });
    const byItem = await app.gql(
      RETURN,
      { input: { memberId, orderReference: 'THIRDS', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: 'r2' } },
      storefront,
    );
    expect(byItem.data?.returnOrderItems).toMatchObject({
      pointsReversed: 10,
      pointsRestored: 10,
      order: { amountReturned: { amount: '20.00' } },
    });
  });
});

describe('an order in the currency the program ran in when it earned', () => {
  const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) {
    __typename ... on RefundOrderPayload { points } ... on ValidationError { field message } ... on Error { code message } } }`;

  it('takes returns and refunds in its own currency after the program changed to another, and no other', async () => {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'members:read']);
    const memberId = await app.enroll();
    const order = { reference: 'EUR-1', total: { amount: '100.00', currency: 'EUR' } };
    expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints.points).toBe(100);
    const admin = await app.staffToken('ADMIN');
    const switched = await app.gql(switchCurrencyMutation('USD'), {}, admin);
    expect(switched.data?.updateProgram.__typename).toBe('UpdateProgramPayload');
    const returned = (amount: string, currency: string, key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'EUR-1', amount: { amount, currency }, idempotencyKey: key } }, storefront);
    const refunded = (input: Record<string, unknown>) => app.gql(REFUND, { input: { memberId, orderRef: 'EUR-1', ...input } }, storefront);

    // Dollars are not euros: refused, whichever form names them, and nothing moves.
    expect((await returned('50.00', 'USD', 'r-usd')).data?.returnOrderItems).toMatchObject({
      __typename: 'ValidationError',
      field: 'amount.currency',
    });
    expect(
      (await refunded({ amountMoney: { amount: '10.00', currency: 'USD' }, idempotencyKey: 'f-usd' })).data?.refundOrder,
    ).toMatchObject({
      __typename: 'ValidationError',
      field: 'amountMoney.currency',
    });
    // The deprecated decimal string is in the program's currency, now dollars.
    expect((await refunded({ amount: '10.00', idempotencyKey: 'f-legacy' })).data?.refundOrder).toMatchObject({
      __typename: 'ValidationError',
      field: 'amount',
    });
    expect((await prisma.pointOrder.findFirstOrThrow({ where: { memberId } })).pointsReversed).toBe(0);

    // Euros, the order's own currency, are taken.
    expect((await returned('50.00', 'EUR', 'r-eur')).data?.returnOrderItems).toMatchObject({
      __typename: 'ReturnOrderItemsPayload',
      pointsReversed: 50,
    });
    expect((await refunded({ amountMoney: { amount: '10.00', currency: 'EUR' }, idempotencyKey: 'f-eur' })).data?.refundOrder).toEqual({
      __typename: 'RefundOrderPayload',
      points: -10,
    });
    expect((await prisma.pointOrder.findFirstOrThrow({ where: { memberId } })).pointsReversed).toBe(60);
  });
});

describe('the ledger keys of a return', () => {
  /** Order A paid partly with 10 points then earned 10, order B earned 20: a cancel or return of A restores points. */
  async function twoOrders() {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'members:read']);
    const memberId = await app.enroll();
    await app.gql(
      ADJUST,
      { input: { memberId, points: 100, reason: 'test grant', idempotencyKey: 'grant' } },
      await app.staffToken('ADMIN'),
    );
    await app.gql(REDEEM, { input: { memberId, points: 10, orderReference: 'A', idempotencyKey: 'pay-A' } }, storefront);
    for (const [reference, amount] of [
      ['A', '10.00'],
      ['B', '20.00'],
    ]) {
      const order = { reference, total: { amount, currency: 'EUR' } };
      expect(
        (await app.gql(EARN, { input: { memberId, order, idempotencyKey: `earn-${reference}` } }, storefront)).data?.earnPoints.points,
      ).toBeGreaterThan(0);
    }
    return { memberId, storefront };
  }

  it.each([
    ['cancelOrder', CANCEL, {}],
    ['returnOrderItems', RETURN, { amount: { amount: '10.00', currency: 'EUR' } }],
  ] as const)('%s keyed "k:restore" after one keyed "k" that restored points is a request of its own', async (field, document, extra) => {
    const { memberId, storefront } = await twoOrders();
    const first = await app.gql(document, { input: { memberId, orderReference: 'A', idempotencyKey: 'k', ...extra } }, storefront);
    expect(first.data?.[field]).toMatchObject({ pointsReversed: 10, pointsRestored: 10 });
    const second = await app.gql(document, { input: { memberId, orderReference: 'B', idempotencyKey: 'k:restore', ...extra } }, storefront);
    expect(second.errors).toBeUndefined();
    expect(second.data?.[field]).toMatchObject({ pointsReversed: field === 'cancelOrder' ? 20 : 10 });
  });

  it('a restore entry keyed the way it was before is a typed conflict for the key that meets it, not an internal error', async () => {
    const { memberId, storefront } = await twoOrders();
    expect(
      (await app.gql(CANCEL, { input: { memberId, orderReference: 'A', idempotencyKey: 'k' } }, storefront)).data?.cancelOrder,
    ).toMatchObject({
      pointsRestored: 10,
    });
    // The entry as an earlier version keyed it (the ledger is append-only: its guard is lifted for this alone).
    await prisma.$transaction([
      prisma.$executeRaw`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_no_update_or_delete`,
      prisma.$executeRaw`UPDATE ledger_entries SET idempotency_key = 'cancelOrder:k:restore'
                         WHERE member_id = ${memberId}::uuid AND idempotency_key = 'restore:cancelOrder:k'`,
      prisma.$executeRaw`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_no_update_or_delete`,
    ]);
    const entries = await prisma.ledgerEntry.count({ where: { memberId } });
    const second = await app.gql(CANCEL, { input: { memberId, orderReference: 'B', idempotencyKey: 'k:restore' } }, storefront);
    expect(second.errors).toBeUndefined();
    expect(second.data?.cancelOrder).toMatchObject({ __typename: 'IdempotencyConflictError', code: 'IDEMPOTENCY_CONFLICT' });
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(entries);
  });
});

describe('points given back with the expiry they had', () => {
  it('expire at once when that expiry has passed: the cancel leaves no lot due behind it', async () => {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem', 'members:read']);
    const admin = await app.staffToken('ADMIN');
    const switched = await app.gql(`mutation { updateProgram(input: { restoredPointsExpiry: ORIGINAL }) { __typename } }`, {}, admin);
    expect(switched.data?.updateProgram.__typename).toBe('UpdateProgramPayload');
    const memberId = await app.enroll();
    await app.gql(ADJUST, { input: { memberId, points: 30, reason: 'test grant', idempotencyKey: 'grant' } }, admin);
    expect(
      (await app.gql(REDEEM, { input: { memberId, points: 10, orderReference: 'OLD', idempotencyKey: 'pay' } }, storefront)).data
        ?.redeemPoints.points,
    ).toBe(-10);
    // The lot the order's points came from has expired since (its remaining 20 with it, at the next settle).
    await prisma.$executeRaw`UPDATE point_lots SET expires_at = now() - interval '1 day' WHERE member_id = ${memberId}::uuid`;
    await prisma.$executeRaw`UPDATE order_point_redemptions SET original_expires_at = now() - interval '1 day'
                             WHERE order_id IN (SELECT id FROM point_orders WHERE member_id = ${memberId}::uuid)`;

    const cancelled = await app.gql(CANCEL, { input: { memberId, orderReference: 'OLD', idempotencyKey: 'cancel' } }, storefront);
    expect(cancelled.data?.cancelOrder).toMatchObject({ __typename: 'CancelOrderPayload', pointsRestored: 10 });
    const due = await prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM point_lots WHERE member_id = ${memberId}::uuid AND expired_at IS NULL AND expires_at <= now()`;
    expect(due[0]!.n).toBe(0);
    // The grant's lot expired as the cancel began (the kernel settles first); the points it gave back, after.
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId }, select: { kind: true, amount: true } });
    expect(entries.map((entry) => `${entry.kind} ${entry.amount}`).sort()).toEqual([
      'ADJUST 30',
      'EXPIRE -10',
      'EXPIRE -20',
      'REDEEM -10',
      'RESTORE 10',
    ]);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect([member.availablePoints, member.pendingPoints]).toEqual([0, 0]);
  });
});
