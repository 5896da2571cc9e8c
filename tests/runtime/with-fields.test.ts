// No useTestApp(): it builds plain objects (and one child Node process); nothing here reads the database or Redis.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withFields } from '../../src/with-fields.js';

const HELPER = fileURLToPath(new URL('../../src/with-fields.ts', import.meta.url));

/**
 * `withFields` stands in for `{ ...base, ...fields }` on the hot paths (src/with-fields.ts says why): it must give
 * what the spread gives, and objects built by it from objects alike must share one hidden class.
 */
describe('withFields', () => {
  it('gives what the spread gives: the same keys in the same order, a field of `fields` replacing base’s', () => {
    const base = { id: 'e1', kind: 'EARN', amount: 5 };
    const made = withFields(base, { amount: 7, replayed: false });
    expect(made).toEqual({ ...base, ...{ amount: 7, replayed: false } });
    expect(Object.keys(made)).toEqual(Object.keys({ ...base, ...{ amount: 7, replayed: false } }));
    expect(Object.keys(made)).toEqual(['id', 'kind', 'amount', 'replayed']);
  });

  it('leaves base and fields as they were, and shares no object with them but their values', () => {
    const nested = { sku: 'A' };
    const base = { id: 'e1', line: nested };
    const fields = { share: 2 };
    const made = withFields(base, fields);
    expect(made).not.toBe(base);
    expect(made).not.toBe(fields);
    expect(base).toEqual({ id: 'e1', line: nested });
    expect(fields).toEqual({ share: 2 });
    expect(made.line).toBe(nested);
  });

  it('copies own enumerable properties only, as the spread does', () => {
    const base = Object.create({ inherited: 1 }) as Record<string, unknown>;
    base.own = 2;
    Object.defineProperty(base, 'hidden', { value: 3, enumerable: false });
    expect(withFields(base, { added: 4 })).toEqual({ own: 2, added: 4 });
  });

  it('makes objects that share one map where the spread makes a map per object (V8, in a child process)', () => {
    // %HaveSameMap needs --allow-natives-syntax, which a vitest worker does not have.
    const script = `
      import { withFields } from ${JSON.stringify(HELPER)};
      const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
      const row = (i) => ({ id: 'e' + i, kind: 'EARN', amount: i });
      const count = (make) => {
        let previous, maps = 1;
        for (let i = 0; i < 200; i++) {
          const made = make(i);
          if (previous && !sameMap(previous, made)) maps += 1;
          previous = made;
        }
        return maps;
      };
      console.log(JSON.stringify({
        withFields: count((i) => withFields(row(i), { replayed: false, member: { id: i } })),
        spread: count((i) => ({ ...row(i), replayed: false, member: { id: i } })),
      }));`;
    const child = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(child.stderr).toBe('');
    const maps = JSON.parse(child.stdout) as { withFields: number; spread: number };
    // Start-up may make a map or two while the code warms up; after that, none.
    expect(maps.withFields).toBeLessThanOrEqual(3);
    // What the helper is for, on this Node: were the spread to share its maps too, the helper could go.
    expect(maps.spread).toBeGreaterThan(100);
  });
});
