import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { execute } from '@graphql-tools/executor';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { buildSchema, parse } from 'graphql';
import { createGraphQLHandler } from '../src/app.js';
import { API_KEY_SCOPES, callerOf } from '../src/auth/principal.js';
import { loadConfig } from '../src/config/env.js';
import { createPrisma, poolOf } from '../src/db/prisma.js';
import { earnPoints } from '../src/domain/points/points.service.js';
import { compileOperation } from '../src/graphql/compiled-execution.js';
import { prepareThroughEnvelop } from '../src/graphql/direct-execution.js';
import { getSchema } from '../src/graphql/schema.js';
import { createLogger } from '../src/logger.js';
import { earnWithServiceRows } from './earn-rows.js';
import { createBenchDatabase, seed } from './seed.js';
import {
  activateBenchRules,
  BENCH_RATE_LIMITS,
  dropDatabase,
  databaseUrl,
  inTransaction,
  memberId,
  processCpuMs,
  withAdminClient,
} from './support.js';

/**
 * CPU per operation in process: runs the member-status query through yoga.fetch
 * (no HTTP, no load generator; the request as node:http would hand it over)
 * against a small seeded bench database and prints the API process's CPU time
 * per request — far steadier than req/s on a shared machine, for trying a
 * change to a hot path before a full `npm run bench`.
 *
 * Prints the CPU of the database's own server processes per request too, and the bytes the
 * process allocated per request (V8's heap, from its GC statistics): unlike CPU time, that figure
 * does not move with the machine's speed, so it compares runs on a machine that others share.
 *
 *   npx tsx bench/micro.ts [--requests 3000] [--concurrency 10] [--query earn,earn-rules] [--alloc-profile file]
 */

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '10' },
    /**
     * `status` (the member-status query), `earn` (earnPoints, total only), `earn-rules` (earnPoints with the
     * bench's order of 5 lines under its 3 rules, selecting the breakdown), `redeem` (redeemPoints of 1 point,
     * as bench/load.ts sends it) or `typename` (`{ __typename }`:
     * the service's fixed cost per request). Several, comma-separated, take turns: round 1 of each, then round 2…
     *
     * More split the status request: `status-compiled` runs the same query on the service's schema compiled
     * as the service runs it (src/graphql/compiled-execution.ts), without yoga (no request, no parsing, no
     * response: execution and its one statement); `status-execute` the same interpreted by the executor yoga
     * uses (GRAPHQL_COMPILED=false); `status-floor` runs it with graphql-js's default resolvers on a schema
     * built from schema.graphql over a status answer read once — no database, no plugins: what executing and
     * serialising an answer of that shape costs at the least.
     *
     * `status-envelop` and `earn-envelop` run the same request through the handler's envelop (`getEnveloped`: its
     * parse and validation caches, armor, the context, every plugin around execution) without yoga's HTTP layer:
     * `status` − `status-envelop` is what that layer costs a request built as a fetch Request (the Request and
     * Response, yoga's request and result hooks); in the service, behind node:http's adapter, it costs less
     * (bench/ab.ts with GRAPHQL_DIRECT=false: 8 % of a status answer's API CPU, 3–6 % of an earn's).
     *
     * And the earn: `earn-domain` calls the domain's earnPoints itself (no yoga, no GraphQL: the rules, the
     * kernel, its two statements); `earn-rows` sends the same two statements with the raw earn's JavaScript
     * (bench/earn-rows.ts). `earn` − `earn-domain` is the GraphQL layer's part, `earn-domain` − `earn-rows`
     * the domain's code beyond its SQL.
     */
    query: { type: 'string', default: 'status' },
    /**
     * Instead of the rounds: what allocates, for the first --query (V8's sampling heap profiler, counting
     * what was collected too). A `.heapprofile` for Chrome DevTools' Memory tab, or for
     * `npx tsx bench/profile-summary.ts --allocations <file>`.
     */
    'alloc-profile': { type: 'string' },
  },
});
const requests = Number(values.requests);
const queries = values.query.split(',');
const concurrency = Number(values.concurrency);

const STATUS = `query($id: ID!) { member(id: $id) { id status tier { key name } tierSince
  tierProgress { current { key threshold multiplier } next { key threshold multiplier } qualifyingPoints pointsToNext reviewAt }
  balance { available pending lifetime } expiringPoints { expiresAt points }
  vouchers(first: 5, status: ISSUED) { edges { node { code kind status valueType percent expiresAt value { amount currency } } } }
  ledger(first: 10) { edges { node { kind amount balanceAfter causeType causeRef createdAt } } } } }`;

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
  ... on EarnPointsPayload { points member { id tier { key name } balance { available pending } } } ... on Error { message } } }`;

const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { __typename
  ... on RedeemPointsPayload { points member { id balance { available } } } ... on Error { message } } }`;

