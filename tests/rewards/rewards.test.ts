import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { type GraphQLResponse, useTestApp } from '../support/app.js';

const CREATE = `mutation($i: CreateRewardInput!) { createReward(input: $i) { __typename
  ... on CreateRewardPayload { reward { id name pointsCost stock active voucherValue { amount currency } } }
  ... on Error { message code } ... on ValidationError { field } } }`;
const UPDATE = `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename
  ... on UpdateRewardPayload { reward { pointsCost stock voucherValue { amount } } } ... on Error { message } } }`;
const RETIRE = `mutation($i: RetireRewardInput!) { retireReward(input: $i) { __typename
  ... on RetireRewardPayload { reward { active retiredAt } } ... on Error { message } } }`;
const REDEEM = `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename
  ... on RedeemRewardPayload { pointsSpent voucher { code kind status value { amount currency } }
    member { balance { available } } entry { kind amount causeType } reward { stock } }
  ... on RewardUnavailableError { reason }
  ... on InsufficientPointsError { available requested }
  ... on Error { message code } } }`;
const LIST = `query($all: Boolean) { rewards(first: 50, includeRetired: $all) { edges { node { name active } } } }`;

const ADMIN: Caller = { actor: { type: 'STAFF', id: 'admin' }, role: 'ADMIN' };

const { prisma, app } = useTestApp();
let admin: string;

beforeEach(async () => {
  admin = await app.staffToken('ADMIN');
});

async function grant(memberId: string, points: number) {
  await adjustPoints(app.deps, { memberId, points, reason: 'test grant', idempotencyKey: `grant-${memberId}` }, ADMIN);
}

async function createReward(overrides: Record<string, unknown> = {}): Promise<string> {
  const result = await app.gql(CREATE, { i: { name: '5 € voucher', pointsCost: 500, voucherValue: '5.00', ...overrides } }, admin);
  expect(result.data?.createReward.__typename).toBe('CreateRewardPayload');
  return result.data!.createReward.reward.id;
}

async function state(rewardId: string) {
  const [reward, vouchers, redeems, redemptions, negative] = await Promise.all([
    prisma.reward.findUniqueOrThrow({ where: { id: decodeReward(rewardId) } }),
    prisma.voucher.count({ where: { kind: 'REWARD' } }),
    prisma.ledgerEntry.count({ where: { kind: 'REDEEM' } }),
    prisma.rewardRedemption.count(),
    prisma.member.count({ where: { OR: [{ availablePoints: { lt: 0 } }, { pendingPoints: { lt: 0 } }] } }),
  ]);
  return { stock: reward.stock, vouchers, redeems, redemptions, negative };
}

const decodeReward = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

function tally(results: GraphQLResponse[]) {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const answer = r.data?.redeemReward;
    const key = answer ? answer.__typename + (answer.reason ? `:${answer.reason}` : '') : JSON.stringify(r.errors);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe('redeemReward under concurrency', () => {
  it('100 members buy a reward with stock 10 at once: exactly 10 vouchers, 10 REDEEM entries, stock 0', async () => {
    const rewardId = await createReward({ stock: 10 });
    const members = await Promise.all(Array.from({ length: 100 }, () => app.enroll()));
    await Promise.all(members.map((id) => grant(id, 500)));
    const tokens = await Promise.all(members.map((id) => app.memberToken(id)));

    const results = await Promise.all(
      members.map((memberId, i) => app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: `buy-${i}` } }, tokens[i])),
    );

    expect(tally(results)).toEqual({ RedeemRewardPayload: 10, 'RewardUnavailableError:OUT_OF_STOCK': 90 });
    expect(await state(rewardId)).toEqual({ stock: 0, vouchers: 10, redeems: 10, redemptions: 10, negative: 0 });
    const spent = await prisma.member.count({ where: { availablePoints: 0 } });
    expect(spent).toBe(10);
    expect(await prisma.member.count({ where: { availablePoints: 500 } })).toBe(90);
  });

  it('one member with points for all 100 buys 100 times at once: 10 succeed, stock 0, 10 × cost debited', async () => {
    const rewardId = await createReward({ stock: 10, pointsCost: 100 });
    const memberId = await app.enroll();
    await grant(memberId, 100 * 100);
    const key = await app.apiKeyToken(['points:redeem', 'members:read']);

    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: `buy-${i}` } }, key)),
    );

    expect(tally(results)).toEqual({ RedeemRewardPayload: 10, 'RewardUnavailableError:OUT_OF_STOCK': 90 });
    expect(await state(rewardId)).toEqual({ stock: 0, vouchers: 10, redeems: 10, redemptions: 10, negative: 0 });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(10_000 - 1_000);
  });

  it('one member with points for 5 of 10 units buys 100 times at once: 5 succeed, the balance ends at 0, 5 units stay', async () => {
    const rewardId = await createReward({ stock: 10, pointsCost: 100 });
    const memberId = await app.enroll();
    await grant(memberId, 500);
    const key = await app.apiKeyToken(['points:redeem', 'members:read']);

    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: `buy-${i}` } }, key)),
    );

    expect(tally(results)).toEqual({ RedeemRewardPayload: 5, InsufficientPointsError: 95 });
    expect(await state(rewardId)).toEqual({ stock: 5, vouchers: 5, redeems: 5, redemptions: 5, negative: 0 });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(0);
  });

  it('the same idempotency key sent 20 times at once buys once and answers 20 times alike', async () => {
    const rewardId = await createReward({ stock: 3 });
    const memberId = await app.enroll();
    await grant(memberId, 5_000);
    const token = await app.memberToken(memberId);
    const input = { memberId: encodeGlobalID('Member', memberId), rewardId, idempotencyKey: 'buy-once' };

    const results = await Promise.all(Array.from({ length: 20 }, () => app.gql(REDEEM, { i: input }, token)));

    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(await state(rewardId)).toMatchObject({ stock: 2, vouchers: 1, redeems: 1, redemptions: 1 });
  });
});

