import { PrismaPg } from '@prisma/adapter-pg';
import { describe, expect, it } from 'vitest';
import { rawSql } from '../../src/db/sql.js';
import { readMember } from '../../src/domain/points/ledger.js';
import { adjustPoints, earnPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { addDays } from '../../src/domain/time.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { testDatabaseUrl } from '../support/db.js';
import { statementsDuring } from '../support/statements.js';

/**
 * earnPoints and redeemPoints answer with the member row their last write
 * returned (no read after COMMIT); the stored answer, and so a replay, has ids only.
 */
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const T0 = new Date('2026-01-10T10:00:00.000Z');

/** Service deps whose clock we can move. */
function at(date: Date) {
  return { prisma, logger: testLogger, now: () => date };
}

const { prisma, app } = useTestApp();

const stored = (memberId: string) => prisma.member.findUniqueOrThrow({ where: { id: memberId } });

async function storedAnswer(operation: string, memberId: string, key: string): Promise<unknown> {
  const [record] = await prisma.$queryRaw<{ result: unknown }[]>`
    SELECT result FROM idempotency_records WHERE operation = ${`${operation}:${memberId}`} AND key = ${key}`;
  return record?.result;
}

describe('the member row', () => {
  it('readMember (MEMBER_COLUMNS) gives exactly what prisma.member.findUnique gives, every field, on node-postgres and on Prisma raw queries', async () => {
    const memberId = await app.enroll();
    // Every nullable column set, so that a column left out reads as undefined against a value.
    await prisma.member.update({
      where: { id: memberId },
      data: { status: 'PASSIVE', tier: 'GOLD', atRisk: true, atRiskSince: new Date('2026-02-03T04:05:06.789Z') },
    });
    const plain = new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 1 }) });
    try {
      const expected = await stored(memberId);
      expect(await readMember(rawSql(prisma), memberId)).toStrictEqual(expected);
      expect(await readMember(plain, memberId)).toStrictEqual(expected);
    } finally {
      await plain.$disconnect();
    }
  });
});

describe('the member row in the answer', () => {
  it('earnPoints answers with the row as stored, after a tier upgrade too; the stored answer stays ids only; a replay has no row', async () => {
    const memberId = await app.enroll();
    // Enrolled by T0 and passive since: the earn of T0 is the last activity.
    await prisma.member.update({ where: { id: memberId }, data: { status: 'PASSIVE', lastActivityAt: addDays(T0, -400) } });

    const below = await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '999.00', idempotencyKey: 'e-1' }, storefront);
    expect(below.member).toMatchObject({ tier: 'BRONZE', status: 'ACTIVE', pendingPoints: 999, lastActivityAt: T0 });
    expect(below.member).toStrictEqual(await stored(memberId));

    const later = addDays(T0, 1);
    const input = { memberId, orderRef: 'o-2', orderTotal: '1.00', idempotencyKey: 'e-2' };
    const crossing = await earnPoints(at(later), input, storefront);
    expect(crossing.member).toMatchObject({ tier: 'SILVER', tierSince: later, pendingPoints: 1000, lifetimePoints: 1000n });
    expect(crossing.member).toStrictEqual(await stored(memberId));
    const { member: _row, replayed: _replayed, settings: _settings, ...answer } = crossing;
    expect(Object.keys(answer).sort()).toEqual(['breakdown', 'entryId', 'memberId', 'points']);
    // Ids and the earn's explanation without what the request says (a replay rebuilds the same), never the member's row.
    const { breakdown, ...ids } = answer;
    expect(breakdown).toMatchObject([{ kind: 'ORDER_LINE', sku: null, quantity: 1, amount: '1.00', basePoints: '1', points: '1' }]);
    expect(await storedAnswer('earnPoints', memberId, 'e-2')).toStrictEqual({
      ...ids,
      earned: { currency: 'EUR', rules: [], lines: [['1', '1', '1', -1, 0]], bonuses: [] },
    });

    const replay = await earnPoints(at(addDays(T0, 2)), input, storefront);
    expect(replay).toStrictEqual({ ...answer, replayed: true });
  });

  it('an earn answer stored whole, as before the compact form, replays as stored', async () => {
    const memberId = await app.enroll();
    const input = {
      memberId,
      order: { reference: 'o-old', total: { amount: '10.00', currency: 'EUR' }, lines: [{ sku: 'A', quantity: 2, unitPrice: '5.00' }] },
      idempotencyKey: 'e-old',
    };
    const first = await earnPoints(at(T0), input, storefront);
    const { member: _row, replayed: _replayed, settings: _settings, ...answer } = first;
    expect(answer.breakdown).toMatchObject([{ kind: 'ORDER_LINE', sku: 'A', quantity: 2, amount: '10.00', points: '10' }]);
    // The form answers had before: the breakdown in full, read back as it is.
    const whole = { ...answer, breakdown: answer.breakdown.map((line) => ({ ...line, ruleName: 'as stored' })) };
    await prisma.$executeRaw`UPDATE idempotency_records SET result = ${JSON.stringify(whole)}::jsonb
      WHERE operation = ${`earnPoints:${memberId}`} AND key = 'e-old'`;
    expect(await earnPoints(at(T0), input, storefront)).toStrictEqual({ ...whole, replayed: true });
  });

  it('a zero-point earn and a redeem answer with the row as stored', async () => {
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { lastActivityAt: T0 } }); // enrolled by T0
    const nothing = await earnPoints(at(T0), { memberId, orderRef: 'small', orderTotal: '0.50', idempotencyKey: 'e-0' }, storefront);
    expect(nothing).toMatchObject({ points: 0, entryId: null, replayed: false });
    expect(nothing.member).toStrictEqual(await stored(memberId));

    await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' }, storefront);
    // Past the return window: the redeem settles the lot first, in its own transaction.
    const when = addDays(T0, 15);
    const redeemed = await redeemPoints(at(when), { memberId, points: 30, idempotencyKey: 'r-1' }, storefront);
    expect(redeemed.member).toMatchObject({ availablePoints: 70, pendingPoints: 0, lastActivityAt: when, updatedAt: when });
    expect(redeemed.member).toStrictEqual(await stored(memberId));
    expect(await storedAnswer('redeemPoints', memberId, 'r-1')).toStrictEqual({ memberId, entryId: redeemed.entryId, points: -30 });

    const replay = await redeemPoints(at(when), { memberId, points: 30, idempotencyKey: 'r-1' }, storefront);
    expect(replay).toStrictEqual({ memberId, entryId: redeemed.entryId, points: -30, replayed: true });
  });
});

