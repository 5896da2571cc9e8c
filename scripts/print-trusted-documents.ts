// Prints the member app's trusted documents (its generated persisted-documents.json, written by
// `npm run examples:generate`) to src/graphql/trusted-documents.manifest.ts; with --check, fails when the file differs.
import { readFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { writeOrCheck } from './generated-file.js';

const source = new URL('../examples/member-app/gql/persisted-documents.json', import.meta.url);
const target = new URL('../src/graphql/trusted-documents.manifest.ts', import.meta.url);
const documents = JSON.parse(readFileSync(source, 'utf8')) as Record<string, string>;
const sorted = Object.fromEntries(Object.entries(documents).sort(([a], [b]) => a.localeCompare(b)));
const text = `// Printed by \`npm run trusted-documents:print\` from the member app's documents (examples/member-app): do not edit.

/** The member app's operations by id (the sha256 of each document's text, as the app sends it). */
export const MEMBER_APP_DOCUMENTS: Readonly<Record<string, string>> = ${JSON.stringify(sorted, null, 2)};
`;
const printed = await format(text, { ...(await resolveConfig(target.pathname)), filepath: target.pathname });
writeOrCheck(target, printed, {
  name: 'src/graphql/trusted-documents.manifest.ts',
  source: "the member app's documents",
  command: 'npm run examples:generate && npm run trusted-documents:print',
});
