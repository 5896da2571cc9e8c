import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
  __typename ... on EarnPointsPayload { points entry { id amount balanceAfter } member { balance { available pending } } }
  ... on Error { message code } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  __typename ... on RedeemPointsPayload { points entry { id amount balanceAfter } }
  ... on InsufficientPointsError { available requested }
  ... on Error { message code } } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
  __typename ... on AdjustPointsPayload { points } ... on Error { message } } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) {
  __typename ... on RefundOrderPayload { points pointsUnrecovered entry { id amount } }
  ... on Error { message code } } }`;

const { prisma, app } = useTestApp();

async function grant(memberId: string, points: number, key = `grant-${points}`) {
  const admin = await app.staffToken('ADMIN');
  const result = await app.gql(ADJUST, { input: { memberId, points, reason: 'test grant', idempotencyKey: key } }, admin);
  expect(result.data?.adjustPoints.__typename).toBe('AdjustPointsPayload');
}

describe('points under concurrency', () => {
  it('200 concurrent redeems of 10 on a 100-point balance: exactly 10 succeed and the balance ends at 0', async () => {
    const memberId = await app.enroll();
    await grant(memberId, 100);
    const key = await app.apiKeyToken(['points:redeem']);

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => app.gql(REDEEM, { input: { memberId, points: 10, idempotencyKey: `redeem-${i}` } }, key)),
    );

    const outcomes = results.map((r) => r.data?.redeemPoints.__typename ?? JSON.stringify(r.errors));
    expect(outcomes.filter((o) => o === 'RedeemPointsPayload')).toHaveLength(10);
    expect(outcomes.filter((o) => o === 'InsufficientPointsError')).toHaveLength(190);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.availablePoints).toBe(0);
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'REDEEM' } })).toBe(10);
  });

  it('the same idempotency key sent 50 times at once gives one ledger entry and 50 identical answers', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['points:earn', 'members:read']);
    const input = { memberId, orderRef: 'order-1', orderTotal: '120.00', idempotencyKey: 'earn-order-1' };

    const results = await Promise.all(Array.from({ length: 50 }, () => app.gql(EARN, { input }, key)));

    const answers = new Set(results.map((r) => JSON.stringify(r)));
    expect(answers.size).toBe(1);
    expect(results[0]!.data?.earnPoints).toMatchObject({ __typename: 'EarnPointsPayload', points: 120 });
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(1);
    expect(await prisma.pointOrder.count({ where: { memberId } })).toBe(1);
  });

  it('the same key with a different request is an IdempotencyConflictError and changes nothing', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['points:earn']);
    await app.gql(EARN, { input: { memberId, orderRef: 'o-1', orderTotal: '10.00', idempotencyKey: 'k-1' } }, key);
    const second = await app.gql(EARN, { input: { memberId, orderRef: 'o-2', orderTotal: '10.00', idempotencyKey: 'k-1' } }, key);
    expect(second.data?.earnPoints.__typename).toBe('IdempotencyConflictError');
    expect(await prisma.pointOrder.count({ where: { memberId } })).toBe(1);
  });

  it('a refund repeated (same key, concurrently, and again with a new key) reverses the points once', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['points:earn']);
    await app.gql(EARN, { input: { memberId, orderRef: 'o-r', orderTotal: '80.00', idempotencyKey: 'earn-r' } }, key);

    const refund = { memberId, orderRef: 'o-r', idempotencyKey: 'refund-r' };
    const repeated = await Promise.all(Array.from({ length: 10 }, () => app.gql(REFUND, { input: refund }, key)));
    expect(new Set(repeated.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(repeated[0]!.data?.refundOrder).toMatchObject({ __typename: 'RefundOrderPayload', points: -80 });

    const again = await app.gql(REFUND, { input: { ...refund, idempotencyKey: 'refund-r-2' } }, key);
    expect(again.data?.refundOrder).toMatchObject({ __typename: 'ValidationError' });
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'REVERSAL' } })).toBe(1);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    expect(member.pendingPoints + member.availablePoints).toBe(0);
  });

  it('concurrent partial refunds never reverse more than the order earned', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['points:earn']);
    await app.gql(EARN, { input: { memberId, orderRef: 'o-p', orderTotal: '100.00', idempotencyKey: 'earn-p' } }, key);

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.gql(REFUND, { input: { memberId, orderRef: 'o-p', amount: '10.00', idempotencyKey: `part-${i}` } }, key),
      ),
    );
    const ok = results.filter((r) => r.data?.refundOrder.__typename === 'RefundOrderPayload');
    expect(ok).toHaveLength(10);
    const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId } });
    expect(order.pointsReversed).toBe(100);
    expect(order.amountRefunded.toString()).toBe('100');
    const reversed = await prisma.ledgerEntry.aggregate({ where: { memberId, kind: 'REVERSAL' }, _sum: { amount: true } });
    expect(reversed._sum.amount).toBe(-100);
  });
});
