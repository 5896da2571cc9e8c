// No useTestApp(): stableJson is a pure function of the ledger fuzzer's; no database.
import { describe, expect, it } from 'vitest';
import { stableJson } from './ledger-operations.js';

/**
 * The ledger fuzzer compares a stored (jsonb) answer with a fresh one through `stableJson`: keys sorted, and a bigint
 * (a member row's lifetime points) written as the exact decimal number it is — `JSON.stringify` throws on one, and
 * going through a Number would round anything past 2^53.
 */
describe('stableJson', () => {
  it('writes a bigint as its exact decimal number, alone, in arrays and in objects', () => {
    expect(stableJson(1n)).toBe('1');
    expect(stableJson(0n)).toBe('0');
    expect(stableJson(-42n)).toBe('-42');
    expect(stableJson(2n ** 70n)).toBe('1180591620717411303424');
    expect(stableJson(2n ** 53n + 1n)).toBe('9007199254740993');
    expect(stableJson([1n, [2n ** 70n], { points: 3n }])).toBe('[1,[1180591620717411303424],{"points":3}]');
    expect(stableJson({ member: { lifetimePoints: 2n ** 70n, tier: 'GOLD' } })).toBe(
      '{"member":{"lifetimePoints":1180591620717411303424,"tier":"GOLD"}}',
    );
    // What it writes is JSON (a number past 2^53, which a reader keeps exact only if it reads the digits itself).
    expect(JSON.parse(stableJson({ big: 2n ** 70n, list: [1n] }))).toEqual({ big: 2 ** 70, list: [1] });
  });

  it('sorts object keys at every depth, bigints among them, and leaves out undefined fields', () => {
    const a = { z: 1n, a: { y: [{ b: 2n, a: 1 }], x: 'x' }, m: undefined, d: new Date('2026-12-06T10:00:00.000Z') };
    const b = { d: new Date('2026-12-06T10:00:00.000Z'), a: { x: 'x', y: [{ a: 1, b: 2n }] }, z: 1n };
    const expected = '{"a":{"x":"x","y":[{"a":1,"b":2}]},"d":"2026-12-06T10:00:00.000Z","z":1}';
    expect(stableJson(a)).toBe(expected);
    expect(stableJson(b)).toBe(expected);
    // Array order is kept: it means something.
    expect(stableJson([2n, 1n])).toBe('[2,1]');
    expect(stableJson({ b: null, a: 'text' })).toBe('{"a":"text","b":null}');
  });
});
