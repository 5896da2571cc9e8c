import { describe, expect, it } from 'vitest';
import { createEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';

/**
 * An audit of an order's money paths (docs/orders.md): what a cancel or return gives back and takes back must add
 * up to what the order earned and what was paid on it, once, whatever the order of events.
 */
const { prisma, app } = useTestApp();

const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }`;
const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
  __typename ... on EarnPointsPayload { points } ... on Error { code message } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  __typename ... on RedeemPointsPayload { points } ... on Error { code message } } }`;
const OUTCOME = `pointsReversed pointsUnrecovered pointsRestored member { balance { available pending } }
  order { status pointsEarned pointsReversed pointsRedeemed pointsRestored amountReturned { amount } }`;
const CANCEL = `mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
  __typename ... on CancelOrderPayload { ${OUTCOME} } ... on ValidationError { field message } ... on Error { code message } } }`;
const RETURN = `mutation($input: ReturnOrderItemsInput!) { returnOrderItems(input: $input) {
  __typename ... on ReturnOrderItemsPayload { ${OUTCOME} } ... on ValidationError { field message } ... on Error { code message } } }`;

async function storefrontKey() {
  return app.apiKeyToken(['points:earn', 'points:redeem', 'vouchers:redeem', 'members:read']);
}

async function grant(memberId: string, points: number) {
  const granted = await app.gql(
    ADJUST,
    { input: { memberId, points, reason: 'test grant', idempotencyKey: `grant-${points}` } },
    await app.staffToken('ADMIN'),
  );
  expect(granted.data?.adjustPoints.__typename).toBe('AdjustPointsPayload');
}

async function balance(memberId: string) {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  return [member.availablePoints, member.pendingPoints];
}

/**
 * ORD paid with 200 points and 100.00 (2 × A at 50.00), earning 100 points; the return window over, the
 * member spent those 100 points on another order: nothing is left of what ORD earned.
 */
async function paidWithPointsAndEarnedSpent() {
  const storefront = await storefrontKey();
  const memberId = await app.enroll();
  await grant(memberId, 200);
  const paid = await app.gql(REDEEM, { input: { memberId, points: 200, orderReference: 'ORD', idempotencyKey: 'pay' } }, storefront);
  expect(paid.data?.redeemPoints.points).toBe(-200);
  const order = { reference: 'ORD', total: { amount: '100.00', currency: 'EUR' }, lines: [{ sku: 'A', quantity: 2, unitPrice: '50.00' }] };
  expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints.points).toBe(100);
  // The return window has passed: the order's points are available (the next operation releases them).
  await prisma.$executeRaw`UPDATE point_lots SET available_at = now() - interval '1 second'
                           WHERE id = (SELECT lot_id FROM point_orders WHERE member_id = ${memberId}::uuid AND order_ref = 'ORD')`;
  const spent = await app.gql(REDEEM, { input: { memberId, points: 100, orderReference: 'OTHER', idempotencyKey: 'spend' } }, storefront);
  expect(spent.data?.redeemPoints.points).toBe(-100);
  expect(await balance(memberId)).toEqual([0, 0]);
  return { memberId, storefront };
}

describe('earned points already spent, on an order paid with points', () => {
  it('a cancel takes the reversal out of the points it gives back: nothing unrecovered, the member nets what was paid less what was earned', async () => {
    const { memberId, storefront } = await paidWithPointsAndEarnedSpent();
    const cancelled = await app.gql(CANCEL, { input: { memberId, orderReference: 'ORD', idempotencyKey: 'cancel' } }, storefront);
    expect(cancelled.data?.cancelOrder).toMatchObject({
      __typename: 'CancelOrderPayload',
      pointsRestored: 200,
      pointsReversed: 100,
      pointsUnrecovered: 0,
      member: { balance: { available: 100, pending: 0 } },
    });
    expect(await balance(memberId)).toEqual([100, 0]);
  });

  it('a partial return does the same with its share, and a second return takes the rest: nothing unrecovered', async () => {
    const { memberId, storefront } = await paidWithPointsAndEarnedSpent();
    const ret = (key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'ORD', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: key } }, storefront);
    expect((await ret('r1')).data?.returnOrderItems).toMatchObject({
      pointsRestored: 100,
      pointsReversed: 50,
      pointsUnrecovered: 0,
      member: { balance: { available: 50, pending: 0 } },
    });
    expect((await ret('r2')).data?.returnOrderItems).toMatchObject({
      pointsRestored: 100,
      pointsReversed: 50,
      pointsUnrecovered: 0,
      member: { balance: { available: 100, pending: 0 } },
      order: { status: 'RETURNED', pointsReversed: 100, pointsRestored: 200, amountReturned: { amount: '100.00' } },
    });
  });
});

