import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault scripts (tests/faults). `npm test` runs them beside the suite
 * (scripts/test.ts): they start their own PostgreSQL and Redis on free ports and kill and restart
 * them, and the service's processes, built once for them all (tests/faults/global-setup.ts).
 * One file at a time, scenarios in order.
 */
export default defineConfig({
  resolve: {
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['tests/faults/**/*.fault.ts'],
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['tests/faults/global-setup.ts'],
    testTimeout: 150_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