const EARN_RULES = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
  ... on EarnPointsPayload { points breakdown { points ruleName } member { id balance { available pending } } }
  ... on Error { message } } }`;

const run = randomBytes(3).toString('hex');
function bodyOf(query: string, n: number): { query: string; variables: Record<string, unknown> } {
  const id = memberId(1 + (n % 1000));
  if (query === 'typename') return { query: '{ __typename }', variables: {} };
  if (query === 'earn-rules') {
    const reference = `ml-${run}-${n}`;
    const lines = Array.from({ length: 5 }, (_, i) => ({ sku: `SKU-${i}`, category: 'c', quantity: 1, unitPrice: '5.00' }));
    return {
      query: EARN_RULES,
      variables: {
        input: {
          memberId: id,
          order: { reference, total: { amount: '25.00', currency: 'EUR' }, channel: 'web', lines },
          idempotencyKey: reference,
        },
      },
    };
  }
  if (query === 'redeem') {
    return {
      query: REDEEM,
      variables: { input: { memberId: id, points: 1, reference: `mr-${run}-${n}`, idempotencyKey: `mr-${run}-${n}` } },
    };
  }
  if (query === 'earn') {
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
    if (queries.includes('earn-rules')) await activateBenchRules(database);
    const prisma = createPrisma(databaseUrl(database), 10);
    const config = {
      ...loadConfig({ NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('hex'), ...BENCH_RATE_LIMITS }),
      logLevel: 'silent' as const,
    };
    const yoga = createGraphQLHandler({ config, logger: createLogger('silent'), prisma });
    let n = 0;
    // As node:http hands a request to yoga: a Content-Length and the IncomingMessage in the server context. Without
    // them the body limit reads and counts the body itself (src/http/body-limit.ts), which the service does only for
    // a body sent without a length.
    const req = { socket: { remoteAddress: '127.0.0.1' } };
    const viaYoga = async (query: string) => {
      const body = JSON.stringify(bodyOf(query, ++n));
      const headers = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        authorization: `Bearer ${seeded.apiKey}`,
      };
      const server = { req } as unknown as Parameters<typeof yoga.fetch>[2]; // one per request, as node:http's
      const response = await yoga.fetch('http://bench/graphql', { method: 'POST', headers, body }, server);
      const text = await response.text();
      if (text.includes('"errors"')) throw new Error(text);
      return text;
    };
    // Built only when asked for: it reads one status answer and builds a second schema.
    const splits: Record<string, (n: number) => Promise<string>> = {
      ...(queries.some((query) => query.startsWith('status-')) ? await statusSplits(prisma) : {}),
      ...(queries.some((query) => query.startsWith('earn-') && query !== 'earn-rules') ? earnSplits(prisma) : {}),
      ...envelopSplits(yoga, seeded.apiKey),
    };
    const one = (query: string) => splits[query]?.(++n) ?? viaYoga(query);
    const run = async (query: string, count: number) => {
      let left = count;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left-- > 0) await one(query);
        }),
      );
    };
    const measure = async (query: string) => {
      const backends = await backendPids(database);
      const pgBefore = await cpuMsOf(backends);
      const cpu = process.cpuUsage();
      const started = performance.now();
      const allocated = await allocatedDuring(() => run(query, requests));
      const used = process.cpuUsage(cpu);
      const wall = performance.now() - started;
      const pgUsed = (await cpuMsOf(backends)) - pgBefore;
      console.log(
        `${query}: ${((used.user + used.system) / 1000 / requests).toFixed(3)} ms CPU/request ` +
          `(user ${(used.user / 1000 / requests).toFixed(3)}, system ${(used.system / 1000 / requests).toFixed(3)}), ` +
          `PostgreSQL ${(pgUsed / requests).toFixed(3)} ms (its ${backends.length} connections), ` +
          `${((requests / wall) * 1000).toFixed(0)} req/s in process, ${(allocated / 1024 / requests).toFixed(1)} kB allocated/request`,
      );
    };
    for (const query of queries) {
      console.log((await one(query)).slice(0, 400));
      await run(query, 500); // warm-up: JIT, caches, prepared statements
    }
    if (values['alloc-profile']) {
      await writeFile(values['alloc-profile'], JSON.stringify(await allocationProfile(() => run(queries[0]!, requests))));
      console.log(`allocation profile of ${requests} × ${queries[0]} written to ${values['alloc-profile']}`);
    } else {
      for (let round = 0; round < 3; round++) for (const query of queries) await measure(query);
    }
    await prisma.$disconnect();
  } finally {
    await dropDatabase(database);
  }
}

/**
 * Bytes allocated on V8's heap while `work` runs: the heap's growth between one collection and the
 * next, summed over the collections in between (v8.GCProfiler), plus the growth since the last one.
 */
async function allocatedDuring(work: () => Promise<void>): Promise<number> {
  const profiler = new v8.GCProfiler();
  let previous = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  await work();
  const { statistics } = profiler.stop();
  let allocated = 0;
  for (const gc of statistics) {
    allocated += gc.beforeGC.heapStatistics.usedHeapSize - previous;
    previous = gc.afterGC.heapStatistics.usedHeapSize;
  }
  return allocated + v8.getHeapStatistics().used_heap_size - previous;
}

/** V8's sampling heap profile of `work`, objects already collected included: where the bytes were allocated. */
async function allocationProfile(work: () => Promise<void>): Promise<unknown> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 2048,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await work();
    return (await session.post('HeapProfiler.stopSampling')).profile;
  } finally {
    session.disconnect();
  }
}

/** `status-compiled`, `status-execute` and `status-floor` (see --query). */
async function statusSplits(prisma: ReturnType<typeof createPrisma>): Promise<Record<string, (n: number) => Promise<string>>> {
  const document = parse(STATUS);
  const schema = getSchema();
  const logger = createLogger('silent');
  const principal = { kind: 'apiKey' as const, apiKeyId: 'bench', name: 'bench', scopes: new Set(API_KEY_SCOPES) };
  const contextOf = (n: number) => ({ principal, deps: { prisma, logger }, logger, requestId: `micro-${n}` });
  const variablesOf = (n: number) => ({ id: encodeGlobalID('Member', memberId(1 + (n % 1000))) });
  const executed = async (n: number) => {
    const result = await execute({ schema, document, variableValues: variablesOf(n), contextValue: contextOf(n) });
    if ('errors' in result && result.errors) throw new Error(JSON.stringify(result.errors));
    return JSON.stringify(result);
  };
  const query = compileOperation(schema, document);
  if (!query) throw new Error('the status query does not compile');
  const compiled = async (n: number) => {
    const result = await query.query(undefined, contextOf(n), variablesOf(n));
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return JSON.stringify(result);
  };
  const answer = (JSON.parse(await executed(1)) as { data: { member: unknown } }).data.member;
  const plain = buildSchema(await readFile(new URL('../schema.graphql', import.meta.url), 'utf8'));
  const floor = async () => {
    const result = await execute({ schema: plain, document, rootValue: { member: () => answer }, variableValues: { id: 'x' } });
    if ('errors' in result && result.errors) throw new Error(JSON.stringify(result.errors));
    return JSON.stringify(result);
  };
  return { 'status-compiled': compiled, 'status-execute': executed, 'status-floor': floor };
}

/** `status-envelop` and `earn-envelop` (see --query): through the handler's envelop, without yoga's HTTP layer. */
function envelopSplits(yoga: ReturnType<typeof createGraphQLHandler>, apiKey: string): Record<string, (n: number) => Promise<string>> {
  const headers = { get: (name: string) => (name === 'authorization' ? `Bearer ${apiKey}` : null), has: () => false };
  const req = { socket: { remoteAddress: '127.0.0.1' } } as IncomingMessage;
  const throughEnvelop = (query: 'status' | 'earn') => async (n: number) => {
    const params = JSON.parse(JSON.stringify(bodyOf(query, n))) as { query: string; variables: Record<string, unknown> };
    const request = { headers, method: 'POST', url: 'http://bench/graphql' } as unknown as Request;
    const run = prepareThroughEnvelop(yoga, { request, req }, params);
    if (!run) throw new Error(`${query} does not validate`);
    const result = await run();
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return JSON.stringify(result);
  };
  return { 'status-envelop': throughEnvelop('status'), 'earn-envelop': throughEnvelop('earn') };
}

/** `earn-domain` and `earn-rows` (see --query). */
function earnSplits(prisma: ReturnType<typeof createPrisma>): Record<string, (n: number) => Promise<string>> {
  const deps = { prisma, logger: createLogger('silent') };
  const caller = callerOf({ kind: 'apiKey', apiKeyId: 'bench', name: 'bench', scopes: new Set(API_KEY_SCOPES) });
  const pool = poolOf(prisma)!;
  const domain = async (n: number) => {
    const reference = `md-${run}-${n}`;
    const input = { memberId: memberId(1 + (n % 1000)), orderRef: reference, orderTotal: '25.00', idempotencyKey: reference };
    return JSON.stringify(await earnPoints(deps, input, caller));
  };
  const rows = async (n: number) =>
    JSON.stringify(await inTransaction(pool, (client) => earnWithServiceRows(client, memberId(1 + (n % 1000)), 25)));
  return { 'earn-domain': domain, 'earn-rows': rows };
}

/** The server processes of the bench database's connections (the pool's, after warm-up). */
async function backendPids(database: string): Promise<number[]> {
  return withAdminClient(async (client) => {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
    return rows.map((row) => row.pid);
  });
}

/** User + system CPU of these processes so far, in ms (/proc; the server runs on this machine). */
async function cpuMsOf(pids: readonly number[]): Promise<number> {
  let ms = 0;
  for (const pid of pids) ms += await processCpuMs(pid).catch(() => 0);
  return ms;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