const REDEEM_VOUCHER = `mutation($input: RedeemVoucherInput!) { redeemVoucher(input: $input) {
  __typename ... on Error { code message } } }`;

/** The member's ledger by kind: [count, sum]. */
async function ledgerByKind(memberId: string) {
  const kinds = await prisma.ledgerEntry.groupBy({ by: ['kind'], where: { memberId }, _count: true, _sum: { amount: true } });
  return Object.fromEntries(kinds.map((k) => [k.kind, [k._count, k._sum.amount]]));
}

/**
 * A checkout: 300 points granted, `redeemed` of them paid on `reference`, a 10.00 voucher redeemed on it,
 * then the order earning on `total` with `lines`.
 */
async function checkout(
  reference: string,
  total: string,
  lines: { sku: string; quantity: number; unitPrice: string; category?: string }[],
  redeemed = 200,
) {
  const storefront = await storefrontKey();
  const memberId = await app.enroll();
  await grant(memberId, 300);
  if (redeemed > 0) {
    const paid = await app.gql(
      REDEEM,
      { input: { memberId, points: redeemed, orderReference: reference, idempotencyKey: 'pay' } },
      storefront,
    );
    expect(paid.data?.redeemPoints.points).toBe(-redeemed);
  }
  const voucher = await issueTestVoucher(prisma, memberId, { causeRef: `gesture-${memberId}` });
  const used = await app.gql(
    REDEEM_VOUCHER,
    { input: { code: voucher.code, orderRef: reference, orderTotal: '500.00', memberId, idempotencyKey: 'pay-voucher' } },
    storefront,
  );
  expect(used.data?.redeemVoucher.__typename).toBe('RedeemVoucherPayload');
  const order = { reference, total: { amount: total, currency: 'EUR' }, lines };
  const earned = await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront);
  expect(earned.data?.earnPoints.__typename).toBe('EarnPointsPayload');
  return { memberId, storefront, code: voucher.code, earned: earned.data!.earnPoints.points as number };
}

describe('earned points already spent, on an order paid with money only', () => {
  it('a first return reports what it could not take back, a second takes its own share from what is there: never more than earned', async () => {
    const storefront = await storefrontKey();
    const memberId = await app.enroll();
    const order = {
      reference: 'CASH',
      total: { amount: '100.00', currency: 'EUR' },
      lines: [{ sku: 'A', quantity: 2, unitPrice: '50.00' }],
    };
    expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints.points).toBe(100);
    await prisma.$executeRaw`UPDATE point_lots SET available_at = now() - interval '1 second' WHERE member_id = ${memberId}::uuid`;
    const spent = await app.gql(REDEEM, { input: { memberId, points: 100, idempotencyKey: 'spend' } }, storefront);
    expect(spent.data?.redeemPoints.points).toBe(-100);
    const ret = (key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'CASH', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: key } }, storefront);
    expect((await ret('r1')).data?.returnOrderItems).toMatchObject({ pointsReversed: 0, pointsUnrecovered: 50 });
    await grant(memberId, 30);
    // The second return's share is the other 50: 30 taken, 20 unrecovered; the first return's 50 are not asked again.
    expect((await ret('r2')).data?.returnOrderItems).toMatchObject({
      pointsReversed: 30,
      pointsUnrecovered: 20,
      member: { balance: { available: 0, pending: 0 } },
      order: { status: 'RETURNED', pointsReversed: 100 },
    });
    const returns = await prisma.orderReturn.findMany({ orderBy: { createdAt: 'asc' } });
    expect(returns.map((r) => [r.pointsReversed, r.pointsUnrecovered])).toEqual([
      [0, 50],
      [30, 20],
    ]);
  });
});

