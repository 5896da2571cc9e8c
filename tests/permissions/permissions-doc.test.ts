// No useTestApp(): it compares docs/permissions.md with the matrix; no database.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printPermissionsDoc } from '../../src/auth/permission-doc.js';
import { CALLER_KINDS, PERMISSION_MATRIX } from '../../src/auth/permission-matrix.js';

describe('docs/permissions.md', () => {
  it('matches the permission matrix in code (run `npm run permissions:doc` after changing it)', () => {
    const checkedIn = readFileSync(new URL('../../docs/permissions.md', import.meta.url), 'utf8');
    expect(checkedIn).toBe(printPermissionsDoc());
  });

  it('shows each field with one column per kind of caller', () => {
    const doc = printPermissionsDoc();
    const row = doc.split('\n').find((line) => line.startsWith('| `adjustPoints` |'))!;
    const cells = row
      .split('|')
      .slice(2, -2)
      .map((cell) => cell.trim());
    expect(cells).toHaveLength(CALLER_KINDS.length);
    expect(cells).toEqual(CALLER_KINDS.map((kind) => (PERMISSION_MATRIX.Mutation.adjustPoints!.access[kind] === 'allow' ? '✓' : '–')));
  });
});
