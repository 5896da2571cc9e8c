import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createGraphQLHandler } from '../src/app.js';
import { loadConfig } from '../src/config/env.js';
import { createPrisma } from '../src/db/prisma.js';
import { createLogger } from '../src/logger.js';
import { createBenchDatabase, seed } from './seed.js';
import { BENCH_RATE_LIMITS, dropDatabase, databaseUrl, memberId } from './support.js';

/**
 * CPU per operation in process: runs the member-status query through yoga.fetch
 * (no HTTP, no load generator) against a small seeded bench database and prints
 * the API process's CPU time per request — far steadier than req/s on a shared
 * machine, for trying a change to a hot path before a full `npm run bench`.
 *
 *   npx tsx bench/micro.ts [--requests 3000] [--concurrency 10]
 */

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '10' },
    /** `status` (the member-status query), `earn` (earnPoints) or `typename` (`{ __typename }`: the service's fixed cost per request). */
    query: { type: 'string', default: 'status' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const STATUS = `query($id: ID!) { member(id: $id) { id status tier { key name } tierSince
  tierProgress { current { key threshold multiplier } next { key threshold multiplier } qualifyingPoints pointsToNext reviewAt }
  balance { available pending lifetime } expiringPoints { expiresAt points }
  vouchers(first: 5, status: ISSUED) { edges { node { code kind status valueType percent expiresAt value { amount currency } } } }
  ledger(first: 10) { edges { node { kind amount balanceAfter causeType causeRef createdAt } } } } }`;

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
  ... on EarnPointsPayload { points member { id tier { key name } balance { available pending } } } ... on Error { message } } }`;

const run = randomBytes(3).toString('hex');
function bodyOf(n: number): { query: string; variables: Record<string, unknown> } {
  const id = memberId(1 + (n % 1000));
  if (values.query === 'typename') return { query: '{ __typename }', variables: {} };
  if (values.query === 'earn') {
    return {
      query: EARN,
      variables: { input: { memberId: id, orderRef: `m-${run}-${n}`, orderTotal: '25.00', idempotencyKey: `m-${run}-${n}` } },
    };
  }
  return { query: STATUS, variables: { id } };
}

async function main(): Promise<void> {
  const database = `treue_bench_micro_${randomBytes(3).toString('hex')}`;
  await createBenchDatabase(database);
  try {
    const seeded = await seed({ database, members: 1000, entriesPerMember: 20, vouchersPerMember: 6 });
    const prisma = createPrisma(databaseUrl(database), 10);
    const config = {
      ...loadConfig({ NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('hex'), ...BENCH_RATE_LIMITS }),
      logLevel: 'silent' as const,
    };
    const yoga = createGraphQLHandler({ config, logger: createLogger('silent'), prisma });
    let n = 0;
    const one = async () => {
      const response = await yoga.fetch('http://bench/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${seeded.apiKey}` },
        body: JSON.stringify(bodyOf(++n)),
      });
      const text = await response.text();
      if (text.includes('"errors"')) throw new Error(text);
      return text;
    };
    const run = async (count: number) => {
      let left = count;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left-- > 0) await one();
        }),
      );
    };
    console.log((await one()).slice(0, 400));
    await run(500); // warm-up: JIT, caches, prepared statements
    for (let round = 0; round < 3; round++) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      await run(requests);
      const used = process.cpuUsage(cpu);
      const wall = performance.now() - started;
      console.log(
        `${values.query}: ${((used.user + used.system) / 1000 / requests).toFixed(3)} ms CPU/request ` +
          `(user ${(used.user / 1000 / requests).toFixed(3)}, system ${(used.system / 1000 / requests).toFixed(3)}), ` +
          `${((requests / wall) * 1000).toFixed(0)} req/s in process`,
      );
    }
    await prisma.$disconnect();
  } finally {
    await dropDatabase(database);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