describe('returns in many steps add up to the order, to the cent and the point', () => {
  it('rounded shares, a free line, several units per line: every step, then the whole order back exactly once', async () => {
    // Shares of 99.99 by amount (23.31, 23.31, 0, 25.00 of 71.62): rounded by the largest remainder.
    const lines = [
      { sku: 'A', quantity: 3, unitPrice: '7.77' },
      { sku: 'B', quantity: 7, unitPrice: '3.33' },
      { sku: 'FREE', quantity: 1, unitPrice: '0.00' },
      { sku: 'D', quantity: 2, unitPrice: '12.50' },
    ];
    const { memberId, storefront, code, earned } = await checkout('MANY', '99.99', lines, 77);
    expect(earned).toBe(99);
    const shares = await prisma.orderLine.findMany({ where: { order: { memberId } }, orderBy: { position: 'asc' } });
    expect(shares.reduce((sum, l) => sum + Number(l.share.mul(100)), 0)).toBe(9999);
    const steps = [
      [{ sku: 'A', quantity: 1 }],
      [{ sku: 'B', quantity: 3 }],
      [{ sku: 'FREE', quantity: 1 }],
      [
        { sku: 'A', quantity: 1 },
        { sku: 'D', quantity: 1 },
      ],
      [{ sku: 'B', quantity: 4 }],
      [
        { sku: 'D', quantity: 1 },
        { sku: 'A', quantity: 1 },
      ],
    ];
    let [cents, reversed, restored] = [0, 0, 0];
    for (const [i, items] of steps.entries()) {
      const answer = await app.gql(RETURN, { input: { memberId, orderReference: 'MANY', items, idempotencyKey: `step-${i}` } }, storefront);
      const r = answer.data?.returnOrderItems;
      expect(r.__typename).toBe('ReturnOrderItemsPayload');
      reversed += r.pointsReversed;
      restored += r.pointsRestored;
      expect(r.pointsUnrecovered).toBe(0);
      expect(r.order.pointsReversed).toBe(reversed);
      expect(r.order.pointsRestored).toBe(restored);
      cents = Math.round(Number(r.order.amountReturned.amount) * 100);
      // Never ahead of the money: floor(earned × returned ÷ total), floor(redeemed × returned ÷ total).
      if (i < steps.length - 1) {
        expect(reversed).toBe(Math.floor((99 * cents) / 9999));
        expect(restored).toBe(Math.floor((77 * cents) / 9999));
      }
    }
    expect([cents, reversed, restored]).toEqual([9999, 99, 77]);
    const returns = await prisma.orderReturn.findMany({ where: { order: { memberId } } });
    expect(returns.reduce((sum, r) => sum + Number(r.amount.mul(100)), 0)).toBe(9999);
    expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('ISSUED');
    // Back where the member started: 300 granted, every point paid and earned undone.
    expect(await balance(memberId)).toEqual([300, 0]);
    // Nothing is left to return, by items or by amount, and a cancel now gives nothing twice.
    const more = await app.gql(
      RETURN,
      { input: { memberId, orderReference: 'MANY', amount: { amount: '0.01', currency: 'EUR' }, idempotencyKey: 'more' } },
      storefront,
    );
    expect(more.data?.returnOrderItems).toMatchObject({ __typename: 'ValidationError', field: 'amount.amount' });
    const cancel = await app.gql(CANCEL, { input: { memberId, orderReference: 'MANY', idempotencyKey: 'c' } }, storefront);
    expect(cancel.data?.cancelOrder).toMatchObject({ pointsReversed: 0, pointsRestored: 0, pointsUnrecovered: 0 });
    expect(await ledgerByKind(memberId)).toMatchObject({ REVERSAL: [expect.any(Number), -99], RESTORE: [expect.any(Number), 77] });
    expect(await prisma.voucherRedemption.count({ where: { voucher: { code }, rolledBackAt: { not: null } } })).toBe(1);
    expect((await prisma.voucher.findUniqueOrThrow({ where: { code } })).status).toBe('ISSUED');
    expect(await balance(memberId)).toEqual([300, 0]);
  });

  it('an order paid wholly with points (total 0.00) and free lines: the points come back by units, all of them at the end', async () => {
    const lines = [
      { sku: 'X', quantity: 2, unitPrice: '5.00' },
      { sku: 'Y', quantity: 1, unitPrice: '0.00' },
    ];
    const { memberId, storefront, earned } = await checkout('ZERO', '0.00', lines, 101);
    expect(earned).toBe(0);
    const ret = (items: { sku: string; quantity: number }[], key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'ZERO', items, idempotencyKey: key } }, storefront);
    // 0.00 paid: every share is 0; the units decide: 1 of 3, then 2 of 3, then all.
    expect((await ret([{ sku: 'X', quantity: 1 }], 'z1')).data?.returnOrderItems).toMatchObject({ pointsRestored: 33 });
    expect((await ret([{ sku: 'Y', quantity: 1 }], 'z2')).data?.returnOrderItems).toMatchObject({ pointsRestored: 34 });
    expect((await ret([{ sku: 'X', quantity: 1 }], 'z3')).data?.returnOrderItems).toMatchObject({
      pointsRestored: 34,
      order: { status: 'RETURNED', pointsRestored: 101 },
    });
    expect(await balance(memberId)).toEqual([300, 0]);
  });
});