describe('redeemReward', () => {
  it('debits the points and issues a REWARD voucher worth the reward, in one go', async () => {
    const rewardId = await createReward({ stock: 2 });
    const memberId = await app.enroll();
    await grant(memberId, 800);

    const result = await app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: 'b-1' } }, await app.memberToken(memberId));

    expect(result.data?.redeemReward).toMatchObject({
      __typename: 'RedeemRewardPayload',
      pointsSpent: 500,
      voucher: { kind: 'REWARD', status: 'ISSUED', value: { amount: '5.00', currency: 'EUR' } },
      member: { balance: { available: 300 } },
      entry: { kind: 'REDEEM', amount: -500, causeType: 'REWARD' },
      reward: { stock: 1 },
    });
    const redemption = await prisma.rewardRedemption.findFirstOrThrow({ include: { voucher: true } });
    expect(redemption.voucher.causeRef).toBe(redemption.id);
    expect(redemption.pointsCost).toBe(500);
  });

  it('too few points → InsufficientPointsError; stock unchanged, no voucher, no entry', async () => {
    const rewardId = await createReward({ stock: 4 });
    const memberId = await app.enroll();
    await grant(memberId, 499);
    const before = await state(rewardId);

    const result = await app.gql(REDEEM, { i: { memberId, rewardId, idempotencyKey: 'poor' } }, admin);

    expect(result.data?.redeemReward).toMatchObject({ __typename: 'InsufficientPointsError', available: 499, requested: 500 });
    expect(await state(rewardId)).toEqual(before);
    expect(before).toMatchObject({ stock: 4, vouchers: 0, redeems: 0 });
    expect(await prisma.idempotencyRecord.count({ where: { operation: { startsWith: 'redeemReward' } } })).toBe(0);
  });

  it('a retired reward cannot be bought (RETIRED); an unknown one is NotFoundError; unlimited stock stays unlimited', async () => {
    const retired = await createReward({ name: 'Old' });
    const unlimited = await createReward({ name: 'Always' });
    const memberId = await app.enroll();
    await grant(memberId, 2_000);
    const retire = await app.gql(RETIRE, { i: { id: retired } }, admin);
    expect(retire.data?.retireReward.reward).toMatchObject({ active: false });

    const refused = await app.gql(REDEEM, { i: { memberId, rewardId: retired, idempotencyKey: 'r-1' } }, admin);
    expect(refused.data?.redeemReward).toMatchObject({ __typename: 'RewardUnavailableError', reason: 'RETIRED' });
    const unknown = await app.gql(
      REDEEM,
      { i: { memberId, rewardId: '00000000-0000-4000-8000-000000000000', idempotencyKey: 'r-2' } },
      admin,
    );
    expect(unknown.data?.redeemReward).toMatchObject({ __typename: 'NotFoundError' });
    const bought = await app.gql(REDEEM, { i: { memberId, rewardId: unlimited, idempotencyKey: 'r-3' } }, admin);
    expect(bought.data?.redeemReward).toMatchObject({ __typename: 'RedeemRewardPayload', reward: { stock: null } });
    expect(await prisma.voucher.count()).toBe(1);
  });

  it('a member buys only for themselves; a suspended member cannot buy', async () => {
    const rewardId = await createReward();
    const buyer = await app.enroll();
    const other = await app.enroll();
    await grant(other, 1_000);
    await grant(buyer, 1_000);

    const forOther = await app.gql(REDEEM, { i: { memberId: other, rewardId, idempotencyKey: 's-1' } }, await app.memberToken(buyer));
    expect(forOther.data?.redeemReward.__typename).toBe('ForbiddenError');
    const earnKey = await app.gql(
      REDEEM,
      { i: { memberId: other, rewardId, idempotencyKey: 's-2' } },
      await app.apiKeyToken(['points:earn']),
    );
    expect(earnKey.data?.redeemReward.__typename).toBe('ForbiddenError');

    await prisma.member.update({ where: { id: buyer }, data: { status: 'SUSPENDED' } });
    const suspended = await app.gql(REDEEM, { i: { memberId: buyer, rewardId, idempotencyKey: 's-3' } }, admin);
    expect(suspended.data?.redeemReward).toMatchObject({ __typename: 'ValidationError' });
    expect(await prisma.voucher.count()).toBe(0);
    expect(await prisma.ledgerEntry.count({ where: { kind: 'REDEEM' } })).toBe(0);
  });
});

