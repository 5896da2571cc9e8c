import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { redeemVoucher, type IssueVoucherInput } from '../../src/domain/vouchers/vouchers.service.js';
import { generateVoucherCode } from '../../src/domain/vouchers/voucher-code.js';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { apiKeyCaller, STOREFRONT_SCOPES, staffCaller } from '../support/callers.js';
import { currencySwitch, switchCurrencyMutation } from '../support/currency-switch.js';
import { holdMember, whileHolding } from '../support/holding.js';

const REDEEM = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
  ... on RedeemVoucherPayload { orderRef discount { amount currency } voucher { code status redeemedAt } }
  ... on VoucherNotRedeemableError { reason }
  ... on Error { message code } } }`;
const VALIDATE = `query($code: String!, $total: String!, $memberId: ID) {
  validateVoucher(code: $code, orderTotal: $total, memberId: $memberId) {
    valid reason discount { amount currency } voucher { code status } } }`;
const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status voidedAt voidReason } } ... on Error { message code } } }`;

const { prisma, app } = useTestApp();

/** Issues a voucher the way compensation, goodwill and reward purchases do: inside a transaction. */
const issue = (memberId: string, overrides: Partial<IssueVoucherInput> = {}) => issueTestVoucher(prisma, memberId, overrides);

async function redemptionRows() {
  return prisma.voucherRedemption.count();
}