describe('an order that earned under rules', () => {
  it('multipliers, exclusions and the order bonus are reversed in proportion to the money returned, all of them once everything is back', async () => {
    await createEarningRule(
      app.deps,
      {
        name: 'Gift cards earn nothing',
        conditions: { includeCategories: ['gift-cards'] },
        effect: { lineMultiplier: { multiplier: '0' } },
      },
      staffCaller('ADMIN'),
    );
    await createEarningRule(
      app.deps,
      { name: 'Triple shoes', conditions: { includeCategories: ['shoes'] }, effect: { lineMultiplier: { multiplier: '3' } } },
      staffCaller('ADMIN'),
    );
    await createEarningRule(app.deps, { name: 'Order bonus', effect: { orderBonus: { points: 20 } } }, staffCaller('ADMIN'));
    const lines = [
      { sku: 'SHOE', category: 'shoes', quantity: 1, unitPrice: '40.00' },
      { sku: 'GIFT', category: 'gift-cards', quantity: 1, unitPrice: '50.00' },
      { sku: 'SOCK', category: 'socks', quantity: 1, unitPrice: '10.00' },
    ];
    // 40 × 3 + 0 + 10 = 130, + 20 bonus = 150 points on 100.00 paid.
    const { memberId, storefront, earned } = await checkout('RULES', '100.00', lines, 0);
    expect(earned).toBe(150);
    const ret = (sku: string, key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'RULES', items: [{ sku, quantity: 1 }], idempotencyKey: key } }, storefront);
    // docs/orders.md: reversed so far = floor(earned × returned ÷ total), whatever the line earned on its own:
    // the gift card (which earned nothing) takes back half the points, the shoes (which earned 120) 60.
    expect((await ret('GIFT', 'g')).data?.returnOrderItems).toMatchObject({ pointsReversed: 75 });
    expect((await ret('SHOE', 's')).data?.returnOrderItems).toMatchObject({ pointsReversed: 60 });
    expect((await ret('SOCK', 'k')).data?.returnOrderItems).toMatchObject({
      pointsReversed: 15,
      order: { status: 'RETURNED', pointsEarned: 150, pointsReversed: 150 },
    });
    expect(await balance(memberId)).toEqual([300, 0]);
  });
});

/** 5 × TEE at 20.00 and 1 × CAP at 50.00, 135.00 paid after 200 points and a 10.00 voucher: 135 points earned. */
const TEE_AND_CAP = [
  { sku: 'TEE', quantity: 5, unitPrice: '20.00' },
  { sku: 'CAP', quantity: 1, unitPrice: '50.00' },
];