describe('the rewards catalogue', () => {
  it('admins create, change and retire rewards; agents, members and storefronts may not', async () => {
    const rewardId = await createReward({ stock: 5, description: 'A voucher' });
    const updated = await app.gql(UPDATE, { i: { id: rewardId, pointsCost: 450, stock: 7, voucherValue: '6' } }, admin);
    expect(updated.data?.updateReward.reward).toEqual({ pointsCost: 450, stock: 7, voucherValue: { amount: '6.00' } });
    const unlimited = await app.gql(UPDATE, { i: { id: rewardId, unlimitedStock: true } }, admin);
    expect(unlimited.data?.updateReward.reward.stock).toBeNull();
    const both = await app.gql(UPDATE, { i: { id: rewardId, stock: 1, unlimitedStock: true } }, admin);
    expect(both.data?.updateReward.__typename).toBe('ValidationError');

    const memberId = await app.enroll();
    for (const token of [
      await app.staffToken('AGENT'),
      await app.staffToken('SUPERVISOR'),
      await app.memberToken(memberId),
      await app.apiKeyToken(['points:redeem', 'members:read']),
    ]) {
      const create = await app.gql(CREATE, { i: { name: 'x', pointsCost: 1, voucherValue: '1.00' } }, token);
      expect(create.data?.createReward.__typename).toBe('ForbiddenError');
      const update = await app.gql(UPDATE, { i: { id: rewardId, pointsCost: 1 } }, token);
      expect(update.data?.updateReward.__typename).toBe('ForbiddenError');
      const retire = await app.gql(RETIRE, { i: { id: rewardId } }, token);
      expect(retire.data?.retireReward.__typename).toBe('ForbiddenError');
    }
    expect(await prisma.reward.count()).toBe(1);
    expect((await prisma.reward.findFirstOrThrow()).pointsCost).toBe(450);
  });

  it('bad reward input is a typed ValidationError and creates nothing', async () => {
    const cases = [
      [{ pointsCost: 0 }, 'pointsCost'],
      [{ pointsCost: 1.5 }, 'pointsCost'],
      [{ voucherValue: '0' }, 'voucherValue'],
      [{ voucherValue: '1.234' }, 'voucherValue'],
      [{ stock: -1 }, 'stock'],
      [{ currency: 'USD' }, 'currency'],
      [{ name: ' ' }, 'name'],
      // A name, not free text: no control characters (they were stored and shown in the catalogue).
      [{ name: '5 €\u0007voucher' }, 'name'],
      [{ name: '5 €\nvoucher' }, 'name'],
    ] as const;
    for (const [override, field] of cases) {
      const result = await app.gql(CREATE, { i: { name: 'R', pointsCost: 10, voucherValue: '1.00', ...override } }, admin);
      expect(result.data?.createReward, JSON.stringify(override)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await prisma.reward.count()).toBe(0);

    const rewardId = await createReward();
    const renamed = await app.gql(UPDATE, { i: { id: rewardId, name: 'new\u001bname' } }, admin);
    expect(renamed.data?.updateReward.__typename).toBe('ValidationError');
    expect((await prisma.reward.findFirstOrThrow()).name).toBe('5 € voucher');
  });

  it('members and storefronts see active rewards, cheapest first; admins may include retired ones', async () => {
    await createReward({ name: 'Big', pointsCost: 2_000, voucherValue: '20.00' });
    await createReward({ name: 'Small', pointsCost: 100, voucherValue: '1.00' });
    const old = await createReward({ name: 'Old', pointsCost: 50, voucherValue: '0.50' });
    await app.gql(RETIRE, { i: { id: old } }, admin);
    const memberId = await app.enroll();

    for (const token of [await app.memberToken(memberId), await app.apiKeyToken(['points:redeem']), await app.staffToken('AGENT')]) {
      const listed = await app.gql(LIST, { all: true }, token);
      expect(listed.data?.rewards.edges.map((e: any) => e.node.name)).toEqual(['Small', 'Big']);
    }
    const all = await app.gql(LIST, { all: true }, admin);
    expect(all.data?.rewards.edges.map((e: any) => e.node.name)).toEqual(['Old', 'Small', 'Big']);
    const anonymous = await app.gql(LIST, {});
    expect(anonymous.data?.rewards ?? null).toBeNull();
  });
});
