// No useTestApp(): it compares schema.graphql with the code; no database.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printSortedSchema } from '../../src/graphql/schema.js';

describe('schema.graphql', () => {
  it('matches the schema printed from code (run `npm run schema:print` after changing types)', () => {
    const checkedIn = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(checkedIn).toBe(printSortedSchema());
  });

  it('describes every type and field it exposes', () => {
    const sdl = printSortedSchema();
    // Every `type`/`input`/`enum`/`union`/`interface` declaration is preceded by a description block.
    const undocumented = sdl
      .split('\n')
      .map((line, index, lines) => ({ line, previous: lines[index - 1] ?? '' }))
      .filter(({ line }) => /^(type|input|enum|interface) /.test(line))
      .filter(({ line, previous }) => !previous.trim().endsWith('"""') && !line.startsWith('type PageInfo'))
      .map(({ line }) => line);
    expect(undocumented).toEqual([]);
  });
});