describe('concurrent requests on one order', () => {
  it('a return racing the cancel: whichever comes first, everything comes back once and the member is where they started', async () => {
    const orders = await Promise.all(Array.from({ length: 4 }, (_, i) => checkout(`RACE-${i}`, '135.00', TEE_AND_CAP)));
    await Promise.all(
      orders.map(({ memberId, storefront }, i) =>
        Promise.all([
          app.gql(
            RETURN,
            { input: { memberId, orderReference: `RACE-${i}`, items: [{ sku: 'TEE', quantity: 2 }], idempotencyKey: 'r' } },
            storefront,
          ),
          app.gql(CANCEL, { input: { memberId, orderReference: `RACE-${i}`, idempotencyKey: 'c' } }, storefront),
        ]),
      ),
    );
    for (const [i, { memberId, code }] of orders.entries()) {
      const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId, orderRef: `RACE-${i}` } });
      expect(order.cancelledAt).not.toBeNull();
      expect([order.amountRefunded.toFixed(2), order.pointsReversed, order.pointsRestored]).toEqual(['135.00', 135, 200]);
      expect(await ledgerByKind(memberId)).toMatchObject({ REVERSAL: [expect.any(Number), -135], RESTORE: [expect.any(Number), 200] });
      expect(await prisma.voucherRedemption.count({ where: { voucher: { code }, rolledBackAt: { not: null } } })).toBe(1);
      expect(await balance(memberId)).toEqual([300, 0]);
    }
  });

  it('a return racing a points redemption on the same order: every point redeemed on it comes back by the end, never more', async () => {
    const orders = await Promise.all(Array.from({ length: 4 }, (_, i) => checkout(`PAY-${i}`, '135.00', TEE_AND_CAP)));
    await Promise.all(
      orders.map(({ memberId, storefront }, i) =>
        Promise.all([
          app.gql(
            RETURN,
            { input: { memberId, orderReference: `PAY-${i}`, items: [{ sku: 'TEE', quantity: 2 }], idempotencyKey: 'r' } },
            storefront,
          ),
          app.gql(REDEEM, { input: { memberId, points: 100, orderReference: `PAY-${i}`, idempotencyKey: 'more' } }, storefront),
        ]),
      ),
    );
    for (const [i, { memberId, storefront }] of orders.entries()) {
      const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId, orderRef: `PAY-${i}` } });
      expect(order.pointsRedeemed).toBe(300);
      // Restored so far: floor(redeemed × 36 / 135) of what was redeemed when the return ran (200 or 300).
      expect([53, 80]).toContain(order.pointsRestored);
      const rest = await app.gql(CANCEL, { input: { memberId, orderReference: `PAY-${i}`, idempotencyKey: 'c' } }, storefront);
      expect(rest.data?.cancelOrder).toMatchObject({ order: { pointsRedeemed: 300, pointsRestored: 300, pointsReversed: 135 } });
      expect(await balance(memberId)).toEqual([300, 0]);
    }
  });

  it('the same return sent 10 times at once with one key: one return, ten identical answers; the key with other items is a conflict', async () => {
    const { memberId, storefront } = await checkout('SAME', '135.00', TEE_AND_CAP);
    const input = { memberId, orderReference: 'SAME', items: [{ sku: 'TEE', quantity: 2 }], idempotencyKey: 'once' };
    const answers = await Promise.all(Array.from({ length: 10 }, () => app.gql(RETURN, { input }, storefront)));
    const stripped = answers.map((a) => {
      const { member: _m, order: _o, ...rest } = a.data!.returnOrderItems;
      return rest;
    });
    expect(stripped[0]).toMatchObject({ __typename: 'ReturnOrderItemsPayload', pointsReversed: 36, pointsRestored: 53 });
    for (const answer of stripped) expect(answer).toEqual(stripped[0]);
    expect(await prisma.orderReturn.count()).toBe(1);
    const other = await app.gql(RETURN, { input: { ...input, items: [{ sku: 'TEE', quantity: 3 }] } }, storefront);
    expect(other.data?.returnOrderItems).toMatchObject({ __typename: 'IdempotencyConflictError' });
    const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId } });
    expect([order.amountRefunded.toFixed(2), order.pointsReversed, order.pointsRestored]).toEqual(['36.00', 36, 53]);
  });
});

