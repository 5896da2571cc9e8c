// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium.
import { describe, expect, it } from 'vitest';
import { walkPages } from './page-walk.js';
import { useConsole } from './support.js';

const harness = useConsole();

describe('agent console in Chromium, in German', () => {
  it(
    'every page: no untranslated key, no serious or critical accessibility violation, no overflow at 1280×800 and 390×844',
    // 16 pages, twice each (two widths).
    { timeout: 240_000 },
    async () => {
      expect(await walkPages(harness, 'de')).toEqual([]);
    },
  );
});
