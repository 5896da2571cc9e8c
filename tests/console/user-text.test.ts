// No useTestApp(): a pure function of the console, no database.
import { describe, expect, it } from 'vitest';

// A path the root tsconfig does not follow: the console is type-checked by its own (console/tsconfig.json).
const { isolated } = (await import('../../console/src/user-text.tsx' as string)) as { isolated: (value: string) => string };

const [LRE, RLE, PDF, LRO, RLO] = ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E'];
const [LRI, RLI, FSI, PDI] = ['\u2066', '\u2067', '\u2068', '\u2069'];

describe('a user string in a plain string (an aria-label, a title, a dialog)', () => {
  it.each([
    ['plain text', 'web shop', `${FSI}web shop${PDI}`],
    ['a Hebrew name', 'דנה כהן', `${FSI}דנה כהן${PDI}`],
    ['an override left open: closed at the end', `${RLO}gnp.exe`, `${FSI}${RLO}gnp.exe${PDF}${PDI}`],
    ['embeddings and overrides left open: closed innermost first', `${LRE}a${RLO}b`, `${FSI}${LRE}a${RLO}b${PDF}${PDF}${PDI}`],
    ['a balanced override: unchanged', `${RLE}a${PDF}b`, `${FSI}${RLE}a${PDF}b${PDI}`],
    ['a U+202C that closes nothing: left out', `a${PDF}${RLO}b`, `${FSI}a${RLO}b${PDF}${PDI}`],
    ['a U+2069 that closes nothing: left out', `${PDI}${RLO}kcaj`, `${FSI}${RLO}kcaj${PDF}${PDI}`],
    ['an isolate left open: closed at the end', `${RLI}a`, `${FSI}${RLI}a${PDI}${PDI}`],
    [
      'an override inside an isolate: closed by its own closer before the isolate’s',
      `${LRI}${LRO}a${PDI}b`,
      `${FSI}${LRI}${LRO}a${PDF}${PDI}b${PDI}`,
    ],
    [
      'a U+202C inside an isolate for an override outside it: left out',
      `${RLO}${LRI}a${PDF}${PDI}`,
      `${FSI}${RLO}${LRI}a${PDI}${PDF}${PDI}`,
    ],
    ['paragraph separators: spaces', 'a\nb\u2029c\u0085d\re', `${FSI}a b c d e${PDI}`],
  ])('%s', (_, value, expected) => {
    expect(isolated(value)).toBe(expected);
  });
});
