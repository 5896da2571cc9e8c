// No useTestApp(): the state is kept on plain objects; nothing here reads the database or Redis.
import { describe, expect, it } from 'vitest';
import { attached } from '../../src/attached.js';

/**
 * `attached` keeps per-object state on the object itself (src/attached.ts says why not in a WeakMap): it must
 * behave as the WeakMap it replaces — state per object, nothing that shows in the object's keys, its JSON or a copy.
 */
describe('attached state', () => {
  it('is per object: another object, or a copy of it, has none', () => {
    const states = attached<object, { n: number }>('test');
    const one = { id: 'a' };
    const other = { id: 'a' };
    expect(states.has(one)).toBe(false);
    expect(states.get(one)).toBeUndefined();

    const state = { n: 1 };
    states.set(one, state);
    expect(states.get(one)).toBe(state);
    expect(states.has(one)).toBe(true);
    expect(states.get(other)).toBeUndefined();
    expect(states.get({ ...one })).toBeUndefined();
    expect(states.get(Object.assign({}, one))).toBeUndefined();

    states.set(one, { n: 2 });
    expect(states.get(one)).toEqual({ n: 2 });
  });

  it('leaves no trace in the object as others see it', () => {
    const states = attached<object, string>('test');
    const row = { id: 'm1', tier: 'GOLD' };
    states.set(row, 'kept');
    expect(Object.keys(row)).toEqual(['id', 'tier']);
    expect(JSON.stringify(row)).toBe('{"id":"m1","tier":"GOLD"}');
    expect(Object.getOwnPropertySymbols({ ...row })).toEqual([]);
    expect(row).toEqual({ id: 'm1', tier: 'GOLD' });
  });

  it('keeps each instance apart, even under the same name', () => {
    const first = attached<object, number>('same');
    const second = attached<object, number>('same');
    const key = {};
    first.set(key, 1);
    expect(second.get(key)).toBeUndefined();
    expect(second.has(key)).toBe(false);
    second.set(key, 2);
    expect(first.get(key)).toBe(1);
  });

  it('holds undefined as a value, as a WeakMap does', () => {
    const states = attached<object, string | undefined>('test');
    const key = {};
    states.set(key, undefined);
    expect(states.has(key)).toBe(true);
    expect(states.get(key)).toBeUndefined();
  });
});
