// No useTestApp(): the rules are pure functions of the rows and the clock; no database.
import { describe, expect, it } from 'vitest';
import { voucherListChangesAt, voucherStatusesChangeAt, type VoucherListRead } from '../../src/domain/vouchers/vouchers.service.js';
import type { VoucherStatus } from '../../src/generated/prisma/client.js';

/** When vouchers read at a moment change with the clock alone: the rule the response cache dates its answers by. */
const NOW = new Date('2026-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);
const voucher = (status: VoucherStatus, expiresInMinutes: number) => ({ status, expiresAt: at(expiresInMinutes) });

describe('voucherStatusesChangeAt', () => {
  it.each([
    ['no vouchers', [], null],
    ['one ISSUED voucher: its expiry', [voucher('ISSUED', 5)], at(5)],
    ['the earliest expiry of the ISSUED ones', [voucher('ISSUED', 60), voucher('ISSUED', 5), voucher('ISSUED', 30)], at(5)],
    ['final statuses never change', [voucher('REDEEMED', 5), voucher('VOIDED', 5), voucher('EXPIRED', 5)], null],
    ['an ISSUED voucher past its expiry is EXPIRED already', [voucher('ISSUED', -1), voucher('ISSUED', 0)], null],
    ['past and final ones beside an ISSUED one', [voucher('ISSUED', -1), voucher('REDEEMED', 1), voucher('ISSUED', 2)], at(2)],
  ] as const)('%s', (_, vouchers, expected) => {
    expect(voucherStatusesChangeAt(vouchers, NOW)).toEqual(expected);
  });
});

describe('voucherListChangesAt', () => {
  it.each<[string, ReturnType<typeof voucher>[], VoucherListRead, Date | null]>([
    ['all vouchers: when a listed ISSUED one expires', [voucher('REDEEMED', 1), voucher('ISSUED', 9)], { status: null }, at(9)],
    ['all vouchers, counted: the count does not move with time', [voucher('ISSUED', 9)], { status: null, counted: true }, at(9)],
    ['ISSUED: when the first listed one leaves the list', [voucher('ISSUED', 9), voucher('ISSUED', 3)], { status: 'ISSUED' }, at(3)],
    // Read a moment before `now` (plugin-prisma's plan, then the field): the list shows it still, and is stale already.
    ['ISSUED, dated after the read: a row expired meanwhile', [voucher('ISSUED', 9), voucher('ISSUED', -1)], { status: 'ISSUED' }, at(-1)],
    ['ISSUED, empty: nothing joins ISSUED with time', [], { status: 'ISSUED' }, null],
    ['ISSUED, counted: any expiry of the member moves the count', [voucher('ISSUED', 9)], { status: 'ISSUED', counted: true }, NOW],
    ['EXPIRED: a voucher not read may join at any moment', [voucher('EXPIRED', -5)], { status: 'EXPIRED' }, NOW],
    ['REDEEMED: final', [voucher('REDEEMED', 5)], { status: 'REDEEMED', counted: true }, null],
    ['VOIDED: final', [voucher('VOIDED', 5)], { status: 'VOIDED' }, null],
  ])('%s', (_, rows, read, expected) => {
    expect(voucherListChangesAt(rows, read, NOW)).toEqual(expected);
  });
});
