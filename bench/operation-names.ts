import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_REDIS, assertBenchDatabase, databaseUrl, dropDatabase, startCommandOf, withAdminClient } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Issue 9, hole 3: can a client grow the API's memory by naming operations?
 * Starts the compiled service (`npm run build` first; WEB_CONCURRENCY=1, so the
 * API is the process measured) on a fresh bench database, sends 10 000 GraphQL
 * requests with distinct operation names — every 50th name 30 000 characters
 * long, as long as a body within MAX_BODY_BYTES (64 KB) allows with the name
 * in query and operationName — and prints the operation series in /metrics and
 * the process's RSS before and after.
 *
 *   npm run build && npx tsx bench/operation-names.ts
 */

const REQUESTS = 10_000;
const CONCURRENCY = 8;
const LONG_NAME_EVERY = 50;
const LONG_NAME_LENGTH = 30_000;
const DATABASE = 'treue_bench_operation_names';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function snapshot(base: string): Promise<{ series: number; rssMb: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const series = text.split('\n').filter((line) => line.startsWith('treue_graphql_operations_total{')).length;
  const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1]);
  return { series, rssMb: Math.round((rss / 1024 / 1024) * 10) / 10 };
}

async function main(): Promise<void> {
  assertBenchDatabase(DATABASE);
  await dropDatabase(DATABASE);
  await withAdminClient((client) => client.query(`CREATE DATABASE "${DATABASE}"`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // As `npm start` runs it: the RSS measured is the one its heap limit gives.
  const { flags, entry } = await startCommandOf(ROOT);
  const child = spawn(process.execPath, [...flags, path.join(ROOT, entry)], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      WEB_CONCURRENCY: '1',
      DATABASE_URL: databaseUrl(DATABASE),
      REDIS_URL: BENCH_REDIS,
      QUEUE_PREFIX: 'treue-bench-operation-names',
      JWT_SECRET: 'bench-secret-that-is-long-enough-for-hs256-0123456789',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    for (;;) {
      const ready = await fetch(`${base}/readyz`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) break;
      if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}); did you run npm run build?`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Warm up with the same shape, so that the "before" RSS includes a loaded process.
    for (let i = 0; i < 200; i++) await send(base, `Warm${i}`);
    const before = await snapshot(base);

    let next = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const name = i % LONG_NAME_EVERY === 0 ? `Long${i}_${'n'.repeat(LONG_NAME_LENGTH)}` : `Op${i}`;
          if (!(await send(base, name))) failed++;
        }
      }),
    );
    const after = await snapshot(base);
    console.log(
      JSON.stringify({
        requests: REQUESTS,
        longNames: Math.ceil(REQUESTS / LONG_NAME_EVERY),
        longNameChars: LONG_NAME_LENGTH,
        failed,
        before,
        after,
      }),
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await dropDatabase(DATABASE);
  }
}

async function send(base: string, name: string): Promise<boolean> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `query ${name} { __typename tiers { key } }`, operationName: name }),
  });
  const body = (await response.json()) as { data?: unknown };
  return response.ok && body.data !== undefined;
}

await main();
