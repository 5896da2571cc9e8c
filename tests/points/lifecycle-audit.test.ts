import { describe, expect, it } from 'vitest';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { lotIsDue } from '../../src/domain/points/ledger.js';
import { markPassiveMembers, runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { remindExpiringPoints } from '../../src/domain/points/expiry-reminders.service.js';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { reviewTiers } from '../../src/domain/tiers/tiers.service.js';
import { useTestApp } from '../support/app.js';
import { ADMIN, ledgerWrites, STOREFRONT } from '../support/ledger-writes.js';
import { whileHolding } from '../support/holding.js';

/**
 * Adversarial audit of the points lifecycle outside the request paths: releases, expiries, reminders,
 * tier reviews, each raced against itself and against requests that settle the same member's lots.
 */

const admin = ADMIN;
const storefront = STOREFRONT;
const T0 = new Date('2026-01-10T10:00:00.000Z');

const { prisma, app } = useTestApp();
const { at, key, earn, grant } = ledgerWrites(prisma);

/** Events are written only for an endpoint that subscribes to them. */
async function subscribed() {
  await createWebhookEndpoint(
    at(T0),
    { url: 'https://crm.example.com/lifecycle', eventTypes: ['points.expiring', 'member.tier_changed', 'member.status_changed'] },
    admin,
  );
}

async function balances(memberId: string) {
  return prisma.member.findUniqueOrThrow({ where: { id: memberId }, select: { availablePoints: true, pendingPoints: true } });
}

async function entries(memberId: string) {
  return prisma.ledgerEntry.findMany({
    where: { memberId },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { kind: true, amount: true, causeRef: true },
  });
}

async function dueLots(now: Date): Promise<number> {
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM point_lots l WHERE ${lotIsDue('l', now)}`;
  return row!.n;
}

describe('the maintenance sweep raced', () => {
  it('two sweeps at once and requests settling the same members: each lot settled once, the ledger adds up', async () => {
    // Every lot is written before any is due (a later operation would settle the earlier ones); then two of each
    // member's lots are given an expiry just before NOW: what a sweep or a request at NOW finds due.
    const NOW = addDays(T0, 30);
    const members: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const memberId = await app.enroll({ enrolledAt: T0 });
      const first = await earn(memberId, T0, '100.00'); // pending until T0 + 14 days: released and expired in one settle
      const second = await grant(memberId, T0, 50); // available: expired
      await earn(memberId, addDays(T0, 1), '100.00'); // pending until T0 + 15 days: released
      await grant(memberId, addDays(T0, 2), 20); // available, not due
      await prisma.$executeRaw`
        UPDATE point_lots SET expires_at = ${addDays(NOW, -1)}::timestamptz
        WHERE entry_id IN (${first.entryId}::uuid, ${second.entryId}::uuid)`;
      members.push(memberId);
    }
    expect(await dueLots(NOW)).toBe(18);

    const results = await Promise.allSettled([
      runPointsMaintenance(at(NOW), { passive: false }),
      runPointsMaintenance(at(NOW), { passive: false }),
      ...members.flatMap((memberId) => [
        redeemPoints(at(NOW), { memberId, points: 10, idempotencyKey: key('r') }, storefront),
        earn(memberId, NOW, '30.00'),
      ]),
    ]);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);

    expect(await dueLots(NOW)).toBe(0);
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
    for (const memberId of members) {
      expect(await balances(memberId)).toEqual({ availablePoints: 110, pendingPoints: 30 });
      const expiries = (await entries(memberId)).filter((e) => e.kind === 'EXPIRE');
      expect(expiries.map((e) => e.amount).sort()).toEqual([-100, -50]);
      expect(new Set(expiries.map((e) => e.causeRef)).size).toBe(2);
    }
    // A third sweep finds nothing.
    expect((await runPointsMaintenance(at(NOW), { passive: false })).membersSettled).toBe(0);
  });
});

describe('boundaries', () => {
  it('a lot expiring at exactly the instant of a redemption is expired first, not spent', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    await grant(memberId, T0, 40);
    await grant(memberId, addDays(T0, 1), 25);
    const NOW = addMonths(T0, 24); // the first lot's expiry, to the millisecond

    await expect(redeemPoints(at(NOW), { memberId, points: 30, idempotencyKey: key('r') }, storefront)).rejects.toMatchObject({
      available: 25,
      requested: 30,
    });
    await redeemPoints(at(NOW), { memberId, points: 25, idempotencyKey: key('r') }, storefront);
    // The refused redeem rolled back its settle; the second settles, then spends (one transaction, one instant).
    expect((await entries(memberId)).map((e) => `${e.kind} ${e.amount}`).sort()).toEqual([
      'ADJUST 25',
      'ADJUST 40',
      'EXPIRE -40',
      'REDEEM -25',
    ]);
    expect(await balances(memberId)).toEqual({ availablePoints: 0, pendingPoints: 0 });
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
  });

  it('a refund after the order’s lot expired takes back nothing of what expired: the member loses it once', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    await earn(memberId, T0, '80.00', 'late-return');
    await grant(memberId, addMonths(T0, 23), 100);
    const NOW = addDays(addMonths(T0, 24), 2);
    await runPointsMaintenance(at(NOW), { passive: false });
    const refund = await refundOrder(at(NOW), { memberId, orderRef: 'late-return', idempotencyKey: key('f') }, storefront);
    expect(refund).toMatchObject({ points: -0, pointsUnrecovered: 0 });
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
    const kinds = (await entries(memberId)).map((e) => [e.kind, e.amount]);
    expect(kinds.filter(([kind]) => kind === 'EXPIRE')).toEqual([['EXPIRE', -80]]);
    // The order's 80 points expired unspent: the expiry took them, and the refund does not take them again from
    // the member's other points (docs/orders.md).
    expect(kinds.filter(([kind]) => kind === 'REVERSAL')).toEqual([]);
    expect(await balances(memberId)).toEqual({ availablePoints: 100, pendingPoints: 0 });
  });

  it('a refund after part of the order’s points were spent and the rest expired takes back what was spent', async () => {
    const memberId = await app.enroll({ enrolledAt: T0 });
    await earn(memberId, T0, '80.00', 'half-spent');
    // Released after the return window, 30 of the order's 80 are spent; the other 50 expire with the lot.
    await redeemPoints(at(addMonths(T0, 1)), { memberId, points: 30, orderReference: 'SPEND', idempotencyKey: key('s') }, storefront);
    await grant(memberId, addMonths(T0, 23), 100);
    const NOW = addDays(addMonths(T0, 24), 2);
    await runPointsMaintenance(at(NOW), { passive: false });
    const refund = await refundOrder(at(NOW), { memberId, orderRef: 'half-spent', idempotencyKey: key('f') }, storefront);
    expect(refund).toMatchObject({ points: -30, pointsUnrecovered: 0 });
    const kinds = (await entries(memberId)).map((e) => [e.kind, e.amount]);
    expect(kinds.filter(([kind]) => kind === 'EXPIRE' || kind === 'REVERSAL')).toEqual([
      ['EXPIRE', -50],
      ['REVERSAL', -30],
    ]);
    expect(await balances(memberId)).toEqual({ availablePoints: 70, pendingPoints: 0 });
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
  });

  it('points restored with an original expiry already past, while two sweeps run: expired once, in the return', async () => {
    await updateProgram(at(T0), { patch: { restoredPointsExpiry: 'ORIGINAL' } }, admin);
    const memberId = await app.enroll({ enrolledAt: T0 });
    await grant(memberId, T0, 100);
    await redeemPoints(at(addDays(T0, 1)), { memberId, points: 60, orderReference: 'R1', idempotencyKey: key('r') }, storefront);
    await earn(memberId, addDays(T0, 2), '10.00', 'R1');
    await grant(memberId, addMonths(T0, 12), 30);
    const NOW = addDays(addMonths(T0, 24), 1);
    const results = await Promise.allSettled([
      refundOrder(at(NOW), { memberId, orderRef: 'R1', idempotencyKey: key('f') }, storefront),
      runPointsMaintenance(at(NOW), { passive: false }),
      runPointsMaintenance(at(NOW), { passive: false }),
    ]);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const kinds = (await entries(memberId)).map((e) => `${e.kind} ${e.amount}`).sort();
    expect(kinds).toEqual(['ADJUST 100', 'ADJUST 30', 'EARN 10', 'EXPIRE -40', 'EXPIRE -60', 'REDEEM -60', 'RESTORE 60', 'REVERSAL -10']);
    expect(await balances(memberId)).toEqual({ availablePoints: 30, pendingPoints: 0 });
    expect(await dueLots(NOW)).toBe(0);
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
  });
});

describe('tier reviews raced', () => {
  /** A member in GOLD since T0 with no qualifying points left at the anniversary. */
  async function goldSince(when: Date) {
    const memberId = await app.enroll({ enrolledAt: when });
    await earn(memberId, when, '5000.00'); // SILVER 1 000, GOLD 5 000: GOLD at once
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).tier).toBe('GOLD');
    return memberId;
  }

  it('two reviews of the same member at once: one tier change row, one event', async () => {
    await subscribed();
    const memberId = await goldSince(T0);
    const NOW = addDays(addMonths(T0, 12), 1);
    const reports = await Promise.all([reviewTiers(at(NOW)), reviewTiers(at(NOW)), runPointsMaintenance(at(NOW), { passive: false })]);
    const reviewed = reports.map((r) => ('tierReview' in r ? r.tierReview : r).membersReviewed);
    expect(reviewed.reduce((a, b) => a + b, 0)).toBe(1);
    const changes = await prisma.tierChange.findMany({ where: { memberId, reason: 'DOWNGRADE' } });
    expect(changes.map((c) => [c.fromTier, c.toTier])).toEqual([['GOLD', 'SILVER']]);
    const events = await prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM webhook_events
      WHERE type = 'member.tier_changed' AND payload->>'memberId' = ${memberId} AND payload->>'reason' = 'DOWNGRADE'`;
    expect(events).toEqual([{ n: 1 }]);
  });

  it('an entry leaving the window at exactly the review does not count; one a millisecond later does', async () => {
    const REVIEW = addMonths(T0, 12);
    const early = await goldSince(T0);
    // Entries at exactly REVIEW - 12 months have left the window by REVIEW: the 5 000 of T0 do not count.
    await reviewTiers(at(REVIEW));
    expect((await prisma.member.findUniqueOrThrow({ where: { id: early } })).tier).toBe('SILVER');

    const late = await goldSince(new Date(T0.getTime() + 1));
    await prisma.$executeRaw`UPDATE members SET tier_since = ${T0}::timestamptz WHERE id = ${late}::uuid`;
    await reviewTiers(at(REVIEW));
    const row = await prisma.tierChange.findFirstOrThrow({ where: { memberId: late, reason: { not: 'UPGRADE' } } });
    expect([row.reason, row.qualifyingPoints]).toEqual(['RETAINED', 5000n]);
  });

  it('a review racing an earn that crosses a threshold: the earn’s upgrade or the review, never both for the same anniversary', async () => {
    const memberId = await goldSince(T0);
    const NOW = addDays(addMonths(T0, 12), 1);
    const [report] = await Promise.all([reviewTiers(at(NOW)), earn(memberId, NOW, '15000.00')]);
    const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
    const history = await prisma.tierChange.findMany({ where: { memberId }, orderBy: { createdAt: 'asc' } });
    // Whichever came first, the member ends in PLATINUM (15 000 qualifying points) with a consistent history.
    expect(member.tier).toBe('PLATINUM');
    expect(history.at(-1)!.toTier).toBe('PLATINUM');
    for (let i = 1; i < history.length; i += 1) expect(history[i]!.fromTier).toBe(history[i - 1]!.toTier);
    expect(report.membersReviewed).toBeLessThanOrEqual(1);
  });

  it('a downgrade into a tier an admin removed meanwhile goes to the tier below of now, and the sweep carries on', async () => {
    const first = await goldSince(T0);
    const second = await goldSince(new Date(T0.getTime() + 1000));
    await loadProgram(prisma);
    const NOW = addDays(addMonths(T0, 12), 1);

    // The admin removes SILVER (no member holds it; updateProgram does not wait for members): the settings and the
    // tiers row change in one transaction, which commits while the review moves the first member into SILVER.
    const outcome = await whileHolding(
      prisma,
      async (holder) => {
        await holder.query(`UPDATE program SET settings = jsonb_set(settings, '{tiers}',
          (SELECT jsonb_agg(t) FROM jsonb_array_elements(settings->'tiers') t WHERE t->>'key' <> 'SILVER')) WHERE id = 1`);
        await holder.query(`DELETE FROM tiers WHERE key = 'SILVER'`);
      },
      () => reviewTiers(at(NOW)),
      { meanwhile: (holder) => holder.query(`UPDATE tiers SET position = position - 1 WHERE position > 2`) },
    );
    expect(outcome).toMatchObject({ membersReviewed: 2, membersDowngraded: 2 });
    for (const memberId of [first, second]) {
      expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).tier).toBe('BRONZE');
    }
  });
});

