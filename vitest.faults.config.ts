import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault scripts (tests/faults). Not part of `npm test`: they start
 * their own PostgreSQL and Redis on free ports and kill and restart them, and the service's
 * processes, which takes minutes. One file at a time, scenarios in order.
 */
export default defineConfig({
  resolve: {
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['tests/faults/**/*.fault.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 150_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
