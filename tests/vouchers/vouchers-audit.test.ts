import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { discountFor, redeemVoucher, validateVoucher, type IssueVoucherInput } from '../../src/domain/vouchers/vouchers.service.js';
import { generateVoucherCode } from '../../src/domain/vouchers/voucher-code.js';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { apiKeyCaller } from '../support/callers.js';
import { whileHolding } from '../support/holding.js';

/**
 * An adversarial audit of voucher redemption (double spending, value from nothing). What tests/vouchers/*.test.ts
 * covers already (100 keys redeeming one code, a key replayed, expiry, minimum, another member's code, currencies,
 * NOT_FOUND for a member asking for another's ISSUED code) is not repeated here.
 */

const REDEEM = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
  ... on RedeemVoucherPayload { orderRef discount { amount currency } voucher { code status } }
  ... on VoucherNotRedeemableError { reason }
  ... on ValidationError { field }
  ... on Error { message code } } }`;
const VALIDATE = `query($code: String!, $total: String!) {
  validateVoucher(code: $code, orderTotal: $total) { valid reason discount { amount currency } voucher { code } } }`;
const LOOKUP = `query($c: String!) { voucher(code: $c) { code status } }`;
const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status } } ... on ValidationError { field message } ... on Error { message code } } }`;
const CANCEL = `mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
  __typename ... on CancelOrderPayload { vouchersRestored { code status } vouchersExpired { code } }
  ... on ValidationError { field message } ... on Error { code message } } }`;

const { prisma, app } = useTestApp();
const SHOP = apiKeyCaller('shop', ['vouchers:redeem']);

const issue = (memberId: string, overrides: Partial<IssueVoucherInput> = {}) => issueTestVoucher(prisma, memberId, overrides);

/** Every row a redemption writes, counted. */
async function written() {
  const [redemptions, orders, keys, events] = await Promise.all([
    prisma.voucherRedemption.count(),
    prisma.pointOrder.count(),
    prisma.idempotencyRecord.count(),
    prisma.webhookEvent.count(),
  ]);
  return { redemptions, orders, keys, events };
}

describe('redeemVoucher racing voidVoucher', () => {
  it('redeem and void of one code at once, 15 times: one of them wins each time, and the rows say which', async () => {
    const memberId = await app.enroll();
    const storefront = await app.apiKeyToken(['vouchers:redeem']);
    const agent = await app.staffToken('AGENT');
    for (let round = 0; round < 15; round++) {
      const voucher = await issue(memberId);
      const [redeemed, voided] = await Promise.all([
        app.gql(
          REDEEM,
          { i: { code: voucher.code, orderRef: `o-${round}`, orderTotal: '20.00', idempotencyKey: `r-${round}` } },
          storefront,
        ),
        app.gql(VOID, { i: { code: voucher.code, reason: 'fraud check', idempotencyKey: `v-${round}` } }, agent),
      ]);
      const stored = await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } });
      const rows = await prisma.voucherRedemption.count({ where: { voucherId: voucher.id } });
      if (redeemed.data?.redeemVoucher.__typename === 'RedeemVoucherPayload') {
        expect(voided.data?.voidVoucher).toMatchObject({ __typename: 'ValidationError', field: 'code' });
        expect([stored.status, rows]).toEqual(['REDEEMED', 1]);
      } else {
        expect(redeemed.data?.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', reason: 'VOIDED' });
        expect(voided.data?.voidVoucher.__typename).toBe('VoidVoucherPayload');
        expect([stored.status, rows]).toEqual(['VOIDED', 0]);
      }
    }
  });

  it('a void committed while the redemption waits for the voucher: VOIDED, and nothing written', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    const before = await written();
    const redeeming = whileHolding(
      prisma,
      (holder) =>
        holder.query(`UPDATE vouchers SET status = 'VOIDED', voided_at = now(), void_reason = 'fraud' WHERE id = $1`, [voucher.id]),
      () => redeemVoucher(app.deps, { code: voucher.code, orderRef: 'o-1', orderTotal: '20.00', idempotencyKey: 'r-1' }, SHOP),
    );
    await expect(redeeming).rejects.toMatchObject({ code: 'VOUCHER_NOT_REDEEMABLE', reason: 'VOIDED' });
    expect(await written()).toEqual(before);
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('VOIDED');
  });
});