describe('redeemVoucher', () => {
  it('100 concurrent redemptions of one code from 100 storefront keys: exactly one succeeds, 99 are REDEEMED', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    const keys = await Promise.all(Array.from({ length: 100 }, (_, i) => app.apiKeyToken(['vouchers:redeem'], `shop-${i}`)));

    const results = await Promise.all(
      keys.map((key, i) =>
        app.gql(REDEEM, { i: { code: voucher.code, orderRef: `order-${i}`, orderTotal: '50.00', idempotencyKey: `r-${i}` } }, key),
      ),
    );

    const outcomes = results.map((r) => r.data?.redeemVoucher ?? r.errors);
    const ok = outcomes.filter((o) => o.__typename === 'RedeemVoucherPayload');
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ discount: { amount: '10.00', currency: 'EUR' }, voucher: { status: 'REDEEMED' } });
    const refused = outcomes.filter((o) => o.__typename === 'VoucherNotRedeemableError');
    expect(refused).toHaveLength(99);
    expect(refused.every((o) => o.reason === 'REDEEMED' && o.code === 'VOUCHER_NOT_REDEEMABLE')).toBe(true);
    expect(await redemptionRows()).toBe(1);
    const stored = await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } });
    expect(stored.status).toBe('REDEEMED');
    expect(stored.redeemedAt).not.toBeNull();
  });

  it('the same idempotency key repeated returns the first result; another key is REDEEMED; another request is a conflict', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId, { value: { type: 'PERCENT', percent: 15 } });
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const input = { code: voucher.code, orderRef: 'order-1', orderTotal: '33.33', memberId, idempotencyKey: 'pay-1' };

    const concurrent = await Promise.all(Array.from({ length: 20 }, () => app.gql(REDEEM, { i: input }, key)));
    expect(new Set(concurrent.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(concurrent[0]!.data?.redeemVoucher).toMatchObject({
      __typename: 'RedeemVoucherPayload',
      orderRef: 'order-1',
      discount: { amount: '5.00' }, // 15 % of 33.33 = 4.9995, to the cent
    });
    const later = await app.gql(REDEEM, { i: input }, key);
    expect(later).toEqual(concurrent[0]);

    const otherKey = await app.gql(REDEEM, { i: { ...input, idempotencyKey: 'pay-2' } }, key);
    expect(otherKey.data?.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', reason: 'REDEEMED' });
    const otherRequest = await app.gql(REDEEM, { i: { ...input, orderTotal: '40.00' } }, key);
    expect(otherRequest.data?.redeemVoucher.__typename).toBe('IdempotencyConflictError');
    expect(await redemptionRows()).toBe(1);
  });

  it('an expired voucher cannot be redeemed (EXPIRED) and is marked EXPIRED', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    await prisma.voucher.update({ where: { id: voucher.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const key = await app.apiKeyToken(['vouchers:redeem']);

    const result = await app.gql(REDEEM, { i: { code: voucher.code, orderRef: 'o', orderTotal: '20.00', idempotencyKey: 'e-1' } }, key);

    expect(result.data?.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', reason: 'EXPIRED' });
    expect(await redemptionRows()).toBe(0);
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('EXPIRED');
  });

  it("refuses below the minimum order value and another member's voucher, and changes nothing", async () => {
    const memberId = await app.enroll();
    const otherId = await app.enroll();
    const voucher = await issue(memberId, { minimumOrderValue: '25.00' });
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const base = { code: voucher.code, orderRef: 'o', orderTotal: '30.00' };

    const below = await app.gql(REDEEM, { i: { ...base, orderTotal: '24.99', idempotencyKey: 'm-1' } }, key);
    expect(below.data?.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', reason: 'MINIMUM_NOT_MET' });
    const wrong = await app.gql(REDEEM, { i: { ...base, memberId: otherId, idempotencyKey: 'm-2' } }, key);
    expect(wrong.data?.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', reason: 'WRONG_MEMBER' });
    expect(await redemptionRows()).toBe(0);
    expect(await prisma.idempotencyRecord.count()).toBe(0);

    // The code as a person types it: lower case, no dashes.
    const typed = voucher.code.toLowerCase().replaceAll('-', '');
    const ok = await app.gql(
      REDEEM,
      { i: { ...base, code: typed, memberId: encodeGlobalID('Member', memberId), idempotencyKey: 'm-3' } },
      key,
    );
    expect(ok.data?.redeemVoucher).toMatchObject({ __typename: 'RedeemVoucherPayload', voucher: { code: voucher.code } });
  });

  it('a voucher worth euros takes nothing off an order in dollars once the program runs in dollars; a bare percentage still applies', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const euros = await issue(memberId);
    const eurosAbove = await issue(memberId, { value: { type: 'PERCENT', percent: 10 }, minimumOrderValue: '20.00' });
    const percent = await issue(memberId, { value: { type: 'PERCENT', percent: 10 } });
    expect([euros.currency, eurosAbove.currency, percent.currency]).toEqual(['EUR', 'EUR', 'EUR']);
    const admin = await app.staffToken('ADMIN');
    expect((await app.gql(switchCurrencyMutation('USD'), {}, admin)).data?.updateProgram.__typename).toBe('UpdateProgramPayload');
    const redeem = (code: string, idempotencyKey: string) =>
      app.gql(REDEEM, { i: { code, orderRef: 'usd-order', orderTotalMoney: { amount: '50.00', currency: 'USD' }, idempotencyKey } }, key);

    for (const [voucher, idempotencyKey] of [
      [euros, 'v-eur'],
      [eurosAbove, 'v-eur-min'],
    ] as const) {
      expect((await app.gql(VALIDATE, { code: voucher.code, total: '50.00', memberId }, key)).data?.validateVoucher).toMatchObject({
        valid: false,
        reason: 'OTHER_CURRENCY',
        discount: { amount: '0.00' },
      });
      expect((await redeem(voucher.code, idempotencyKey)).data?.redeemVoucher).toMatchObject({
        __typename: 'VoucherNotRedeemableError',
        reason: 'OTHER_CURRENCY',
      });
      expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('ISSUED');
    }
    expect(await prisma.voucherRedemption.count({ where: { voucher: { memberId } } })).toBe(0);
    // Ten percent of an order is ten percent in any currency.
    expect((await redeem(percent.code, 'v-pct')).data?.redeemVoucher).toMatchObject({
      __typename: 'RedeemVoucherPayload',
      discount: { amount: '5.00', currency: 'USD' },
      voucher: { status: 'REDEEMED' },
    });
  });

  it('a redemption that waited for the member takes nothing off an order in dollars once the program switched to dollars meanwhile', async () => {
    const memberId = await app.enroll();
    const euros = await issue(memberId);
    // Another operation holds the member; the redemption waits for it, and meanwhile an admin switches to dollars.
    const redeeming = whileHolding(
      prisma,
      holdMember(memberId),
      () =>
        redeemVoucher(
          app.deps,
          { code: euros.code, orderRef: 'usd-order', orderTotal: '50.00', idempotencyKey: 'v-1' },
          apiKeyCaller('shop', STOREFRONT_SCOPES),
        ),
      { meanwhile: async () => updateProgram(app.deps, { patch: await currencySwitch(prisma, 'USD') }, staffCaller('ADMIN')) },
    );

    // Before: the order's currency was read in the redemption's first snapshot, EUR: 10.00 off an order in dollars.
    await expect(redeeming).rejects.toMatchObject({ code: 'VOUCHER_NOT_REDEEMABLE', reason: 'OTHER_CURRENCY' });
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: euros.id } })).status).toBe('ISSUED');
    expect(await redemptionRows()).toBe(0);
    expect(await prisma.pointOrder.count()).toBe(0);
  });

  it('an unknown code is NotFoundError; malformed input is ValidationError; members and agents may not redeem', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const input = { code: voucher.code, orderRef: 'o', orderTotal: '10.00', idempotencyKey: 'x-1' };

    const unknown = await app.gql(REDEEM, { i: { ...input, code: 'TRU-AAAA-BBBB-CCCC-DDDD' } }, key);
    expect(unknown.data?.redeemVoucher).toMatchObject({ __typename: 'NotFoundError' });
    const badTotal = await app.gql(REDEEM, { i: { ...input, orderTotal: '-3' } }, key);
    expect(badTotal.data?.redeemVoucher).toMatchObject({ __typename: 'ValidationError' });
    const member = await app.gql(REDEEM, { i: input }, await app.memberToken(memberId));
    expect(member.data?.redeemVoucher.__typename).toBe('ForbiddenError');
    const agent = await app.gql(REDEEM, { i: input }, await app.staffToken('AGENT'));
    expect(agent.data?.redeemVoucher.__typename).toBe('ForbiddenError');
    const readOnly = await app.gql(REDEEM, { i: input }, await app.apiKeyToken(['members:read']));
    expect(readOnly.data?.redeemVoucher.__typename).toBe('ForbiddenError');
    expect(await redemptionRows()).toBe(0);
  });
});

