import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { useTestApp } from '../support/app.js';
import { switchCurrencyMutation } from '../support/currency-switch.js';

/**
 * Money keeps the currency it was decided in (docs/domain-rules.md): a reward
 * priced before the program's currency changed is not sold — its voucher would
 * be worth the old figure in a currency the checkout no longer takes — until an
 * admin sets its value anew, which stores the program's current currency.
 */
const { prisma, app } = useTestApp();
const ADMIN: Caller = { actor: { type: 'STAFF', id: 'admin' }, role: 'ADMIN' };

const CREATE = `mutation($i: CreateRewardInput!) { createReward(input: $i) { __typename
  ... on CreateRewardPayload { reward { id voucherValue { amount currency } } } ... on Error { message } } }`;
const UPDATE = `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename
  ... on UpdateRewardPayload { reward { voucherValue { amount currency } } } ... on Error { message } } }`;
const REDEEM = `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename
  ... on RedeemRewardPayload { pointsSpent voucher { code value { amount currency } } }
  ... on RewardUnavailableError { reason }
  ... on Error { message code } } }`;
const VALIDATE = `query($code: String!) { validateVoucher(code: $code, orderTotal: "50.00") { valid reason } }`;
const TO_USD = switchCurrencyMutation('USD');

/** A 5.00 EUR reward with 3 units, then the program moves to USD. */
async function rewardPricedInEuros(admin: string): Promise<string> {
  const created = await app.gql(CREATE, { i: { name: 'Voucher 5', pointsCost: 500, voucherValue: '5.00', stock: 3 } }, admin);
  expect(created.data?.createReward.reward.voucherValue).toEqual({ amount: '5.00', currency: 'EUR' });
  expect((await app.gql(TO_USD, {}, admin)).data?.updateProgram.__typename).toBe('UpdateProgramPayload');
  return created.data!.createReward.reward.id;
}

async function memberWith(points: number): Promise<string> {
  const memberId = await app.enroll();
  await adjustPoints(app.deps, { memberId, points, reason: 'test grant', idempotencyKey: `grant-${memberId}` }, ADMIN);
  return memberId;
}

describe('rewards after the program currency changed', () => {
  it('redeemReward of a reward priced in another currency → RewardUnavailableError OTHER_CURRENCY; no debit, no stock taken, no voucher', async () => {
    const admin = await app.staffToken('ADMIN');
    const rewardId = await rewardPricedInEuros(admin);
    const memberId = await memberWith(1000);

    const bought = await app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: 'buy-1' } }, await app.memberToken(memberId));

    expect(bought.data?.redeemReward).toMatchObject({
      __typename: 'RewardUnavailableError',
      reason: 'OTHER_CURRENCY',
      code: 'REWARD_UNAVAILABLE',
    });
    expect(bought.data?.redeemReward.message).toMatch(/5\.00 EUR.*USD/);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(1000);
    expect((await prisma.reward.findFirstOrThrow()).stock).toBe(3);
    expect(await prisma.voucher.count()).toBe(0);
    expect(await prisma.ledgerEntry.count({ where: { kind: 'REDEEM' } })).toBe(0);
    expect(await prisma.rewardRedemption.count()).toBe(0);
    expect(await prisma.idempotencyRecord.count({ where: { operation: { startsWith: 'redeemReward' } } })).toBe(0);
  });

  it('updateReward with a new voucher value stores the program’s current currency, and the reward sells again in it', async () => {
    const admin = await app.staffToken('ADMIN');
    const rewardId = await rewardPricedInEuros(admin);

    const updated = await app.gql(UPDATE, { i: { id: rewardId, voucherValueMoney: { amount: '6.00', currency: 'USD' } } }, admin);
    expect(updated.data?.updateReward).toEqual({
      __typename: 'UpdateRewardPayload',
      reward: { voucherValue: { amount: '6.00', currency: 'USD' } },
    });

    const memberId = await memberWith(1000);
    const bought = await app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: 'buy-2' } }, await app.memberToken(memberId));
    expect(bought.data?.redeemReward).toMatchObject({
      __typename: 'RedeemRewardPayload',
      pointsSpent: 500,
      voucher: { value: { amount: '6.00', currency: 'USD' } },
    });
    const shop = await app.apiKeyToken(['vouchers:redeem']);
    const checked = await app.gql(VALIDATE, { code: bought.data!.redeemReward.voucher.code }, shop);
    expect(checked.data?.validateVoucher).toEqual({ valid: true, reason: null });
  });

  it('updateReward that leaves the voucher value alone keeps the old currency: the reward stays unavailable', async () => {
    const admin = await app.staffToken('ADMIN');
    const rewardId = await rewardPricedInEuros(admin);

    const renamed = await app.gql(UPDATE, { i: { id: rewardId, name: 'Voucher five' } }, admin);
    expect(renamed.data?.updateReward.reward.voucherValue).toEqual({ amount: '5.00', currency: 'EUR' });

    const memberId = await memberWith(1000);
    const bought = await app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: 'buy-3' } }, await app.memberToken(memberId));
    expect(bought.data?.redeemReward).toMatchObject({ __typename: 'RewardUnavailableError', reason: 'OTHER_CURRENCY' });
  });
});