describe('redeemVoucher at the edges of value', () => {
  it('at the instant of expiresAt the voucher is EXPIRED (validate and redeem agree); a millisecond before it is valid', async () => {
    const memberId = await app.enroll();
    const expiresAt = new Date(Date.now() + 60_000);
    const voucher = await issue(memberId, { expiresAt });
    const justBefore = { ...app.deps, now: () => new Date(expiresAt.getTime() - 1) };
    const atExpiry = { ...app.deps, now: () => expiresAt };

    expect(await validateVoucher(justBefore, { code: voucher.code, orderTotal: '5.00' }, SHOP)).toMatchObject({ valid: true });
    expect(await validateVoucher(atExpiry, { code: voucher.code, orderTotal: '5.00' }, SHOP)).toMatchObject({
      valid: false,
      reason: 'EXPIRED',
    });
    const before = await written();
    await expect(
      redeemVoucher(atExpiry, { code: voucher.code, orderRef: 'o', orderTotal: '5.00', idempotencyKey: 'k' }, SHOP),
    ).rejects.toMatchObject({ reason: 'EXPIRED' });
    expect(await written()).toEqual(before);
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('EXPIRED');
  });

  it('a percentage of any order, rounded to the cent, is never negative and never more than the order', () => {
    const totals = ['0.00', '0.01', '0.02', '0.03', '0.05', '0.07', '0.99', '1.01', '33.33', '66.67', '9999999999.99'];
    for (let percent = 1; percent <= 100; percent++) {
      for (const total of totals) {
        const discount = discountFor({ valueType: 'PERCENT', amount: null, percent }, new Decimal(total));
        expect(discount.gte(0) && discount.lte(total) && discount.decimalPlaces() <= 2, `${percent} % of ${total}`).toBe(true);
      }
    }
    // A fixed amount takes at most the order.
    const fixed = { valueType: 'FIXED' as const, amount: new Decimal('10.00') as never, percent: null };
    expect(discountFor(fixed, new Decimal('3.33')).toFixed(2)).toBe('3.33');
    expect(discountFor(fixed, new Decimal('0.00')).toFixed(2)).toBe('0.00');
  });

  it('a cancel gives the voucher back once; it then redeems once more on another order, never again on the cancelled one', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    const storefront = await app.apiKeyToken(['vouchers:redeem', 'points:earn']);
    const redeemOn = (orderRef: string, idempotencyKey: string) =>
      app.gql(REDEEM, { i: { code: voucher.code, orderRef, orderTotal: '20.00', memberId, idempotencyKey } }, storefront);
    const first = await redeemOn('A', 'pay-a');
    expect(first.data?.redeemVoucher.__typename).toBe('RedeemVoucherPayload');

    const cancels = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        app.gql(CANCEL, { input: { memberId, orderReference: 'A', idempotencyKey: `cancel-${i}` } }, storefront),
      ),
    );
    const restored = cancels.filter((c) => c.data?.cancelOrder.__typename === 'CancelOrderPayload');
    expect(restored).toHaveLength(1);
    expect(restored[0]!.data?.cancelOrder.vouchersRestored).toEqual([{ code: voucher.code, status: 'ISSUED' }]);
    expect(await prisma.voucherRedemption.count({ where: { rolledBackAt: { not: null } } })).toBe(1);

    // The cancelled order takes it no more; the first request replayed answers as before and writes nothing.
    expect((await redeemOn('A', 'pay-a-again')).data?.redeemVoucher).toMatchObject({ __typename: 'ValidationError', field: 'orderRef' });
    const replay = await redeemOn('A', 'pay-a');
    expect(replay.data?.redeemVoucher).toMatchObject({ __typename: 'RedeemVoucherPayload', voucher: { status: 'ISSUED' } });
    expect(await prisma.voucherRedemption.count()).toBe(1);

    // Two other orders at once: one redemption, live once more.
    const again = await Promise.all([redeemOn('B', 'pay-b'), redeemOn('C', 'pay-c')]);
    expect(again.map((r) => r.data?.redeemVoucher.__typename).sort()).toEqual(['RedeemVoucherPayload', 'VoucherNotRedeemableError']);
    expect(await prisma.voucherRedemption.count({ where: { voucherId: voucher.id, rolledBackAt: null } })).toBe(1);
    expect(await prisma.voucherRedemption.count({ where: { voucherId: voucher.id } })).toBe(2);
  });

  it('a closed member’s voucher is still redeemed once (docs/domain-rules.md), and the member stays closed', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    await prisma.member.update({ where: { id: memberId }, data: { status: 'CLOSED' } });
    const storefront = await app.apiKeyToken(['vouchers:redeem']);

    const answers = await Promise.all(
      ['x', 'y', 'z'].map((k) =>
        app.gql(REDEEM, { i: { code: voucher.code, orderRef: `o-${k}`, orderTotal: '20.00', idempotencyKey: k } }, storefront),
      ),
    );
    expect(answers.filter((a) => a.data?.redeemVoucher.__typename === 'RedeemVoucherPayload')).toHaveLength(1);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).status).toBe('CLOSED');
  });
});

describe('codes a member token cannot learn about', () => {
  it('another member’s code, redeemed, voided or expired, answers exactly as a code nobody holds', async () => {
    const me = await app.enroll();
    const other = await app.enroll();
    const storefront = await app.apiKeyToken(['vouchers:redeem']);
    const agent = await app.staffToken('AGENT');
    const redeemed = await issue(other);
    await app.gql(REDEEM, { i: { code: redeemed.code, orderRef: 'o', orderTotal: '20.00', idempotencyKey: 'r' } }, storefront);
    const voided = await issue(other);
    await app.gql(VOID, { i: { code: voided.code, reason: 'fraud check', idempotencyKey: 'v' } }, agent);
    const expired = await issue(other);
    await prisma.voucher.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const token = await app.memberToken(me);

    const nobodys = generateVoucherCode();
    const asked = async (code: string) => ({
      validate: await app.gql(VALIDATE, { code, total: '20.00' }, token),
      lookup: await app.gql(LOOKUP, { c: code }, token),
    });
    const unknown = await asked(nobodys);
    expect(unknown.validate.data?.validateVoucher).toMatchObject({ valid: false, reason: 'NOT_FOUND', voucher: null });
    for (const voucher of [redeemed, voided, expired]) {
      expect(await asked(voucher.code)).toEqual(unknown);
      // Typed as a person would: lower case, no dashes.
      expect(await asked(voucher.code.toLowerCase().replaceAll('-', ' '))).toEqual(unknown);
    }
    // Asking changed nothing of the other member's expired voucher (only its holder's reads mark it).
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: expired.id } })).status).toBe('ISSUED');
  });
});
