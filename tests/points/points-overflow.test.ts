import { describe, expect, it } from 'vitest';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { adjustPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { addMonths } from '../../src/domain/time.js';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { memberNearTheLimit } from '../support/ledger-writes.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller } from '../support/callers.js';

/**
 * Issue 9, hole 9: balances are PostgreSQL integers. A grant that would take a
 * member's balance (available + pending, the entry's balance_after) past
 * 2^31 − 1 is a typed ValidationError that writes nothing, not INTERNAL (22003)
 * from the database. Lifetime points are a bigint, held to 2^53 − 1 instead
 * (tests/points/lifetime-points.test.ts). A renewal bonus, which nobody asks
 * for at the time, is held for a supervisor's decision instead
 * (tests/contracts/renewal-bonus-at-the-limit.test.ts).
 */
const { prisma, app } = useTestApp();

const admin = { actor: { type: 'STAFF' as const, id: 'admin' }, role: 'ADMIN' as const };
const ADJUST = `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) {
  __typename ... on ValidationError { field message } ... on Error { message } } }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on ValidationError { field message } ... on Error { message } } }`;

async function snapshot(memberId: string) {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  const [entries, lots, orders, records] = await Promise.all([
    prisma.ledgerEntry.count(),
    prisma.pointLot.count(),
    prisma.pointOrder.count(),
    prisma.idempotencyRecord.count(),
  ]);
  return {
    available: member.availablePoints,
    pending: member.pendingPoints,
    lifetime: member.lifetimePoints,
    entries,
    lots,
    orders,
    records,
  };
}

describe('balances near 2^31 − 1 (issue 9, hole 9)', () => {
  it('adjustPoints past the limit is a ValidationError on points and writes nothing; up to the limit exactly is fine', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    const token = await app.staffToken('ADMIN');
    const before = await snapshot(memberId);
    const refused = await app.gql(ADJUST, { i: { memberId, points: 101, reason: 'one too many', idempotencyKey: 'over' } }, token);
    expect(refused.errors).toBeUndefined();
    expect(refused.data?.adjustPoints).toMatchObject({ __typename: 'ValidationError', field: 'points' });
    expect(refused.data?.adjustPoints.message).toContain(String(MAX_POINTS));
    expect(await snapshot(memberId)).toEqual(before);
    const accepted = await app.gql(ADJUST, { i: { memberId, points: 100, reason: 'exactly full', idempotencyKey: 'full' } }, token);
    expect(accepted.data?.adjustPoints.__typename).toBe('AdjustPointsPayload');
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(MAX_POINTS);
  });

  it('an explicit earn or an earn by the rule past the limit is a ValidationError naming its field; nothing written', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    const before = await snapshot(memberId);
    const explicit = await app.gql(
      EARN,
      { i: { memberId, orderRef: 'big-1', orderTotal: '1.00', points: 200, idempotencyKey: 'e1' } },
      await app.staffToken('ADMIN'),
    );
    expect(explicit.errors).toBeUndefined();
    expect(explicit.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'points' });
    const byRule = await app.gql(
      EARN,
      { i: { memberId, orderRef: 'big-2', orderTotal: '500.00', idempotencyKey: 'e2' } },
      await app.apiKeyToken(['points:earn']),
    );
    expect(byRule.errors).toBeUndefined();
    expect(byRule.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'orderTotal' });
    expect(await snapshot(memberId)).toEqual(before);
  });

  it('lifetime points are not held to it: when the balance has room, a grant takes them past 2^31 − 1', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    await redeemPoints(app.deps, { memberId, points: MAX_POINTS - 1000, idempotencyKey: 'spend' }, apiKeyCaller('shop', ['points:redeem']));
    const before = await snapshot(memberId);
    expect([before.available, before.lifetime]).toEqual([900, BigInt(MAX_POINTS - 100)]);
    await adjustPoints(app.deps, { memberId, points: 101, reason: 'lifetime over', idempotencyKey: 'lt' }, admin);
    expect(await snapshot(memberId)).toMatchObject({ available: 1001, lifetime: BigInt(MAX_POINTS) + 1n, entries: before.entries + 1 });
  });

  it('a goodwill gesture in points past the limit is a ValidationError and grants nothing', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    const before = await snapshot(memberId);
    const gestures = await prisma.goodwillGesture.count();
    const supervisor = { actor: { type: 'STAFF' as const, id: 'sup' }, role: 'SUPERVISOR' as const };
    await expect(
      issueGoodwill(
        app.deps,
        { memberId, kind: 'POINTS', points: 500, reason: 'LONG_WAIT', note: 'sorry', idempotencyKey: 'gw' },
        supervisor,
      ),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'points' });
    expect(await snapshot(memberId)).toEqual(before);
    expect(await prisma.goodwillGesture.count()).toBe(gestures);
  });

  it('a renewal bonus past the limit is held for a supervisor (BALANCE_LIMIT): nothing granted, its job done, not retried', async () => {
    const memberId = await memberNearTheLimit(app, 100);
    const billing = apiKeyCaller('billing', ['contracts:write']);
    const startsAt = addMonths(new Date(), -11);
    const { contractId } = await registerContract(
      app.deps,
      { memberId, externalRef: 'C-full', plan: 'p', startsAt, termMonths: 12 },
      billing,
    );
    const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: 'r' }, billing);
    const before = await snapshot(memberId);
    // BRONZE, first renewal, 12 months: 500 points, 400 more than the balance has room for.
    expect(await processRenewalBonus({ renewalId }, app.deps)).toEqual({
      renewalId,
      outcome: 'HELD',
      heldBecause: 'BALANCE_LIMIT',
      points: 500,
      entryId: null,
    });
    expect(await snapshot(memberId)).toEqual(before);
    const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(renewal).toMatchObject({ bonusPoints: 500, bonusHeldReason: 'BALANCE_LIMIT', bonusGrantedAt: null, bonusEntryId: null });
    expect(renewal.bonusHeldAt).not.toBeNull();
    expect(renewal.bonusDecisionNote).toContain(String(MAX_POINTS));
    // The job is done: the relay does not hand it over again.
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: renewalId } })).completedAt).not.toBeNull();
  });
});