describe('validateVoucher', () => {
  it('says why a code cannot be used: redeemed, expired, voided, minimum not met, wrong member, not found', async () => {
    const memberId = await app.enroll();
    const otherId = await app.enroll();
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const agent = await app.staffToken('AGENT');

    const redeemed = await issue(memberId);
    await app.gql(REDEEM, { i: { code: redeemed.code, orderRef: 'o', orderTotal: '10.00', idempotencyKey: 'v-1' } }, key);
    const expired = await issue(memberId);
    await prisma.voucher.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    const voided = await issue(memberId);
    const voidResult = await app.gql(VOID, { i: { code: voided.code, reason: 'issued by mistake', idempotencyKey: 'void-1' } }, agent);
    expect(voidResult.data?.voidVoucher.__typename).toBe('VoidVoucherPayload');
    const minimum = await issue(memberId, { minimumOrderValue: '50.00' });
    const fine = await issue(memberId);

    const cases: [string, string, string | null, boolean, string | null, string][] = [
      [redeemed.code, '20.00', null, false, 'REDEEMED', '0.00'],
      [expired.code, '20.00', null, false, 'EXPIRED', '0.00'],
      [voided.code, '20.00', null, false, 'VOIDED', '0.00'],
      [minimum.code, '49.99', null, false, 'MINIMUM_NOT_MET', '0.00'],
      [minimum.code, '50.00', null, true, null, '10.00'],
      [fine.code, '20.00', otherId, false, 'WRONG_MEMBER', '0.00'],
      ['TRU-AAAA-BBBB-CCCC-DDDD', '20.00', null, false, 'NOT_FOUND', '0.00'],
      [fine.code, '6.50', memberId, true, null, '6.50'], // a fixed value never exceeds the order
    ];
    for (const [code, total, forMember, valid, reason, discount] of cases) {
      const result = await app.gql(VALIDATE, { code, total, memberId: forMember }, key);
      expect(result.errors, code).toBeUndefined();
      expect(result.data?.validateVoucher, `${code} ${total}`).toMatchObject({ valid, reason, discount: { amount: discount } });
      const hidden = reason === 'WRONG_MEMBER' || reason === 'NOT_FOUND';
      expect(result.data?.validateVoucher.voucher === null, code).toBe(hidden);
    }
    // Validation marked the expiry it found, and redeemed nothing.
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: expired.id } })).status).toBe('EXPIRED');
    expect(await redemptionRows()).toBe(1);
  });

  it("a member token asking for another member's code learns NOT_FOUND, as for a code nobody holds; a storefront learns WRONG_MEMBER", async () => {
    const ownerId = await app.enroll();
    const otherId = await app.enroll();
    const voucher = await issue(ownerId, { minimumOrderValue: '5.00' });
    const other = await app.memberToken(otherId);
    const owner = await app.memberToken(ownerId);

    const foreign = await app.gql(VALIDATE, { code: voucher.code, total: '20.00' }, other);
    expect(foreign.data?.validateVoucher).toEqual({
      valid: false,
      reason: 'NOT_FOUND',
      discount: { amount: '0.00', currency: 'EUR' },
      voucher: null,
    });
    const nobodys = await app.gql(VALIDATE, { code: generateVoucherCode(), total: '20.00' }, other);
    expect(nobodys).toEqual(foreign);
    const shop = await app.apiKeyToken(['vouchers:redeem']);
    const forOther = await app.gql(
      `query($c: String!, $m: ID) { validateVoucher(code: $c, orderTotal: "20.00", memberId: $m) { valid reason } }`,
      { c: voucher.code, m: otherId },
      shop,
    );
    expect(forOther.data?.validateVoucher).toEqual({ valid: false, reason: 'WRONG_MEMBER' });
    const lookup = await app.gql(`query($c: String!) { voucher(code: $c) { code } }`, { c: voucher.code }, other);
    expect(lookup.data?.voucher).toBeNull();

    const own = await app.gql(VALIDATE, { code: voucher.code, total: '20.00' }, owner);
    expect(own.data?.validateVoucher).toMatchObject({ valid: true, voucher: { code: voucher.code, status: 'ISSUED' } });
  });
});

