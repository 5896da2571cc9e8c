// Writes a file printed from code, or with --check fails when the committed file differs.
import { readFileSync, writeFileSync } from 'node:fs';

/** `name` is the file as a reader knows it, `source` what it is printed from, `command` the script that rewrites it. */
export function writeOrCheck(
  path: URL,
  printed: string,
  { name, source, command }: { name: string; source: string; command: string },
): void {
  if (!process.argv.includes('--check')) {
    writeFileSync(path, printed);
    console.log(`wrote ${name}`);
    return;
  }
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // a missing file counts as a difference
  }
  if (current !== printed) {
    console.error(`${name} differs from ${source}: run \`${command}\` and commit it.`);
    process.exit(1);
  }
  console.log(`${name} matches ${source}.`);
}
