// No useTestApp(): it reads the test files; no database.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/processes.js';

/**
 * Every test file runs in the frame of tests/support/app.ts (a database of this worker, emptied
 * before each test, the ledger checked after each) or says on its first line why not, as
 * `// No useTestApp(): <reason>`.
 */
async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return testFiles(full);
      return Promise.resolve(/\.(test|fault)\.ts$/.test(entry.name) ? [full] : []);
    }),
  );
  return nested.flat();
}

describe('test files', () => {
  it('each uses useTestApp() or says on its first line why not', async () => {
    const files = await testFiles(path.join(ROOT, 'tests'));
    expect(files.length).toBeGreaterThan(40);
    const unexplained: string[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      if (/\buseTestApp\(/.test(text)) continue;
      if (/^\/\/ No useTestApp\(\): \S.{10,}/.test(text)) continue;
      unexplained.push(path.relative(ROOT, file));
    }
    expect(unexplained).toEqual([]);
  });
});
