import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issueVoucher, visibleVoucherWhere } from '../../src/domain/vouchers/vouchers.service.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * Who may look a voucher up by code (`voucher(code)`) is the vouchers service's
 * rule, the same as the permission matrix's row: a worker, the CLI or a new
 * field calling it gets nothing the matrix refuses, and a member finds only
 * their own vouchers (another's code finds nothing, as an unknown one).
 */
const { prisma, app } = useTestApp();

describe('voucher(code): visibleVoucherWhere', () => {
  it('finds the voucher for the callers the matrix allows, a member only their own; refuses everyone else (FORBIDDEN)', async () => {
    const owner = await app.enroll();
    const stranger = await app.enroll();
    const {
      voucher: { code },
    } = await prisma.$transaction((tx) =>
      issueVoucher(tx, {
        memberId: owner,
        kind: 'GOODWILL',
        value: { type: 'FIXED', amount: '5.00' },
        causeType: 'GESTURE',
        causeRef: randomUUID(),
        now: new Date(),
      }),
    );
    const callers = matrixCallers('Query', 'voucher', { owner, stranger });
    expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual([
      'memberSelf',
      'members:read',
      'vouchers:redeem',
      'admin',
      'AGENT',
      'SUPERVISOR',
      'ADMIN',
    ]);
    for (const { kind, access, caller } of callers) {
      if (kind === 'memberOther') {
        // Another member's code reads as none: a refusal would tell that it exists.
        expect(await prisma.voucher.findUnique({ where: visibleVoucherWhere(code, caller) }), kind).toBeNull();
      } else if (access === 'deny') {
        expect(() => visibleVoucherWhere(code, caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
      } else {
        expect(await prisma.voucher.findUnique({ where: visibleVoucherWhere(code.toLowerCase(), caller) }), kind).toMatchObject({
          code,
          memberId: owner,
        });
      }
    }
    expect(() => visibleVoucherWhere(code, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