const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename
  ... on EarnPointsPayload {
    points
    entry { kind amount }
    member {
      id tier { key } status balance { available pending lifetime }
      ledger(first: 5) { edges { node { kind amount balanceAfter causeRef } } }
      tierHistory(first: 5) { edges { node { fromTierKey toTierKey reason } } }
      activeVouchers { code }
    }
  }
  ... on Error { message code } } }`;

describe('the earnPoints payload', () => {
  it('relations selected on the member it answers with load through plugin-prisma, and a replay answers alike', async () => {
    const key = await app.apiKeyToken(['points:earn', 'members:read']);
    const memberId = await app.enroll();
    const earn = (orderRef: string, orderTotal: string) =>
      app.gql(EARN, { i: { memberId, orderRef, orderTotal, idempotencyKey: orderRef } }, key);

    await earn('o-1', '999.00');
    const crossing = await earn('o-2', '1.00');
    expect(crossing.errors).toBeUndefined();
    expect(crossing.data?.earnPoints).toMatchObject({
      __typename: 'EarnPointsPayload',
      points: 1,
      entry: { kind: 'EARN', amount: 1 },
      member: {
        tier: { key: 'SILVER' },
        status: 'ACTIVE',
        balance: { available: 0, pending: 1000, lifetime: 1000 },
        tierHistory: { edges: [{ node: { fromTierKey: 'BRONZE', toTierKey: 'SILVER', reason: 'UPGRADE' } }] },
        activeVouchers: [],
      },
    });
    expect(crossing.data?.earnPoints.member.ledger.edges.map((e: any) => e.node)).toEqual([
      { kind: 'EARN', amount: 1, balanceAfter: 1000, causeRef: 'o-2' },
      { kind: 'EARN', amount: 999, balanceAfter: 999, causeRef: 'o-1' },
    ]);

    expect(await earn('o-2', '1.00')).toEqual(crossing);
  });
});

describe('statements of the hot mutations', () => {
  /** The statements one request sends, after checking that it succeeded as `typename`. */
  async function statementsOf(query: string, variables: Record<string, unknown>, token: string, typename: string) {
    const { statements, result } = await statementsDuring(() => app.gql(query, variables, token));
    expect(result.errors).toBeUndefined();
    expect(Object.values(result.data ?? {})[0]).toMatchObject({ __typename: typename });
    return statements;
  }

  it('earnPoints (4) and redeemPoints (4) end with COMMIT: the payload reads nothing after it', async () => {
    const key = await app.apiKeyToken(['points:earn', 'points:redeem', 'members:read']);
    const memberId = await app.enroll();
    const admin = { actor: { type: 'STAFF' as const, id: 'admin' }, role: 'ADMIN' as const };
    await adjustPoints(app.deps, { memberId, points: 100, reason: 'test grant', idempotencyKey: 'grant' }, admin);
    const earn = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename
      ... on EarnPointsPayload { points member { id tier { key name } balance { available pending } } } ... on Error { message } } }`;
    const redeem = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename
      ... on RedeemPointsPayload { points member { id balance { available } } } ... on Error { message } } }`;
    // Warm: the API key and the program settings are cached after their first use.
    await statementsOf(earn, { i: { memberId, orderRef: 'warm', orderTotal: '10.00', idempotencyKey: 'warm' } }, key, 'EarnPointsPayload');

    const earned = await statementsOf(
      earn,
      { i: { memberId, orderRef: 'o-1', orderTotal: '25.00', idempotencyKey: 'e-1' } },
      key,
      'EarnPointsPayload',
    );
    expect(earned).toHaveLength(4);
    expect(earned.at(-1)).toBe('COMMIT');
    const redeemed = await statementsOf(redeem, { i: { memberId, points: 5, idempotencyKey: 'r-1' } }, key, 'RedeemPointsPayload');
    expect(redeemed).toHaveLength(4);
    expect(redeemed.at(-1)).toBe('COMMIT');
  });
});
