import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../../src/db/prisma.js';
import { issueVoucher, type IssueVoucherInput } from '../../src/domain/vouchers/vouchers.service.js';

/**
 * A voucher of the member's, issued as the services issue one, in a transaction of its own: a 10.00 goodwill voucher
 * issued now, unless `overrides` say otherwise (another value, kind, cause or instant).
 */
export async function issueTestVoucher(prisma: PrismaClient, memberId: string, overrides: Partial<IssueVoucherInput> = {}) {
  const { voucher } = await prisma.$transaction((tx) =>
    issueVoucher(tx, {
      memberId,
      kind: 'GOODWILL',
      value: { type: 'FIXED', amount: '10.00' },
      causeType: 'GESTURE',
      causeRef: randomUUID(),
      now: new Date(),
      ...overrides,
    }),
  );
  return voucher;
}
