// Prints the schema from code to schema.graphql; with --check, fails when the file differs.
import { printSortedSchema } from '../src/graphql/schema.js';
import { writeOrCheck } from './generated-file.js';

writeOrCheck(new URL('../schema.graphql', import.meta.url), printSortedSchema(), {
  name: 'schema.graphql',
  source: 'the schema in code',
  command: 'npm run schema:print',
});