describe('expiry reminders raced with settling', () => {
  it('concurrent reminder runs and settles: each open lot announced once, an expired one never', async () => {
    await subscribed();
    const memberId = await app.enroll({ enrolledAt: T0 });
    await grant(memberId, T0, 10); // expires T0 + 24 months
    await grant(memberId, addDays(T0, 5), 20); // expires 5 days later
    const NOW = addDays(addMonths(T0, 24), 1); // the first lot is past its expiry, not settled yet
    await Promise.all([
      remindExpiringPoints(at(NOW)),
      remindExpiringPoints(at(NOW)),
      runPointsMaintenance(at(NOW), { passive: false }),
      remindExpiringPoints(at(NOW)),
    ]);
    const events = await prisma.$queryRaw<{ points: number }[]>`
      SELECT (payload->>'points')::int AS points FROM webhook_events
      WHERE type = 'points.expiring' AND payload->>'memberId' = ${memberId}`;
    expect(events).toEqual([{ points: 20 }]);
    expect(await findLedgerMismatches({ prisma })).toEqual([]);
  });
});

describe('the passive sweep raced', () => {
  it('two sweeps and an earn at once: the member ends ACTIVE, and a PASSIVE announced is always followed by its reactivation', async () => {
    await subscribed();
    const T1 = addMonths(T0, 13); // 13 months without activity: due to become PASSIVE
    const memberIds: string[] = [];
    for (let i = 0; i < 4; i += 1) memberIds.push(await app.enroll({ enrolledAt: T0 }));
    const marked = await Promise.all([
      markPassiveMembers(at(T1)),
      markPassiveMembers(at(T1)),
      ...memberIds.map((memberId) => earn(memberId, T1, '10.00')),
    ]);
    expect((marked[0] as number) + (marked[1] as number)).toBeLessThanOrEqual(4);
    for (const memberId of memberIds) {
      expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).status).toBe('ACTIVE');
      const changes = await prisma.$queryRaw<{ change: string }[]>`
        SELECT (payload->>'fromStatus') || '>' || (payload->>'toStatus') AS change FROM webhook_events
        WHERE type = 'member.status_changed' AND payload->>'memberId' = ${memberId}`;
      // Either the earn came first (nothing to announce) or the sweep did (marked, then reactivated by the earn).
      expect([[], ['ACTIVE>PASSIVE', 'PASSIVE>ACTIVE']]).toContainEqual(changes.map((c) => c.change).sort());
    }
  });
});
