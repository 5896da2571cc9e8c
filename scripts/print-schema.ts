// Prints the schema from code to schema.graphql; with --check, fails when the file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { printSortedSchema } from '../src/graphql/schema.js';

const path = new URL('../schema.graphql', import.meta.url);
const printed = printSortedSchema();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // missing file counts as a difference
  }
  if (current !== printed) {
    console.error('schema.graphql differs from the schema in code: run `npm run schema:print` and commit it.');
    process.exit(1);
  }
  console.log('schema.graphql matches the code.');
} else {
  writeFileSync(path, printed);
  console.log('wrote schema.graphql');
}
