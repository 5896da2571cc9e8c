// No useTestApp(): voucher codes are pure functions; no database.
import { describe, expect, it } from 'vitest';
import {
  VOUCHER_CODE_ALPHABET,
  VOUCHER_CODE_ENTROPY_BITS,
  VOUCHER_CODE_PREFIX,
  generateVoucherCode,
  isWellFormedVoucherCode,
  normalizeVoucherCode,
} from '../../src/domain/vouchers/voucher-code.js';

describe('voucher codes', () => {
  it('10 000 generated codes are unique, use only the unambiguous alphabet and carry ≥ 64 bits', () => {
    const codes = Array.from({ length: 10_000 }, generateVoucherCode);
    expect(new Set(codes).size).toBe(10_000);

    expect(VOUCHER_CODE_ALPHABET).not.toMatch(/[01OIL]/);
    expect(new Set(VOUCHER_CODE_ALPHABET).size).toBe(VOUCHER_CODE_ALPHABET.length);
    const alphabet = new Set(VOUCHER_CODE_ALPHABET);
    let randomLength: number | undefined;
    for (const code of codes) {
      expect(code).toMatch(/^TRU(-[A-Z2-9]{4}){4}$/);
      expect(isWellFormedVoucherCode(code)).toBe(true);
      const random = code.slice(VOUCHER_CODE_PREFIX.length).replaceAll('-', '');
      for (const char of random) expect(alphabet.has(char)).toBe(true);
      randomLength ??= random.length;
      expect(random.length).toBe(randomLength);
      expect(code.length).toBeGreaterThanOrEqual(13); // the database CHECK
    }
    const bits = Math.log2(VOUCHER_CODE_ALPHABET.length ** randomLength!);
    expect(bits).toBeGreaterThanOrEqual(64);
    expect(VOUCHER_CODE_ENTROPY_BITS).toBeCloseTo(bits, 6);
  });

  it('every character of the alphabet turns up, none far more often than the others', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      for (const char of generateVoucherCode().slice(4).replaceAll('-', '')) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    expect(counts.size).toBe(VOUCHER_CODE_ALPHABET.length);
    const expected = (10_000 * 16) / VOUCHER_CODE_ALPHABET.length; // ≈ 5 161, σ ≈ 71
    for (const count of counts.values()) expect(Math.abs(count - expected)).toBeLessThan(expected * 0.1);
  });

  it('a code typed in lower case, without or with odd dashes and spaces, normalises to the canonical code', () => {
    const code = generateVoucherCode();
    expect(normalizeVoucherCode(code.toLowerCase())).toBe(code);
    expect(normalizeVoucherCode(` ${code.replaceAll('-', '')} `)).toBe(code);
    expect(normalizeVoucherCode(code.replaceAll('-', ' '))).toBe(code);
    expect(normalizeVoucherCode('not-a-code')).toBe('NOT-A-CODE');
  });
});
