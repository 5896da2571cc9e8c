import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { redeemReward } from '../../src/domain/rewards/rewards.service.js';
import { useTestApp } from '../support/app.js';
import { memberCaller } from '../support/callers.js';
import { whileHolding } from '../support/holding.js';

/**
 * An adversarial audit of reward purchases (double spending, value from nothing). What tests/rewards/rewards.test.ts
 * covers already (stock under 100 buyers, one member's 100 purchases, one key sent 20 times) is not repeated here.
 */

const CREATE = `mutation($i: CreateRewardInput!) { createReward(input: $i) { __typename
  ... on CreateRewardPayload { reward { id } } ... on Error { message code } } }`;
const REDEEM = `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename
  ... on RedeemRewardPayload { pointsSpent voucher { value { amount } } }
  ... on RewardUnavailableError { reason }
  ... on InsufficientPointsError { available requested }
  ... on ValidationError { field }
  ... on Error { message code } } }`;

const ADMIN: Caller = { actor: { type: 'STAFF', id: 'admin' }, role: 'ADMIN' };
const { prisma, app } = useTestApp();
let admin: string;

beforeEach(async () => {
  admin = await app.staffToken('ADMIN');
});

const decodeReward = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

async function grant(memberId: string, points: number) {
  await adjustPoints(app.deps, { memberId, points, reason: 'test grant', idempotencyKey: `grant-${memberId}` }, ADMIN);
}

async function createReward(overrides: Record<string, unknown> = {}): Promise<string> {
  const result = await app.gql(CREATE, { i: { name: 'reward', pointsCost: 500, voucherValue: '5.00', ...overrides } }, admin);
  expect(result.data?.createReward.__typename).toBe('CreateRewardPayload');
  return result.data!.createReward.reward.id;
}

/** Every row a purchase writes, counted. */
async function written() {
  const [entries, vouchers, redemptions, keys, events] = await Promise.all([
    prisma.ledgerEntry.count(),
    prisma.voucher.count(),
    prisma.rewardRedemption.count(),
    prisma.idempotencyRecord.count(),
    prisma.webhookEvent.count(),
  ]);
  return { entries, vouchers, redemptions, keys, events };
}

/**
 * Starts a purchase while another transaction changes the reward row with `change` (an admin's re-price or
 * retirement) and holds it: the purchase reads the reward as it was, waits on its stock decrement, and goes on once
 * the change committed.
 */
