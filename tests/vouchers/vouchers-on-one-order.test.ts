import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { VoucherNotRedeemableError } from '../../src/domain/errors.js';
import { redeemVoucher, validateVoucher, type IssueVoucherInput, type VoucherValue } from '../../src/domain/vouchers/vouchers.service.js';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { apiKeyCaller } from '../support/callers.js';

/**
 * Several vouchers redeemed on one order (docs/orders.md): together they take off at most the order's total. Each
 * takes off what it is worth, but at most what the order's vouchers redeemed before it (not rolled back) left; when
 * they left nothing, it is refused (ORDER_FULLY_DISCOUNTED) and the member keeps it. validateVoucher, given the
 * order, answers the same.
 */

const VALIDATE = `query($code: String!, $total: String!, $memberId: ID, $orderRef: String) {
  validateVoucher(code: $code, orderTotal: $total, memberId: $memberId, orderRef: $orderRef) {
    valid reason discount { amount } } }`;
const REDEEM = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
  ... on RedeemVoucherPayload { discount { amount } voucher { status } }
  ... on VoucherNotRedeemableError { reason } ... on Error { code message } } }`;

const { prisma, app } = useTestApp();
const SHOP = apiKeyCaller('shop', ['vouchers:redeem']);

const issue = (memberId: string, value: VoucherValue, overrides: Partial<IssueVoucherInput> = {}) =>
  issueTestVoucher(prisma, memberId, { value, ...overrides });

const fixed = (amount: string): VoucherValue => ({ type: 'FIXED', amount });

/** A redemption's discount, or the reason it was refused. */
async function redeem(code: string, memberId: string, orderRef: string, orderTotal: string, key: string = randomUUID()): Promise<string> {
  try {
    return (await redeemVoucher(app.deps, { code, orderRef, orderTotal, memberId, idempotencyKey: key }, SHOP)).discount;
  } catch (error) {
    if (error instanceof VoucherNotRedeemableError) return error.reason;
    throw error;
  }
}

/** What the order's live redemptions take off it, in all. */
async function discounted(memberId: string, orderRef: string): Promise<Decimal> {
  const rows = await prisma.voucherRedemption.findMany({ where: { orderRef, order: { memberId }, rolledBackAt: null } });
  return rows.reduce((sum, row) => sum.plus(row.discount.toString()), new Decimal(0));
}

describe('several vouchers on one order', () => {
  it('take off at most the order total; the voucher that finds nothing left is refused and stays ISSUED', async () => {
    const memberId = await app.enroll();
    const first = await issue(memberId, fixed('30.00'));
    const second = await issue(memberId, fixed('30.00'));
    const third = await issue(memberId, { type: 'PERCENT', percent: 10 });

    expect(await redeem(first.code, memberId, 'ORD-1', '50.00')).toBe('30.00');
    // 30.00 are worth it, 20.00 were left.
    expect(await redeem(second.code, memberId, 'ORD-1', '50.00')).toBe('20.00');
    expect(await redeem(third.code, memberId, 'ORD-1', '50.00')).toBe('ORDER_FULLY_DISCOUNTED');
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: third.id } })).status).toBe('ISSUED');
    expect(await prisma.voucherRedemption.count({ where: { voucherId: third.id } })).toBe(0);
    expect((await discounted(memberId, 'ORD-1')).toFixed(2)).toBe('50.00');

    // The member keeps it for another order.
    expect(await redeem(third.code, memberId, 'ORD-2', '50.00')).toBe('5.00');
  });

  it('a percentage takes its share of the order, at most what is left; the stored redemption and a replay say the same', async () => {
    const memberId = await app.enroll();
    const amount = await issue(memberId, fixed('40.00'));
    const percent = await issue(memberId, { type: 'PERCENT', percent: 50 });
    expect(await redeem(amount.code, memberId, 'ORD-P', '50.00')).toBe('40.00');
    expect(await redeem(percent.code, memberId, 'ORD-P', '50.00', 'pay-percent')).toBe('10.00');
    // A replay answers as the first did.
    expect(await redeem(percent.code, memberId, 'ORD-P', '50.00', 'pay-percent')).toBe('10.00');
    const row = await prisma.voucherRedemption.findFirstOrThrow({ where: { voucherId: percent.id } });
    expect(row.discount.toFixed(2)).toBe('10.00');
  });

  it('validateVoucher given the order answers as redeemVoucher would; without it, as before (the voucher alone)', async () => {
    const memberId = await app.enroll();
    const first = await issue(memberId, fixed('45.00'));
    const second = await issue(memberId, fixed('10.00'));
    const third = await issue(memberId, fixed('10.00'));
    const storefront = await app.apiKeyToken(['vouchers:redeem']);
    const validate = async (code: string, orderRef: string | null) =>
      (await app.gql(VALIDATE, { code, total: '50.00', memberId, orderRef }, storefront)).data?.validateVoucher;

    expect(await validate(second.code, 'ORD-V')).toEqual({ valid: true, reason: null, discount: { amount: '10.00' } });
    const redeemed = await app.gql(
      REDEEM,
      { i: { code: first.code, orderRef: 'ORD-V', orderTotal: '50.00', memberId, idempotencyKey: 'pay-1' } },
      storefront,
    );
    expect(redeemed.data?.redeemVoucher).toEqual({
      __typename: 'RedeemVoucherPayload',
      discount: { amount: '45.00' },
      voucher: { status: 'REDEEMED' },
    });

    expect(await validate(second.code, 'ORD-V')).toEqual({ valid: true, reason: null, discount: { amount: '5.00' } });
    expect(await validate(second.code, null)).toEqual({ valid: true, reason: null, discount: { amount: '10.00' } });
    // Service and GraphQL alike.
    expect(await validateVoucher(app.deps, { code: second.code, orderTotal: '50.00', memberId, orderRef: 'ORD-V' }, SHOP)).toMatchObject({
      valid: true,
      discount: '5.00',
    });

    const used = await app.gql(
      REDEEM,
      { i: { code: second.code, orderRef: 'ORD-V', orderTotal: '50.00', memberId, idempotencyKey: 'pay-2' } },
      storefront,
    );
    expect(used.data?.redeemVoucher).toMatchObject({ discount: { amount: '5.00' } });
    expect(await validate(third.code, 'ORD-V')).toEqual({ valid: false, reason: 'ORDER_FULLY_DISCOUNTED', discount: { amount: '0.00' } });
    const refused = await app.gql(
      REDEEM,
      { i: { code: third.code, orderRef: 'ORD-V', orderTotal: '50.00', memberId, idempotencyKey: 'pay-3' } },
      storefront,
    );
    expect(refused.data?.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', reason: 'ORDER_FULLY_DISCOUNTED' });
    // Another member's order of the same reference is another order.
    const other = await app.enroll();
    const theirs = await issue(other, fixed('10.00'));
    expect((await app.gql(VALIDATE, { code: theirs.code, total: '50.00', memberId: other, orderRef: 'ORD-V' }, storefront)).data).toEqual({
      validateVoucher: { valid: true, reason: null, discount: { amount: '10.00' } },
    });
  });

  it('two vouchers redeemed on one order at once never take off more than its total: 12 rounds', async () => {
    const memberId = await app.enroll();
    for (let round = 0; round < 12; round++) {
      const orderRef = `ORD-RACE-${round}`;
      const a = await issue(memberId, fixed('40.00'));
      const b = await issue(memberId, round % 2 === 0 ? fixed('50.00') : { type: 'PERCENT', percent: 100 });
      const answers = await Promise.all([redeem(a.code, memberId, orderRef, '50.00'), redeem(b.code, memberId, orderRef, '50.00')]);

      expect((await discounted(memberId, orderRef)).toFixed(2)).toBe('50.00');
      const total = answers.filter((answer) => answer !== 'ORDER_FULLY_DISCOUNTED').reduce((sum, d) => sum.plus(d), new Decimal(0));
      expect(total.toFixed(2)).toBe('50.00');
      // a first: 40.00 and 10.00; b first: 50.00, and a is refused and kept.
      expect([
        ['10.00', '40.00'],
        ['50.00', 'ORDER_FULLY_DISCOUNTED'],
      ]).toContainEqual([...answers].sort());
      const kept = answers[0] === 'ORDER_FULLY_DISCOUNTED' ? a : answers[1] === 'ORDER_FULLY_DISCOUNTED' ? b : null;
      if (kept) expect((await prisma.voucher.findUniqueOrThrow({ where: { id: kept.id } })).status).toBe('ISSUED');
    }
  });
});