describe('points given back with their original expiry', () => {
  it('every restore of the order, partial or last, expires when the first lot its redemptions spent would have', async () => {
    const admin = await app.staffToken('ADMIN');
    const switched = await app.gql(`mutation { updateProgram(input: { restoredPointsExpiry: ORIGINAL }) { __typename } }`, {}, admin);
    expect(switched.data?.updateProgram.__typename).toBe('UpdateProgramPayload');
    const storefront = await storefrontKey();
    const memberId = await app.enroll();
    await grant(memberId, 100);
    await grant(memberId, 50);
    const soon = new Date(Date.now() + 30 * 86_400_000);
    const later = new Date(Date.now() + 60 * 86_400_000);
    // The two grants' lots: the 100 expire later, the 50 sooner (so the first redemption spends the 50 first).
    await prisma.$executeRaw`UPDATE point_lots SET expires_at = CASE WHEN points = 50 THEN ${soon}::timestamptz ELSE ${later}::timestamptz END
                             WHERE member_id = ${memberId}::uuid`;
    for (const [points, key] of [
      [40, 'p1'],
      [60, 'p2'],
    ] as const) {
      const paid = await app.gql(REDEEM, { input: { memberId, points, orderReference: 'EXP', idempotencyKey: key } }, storefront);
      expect(paid.data?.redeemPoints.points).toBe(-points);
    }
    const order = { reference: 'EXP', total: { amount: '10.00', currency: 'EUR' }, lines: [{ sku: 'A', quantity: 2, unitPrice: '5.00' }] };
    expect((await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'earn' } }, storefront)).data?.earnPoints.points).toBe(10);
    for (const key of ['r1', 'r2']) {
      const back = await app.gql(
        RETURN,
        { input: { memberId, orderReference: 'EXP', items: [{ sku: 'A', quantity: 1 }], idempotencyKey: key } },
        storefront,
      );
      expect(back.data?.returnOrderItems).toMatchObject({ pointsRestored: 50, pointsReversed: 5 });
    }
    const restoredLots = await prisma.$queryRaw<{ points: number; expires_at: Date }[]>`
      SELECT l.points, l.expires_at FROM ledger_entries e JOIN point_lots l ON l.member_id = e.member_id AND l.created_at = e.created_at
      WHERE e.member_id = ${memberId}::uuid AND e.kind = 'RESTORE' AND l.points = e.amount`;
    expect(restoredLots).toHaveLength(2);
    for (const lot of restoredLots) expect(lot.expires_at.getTime()).toBe(Math.floor(soon.getTime()));
    expect(await balance(memberId)).toEqual([150, 0]);
  });
});

/** JSON.stringify's replacer for rows holding a bigint (members.lifetime_points). */
const bigintAsText = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);

