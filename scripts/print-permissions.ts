// Prints the permission matrix to docs/permissions.md; with --check, fails when the file differs.
import { printPermissionsDoc } from '../src/auth/permission-doc.js';
import { writeOrCheck } from './generated-file.js';

writeOrCheck(new URL('../docs/permissions.md', import.meta.url), printPermissionsDoc(), {
  name: 'docs/permissions.md',
  source: 'src/auth/permission-matrix.ts',
  command: 'npm run permissions:doc',
});