describe('voidVoucher', () => {
  it('staff void an issued voucher once; a redeemed voucher cannot be voided; members and storefronts may not', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    const agent = await app.staffToken('AGENT');
    const input = { code: voucher.code, reason: 'customer asked', idempotencyKey: 'void-a' };

    const byMember = await app.gql(VOID, { i: input }, await app.memberToken(memberId));
    expect(byMember.data?.voidVoucher.__typename).toBe('ForbiddenError');
    const byShop = await app.gql(VOID, { i: input }, await app.apiKeyToken(['vouchers:redeem']));
    expect(byShop.data?.voidVoucher.__typename).toBe('ForbiddenError');

    const voided = await app.gql(VOID, { i: input }, agent);
    expect(voided.data?.voidVoucher.voucher).toMatchObject({ status: 'VOIDED', voidReason: 'customer asked' });
    const again = await app.gql(VOID, { i: { ...input, reason: 'second thoughts', idempotencyKey: 'void-b' } }, agent);
    expect(again.data?.voidVoucher.voucher).toMatchObject({ status: 'VOIDED', voidReason: 'customer asked' });

    const redeemed = await issue(memberId);
    const key = await app.apiKeyToken(['vouchers:redeem']);
    await app.gql(REDEEM, { i: { code: redeemed.code, orderRef: 'o', orderTotal: '10.00', idempotencyKey: 'r' } }, key);
    const late = await app.gql(VOID, { i: { code: redeemed.code, reason: 'too late', idempotencyKey: 'void-c' } }, agent);
    expect(late.data?.voidVoucher).toMatchObject({ __typename: 'ValidationError' });
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: redeemed.id } })).status).toBe('REDEEMED');
  });
});

