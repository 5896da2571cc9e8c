import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * What each kind of `idempotencyKey` scope does when two callers send the same key (docs/domain-rules.md, "Idempotency
 * keys: whose a key is"), through real requests: tests/graphql/idempotency-key-scope.test.ts holds the descriptions to
 * the scopes, this holds the scopes to what happens. A member's key is shared by every caller of that mutation (a
 * second storefront's same key replays the first one's earn, one ledger entry), and is another key on another
 * mutation; a caller's own key is another key for another caller (two admins' same key: two rewards).
 */
const { app, prisma } = useTestApp();

type Answer = { __typename: string; [field: string]: unknown };

const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on EarnPointsPayload { points } ... on Error { code message } } }`;
const REDEEM = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) {
  __typename ... on RedeemPointsPayload { points } ... on Error { code message } } }`;
const CREATE_REWARD = `mutation($i: CreateRewardInput!) { createReward(input: $i) {
  __typename ... on CreateRewardPayload { reward { id } } ... on Error { code message } } }`;

async function send(document: string, input: object, token: string): Promise<Answer> {
  const answer = await app.gql(document, { i: input }, token);
  expect(answer.errors, JSON.stringify(answer)).toBeUndefined();
  return Object.values(answer.data as Record<string, Answer>)[0]!;
}

const earnInput = (memberId: string, key: string, reference: string, amount = '40.00') => ({
  memberId: encodeGlobalID('Member', memberId),
  idempotencyKey: key,
  order: { reference, total: { amount, currency: 'EUR' } },
});

const entries = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId } });

describe("an idempotency key's scope, as two callers meet it", () => {
  it("a member's key is shared by every caller of the mutation: a second storefront's same key replays the first earn", async () => {
    const memberId = await app.enroll();
    const [first, second] = [await app.apiKeyToken(['points:earn'], 'shop A'), await app.apiKeyToken(['points:earn'], 'shop B')];
    const key = `order-${randomUUID()}`;
    const a = await send(EARN, earnInput(memberId, key, 'R-1'), first);
    const b = await send(EARN, earnInput(memberId, key, 'R-1'), second);
    expect(a.__typename).toBe('EarnPointsPayload');
    expect(b).toEqual(a);
    expect(await entries(memberId)).toBe(1);
    // Other input under the same key, from the second caller: a conflict, nothing written.
    const conflict = await send(EARN, earnInput(memberId, key, 'R-2', '80.00'), second);
    expect(conflict.__typename).toBe('IdempotencyConflictError');
    expect(await entries(memberId)).toBe(1);
  });

  it("a member's key on another mutation, or for another member, is another key", async () => {
    const [memberId, other] = [await app.enroll(), await app.enroll()];
    const token = await app.apiKeyToken(['points:earn', 'points:redeem']);
    const key = `k-${randomUUID()}`;
    expect((await send(EARN, earnInput(memberId, key, 'R-1'), token)).__typename).toBe('EarnPointsPayload');
    expect((await send(EARN, earnInput(other, key, 'R-1'), token)).__typename).toBe('EarnPointsPayload');
    // The same key on redeemPoints is a redeem of its own: refused for the balance (more than the member has), not a
    // replay or a conflict of the earn's key.
    const redeemed = await send(REDEEM, { memberId: encodeGlobalID('Member', memberId), points: 1_000_000, idempotencyKey: key }, token);
    expect(redeemed.__typename).toBe('InsufficientPointsError');
    expect(await entries(memberId)).toBe(1);
    expect(await entries(other)).toBe(1);
  });

  it("a caller's own key is another key for another caller: two admins' same key make two rewards", async () => {
    const [first, second] = [await app.staffToken('ADMIN', 'admin-a'), await app.staffToken('ADMIN', 'admin-b')];
    const key = `reward-${randomUUID()}`;
    const input = { name: `Tea ${key}`, pointsCost: 100, voucherValueMoney: { amount: '5.00', currency: 'EUR' }, idempotencyKey: key };
    const a = await send(CREATE_REWARD, input, first);
    const again = await send(CREATE_REWARD, input, first);
    const b = await send(CREATE_REWARD, input, second);
    expect([a.__typename, again.__typename, b.__typename]).toEqual(['CreateRewardPayload', 'CreateRewardPayload', 'CreateRewardPayload']);
    expect(again).toEqual(a);
    expect(b).not.toEqual(a);
    expect(await prisma.reward.count({ where: { name: input.name } })).toBe(2);
  });
});
