import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { signMemberToken } from '../src/auth/tokens.js';
import { createPrisma } from '../src/db/prisma.js';
import { createApiKey } from '../src/domain/api-keys/api-keys.service.js';
import { createLogger } from '../src/logger.js';
import { freePorts, killServiceProcesses, startServiceProcess } from '../tests/support/processes.js';
import { readSse, subscriptionRequest } from '../tests/support/sse.js';
import { BENCH_RATE_LIMITS, BENCH_REDIS, deleteRedisKeys, dropDatabase, percentile } from './support.js';
import { createBenchDatabase } from './seed.js';

/**
 * `npm run bench:live`: how long a change made through one API process takes to
 * reach a `memberStatusChanged` subscriber on another — the "within 1 s".
 * Two API processes (`src/main.ts`, TREUE_ROLE=api, one process each) on a fresh
 * bench database and a private Redis prefix; a member subscribes on A over SSE;
 * --earns earns, one after the other, go through B. For each: from sending the
 * earn to the event on A (what an app sees after a checkout), and from B's answer
 * (commit) to the event (the after-commit path: publish, Redis, A's status read).
 * Options: --earns N (default 200) --keep (keep the bench database).
 */

const { values: args } = parseArgs({
  options: { earns: { type: 'string', default: '200' }, keep: { type: 'boolean', default: false } },
});
const EARNS = Number(args.earns);
const JWT_SECRET = randomBytes(32).toString('hex');
const STATUS = 'subscription { memberStatusChanged { changes { kind reference } member { balance { pending } } } }';

async function main(): Promise<void> {
  const dbName = `treue_bench_live_${randomBytes(4).toString('hex')}`;
  const prefix = `treue-bench-${randomBytes(4).toString('hex')}`;
  const databaseUrl = await createBenchDatabase(dbName);
  const prisma = createPrisma(databaseUrl, 2);
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL: BENCH_REDIS,
    QUEUE_PREFIX: prefix,
    JWT_SECRET,
    LOG_LEVEL: 'warn',
    TREUE_ROLE: 'api',
    WEB_CONCURRENCY: '1',
    HOST: '127.0.0.1',
    ...BENCH_RATE_LIMITS,
  };
  try {
    const ports = await freePorts(2);
    const apis = ports.map((port) => startServiceProcess('src/main.ts', { ...env, PORT: String(port), LOG_LEVEL: 'info' }));
    await Promise.all(apis.map((api) => api.waitForLine(/Treue ready: GraphQL at/, 90_000)));
    const [urlA, urlB] = ports.map((port) => `http://127.0.0.1:${port}/graphql`) as [string, string];

    const member = await prisma.member.create({ data: { externalId: 'live-bench', email: 'live-bench@example.com', name: 'Live' } });
    const { token: shop } = await createApiKey(
      { prisma, logger: createLogger('silent') },
      { name: 'bench shop', scopes: ['points:earn'] },
      { actor: { type: 'SYSTEM', id: 'bench' }, role: 'ADMIN' },
    );
    const arrived = new Map<string, number>();
    const stream = readSse(
      await fetch(urlA, subscriptionRequest(STATUS, {}, await signMemberToken(JWT_SECRET, { memberId: member.id }))),
      (result) => {
        const event = result.data?.memberStatusChanged as { changes: { reference: string | null }[] } | undefined;
        if (!event) console.error('unexpected event', JSON.stringify(result));
        for (const change of event?.changes ?? []) if (change.reference) arrived.set(change.reference, performance.now());
      },
    );
    await stream.result(0);

    const fromSend: number[] = [];
    const fromCommit: number[] = [];
    for (let i = 0; i < EARNS; i++) {
      const orderRef = `live-${i}`;
      const sent = performance.now();
      const response = await fetch(urlB, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${shop}` },
        body: JSON.stringify({
          query: 'mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }',
          variables: { i: { memberId: member.id, orderRef, orderTotal: '10.00', idempotencyKey: orderRef } },
        }),
      });
      const answer = (await response.json()) as { data?: { earnPoints?: { __typename: string } } };
      if (answer.data?.earnPoints?.__typename !== 'EarnPointsPayload') throw new Error(`earn ${orderRef}: ${JSON.stringify(answer)}`);
      const committed = performance.now();
      const deadline = committed + 10_000;
      while (!arrived.has(orderRef)) {
        if (performance.now() > deadline) throw new Error(`the event of ${orderRef} did not arrive within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      fromSend.push(arrived.get(orderRef)! - sent);
      fromCommit.push(Math.max(0, arrived.get(orderRef)! - committed));
    }
    await stream.close();
    const line = (name: string, values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const ms = (p: number) => `${percentile(sorted, p).toFixed(1)} ms`;
      return `${name.padEnd(34)} p50 ${ms(50)}  p95 ${ms(95)}  p99 ${ms(99)}  max ${sorted.at(-1)!.toFixed(1)} ms`;
    };
    console.log(`live status: ${EARNS} earns through API B, one subscriber on API A`);
    console.log(line('earn sent → event on A', fromSend));
    console.log(line("B's answer (commit) → event on A", fromCommit));
    for (const api of apis) api.kill('SIGTERM');
    await Promise.all(apis.map((api) => api.exited));
  } finally {
    killServiceProcesses();
    await prisma.$disconnect();
    await deleteRedisKeys(BENCH_REDIS, prefix);
    if (!args.keep) await dropDatabase(dbName);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
