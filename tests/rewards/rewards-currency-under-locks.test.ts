import { describe, expect, it } from 'vitest';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { currencySwitch } from '../support/currency-switch.js';
import { tableRowCounts } from '../support/db.js';
import { type Hold, whileHolding } from '../support/holding.js';

/**
 * A reward's voucher value keeps the currency the admin gave it in (docs/domain-rules.md): `createReward` and
 * `updateReward` hold a MoneyInput's currency against the program's once their locks are granted — the reward's
 * row, then the program's row, which a change of currency holds until it commits — not only in the resolver
 * before them. Each case lets an admin's change of the program from EUR to JPY commit while the reward change
 * waits, and expects a ValidationError on `voucherValueMoney.currency` with nothing written.
 */
const { prisma, app } = useTestApp();

const CREATE = `mutation($i: CreateRewardInput!) { createReward(input: $i) { __typename
  ... on CreateRewardPayload { reward { id voucherValue { amount currency } } }
  ... on ValidationError { field }
  ... on Error { message } } }`;
const UPDATE = `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename
  ... on UpdateRewardPayload { reward { voucherValue { amount currency } } }
  ... on ValidationError { field }
  ... on Error { message } } }`;

const rowCounts = () => tableRowCounts(prisma);

/** The reward's row, as a purchase taking stock (or another admin's change) holds it. */
const holdRewards: Hold = (holder) => holder.query('SELECT 1 FROM rewards FOR UPDATE');

/**
 * An admin's change of the currency to JPY in flight: the program's row locked as updateProgram locks it, the new
 * currency written, committed when the holder releases.
 */
const switchingToYen: Hold = async (holder) => {
  await holder.query('SELECT 1 FROM program WHERE id = 1 FOR UPDATE');
  await holder.query(`UPDATE program SET settings = jsonb_set(settings, '{currency}', '"JPY"'), version = version + 1 WHERE id = 1`);
};

describe('updateReward: the voucher value keeps its currency', () => {
  it('a value given in EUR is not stored when the program switched to JPY while the change waited for the reward', async () => {
    const admin = await app.staffToken('ADMIN');
    const created = await app.gql(CREATE, { i: { name: 'Voucher 5', pointsCost: 500, voucherValue: '5.00' } }, admin);
    const rewardId: string = created.data!.createReward.reward.id;
    const row = await prisma.reward.findFirstOrThrow();
    const toYen = await currencySwitch(prisma, 'JPY');
    const before = await rowCounts();

    const answer = await whileHolding(
      prisma,
      holdRewards,
      () => app.gql(UPDATE, { i: { id: rewardId, voucherValueMoney: { amount: '6.00', currency: 'EUR' } } }, admin),
      { meanwhile: () => updateProgram(app.deps, { patch: toYen }, staffCaller('ADMIN')) },
    );

    // Before: the currency was read before the wait and stored after it: 6.00 EUR in a program that runs in JPY.
    expect(answer.data?.updateReward, JSON.stringify(answer)).toMatchObject({
      __typename: 'ValidationError',
      field: 'voucherValueMoney.currency',
    });
    expect(await prisma.reward.findFirstOrThrow()).toEqual(row);
    expect({ ...(await rowCounts()), program_changes: before.program_changes }).toEqual(before);
  });

  it('the deprecated voucherValue, which names no currency, is taken in the currency the program has once the change may write', async () => {
    const admin = await app.staffToken('ADMIN');
    const created = await app.gql(CREATE, { i: { name: 'Voucher 5', pointsCost: 500, voucherValue: '5.00' } }, admin);
    const rewardId: string = created.data!.createReward.reward.id;
    const toYen = await currencySwitch(prisma, 'JPY');

    const answer = await whileHolding(prisma, holdRewards, () => app.gql(UPDATE, { i: { id: rewardId, voucherValue: '600' } }, admin), {
      meanwhile: () => updateProgram(app.deps, { patch: toYen }, staffCaller('ADMIN')),
    });

    // Before: 600.00 EUR, the currency read before the wait.
    expect(answer.data?.updateReward).toEqual({
      __typename: 'UpdateRewardPayload',
      reward: { voucherValue: { amount: '600.00', currency: 'JPY' } },
    });
  });
});

describe('createReward: the voucher value keeps its currency', () => {
  it('a value given in EUR is not stored when a change of the program to JPY commits while the reward waits for it', async () => {
    await loadProgram(prisma);
    const admin = await app.staffToken('ADMIN');
    const before = await rowCounts();

    const answer = await whileHolding(prisma, switchingToYen, () =>
      app.gql(CREATE, { i: { name: 'Voucher 5', pointsCost: 500, voucherValueMoney: { amount: '5.00', currency: 'EUR' } } }, admin),
    );

    // Before: no wait — a 5.00 EUR reward created under a change that made the program JPY, unsellable from its first moment.
    expect(answer.data?.createReward, JSON.stringify(answer)).toMatchObject({
      __typename: 'ValidationError',
      field: 'voucherValueMoney.currency',
    });
    expect(await prisma.reward.count()).toBe(0);
    expect({ ...(await rowCounts()), program_changes: before.program_changes }).toEqual(before);
  });

  it('the deprecated voucherValue is created in the currency the program switched to while the reward waited', async () => {
    await loadProgram(prisma);
    const admin = await app.staffToken('ADMIN');

    const answer = await whileHolding(prisma, switchingToYen, () =>
      app.gql(CREATE, { i: { name: 'Voucher 500', pointsCost: 500, voucherValue: '500' } }, admin),
    );

    // Before: 500.00 EUR, the currency of before the change.
    expect(answer.data?.createReward).toMatchObject({
      __typename: 'CreateRewardPayload',
      reward: { voucherValue: { amount: '500.00', currency: 'JPY' } },
    });
  });
});
