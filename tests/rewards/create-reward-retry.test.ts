import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * createReward's optional idempotency key: an admin (or the console) that retries a creation whose answer was lost is
 * answered the reward its first call created, and the catalogue holds it once. Without a key every call creates one,
 * as before.
 */

const CREATE = `mutation($input: CreateRewardInput!) { createReward(input: $input) {
  __typename
  ... on CreateRewardPayload { reward { id name pointsCost stock voucherValue { amount currency } } }
  ... on IdempotencyConflictError { idempotencyKey }
  ... on ValidationError { field }
  ... on Error { message code } } }`;

// A pool above the six concurrent creations below.
const { prisma, app } = useTestApp(10);

const REWARD = { name: '5 € voucher', pointsCost: 500, voucherValueMoney: { amount: '5.00', currency: 'EUR' }, stock: 20 };

const create = async (input: Record<string, unknown>, staffId = 'catalogue-admin') =>
  app.gql(CREATE, { input }, await app.staffToken('ADMIN', staffId)).then((r) => r.data?.createReward ?? r.errors);

describe('createReward with an idempotency key', () => {
  it('the same key and input again answers the first reward; the catalogue holds it once', async () => {
    const input = { ...REWARD, idempotencyKey: 'reward-once' };
    const first = await create(input);
    expect(first).toMatchObject({
      __typename: 'CreateRewardPayload',
      reward: { name: '5 € voucher', pointsCost: 500, stock: 20, voucherValue: { amount: '5.00', currency: 'EUR' } },
    });
    const afterFirst = await tableRowCounts(prisma);
    expect([afterFirst.rewards, afterFirst.idempotency_records]).toEqual([1, 1]);

    expect(await create(input)).toEqual(first);
    expect(await create(input)).toEqual(first);
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
  });

  it('six concurrent creations with one key create one reward, and all six answer it', async () => {
    const input = { ...REWARD, name: 'Tote bag', idempotencyKey: 'reward-race' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(input)));

    for (const answer of answers) expect(answer).toMatchObject({ __typename: 'CreateRewardPayload', reward: { name: 'Tote bag' } });
    expect(new Set(answers.map((answer) => JSON.stringify(answer))).size).toBe(1);
    expect(await prisma.reward.count()).toBe(1);
    expect(await prisma.idempotencyRecord.count()).toBe(1);
  });

  it('the same key with another input is an IdempotencyConflictError and writes nothing', async () => {
    const first = await create({ ...REWARD, idempotencyKey: 'reward-conflict' });
    expect(first).toMatchObject({ __typename: 'CreateRewardPayload' });
    const afterFirst = await tableRowCounts(prisma);

    for (const other of [{ pointsCost: 600 }, { name: '10 € voucher' }, { stock: null }]) {
      expect(await create({ ...REWARD, ...other, idempotencyKey: 'reward-conflict' })).toEqual({
        __typename: 'IdempotencyConflictError',
        idempotencyKey: 'reward-conflict',
        message: expect.any(String),
        code: 'IDEMPOTENCY_CONFLICT',
      });
    }
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
  });

  it('a key is the caller’s own: another admin with the same key creates their own reward', async () => {
    const input = { ...REWARD, idempotencyKey: 'reward-shared-key' };
    const mine = await create(input, 'admin-a');
    const theirs = await create(input, 'admin-b');
    expect(theirs).toMatchObject({ __typename: 'CreateRewardPayload' });
    expect(theirs.reward.id).not.toBe(mine.reward.id);
    expect(await prisma.reward.count()).toBe(2);
  });

  it('a malformed key is a ValidationError and writes nothing', async () => {
    await create({ ...REWARD, name: 'First' }); // the program row exists, as it does after any use
    const before = await tableRowCounts(prisma);
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(121)]) {
      expect(await create({ ...REWARD, idempotencyKey })).toMatchObject({ __typename: 'ValidationError', field: 'idempotencyKey' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('a refused creation leaves the key free: the corrected retry with it creates the reward', async () => {
    const refused = await create({ ...REWARD, pointsCost: 0, idempotencyKey: 'reward-fixed' });
    expect(refused).toMatchObject({ __typename: 'ValidationError', field: 'pointsCost' });
    expect(await prisma.idempotencyRecord.count()).toBe(0);
    expect(await create({ ...REWARD, idempotencyKey: 'reward-fixed' })).toMatchObject({ __typename: 'CreateRewardPayload' });
    expect(await prisma.reward.count()).toBe(1);
  });
});

describe('createReward without an idempotency key', () => {
  it('creates a reward per call, as before: a retry without a key makes a second one, and no answer is stored', async () => {
    const first = await create(REWARD);
    const second = await create({ ...REWARD, idempotencyKey: null });
    expect([first.__typename, second.__typename]).toEqual(['CreateRewardPayload', 'CreateRewardPayload']);
    expect(second.reward.id).not.toBe(first.reward.id);
    expect(await prisma.reward.count()).toBe(2);
    expect(await prisma.idempotencyRecord.count()).toBe(0);
  });
});
