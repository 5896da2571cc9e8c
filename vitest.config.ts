import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (index.js) and ESM (index.mjs). Node loads the CJS one for
    // Pothos and yoga; point our own imports at the same file, or graphql refuses
    // types "from another module or realm".
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    // Child processes: real sockets, pools and timers behave as in production.
    pool: 'forks',
    // Two files at a time. Vitest's default on 2 cores is one (cores - 1), but the tests spend much of
    // their time waiting on PostgreSQL, Redis, child processes and queues; each worker has its own
    // database, Redis prefix and ports (tests/support), and the built service is shared (db.ts builtService).
    maxWorkers: 2,
    // Prepares the migrated template database; each worker clones its own (tests/support/db.ts).
    globalSetup: ['tests/support/global-setup.ts'],
    setupFiles: ['tests/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
