import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { pointsFromBigint } from '../../src/domain/points/lifetime-points.js';
import { getSchema } from '../../src/graphql/schema.js';
import { earnPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { reviewTiers } from '../../src/domain/tiers/tiers.service.js';
import { ADMIN, STOREFRONT } from '../support/ledger-writes.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * Lifetime points only grow: as a PostgreSQL integer, a member who reached 2 147 483 647 of them could never earn
 * again. They (and the qualifying points they bound, and the tier history that records those) are bigint, read
 * exactly up to 2^53 − 1, the largest whole number a JSON number (the Points scalar) carries exactly.
 */
const { prisma, app } = useTestApp();

const PAST_AN_INTEGER = 2_147_483_600;
/** 2^53 − 1: the most lifetime points a member may hold. */
const MAX_LIFETIME_POINTS = Number.MAX_SAFE_INTEGER;

/**
 * A member whose lifetime points are `lifetime` (and balance 0), written by SQL as the ledger would have it: an
 * adjustment granting them and one taking them back, so that the ledger check agrees with the stored row.
 */
async function memberWithLifetime(lifetime: number): Promise<string> {
  const memberId = await app.enroll();
  await prisma.$executeRaw`
    INSERT INTO ledger_entries (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key)
    VALUES (${memberId}::uuid, 'ADJUST', ${lifetime}::int, ${lifetime}::int, 'ADJUSTMENT', 'granted', 'STAFF', 'admin-1', 'granted'),
           (${memberId}::uuid, 'ADJUST', ${-lifetime}::int, 0, 'ADJUSTMENT', 'taken back', 'STAFF', 'admin-1', 'taken-back')`;
  await prisma.$executeRaw`UPDATE members SET lifetime_points = ${lifetime} WHERE id = ${memberId}::uuid`;
  return memberId;
}

const BALANCE = 'balance { available pending lifetime }';
const STATUS = `${BALANCE} tier { key } tierProgress { qualifyingPoints pointsToNext next { key } }`;

/** What every read of the member over GraphQL says of its balance (and tier): the status read, Prisma's, by node. */
async function balanceEverywhere(memberId: string) {
  const id = encodeGlobalID('Member', memberId);
  const staff = await app.staffToken('AGENT');
  const reads = {
    // The status statement (member-read.ts' fast path), for staff and for the member's own token.
    status: app.gql(`query($id: ID!) { member(id: $id) { ${STATUS} } }`, { id }, staff),
    me: app.gql(`{ me { ${STATUS} } }`, {}, await app.memberToken(memberId)),
    // A relation the status statement does not answer: through Prisma.
    prisma: app.gql(`query($id: ID!) { member(id: $id) { ${STATUS} tierHistory(first: 1) { totalCount } } }`, { id }, staff),
    node: app.gql(`query($id: ID!) { node(id: $id) { ... on Member { ${STATUS} } } }`, { id }, staff),
    listed: app.gql(`{ members(first: 5) { edges { node { ${STATUS} } } } }`, {}, staff),
  };
  const [status, me, prismaRead, node, listed] = await Promise.all([reads.status, reads.me, reads.prisma, reads.node, reads.listed]);
  for (const answer of [status, me, prismaRead, node, listed]) expect(answer.errors).toBeUndefined();
  const { tierHistory: _history, ...throughPrisma } = prismaRead.data?.member ?? {};
  return {
    status: status.data?.member,
    me: me.data?.me,
    prisma: throughPrisma,
    node: node.data?.node,
    listed: listed.data?.members.edges[0].node,
  };
}

describe('lifetime points past 2^31 − 1', () => {
  it('a member at 2 147 483 600 lifetime points earns 100: granted, and every read shows 2 147 483 700 exactly', async () => {
    const memberId = await memberWithLifetime(PAST_AN_INTEGER);
    const earned = await app.gql(
      `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
        __typename ... on EarnPointsPayload { points member { ${STATUS} } } ... on Error { message } } }`,
      { i: { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' } },
      await app.apiKeyToken(['points:earn', 'members:read']),
    );
    expect(earned.errors).toBeUndefined();
    const expected = {
      balance: { available: 0, pending: 100, lifetime: 2_147_483_700 },
      // Lifetime points say PLATINUM, but the tier goes by qualifying points: this earn's 100.
      tier: { key: 'BRONZE' },
      tierProgress: { qualifyingPoints: 100, pointsToNext: 900, next: { key: 'SILVER' } },
    };
    expect(earned.data?.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 100, member: expected });
    expect(await balanceEverywhere(memberId)).toEqual({
      status: expected,
      me: expected,
      prisma: expected,
      node: expected,
      listed: expected,
    });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).lifetimePoints).toBe(2_147_483_700n);
    expect(await findLedgerMismatches({ prisma })).toEqual([]);

    // A threshold reached by qualifying points still upgrades at once, by them.
    await earnPoints(app.deps, { memberId, orderRef: 'o-2', orderTotal: '900.00', idempotencyKey: 'e-2' }, STOREFRONT);
    const upgraded = await balanceEverywhere(memberId);
    expect(upgraded.status).toEqual({
      balance: { available: 0, pending: 1000, lifetime: 2_147_484_600 },
      tier: { key: 'SILVER' },
      tierProgress: { qualifyingPoints: 1000, pointsToNext: 4000, next: { key: 'GOLD' } },
    });
    expect(upgraded.prisma).toEqual(upgraded.status);
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
  });

  it('qualifying points past 2^31 − 1: the status, the anniversary review and the tier history count them exactly', async () => {
    const memberId = await app.enroll();
    const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });
    const t0 = addMonths(new Date(), -3);
    // Three earns of 2 000 000 000 a month apart, each spent once it is available: the balance stays within an
    // integer, lifetime and qualifying points do not.
    for (let month = 0; month < 3; month++) {
      const when = addMonths(t0, month);
      if (month > 0) {
        await redeemPoints(at(when), { memberId, points: 2_000_000_000, idempotencyKey: `r-${month}` }, STOREFRONT);
      }
      const earn = { memberId, orderRef: `big-${month}`, orderTotal: '1.00', points: 2_000_000_000, idempotencyKey: `e-${month}` };
      expect((await earnPoints(at(when), earn, ADMIN)).points).toBe(2_000_000_000);
    }
    const reads = await balanceEverywhere(memberId);
    const expected = {
      balance: { available: 0, pending: 2_000_000_000, lifetime: 6_000_000_000 },
      tier: { key: 'PLATINUM' },
      tierProgress: { qualifyingPoints: 6_000_000_000, pointsToNext: null, next: null },
    };
    expect(reads).toEqual({ status: expected, me: expected, prisma: expected, node: expected, listed: expected });

    // At the anniversary the first earn has left the window: 4 000 000 000 keep PLATINUM, and the history says so.
    const review = addDays(addMonths(t0, 12), 1);
    expect(await reviewTiers(at(review))).toMatchObject({ membersReviewed: 1, membersRetained: 1 });
    const history = await app.gql(
      `query($id: ID!) { member(id: $id) { tier { key } tierHistory(first: 5) { edges { node { reason toTierKey qualifyingPoints } } } } }`,
      { id: encodeGlobalID('Member', memberId) },
      await app.staffToken('AGENT'),
    );
    expect(history.errors).toBeUndefined();
    expect(history.data?.member).toEqual({
      tier: { key: 'PLATINUM' },
      tierHistory: {
        edges: [
          { node: { reason: 'RETAINED', toTierKey: 'PLATINUM', qualifyingPoints: 4_000_000_000 } },
          { node: { reason: 'UPGRADE', toTierKey: 'PLATINUM', qualifyingPoints: 2_000_000_000 } },
        ],
      },
    });
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
  });

  it('reads lifetime points exactly up to 2^53 − 1, and the ledger check reports a stored value past 2^31 − 1 exactly', async () => {
    const memberId = await memberWithLifetime(PAST_AN_INTEGER);
    await prisma.$executeRaw`UPDATE members SET lifetime_points = ${MAX_LIFETIME_POINTS} WHERE id = ${memberId}::uuid`;
    try {
      const reads = await balanceEverywhere(memberId);
      for (const read of Object.values(reads)) expect(read.balance).toEqual({ available: 0, pending: 0, lifetime: 9_007_199_254_740_991 });
      expect(await findLedgerMismatches({ prisma })).toEqual([
        {
          memberId,
          ledgerBalance: 0,
          storedBalance: 0,
          lotsAvailable: 0,
          storedAvailable: 0,
          lotsPending: 0,
          storedPending: 0,
          ledgerLifetime: PAST_AN_INTEGER,
          storedLifetime: 9_007_199_254_740_991,
        },
      ]);
    } finally {
      await prisma.$executeRaw`UPDATE members SET lifetime_points = ${PAST_AN_INTEGER} WHERE id = ${memberId}::uuid`;
    }
  });

  it('a grant that would take lifetime points past 2^53 − 1 is a ValidationError; PostgreSQL refuses such a row too', async () => {
    const memberId = await app.enroll();
    const nearTheTop = MAX_LIFETIME_POINTS - 50;
    const admin = await app.staffToken('ADMIN');
    await prisma.$executeRaw`UPDATE members SET lifetime_points = ${nearTheTop} WHERE id = ${memberId}::uuid`;
    try {
      const adjust = (points: number, key: string) =>
        app.gql(
          `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename ... on ValidationError { field message } } }`,
          { i: { memberId, points, reason: 'near the top', idempotencyKey: key } },
          admin,
        );
      const refused = await adjust(51, 'over');
      expect(refused.data?.adjustPoints).toMatchObject({ __typename: 'ValidationError', field: 'points' });
      expect(refused.data?.adjustPoints.message).toContain(String(MAX_LIFETIME_POINTS));
      expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(0);
      await expect(
        prisma.$executeRaw`UPDATE members SET lifetime_points = ${BigInt(MAX_LIFETIME_POINTS) + 1n} WHERE id = ${memberId}::uuid`,
      ).rejects.toThrow(/members_lifetime_points_fit_a_json_number/);
    } finally {
      await prisma.$executeRaw`UPDATE members SET lifetime_points = 0 WHERE id = ${memberId}::uuid`;
    }
  });
});

describe('a bigint count of points as a number', () => {
  it('is exact up to 2^53 − 1 and refused past it, never rounded; the Points scalar writes a bigint the same way', () => {
    const points = getSchema().getType('Points') as GraphQLScalarType;
    for (const convert of [pointsFromBigint, (value: bigint) => points.serialize(value) as number]) {
      expect(convert(2_147_483_700n)).toBe(2_147_483_700);
      expect(convert(9_007_199_254_740_991n)).toBe(9_007_199_254_740_991);
      expect(convert(-9_007_199_254_740_991n)).toBe(-9_007_199_254_740_991);
      // 2^53 + 1 would be written 9007199254740992, a number it is not.
      expect(() => convert(9_007_199_254_740_993n)).toThrow(/more than a number holds exactly/);
      expect(() => convert(9_007_199_254_740_992n)).toThrow(/more than a number holds exactly/);
    }
    expect(points.serialize(250)).toBe(250);
  });
});
