import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/generated/prisma/client.js';
import { LEDGER_NEWEST_FIRST } from '../../src/domain/members/member-status.service.js';
import { earnPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { useTestApp } from '../support/app.js';
import { holdMember, whileHolding } from '../support/holding.js';
import { ledgerWrites, STOREFRONT } from '../support/ledger-writes.js';
import { untilWaitingForLocks } from '../support/until.js';

/**
 * A member's ledger entries are dated in the order they were written — the order of the member's lock, the order
 * of their `balanceAfter` chain — whatever clock each writer read before it queued for the lock: their history by
 * date (newest first, then by id, as `Member.ledger` pages it) shows balances that follow from each other.
 */

const T0 = new Date('2026-03-10T10:00:00.000Z');
const { prisma, app } = useTestApp();
const { at, key, earn, grant } = ledgerWrites(prisma);

const redeem = (memberId: string, when: Date, points: number) =>
  redeemPoints(at(when), { memberId, points, idempotencyKey: key('r') }, STOREFRONT);

/** The member's entries oldest first, in the order their history pages them (`LEDGER_NEWEST_FIRST`, reversed). */
async function history(memberId: string): Promise<LedgerEntry[]> {
  return (await prisma.ledgerEntry.findMany({ where: { memberId }, orderBy: LEDGER_NEWEST_FIRST })).reverse();
}

/** Each entry's balance after is the one before it plus its amount, and each is dated after the one before it. */
function expectChainInDateOrder(entries: readonly LedgerEntry[]): void {
  let balance = 0;
  const followed = entries.map((entry) => (balance += entry.amount));
  expect(entries.map((entry) => entry.balanceAfter)).toEqual(followed);
  const later = entries.slice(1).map((entry, i) => entry.createdAt > entries[i]!.createdAt);
  expect(later).toEqual(later.map(() => true));
}

describe("a member's ledger entries are dated in the order of their balance chain", () => {
  it('a redeem that read its clock first but took the member lock second is dated after the earn it follows', async () => {
    const memberId = await app.enroll();
    await grant(memberId, T0, 100);
    const EARLY = addDays(T0, 1);
    const LATE = new Date(EARLY.getTime() + 2_000);
    // The earn (its clock at LATE) queues first behind the held row; the redeem read its clock two seconds
    // earlier but reaches the lock after it, so it commits second: its entry follows the earn's.
    let redeemed: Promise<unknown> | undefined;
    const earned = await whileHolding(prisma, holdMember(memberId), () => earn(memberId, LATE, '50.00'), {
      meanwhile: async () => {
        redeemed = redeem(memberId, EARLY, 30);
        await untilWaitingForLocks(prisma, 2);
      },
    });
    await redeemed;

    const entries = await history(memberId);
    expect(entries.map((entry) => [entry.kind, entry.amount, entry.balanceAfter])).toEqual([
      ['ADJUST', 100, 100],
      ['EARN', 50, 150],
      ['REDEEM', -30, 120],
    ]);
    expectChainInDateOrder(entries);
    // The earn keeps its own clock; only the entry that would have gone back in time is moved.
    expect(entries[1]!.id).toBe(earned.entryId);
    expect(entries[1]!.createdAt).toEqual(LATE);
    expect(entries[2]!.createdAt > LATE).toBe(true);
  });

  it('concurrent earns and redeems of one member, each with a clock of its own: the history by date follows the chain', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ redeem: fc.boolean(), skewMs: fc.integer({ min: 0, max: 60_000 }) }), { minLength: 2, maxLength: 10 }),
        async (writes) => {
          const memberId = await app.enroll();
          await grant(memberId, T0, 1_000);
          const START = addDays(T0, 1);
          await Promise.all(
            writes.map(({ redeem: spends, skewMs }) => {
              const when = new Date(START.getTime() + skewMs);
              return spends ? redeem(memberId, when, 10) : earn(memberId, when, '10.00');
            }),
          );
          const entries = await history(memberId);
          expect(entries).toHaveLength(writes.length + 1);
          expectChainInDateOrder(entries);
          const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
          expect(entries.at(-1)!.balanceAfter).toBe(member.availablePoints + member.pendingPoints);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('the entries one transaction writes (the expiries it settles, then its own) are dated one after the other', async () => {
    const memberId = await app.enroll();
    await grant(memberId, T0, 40);
    await grant(memberId, addDays(T0, 1), 60);
    // Both lots have expired by then: the earn settles them first, two EXPIRE entries, then writes its own.
    const AFTER = addMonths(T0, 30);
    await earnPoints(at(AFTER), { memberId, orderRef: 'late', orderTotal: '25.00', idempotencyKey: key('e') }, STOREFRONT);

    const entries = await history(memberId);
    expect(entries.map((entry) => entry.kind)).toEqual(['ADJUST', 'ADJUST', 'EXPIRE', 'EXPIRE', 'EARN']);
    expectChainInDateOrder(entries);
    expect(entries[2]!.createdAt).toEqual(AFTER);
  });

  it("the lots one settlement expires are written in the order they would have been spent (earliest expiry, then the older lot), not the rows' order", async () => {
    const memberId = await app.enroll();
    await grant(memberId, T0, 40);
    await grant(memberId, addDays(T0, 1), 60);
    // Both lots now expire at the same moment, and the older lot's row, written last, lies after the newer one's:
    // the rows' order is not the order they would have been spent in (the older lot first). (The plan returned them
    // in spending order here before the ORDER BY too; the fuzzer's concurrent pair is what found the other order.)
    const EXPIRY = addMonths(T0, 24);
    await prisma.$executeRaw`UPDATE point_lots SET expires_at = ${EXPIRY} WHERE member_id = ${memberId}::uuid AND points = 60`;
    await prisma.$executeRaw`UPDATE point_lots SET expires_at = ${EXPIRY} WHERE member_id = ${memberId}::uuid AND points = 40`;
    const AFTER = addMonths(T0, 30);
    await earnPoints(at(AFTER), { memberId, orderRef: 'late', orderTotal: '25.00', idempotencyKey: key('e') }, STOREFRONT);

    const entries = await history(memberId);
    expect(entries.map((entry) => [entry.kind, entry.amount])).toEqual([
      ['ADJUST', 40],
      ['ADJUST', 60],
      ['EXPIRE', -40],
      ['EXPIRE', -60],
      ['EARN', 25],
    ]);
    expectChainInDateOrder(entries);
  });
});