describe('hostile input on cancelOrder and returnOrderItems', () => {
  /** Every row a cancel or return may write, and the order as it stands (lifetime points, a bigint, as text). */
  async function rows(memberId: string) {
    return JSON.stringify(
      [
        await prisma.ledgerEntry.count(),
        await prisma.pointLot.count(),
        await prisma.orderReturn.count(),
        await prisma.orderReturnLine.count(),
        await prisma.webhookEvent.count(),
        await prisma.voucherRedemption.count({ where: { rolledBackAt: { not: null } } }),
        await prisma.pointOrder.findMany({ where: { memberId }, orderBy: { id: 'asc' } }),
        await prisma.orderLine.findMany({ where: { order: { memberId } }, orderBy: { id: 'asc' } }),
        await prisma.member.findUniqueOrThrow({ where: { id: memberId } }),
      ],
      bigintAsText,
    );
  }

  it('is a typed error naming the field, and writes nothing', async () => {
    const { memberId, storefront } = await checkout('HOSTILE', '135.00', TEE_AND_CAP);
    const other = await checkout('THEIRS', '135.00', TEE_AND_CAP);
    await app.gql(
      RETURN,
      { input: { memberId, orderReference: 'HOSTILE', items: [{ sku: 'TEE', quantity: 2 }], idempotencyKey: 'first' } },
      storefront,
    );
    const before = await rows(memberId);
    const ret = (fields: Record<string, unknown>, key: string) =>
      app.gql(RETURN, { input: { memberId, orderReference: 'HOSTILE', idempotencyKey: key, ...fields } }, storefront);
    const cases: [string, Record<string, unknown>, string, string][] = [
      ['more than is left', { items: [{ sku: 'TEE', quantity: 4 }] }, 'ValidationError', 'items[0].quantity'],
      ['an unknown SKU', { items: [{ sku: 'SOCK', quantity: 1 }] }, 'ValidationError', 'items[0].sku'],
      [
        'a SKU twice',
        {
          items: [
            { sku: 'TEE', quantity: 2 },
            { sku: 'TEE', quantity: 2 },
          ],
        },
        'ValidationError',
        'items[1].sku',
      ],
      ['a negative quantity', { items: [{ sku: 'TEE', quantity: -1 }] }, 'ValidationError', 'items[0].quantity'],
      ['no units', { items: [{ sku: 'TEE', quantity: 0 }] }, 'ValidationError', 'items[0].quantity'],
      ['a huge quantity', { items: [{ sku: 'TEE', quantity: 2_000_000_000 }] }, 'ValidationError', 'items[0].quantity'],
      [
        'items and an amount',
        { items: [{ sku: 'TEE', quantity: 1 }], amount: { amount: '1.00', currency: 'EUR' } },
        'ValidationError',
        'items',
      ],
      ['neither', { items: [] }, 'ValidationError', 'items'],
      ['a negative amount', { amount: { amount: '-1.00', currency: 'EUR' } }, 'ValidationError', 'amount.amount'],
      ['a zero amount', { amount: { amount: '0', currency: 'EUR' } }, 'ValidationError', 'amount.amount'],
      ['a third decimal', { amount: { amount: '1.001', currency: 'EUR' } }, 'ValidationError', 'amount.amount'],
      ['an exponent', { amount: { amount: '1e3', currency: 'EUR' } }, 'BAD_USER_INPUT', 'amount.amount'],
      ['more than is left of the money', { amount: { amount: '99.01', currency: 'EUR' } }, 'ValidationError', 'amount.amount'],
      ['a huge amount', { amount: { amount: '9999999999.99', currency: 'EUR' } }, 'ValidationError', 'amount.amount'],
      ['another currency', { amount: { amount: '1.00', currency: 'USD' } }, 'ValidationError', 'amount.currency'],
    ];
    for (const [i, [what, fields, typename, field]] of cases.entries()) {
      const answer = await ret(fields, `bad-${i}`);
      if (typename === 'BAD_USER_INPUT') {
        // Refused by the Decimal scalar before the service: the variable's path named, nothing run.
        expect(answer.errors?.[0], what).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
        expect(answer.errors?.[0]?.message, what).toContain(`input.${field}`);
        continue;
      }
      expect(answer.errors, what).toBeUndefined();
      expect(answer.data?.returnOrderItems, what).toMatchObject({ __typename: typename, field });
    }
    // Another member's order, named with this member's id, is no order of theirs; with theirs, not this one's.
    const theirs = await ret({ orderReference: 'THEIRS', items: [{ sku: 'TEE', quantity: 1 }] }, 'theirs');
    expect(theirs.data?.returnOrderItems).toMatchObject({ __typename: 'NotFoundError' });
    const cancelTheirs = await app.gql(CANCEL, { input: { memberId, orderReference: 'THEIRS', idempotencyKey: 'ct' } }, storefront);
    expect(cancelTheirs.data?.cancelOrder).toMatchObject({ __typename: 'NotFoundError' });
    const crossed = await app.gql(
      RETURN,
      { input: { memberId: other.memberId, orderReference: 'HOSTILE', items: [{ sku: 'TEE', quantity: 1 }], idempotencyKey: 'x' } },
      storefront,
    );
    expect(crossed.data?.returnOrderItems).toMatchObject({ __typename: 'NotFoundError' });
    expect(await rows(memberId)).toBe(before);
  });
});