describe('issueVoucher', () => {
  it('a retried grant for the same cause, even concurrent, returns the one existing voucher', async () => {
    const memberId = await app.enroll();
    const cause = { causeType: 'FAILURE' as const, causeRef: 'failure-1', kind: 'COMPENSATION' as const };
    const vouchers = await Promise.all(Array.from({ length: 10 }, () => issue(memberId, cause)));
    expect(new Set(vouchers.map((v) => v.id)).size).toBe(1);
    expect(await prisma.voucher.count()).toBe(1);

    const defaults = vouchers[0]!;
    expect(defaults.currency).toBe('EUR');
    const days = (defaults.expiresAt.getTime() - defaults.issuedAt.getTime()) / 86_400_000;
    expect(days).toBe(90); // voucherValidityDays
  });

  it('refuses a value the database would refuse, with a typed error', async () => {
    const memberId = await app.enroll();
    await expect(issue(memberId, { value: { type: 'PERCENT', percent: 101 } })).rejects.toMatchObject({ field: 'percent' });
    await expect(issue(memberId, { value: { type: 'FIXED', amount: '0' } })).rejects.toMatchObject({ field: 'amount' });
    await expect(issue(memberId, { expiresAt: new Date(Date.now() - 1000) })).rejects.toMatchObject({ field: 'expiresAt' });
    expect(await prisma.voucher.count()).toBe(0);
  });
});

describe('vouchers on the member', () => {
  const MEMBER_VOUCHERS = `{ me {
    activeVouchers { code expiresAt value { amount } }
    vouchers(first: 10) { edges { node { code status } } }
    redeemed: vouchers(status: REDEEMED) { edges { node { code } } }
    expired: vouchers(status: EXPIRED) { edges { node { code } } } } }`;

  it('activeVouchers lists redeemable vouchers, soonest expiry first; vouchers filters by status as of now', async () => {
    const memberId = await app.enroll();
    const now = Date.now();
    const later = await issue(memberId, { expiresAt: new Date(now + 30 * 86_400_000) });
    const sooner = await issue(memberId, { expiresAt: new Date(now + 2 * 86_400_000) });
    const expired = await issue(memberId);
    await prisma.voucher.update({ where: { id: expired.id }, data: { expiresAt: new Date(now - 1000) } });
    const redeemed = await issue(memberId);
    const key = await app.apiKeyToken(['vouchers:redeem']);
    await app.gql(REDEEM, { i: { code: redeemed.code, orderRef: 'o', orderTotal: '10.00', idempotencyKey: 'r' } }, key);
    await issue(await app.enroll()); // someone else's

    const result = await app.gql(MEMBER_VOUCHERS, {}, await app.memberToken(memberId));
    expect(result.errors).toBeUndefined();
    const me = result.data!.me;
    expect(me.activeVouchers.map((v: { code: string }) => v.code)).toEqual([sooner.code, later.code]);
    expect(me.vouchers.edges).toHaveLength(4);
    expect(me.redeemed.edges.map((e: any) => e.node.code)).toEqual([redeemed.code]);
    // Not yet marked: the status reads EXPIRED all the same.
    expect(me.expired.edges.map((e: any) => e.node.code)).toEqual([expired.code]);
    expect(me.vouchers.edges.find((e: any) => e.node.code === expired.code).node.status).toBe('EXPIRED');
  });

  it('storefronts with vouchers:redeem or members:read see a voucher by code, others do not', async () => {
    const memberId = await app.enroll();
    const voucher = await issue(memberId);
    const LOOKUP = `query($c: String!) { voucher(code: $c) { code kind status value { amount currency } member { id } } }`;

    for (const scopes of [['vouchers:redeem'], ['members:read']] as const) {
      const token = await app.apiKeyToken([...scopes]);
      const found = await app.gql(`query($c: String!) { voucher(code: $c) { code kind } }`, { c: voucher.code }, token);
      expect(found.data?.voucher, scopes[0]).toEqual({ code: voucher.code, kind: 'GOODWILL' });
    }
    const agent = await app.gql(LOOKUP, { c: voucher.code }, await app.staffToken('AGENT'));
    expect(agent.data?.voucher).toMatchObject({ code: voucher.code, member: { id: encodeGlobalID('Member', memberId) } });
    const earnOnly = await app.gql(LOOKUP, { c: voucher.code }, await app.apiKeyToken(['points:earn']));
    expect(earnOnly.data?.voucher ?? null).toBeNull();
    expect(JSON.stringify(earnOnly)).not.toContain(voucher.code);
    const anonymous = await app.gql(LOOKUP, { c: voucher.code });
    expect(JSON.stringify(anonymous)).not.toContain(voucher.code);
  });
});
