import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../tests/support/chromium.js';
import { freePort, killServiceProcesses, ROOT, startServiceProcess } from '../tests/support/processes.js';
import { createBenchDatabase, seed } from './seed.js';
import { BENCH_RATE_LIMITS, BENCH_REDIS, deleteRedisKeys, dropDatabase, memberId, percentile } from './support.js';

/**
 * `npm run bench:console`: how long the agent console's member page takes to render against the bench
 * data set (issue 14: "under 1 s"). Seeds a fresh bench database as `npm run bench` does (bench/seed.ts:
 * 10 000 members × 20 ledger entries × 6 vouchers), starts the built service on it (dist/src/main.js,
 * built first by `prebench:console`; NODE_ENV=development, because the console's development sign-in
 * does not exist in production), signs in as an agent in headless Chromium and, for --visits random
 * members (20), measures inside the page (performance.now()) from the client-side navigation to the
 * member page until it is settled: its heading shows the member's name and nothing is `.loading`.
 * Prints p50/p95/max, writes them into bench/README.md's section and drops the database.
 * Options: --visits N (20) --members N (10000) --keep (keep the database) --no-readme.
 */

const { values: args } = parseArgs({
  options: {
    visits: { type: 'string', default: '20' },
    members: { type: 'string', default: '10000' },
    keep: { type: 'boolean', default: false },
    'no-readme': { type: 'boolean', default: false },
  },
});
const VISITS = Number(args.visits);
const MEMBERS = Number(args.members);
const ENTRY = 'dist/src/main.js';
const README = path.join(ROOT, 'bench/README.md');
const SECTION_START = '<!-- console-bench:start -->';
const SECTION_END = '<!-- console-bench:end -->';
/** A visit that has not settled by then failed. */
const VISIT_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  if (!existsSync(path.join(ROOT, ENTRY))) throw new Error(`${ENTRY} does not exist: run \`npm run build\` first`);
  const database = `treue_bench_console_${randomBytes(4).toString('hex')}`;
  const prefix = `treue-bench-${randomBytes(4).toString('hex')}`;
  let browser: Browser | undefined;
  try {
    const databaseUrl = await createBenchDatabase(database);
    const seeded = await seed({ database, members: MEMBERS, entriesPerMember: 20, vouchersPerMember: 6, log: (line) => console.log(line) });
    console.log(
      `seeded ${seeded.members} members, ${seeded.ledgerEntries} ledger entries, ${seeded.vouchers} vouchers in ${seeded.seconds} s`,
    );

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const service = startServiceProcess(ENTRY, {
      NODE_ENV: 'development',
      DATABASE_URL: databaseUrl,
      REDIS_URL: BENCH_REDIS,
      QUEUE_PREFIX: prefix,
      JWT_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'info', // the ready line is an info line
      HOST: '127.0.0.1',
      PORT: String(port),
      WEB_CONCURRENCY: '1',
      ...BENCH_RATE_LIMITS,
    });
    await service.waitForLine(/Treue ready: GraphQL at/, 90_000);

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    await context.addInitScript(() => localStorage.setItem('treue.console.locale', 'en'));
    const page = await context.newPage();
    page.setDefaultTimeout(VISIT_TIMEOUT_MS);
    await page.goto(`${base}/console/`);
    await page.getByLabel('Role').selectOption('AGENT');
    await page.getByLabel('Name', { exact: true }).fill('Bench Agent');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-as').waitFor();

    // Distinct random members (the client's cache never answers a visit); the first visit warms up and is not counted.
    const chosen = new Set<number>();
    while (chosen.size < Math.min(MEMBERS, VISITS + 1)) chosen.add(randomInt(1, MEMBERS + 1));
    const timings: number[] = [];
    for (const [index, i] of [...chosen].entries()) {
      const ms = await page.evaluate(
        async ({ route, name, timeoutMs }) => {
          const started = performance.now();
          // Client-side navigation, as a click on a link does (the token is in memory: a page load would sign out).
          history.pushState(null, '', `/console${route}`);
          dispatchEvent(new PopStateEvent('popstate'));
          // No named inner function: tsx would wrap it in a helper (__name) the page does not have.
          for (;;) {
            const heading = document.querySelector('main h1');
            if (heading?.textContent === name && document.querySelector('.loading') === null) return performance.now() - started;
            if (performance.now() - started > timeoutMs) throw new Error(`${route} not settled after ${timeoutMs} ms`);
            await new Promise((resolve) => requestAnimationFrame(resolve));
          }
        },
        { route: `/members/${memberId(i)}`, name: `Bench Member ${i}`, timeoutMs: VISIT_TIMEOUT_MS },
      );
      if (index > 0) timings.push(ms);
      // Back to the search page between visits, so that each visit starts from another page as an agent's does.
      await page.evaluate(() => {
        history.pushState(null, '', '/console/');
        dispatchEvent(new PopStateEvent('popstate'));
      });
    }

    const sorted = [...timings].sort((a, b) => a - b);
    const figures = { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1]! };
    const load = loadavg()
      .map((value) => value.toFixed(1))
      .join(' / ');
    console.log(
      `member page, ${timings.length} random members of ${MEMBERS}: p50 ${figures.p50.toFixed(0)} ms, p95 ${figures.p95.toFixed(0)} ms, max ${figures.max.toFixed(0)} ms (load average ${load})`,
    );
    if (!args['no-readme']) await writeSection(timings.length, figures, load);
  } finally {
    await browser?.close();
    killServiceProcesses();
    await deleteRedisKeys(BENCH_REDIS, prefix);
    if (!args.keep) await dropDatabase(database);
  }
}

/** Replaces the figures between the section's markers in bench/README.md (the prose around them stays). */
async function writeSection(visits: number, figures: { p50: number; p95: number; max: number }, load: string): Promise<void> {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf(SECTION_START);
  const end = text.indexOf(SECTION_END);
  if (start === -1 || end < start) throw new Error(`bench/README.md has no ${SECTION_START} … ${SECTION_END} section`);
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const body =
    `Latest run, ${when} UTC, ${visits} random members of ${MEMBERS}: **p50 ${figures.p50.toFixed(0)} ms, ` +
    `p95 ${figures.p95.toFixed(0)} ms, max ${figures.max.toFixed(0)} ms** (load average ${load} on 2 cores).`;
  await writeFile(README, `${text.slice(0, start + SECTION_START.length)}\n\n${body}\n\n${text.slice(end)}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    killServiceProcesses();
    process.exit(1);
  },
);
