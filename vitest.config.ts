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
    // A worker keeps its imported modules from one file to the next: each file set up its own state in
    // hooks already (database, Redis prefix, servers), and re-importing the service's module graph cost
    // ~3 s per file (320 s of a CI run's 682 s; the whole suite 296 s without it on the same machine).
    isolate: false,
    // Prepares the migrated template database; each worker clones its own (tests/support/db.ts).
    globalSetup: ['tests/support/global-setup.ts'],
    setupFiles: ['tests/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // expect.poll waits for a page or a worker to show something. Vitest's default of 1 s failed a console test
    // in CI (the queue page not yet rendered while two page walks ran beside it); a poll that succeeds returns
    // as soon as it does, so a longer wait only delays the ones that fail anyway.
    expect: { poll: { timeout: 10_000 } },
  },
});
