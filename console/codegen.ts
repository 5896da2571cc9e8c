import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the console from the committed schema.graphql (GraphQL Code Generator's client
 * preset): every `graphql(`…`)` in console/src is validated against the schema and gets its result and
 * variables types, so a schema change that breaks the console fails `npm run check`.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['console/src/**/*.{ts,tsx}', '!console/src/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    'console/src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { DateTime: 'string', Points: 'number', Decimal: 'string' },
        strictScalars: true,
        enumsAsTypes: true,
        useTypeImports: true,
        skipTypename: false,
      },
    },
  },
  silent: true,
};

export default config;
