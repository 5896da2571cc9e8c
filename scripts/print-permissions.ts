// Prints the permission matrix to docs/permissions.md; with --check, fails when the file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { printPermissionsDoc } from '../src/auth/permission-doc.js';

const path = new URL('../docs/permissions.md', import.meta.url);
const printed = printPermissionsDoc();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // missing file counts as a difference
  }
  if (current !== printed) {
    console.error('docs/permissions.md differs from src/auth/permission-matrix.ts: run `npm run permissions:doc` and commit it.');
    process.exit(1);
  }
  console.log('docs/permissions.md matches the permission matrix.');
} else {
  writeFileSync(path, printed);
  console.log('wrote docs/permissions.md');
}