async function purchaseRacing(memberId: string, rewardId: string, change: string) {
  return whileHolding(
    prisma,
    (holder) => holder.query(change, [rewardId]),
    () =>
      redeemReward(app.deps, { memberId, rewardId, idempotencyKey: 'buy' }, memberCaller(memberId)).then(
        (result) => ({ ok: true as const, result }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
  );
}

describe('redeemReward racing the catalogue', () => {
  it('a re-price committed while the purchase waits: the points and the voucher value are both the new version’s', async () => {
    const rewardId = decodeReward(await createReward({ stock: 5 }));
    const memberId = await app.enroll();
    await grant(memberId, 500);

    const outcome = await purchaseRacing(memberId, rewardId, `UPDATE rewards SET points_cost = 400, voucher_value = 50.00 WHERE id = $1`);

    expect(outcome.ok).toBe(true);
    const redemption = await prisma.rewardRedemption.findFirstOrThrow({ where: { memberId }, include: { voucher: true } });
    expect(redemption.pointsCost).toBe(400);
    expect(redemption.voucher.amount?.toFixed(2)).toBe('50.00');
    const entry = await prisma.ledgerEntry.findUniqueOrThrow({ where: { id: redemption.ledgerEntryId } });
    expect(entry.amount).toBe(-400);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(100);
    expect((await prisma.reward.findUniqueOrThrow({ where: { id: rewardId } })).stock).toBe(4);
  });

  it('a price raise past the balance committed while the purchase waits: InsufficientPointsError at the new price, nothing written', async () => {
    const rewardId = decodeReward(await createReward({ stock: 5 }));
    const memberId = await app.enroll();
    await grant(memberId, 500);
    const before = await written();

    const outcome = await purchaseRacing(memberId, rewardId, `UPDATE rewards SET points_cost = 600 WHERE id = $1`);

    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? null : outcome.error).toMatchObject({ code: 'INSUFFICIENT_POINTS', available: 500, requested: 600 });
    expect(await written()).toEqual(before);
    expect((await prisma.reward.findUniqueOrThrow({ where: { id: rewardId } })).stock).toBe(5);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(500);
  });

  it('a retirement committed while the purchase waits: RETIRED, nothing written', async () => {
    const rewardId = decodeReward(await createReward({ stock: 5 }));
    const memberId = await app.enroll();
    await grant(memberId, 500);
    const before = await written();

    const outcome = await purchaseRacing(memberId, rewardId, `UPDATE rewards SET active = false, retired_at = now() WHERE id = $1`);

    expect(outcome.ok ? null : outcome.error).toMatchObject({ code: 'REWARD_UNAVAILABLE', reason: 'RETIRED' });
    expect(await written()).toEqual(before);
    expect((await prisma.reward.findUniqueOrThrow({ where: { id: rewardId } })).stock).toBe(5);
  });
});

describe('redeemReward: double spending by one member', () => {
  it('points for one of two rewards, both bought at once: exactly one sells; its key with the other reward is a conflict', async () => {
    const first = await createReward({ pointsCost: 300, stock: 3 });
    const second = await createReward({ pointsCost: 300, stock: 3 });
    const memberId = await app.enroll();
    await grant(memberId, 500);
    const token = await app.memberToken(memberId);
    const member = encodeGlobalID('Member', memberId);

    const both = await Promise.all([
      app.gql(REDEEM, { i: { memberId: member, rewardId: first, idempotencyKey: 'k-1' } }, token),
      app.gql(REDEEM, { i: { memberId: member, rewardId: second, idempotencyKey: 'k-2' } }, token),
    ]);
    const kinds = both.map((r) => r.data?.redeemReward.__typename).sort();
    expect(kinds).toEqual(['InsufficientPointsError', 'RedeemRewardPayload']);
    const winner = both.findIndex((r) => r.data?.redeemReward.__typename === 'RedeemRewardPayload');
    const [winnerKey, loserReward] = winner === 0 ? ['k-1', second] : ['k-2', first];
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(200);
    const after = await written();

    // The winning key sent again with the other reward: a conflict, not a second purchase.
    const replayed = await app.gql(REDEEM, { i: { memberId: member, rewardId: loserReward, idempotencyKey: winnerKey } }, token);
    expect(replayed.data?.redeemReward.__typename).toBe('IdempotencyConflictError');
    expect(await written()).toEqual(after);

    // The same key is another member's own: it buys for them and touches nothing of the first member's.
    const other = await app.enroll();
    await grant(other, 300);
    const theirs = await app.gql(
      REDEEM,
      { i: { memberId: encodeGlobalID('Member', other), rewardId: loserReward, idempotencyKey: winnerKey } },
      await app.memberToken(other),
    );
    expect(theirs.data?.redeemReward).toMatchObject({ __typename: 'RedeemRewardPayload', pointsSpent: 300 });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(200);
    expect(await prisma.rewardRedemption.count()).toBe(2);
  });

  it('an unknown reward, an id of another type, an unknown member, a stranger’s member id: typed errors, nothing written', async () => {
    const rewardId = await createReward();
    const memberId = await app.enroll();
    await grant(memberId, 5_000);
    const token = await app.memberToken(memberId);
    const storefront = await app.apiKeyToken(['points:redeem']);
    const member = encodeGlobalID('Member', memberId);
    const nobody = '00000000-0000-4000-8000-000000000000';
    const before = await written();

    const probes: [Record<string, unknown>, string, string][] = [
      [{ memberId: member, rewardId: encodeGlobalID('Reward', nobody) }, token, 'NotFoundError'],
      [{ memberId: member, rewardId: encodeGlobalID('Member', memberId) }, token, 'ValidationError'],
      [{ memberId: member, rewardId: 'not-an-id' }, token, 'ValidationError'],
      [{ memberId: encodeGlobalID('Member', nobody), rewardId }, storefront, 'NotFoundError'],
      [{ memberId: encodeGlobalID('Member', nobody), rewardId }, token, 'ForbiddenError'],
      [{ memberId: member, rewardId, idempotencyKey: 'k\u0001' }, token, 'ValidationError'],
      [{ memberId: member, rewardId, idempotencyKey: 'k'.repeat(10_000) }, token, 'ValidationError'],
    ];
    for (const [input, caller, typename] of probes) {
      const answer = await app.gql(REDEEM, { i: { idempotencyKey: 'hostile', ...input } }, caller);
      expect(answer.data?.redeemReward.__typename, JSON.stringify(input).slice(0, 120)).toBe(typename);
    }
    expect(await written()).toEqual(before);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(5_000);
  });
});
