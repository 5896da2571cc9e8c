import { describe, expect, it } from 'vitest';
import { cancelOrder, returnOrderItems } from '../../src/domain/orders/orders.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { redeemVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { DomainError } from '../../src/domain/errors.js';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { apiKeyCaller } from '../support/callers.js';

/**
 * A voucher rolled back twice in one millisecond: a service takes its clock before it waits for the member, so a
 * cancel that waited behind another rollback of the same voucher (and the redemption that used it again) writes the
 * same `rolled_back_at`. Each answer must be a result or a typed error, never a unique violation, and each
 * redemption is rolled back once.
 */

const { prisma, app } = useTestApp();
const SHOP = apiKeyCaller('shop', ['vouchers:redeem', 'points:earn']);

/** A service's answer, or its typed error's code; anything else (an untyped database error) fails the test. */
async function outcome(run: Promise<unknown>): Promise<string> {
  try {
    await run;
    return 'OK';
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
}

describe('two rollbacks of one voucher in the same millisecond', () => {
  it('a cancel of the order the voucher was used on again, twice at once, on the clock of the first cancel: 8 rounds', async () => {
    for (let round = 0; round < 8; round++) {
      // One instant for every request of the round: the millisecond they all share.
      const instant = new Date(Date.now() + round * 1000);
      const deps = { ...app.deps, now: () => instant };
      const memberId = await app.enroll();
      const voucher = await issueTestVoucher(prisma, memberId, { now: instant });
      const redeemOn = (orderRef: string) =>
        redeemVoucher(deps, { code: voucher.code, orderRef, orderTotal: '20.00', memberId, idempotencyKey: `pay-${orderRef}` }, SHOP);
      const cancel = (orderReference: string, key: string) => cancelOrder(deps, { memberId, orderReference, idempotencyKey: key }, SHOP);

      await redeemOn('A');
      await cancel('A', 'cancel-a');
      await redeemOn('B');
      // Two cancels of B at once, in the millisecond of A's cancel: one rolls the voucher back, the other is refused.
      const answers = await Promise.all([outcome(cancel('B', 'cancel-b-1')), outcome(cancel('B', 'cancel-b-2'))]);
      expect(answers.sort()).toEqual(['OK', 'VALIDATION']);

      const redemptions = await prisma.voucherRedemption.findMany({ where: { voucherId: voucher.id }, orderBy: { orderRef: 'asc' } });
      expect(redemptions.map((r) => [r.orderRef, r.rolledBackAt !== null, r.rollbackOutcome])).toEqual([
        ['A', true, 'RESTORED'],
        ['B', true, 'RESTORED'],
      ]);
      // B's rollback waited for A's: it is dated after it, never at the same instant.
      expect(redemptions[1]!.rolledBackAt!.getTime()).toBeGreaterThan(redemptions[0]!.rolledBackAt!.getTime());
      expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('ISSUED');
      // Each cancel that rolled the voucher back says so once.
      expect(await prisma.orderReturn.count({ where: { order: { memberId }, kind: 'CANCEL' } })).toBe(2);
    }
  });

  it('a return of all of the order, its cancel, the voucher used on another order and that order cancelled, all at once: 10 rounds', async () => {
    let rolledBackTwice = 0;
    for (let round = 0; round < 10; round++) {
      const instant = new Date(Date.now() + round * 1000);
      const deps = { ...app.deps, now: () => instant };
      const memberId = await app.enroll();
      const voucher = await issueTestVoucher(prisma, memberId, { now: instant });
      await redeemVoucher(deps, { code: voucher.code, orderRef: 'A', orderTotal: '40.00', memberId, idempotencyKey: 'pay-a' }, SHOP);
      const order = {
        reference: 'A',
        total: { amount: '30.00', currency: 'EUR' },
        lines: [{ sku: 'TEE', quantity: 2, unitPrice: '15.00' }],
      };
      await earnPoints(deps, { memberId, order, idempotencyKey: 'earn-a' }, SHOP);

      const restored: string[][] = [];
      const undo = async (run: Promise<{ vouchersRestored: string[] }>) => {
        const result = await run;
        restored.push(result.vouchersRestored);
        return result;
      };
      const answers = await Promise.all([
        outcome(
          undo(
            returnOrderItems(
              deps,
              { memberId, orderReference: 'A', items: [{ sku: 'TEE', quantity: 2 }], idempotencyKey: 'return-a' },
              SHOP,
            ),
          ),
        ),
        outcome(undo(cancelOrder(deps, { memberId, orderReference: 'A', idempotencyKey: 'cancel-a' }, SHOP))),
        outcome(redeemVoucher(deps, { code: voucher.code, orderRef: 'B', orderTotal: '20.00', memberId, idempotencyKey: 'pay-b' }, SHOP)),
        outcome(undo(cancelOrder(deps, { memberId, orderReference: 'B', idempotencyKey: 'cancel-b' }, SHOP))),
      ]);
      expect(answers.every((answer) => ['OK', 'VALIDATION', 'NOT_FOUND', 'VOUCHER_NOT_REDEEMABLE'].includes(answer))).toBe(true);

      // Each redemption rolled back once, by one answer that says so; the voucher is REDEEMED exactly while one is live.
      const redemptions = await prisma.voucherRedemption.findMany({ where: { voucherId: voucher.id } });
      const rolledBack = redemptions.filter((r) => r.rolledBackAt !== null);
      expect(restored.flat()).toHaveLength(rolledBack.length);
      expect(redemptions.length - rolledBack.length).toBeLessThanOrEqual(1);
      const live = redemptions.length > rolledBack.length;
      expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe(live ? 'REDEEMED' : 'ISSUED');
      if (rolledBack.length === 2) rolledBackTwice += 1;
    }
    // The rounds that matter happened: the voucher came back from A, went to B, and came back from B in one millisecond.
    expect(rolledBackTwice).toBeGreaterThan(0);
  });
});
