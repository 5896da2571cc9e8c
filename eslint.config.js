import js from '@eslint/js';
import graphql from '@graphql-eslint/eslint-plugin';
import tseslint from 'typescript-eslint';

// One graphql-config for every GraphQL file: graphql-eslint loads it once per run and shares it.
const graphQLConfig = { schema: 'schema.graphql', documents: ['examples/**/*.ts', '!examples/*/gql/**'] };

export default tseslint.config(
  { ignores: ['node_modules/', 'src/generated/', '.data/', 'dist/', '.build/', 'coverage/', 'examples/*/gql/', 'console/src/gql/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['scripts/**', 'bench/**', 'src/cli.ts', 'tests/**', 'examples/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // GraphQL translates: what answers a caller comes from a service that checks the caller. The services' internal
    // reads of the settings and the tier standings check nobody, so GraphQL may not import them (readProgram,
    // readTiers, readTierStandings are the checked ones; programCurrencyOf the currency every amount names).
    files: ['src/graphql/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/domain/program/program.service.js'],
              importNames: ['loadProgram', 'settingsForHash', 'currentSettings'],
              message: 'internal, checks no caller: use readProgram (or programCurrencyOf for the currency).',
            },
            {
              group: ['**/domain/tiers/tiers.service.js'],
              importNames: ['loadTierStandings'],
              message: 'internal, checks no caller: use readTierStandings or readTiers.',
            },
          ],
        },
      ],
    },
  },
  {
    // GraphQL answers in tests are dynamic JSON.
    files: ['tests/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The contract as client tools see it: graphql-eslint's schema-recommended and Relay rules over the printed schema.
    files: ['schema.graphql'],
    languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig } },
    plugins: { '@graphql-eslint': graphql },
    rules: {
      ...graphql.configs['flat/schema-recommended'].rules,
      ...graphql.configs['flat/schema-relay'].rules,
      // Exceptions, each with its reason:
      // - An id on every object type is for entities; Money, Balance, TierProgress, payloads, errors, connections and
      //   edges are values without an identity of their own. What Relay needs of entities is that they implement Node,
      //   which the schema's tests check where it matters (node(id) per type).
      '@graphql-eslint/strict-id-in-types': 'off',
      '@graphql-eslint/relay-edge-types': [
        'error',
        {
          withEdgeSuffix: true,
          // AtRiskMember is a computed row of a report (no identity to refetch); WebhookEndpoint and WebhookDelivery
          // are admin records read through their lists only. The rule has no per-type exception, so it is off for all.
          shouldImplementNode: false,
          // Short, bounded lists of values (scopes, reasons, buckets, a report's rows by kind) stay plain lists;
          // lists that grow with use are connections.
          listTypeCanWrapOnlyEdgeType: false,
        },
      ],
      // Forward pagination (first/after) on every connection; atRiskMembers pages a computed ranking "load more"
      // style and offers no backward paging (last/before), on purpose.
      '@graphql-eslint/relay-arguments': ['error', { includeBoth: false }],
    },
  },
  {
    // The examples' documents (the graphql(`…`) calls in examples/), extracted for the operation rules below.
    files: ['examples/**/*.ts'],
    ignores: ['examples/*/gql/**'],
    processor: graphql.processor,
  },
  {
    files: ['examples/**/*.graphql'],
    languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig } },
    plugins: { '@graphql-eslint': graphql },
    rules: {
      ...graphql.configs['flat/operations-recommended'].rules,
      // Fragments are named Relay's way, `<Component>_<prop>` (StatusHeader_member).
      '@graphql-eslint/naming-convention': [
        'error',
        {
          VariableDefinition: 'camelCase',
          OperationDefinition: { style: 'PascalCase', forbiddenPrefixes: ['Query', 'Mutation', 'Subscription', 'Get'] },
        },
      ],
      // A deprecated field keeps working until its removal date: the examples move to the new form when it
      // lands (a warning says which), rather than failing the check of whoever deprecates it.
      '@graphql-eslint/no-deprecated': 'warn',
    },
  },
);
