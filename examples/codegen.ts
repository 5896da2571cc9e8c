import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * GraphQL Code Generator's client preset, as a client team would run it against `schema.graphql`:
 * each example gets a typed `graphql()` function for the documents written in its own files
 * (`npm run examples:generate`, run by `npm run check` before `tsc`; the output is not committed).
 */

const scalars = {
  DateTime: { input: 'string', output: 'string' }, // RFC 3339, e.g. 2026-11-23T12:00:00.000Z
  Points: { input: 'number | `${number}`', output: 'number' }, // whole points
  Decimal: { input: 'string', output: 'string' }, // "12.50": parse with a decimal library
};

const config = {
  // Every scalar must be in the map: a new one fails generation instead of arriving as `unknown`.
  strictScalars: true,
  scalars,
  // The document is its query text (no graphql-js on the client): plain fetch sends it.
  documentMode: 'string',
  enumsAsTypes: true,
  useTypeImports: true,
  // Relative imports with `.js`, as Node's ESM resolution (and tsc's NodeNext) wants them.
  emitLegacyCommonJSImports: false,
} as const;

function client(dir: string, fragmentMasking: boolean, persistedDocuments = false) {
  return {
    preset: 'client' as const,
    documents: [`examples/${dir}/**/*.ts`, `!examples/${dir}/gql/**`],
    presetConfig: {
      fragmentMasking: fragmentMasking ? { unmaskFunctionName: 'readFragment' } : false,
      // Each operation also gets its sha256 (`__meta__.hash`) and `persisted-documents.json` lists them:
      // the service's trusted documents (npm run trusted-documents:print, docs/caching.md).
      ...(persistedDocuments ? { persistedDocuments: { hashAlgorithm: 'sha256' as const } } : {}),
    },
    config,
  };
}

const codegen: CodegenConfig = {
  schema: 'schema.graphql',
  generates: {
    'examples/storefront/gql/': client('storefront', false),
    // Colocated fragments are masked: a component sees only the fields its own fragment selects.
    'examples/member-app/gql/': client('member-app', true, true),
  },
  ignoreNoDocuments: false,
};
export default codegen;
