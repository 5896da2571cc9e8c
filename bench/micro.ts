import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { execute } from '@graphql-tools/executor';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { buildSchema, parse } from 'graphql';
import { createGraphQLHandler, startApi, type GraphQLHandler } from '../src/app.js';
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
  BENCH_REDIS,
  deleteRedisKeys,
  dropDatabase,
  databaseUrl,
  inTransaction,
  memberId,
  processCpuMs,
  voucherCode,
  withAdminClient,
} from './support.js';

/**
 * CPU per operation in process: sends the member-status query (or another, --query) to the service's own node:http
 * request handler — the server src/app.ts's `startApi` builds, with its routing, the direct execution that answers
 * API keys and staff without yoga's HTTP layer (src/graphql/direct-execution.ts), Redis as the bench runs it (the
 * mutations' rate limit, the cache's bump, the live publish) — over connections held in memory: node:http parses
 * each request and writes each answer as for a TCP socket, without the socket's system calls and without a load
 * generator. The requests are the bench's (bench/load.ts: the seeded API key with the bench's scopes, the bytes
 * autocannon writes, kept-alive connections, --concurrency of them). Run against a small seeded bench database,
 * it prints the API process's CPU time per request — far steadier than req/s on a shared machine, for trying a
 * change to a hot path before a full `npm run bench`.
 *
 * Prints the CPU of the database's own server processes per request too, and the bytes the
 * process allocated per request (V8's heap, from its GC statistics): unlike CPU time, that figure
 * does not move with the machine's speed, so it compares runs on a machine that others share.
 *
 * `--via yoga` sends the same requests the way this tool did before: through `yoga.fetch` of a handler of its own
 * (no Redis), a fetch Request per request and yoga's HTTP layer, which the service takes only for requests without
 * credentials. Its figures compare with those written before the default changed.
 *
 *   npx tsx bench/micro.ts [--requests 3000] [--concurrency 10] [--query earn,earn-rules] [--via http|yoga]
 *     [--alloc-profile file [--survivors]]
 */

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '10' },
    /**
     * `status` (the member-status query), `earn` (earnPoints, total only), `earn-rules` (earnPoints with the
     * bench's order of 5 lines under its 3 rules, selecting the breakdown), `redeem` (redeemPoints of 1 point,
     * as bench/load.ts sends it), `voucher` (redeemVoucher of a seeded voucher on an order of 40.00, as bench/load.ts
     * sends it; each code once: 24 000 seeded, and each `voucher` entry redeems 1 + 500 + 3 × --requests of them,
     * 19 002 for two entries of 3 000) or `typename` (`{ __typename }`:
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
     * parse and validation caches, armor, the context, every plugin around execution) without any HTTP layer, on
     * the handler `--via yoga` uses (no Redis). With `--via yoga`, `status` − `status-envelop` is what yoga's HTTP
     * layer costs a request built as a fetch Request (the Request and Response, yoga's request and result hooks); in
     * the service, behind node:http's adapter, it costs less (bench/ab.ts with GRAPHQL_DIRECT=false: 8 % of a status
     * answer's API CPU, 3–6 % of an earn's). By default, `status` − `status-envelop` is what the service spends
     * around the envelop: node:http's parsing and writing, the routing, the direct execution's reading of the body
     * and writing of the answer, and for an earn its Redis round trips.
     *
     * And the earn: `earn-domain` calls the domain's earnPoints itself (no yoga, no GraphQL: the rules, the
     * kernel, its two statements); `earn-rows` sends the same two statements with the raw earn's JavaScript
     * (bench/earn-rows.ts). `earn` − `earn-domain` is the GraphQL layer's part, `earn-domain` − `earn-rows`
     * the domain's code beyond its SQL.
     */
    query: { type: 'string', default: 'status' },
    /**
     * How `status`, `earn`, `earn-rules`, `redeem`, `voucher` and `typename` are sent (the splits above run the same either
     * way): `http`, the service's node:http handler over in-memory connections (see the header), or `yoga`,
     * `yoga.fetch` as before.
     */
    via: { type: 'string', default: 'http' },
    /**
     * Instead of the rounds: what allocates, for the first --query (V8's sampling heap profiler, counting
     * what was collected too). A `.heapprofile` for Chrome DevTools' Memory tab, or for
     * `npx tsx bench/profile-summary.ts --allocations <file>`.
     */
    'alloc-profile': { type: 'string' },
    /**
     * With --alloc-profile: count only the objects that survived a young-generation GC (a scavenge), collected by a
     * full GC later or not: what moves to the old generation, and what each scavenge copies. A request's objects
     * should die young; those that do not are what to look at (on 2026-12-07 scope-auth's request cache kept whole
     * requests alive through scavenges: src/graphql/scope-cache-release.ts).
     */
    survivors: { type: 'boolean', default: false },
  },
});
const requests = Number(values.requests);
const queries = values.query.split(',');
const concurrency = Number(values.concurrency);
if (values.via !== 'http' && values.via !== 'yoga') throw new Error(`--via ${values.via}: http or yoga`);
const via = values.via;

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

const VOUCHER = `mutation($input: RedeemVoucherInput!) { redeemVoucher(input: $input) { __typename
  ... on RedeemVoucherPayload { orderRef discount { amount currency } voucher { code status } } ... on Error { message } } }`;

const run = randomBytes(3).toString('hex');
/** The seeded vouchers (`VOUCHERS_PER_MEMBER`) in bench/load.ts's order, each redeemed once in a run. */
let vouchersUsed = 0;
/**
 * Vouchers seeded per member: 24 when a `voucher` entry redeems them (as `npm run bench -- --repeat 3` seeds), else
 * 6. The other entries of such a run read members with 24 vouchers too.
 */
const VOUCHERS_PER_MEMBER = queries.includes('voucher') ? 24 : 6;
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
  if (query === 'voucher') {
    const index = vouchersUsed++;
    const member = (index % 1000) + 1;
    const k = Math.floor(index / 1000) + 1;
    if (k > VOUCHERS_PER_MEMBER)
      throw new Error(`voucher: the ${VOUCHERS_PER_MEMBER * 1000} seeded vouchers are used up: fewer --requests`);
    return {
      query: VOUCHER,
      variables: {
        input: {
          code: voucherCode(member, k),
          orderRef: `mv-${run}-${index}`,
          orderTotal: '40.00',
          memberId: memberId(member),
          idempotencyKey: `mv-${run}-${index}`,
        },
      },
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

/** What each answer must hold (bench/load.ts's checks); an answer without it, or with `"errors"`, is a failure. */
const EXPECTED: Record<string, string> = {
  typename: '"__typename":"Query"',
  earn: '"EarnPointsPayload"',
  'earn-rules': '"EarnPointsPayload"',
  redeem: '"RedeemPointsPayload"',
  voucher: '"RedeemVoucherPayload"',
};

function checked(query: string, status: number, text: string): string {
  if (status !== 200 || text.includes('"errors"') || !text.includes(EXPECTED[query] ?? '"member":{')) {
    throw new Error(`${query}: HTTP ${status} ${text.slice(0, 400)}`);
  }
  return text;
}

async function main(): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const database = `treue_bench_micro_${id}`;
  // This run's keys in Redis (--via http), removed at the end.
  const redisPrefix = `treue-bench-micro-${id}`;
  await createBenchDatabase(database);
  let closing: () => Promise<void> = async () => undefined;
  try {
    const seeded = await seed({ database, members: 1000, entriesPerMember: 20, vouchersPerMember: VOUCHERS_PER_MEMBER });
    if (queries.includes('earn-rules')) await activateBenchRules(database);
    const prisma = createPrisma(databaseUrl(database), 10);
    const config = {
      ...loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET: randomBytes(32).toString('hex'),
        ...BENCH_RATE_LIMITS,
        // The service's server listens on a loopback port that no request of this tool uses.
        HOST: '127.0.0.1',
        PORT: '0',
        QUEUE_PREFIX: redisPrefix,
      }),
      logLevel: 'silent' as const,
    };
    // --via yoga and the -envelop splits: a handler of this tool's own, without Redis, as before.
    const yoga =
      via === 'yoga' || queries.some((query) => query.endsWith('-envelop'))
        ? createGraphQLHandler({ config, logger: createLogger('silent'), prisma })
        : undefined;
    // --via http: the service's server, as src/cluster.ts starts it in an API process.
    const api = via === 'http' ? await startApi({ config, logger: createLogger('silent'), prisma, redisUrl: BENCH_REDIS }) : undefined;
    // One kept-alive connection per request in flight, as autocannon holds them.
    const connections = api ? Array.from({ length: concurrency }, () => inMemoryConnection(api.server)) : [];
    closing = async () => {
      for (const connection of connections) connection.close();
      await api?.close();
      await yoga?.dispose();
      await prisma.$disconnect();
    };
    let n = 0;
    // The bytes autocannon writes for bench/load.ts's requests (its Host, Connection, the headers, Content-Length).
    const head = `POST /graphql HTTP/1.1\r\nHost: ${api ? new URL(api.url).host : ''}\r\nConnection: keep-alive\r\ncontent-type: application/json\r\nauthorization: Bearer ${seeded.apiKey}\r\n`;
    const viaHttp = async (query: string, connection: Connection) => {
      const body = JSON.stringify(bodyOf(query, ++n));
      const answer = await connection.send(Buffer.from(`${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      return checked(query, answer.status, answer.body);
    };
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
      const server = { req } as unknown as Parameters<GraphQLHandler['fetch']>[2]; // one per request, as node:http's
      const response = await yoga!.fetch('http://bench/graphql', { method: 'POST', headers, body }, server);
      return checked(query, response.status, await response.text());
    };
    // Built only when asked for: it reads one status answer and builds a second schema.
    const splits: Record<string, (n: number) => Promise<string>> = {
      ...(queries.some((query) => query.startsWith('status-')) ? await statusSplits(prisma) : {}),
      ...(queries.some((query) => query.startsWith('earn-') && query !== 'earn-rules') ? earnSplits(prisma) : {}),
      ...(yoga ? envelopSplits(yoga, seeded.apiKey) : {}),
    };
    const one = (query: string, worker = 0) => splits[query]?.(++n) ?? (api ? viaHttp(query, connections[worker]!) : viaYoga(query));
    const run = async (query: string, count: number) => {
      let left = count;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          while (left-- > 0) await one(query, worker);
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
    console.log(`via ${via === 'http' ? "the service's node:http handler (in-memory connections)" : 'yoga.fetch'}`);
    for (const query of queries) {
      console.log((await one(query)).slice(0, 400));
      await run(query, 500); // warm-up: JIT, caches, prepared statements
    }
    if (values['alloc-profile']) {
      await writeFile(values['alloc-profile'], JSON.stringify(await allocationProfile(() => run(queries[0]!, requests), values.survivors)));
      console.log(`allocation profile of ${requests} × ${queries[0]} written to ${values['alloc-profile']}`);
    } else {
      for (let round = 0; round < 3; round++) for (const query of queries) await measure(query);
    }
  } finally {
    await closing();
    await dropDatabase(database);
    if (via === 'http') await deleteRedisKeys(BENCH_REDIS, redisPrefix);
  }
}

/** An answer read off a connection: its status and body. */
interface Answer {
  status: number;
  body: string;
}

interface Connection {
  /** Writes one request's bytes and resolves with its answer; one request at a time. */
  send(request: Buffer): Promise<Answer>;
  close(): void;
}

/**
 * A kept-alive connection to a node:http server, held in memory: the server takes one end as a connection of its
 * own (its `connection` event takes any Duplex stream), so that its HTTP parser, IncomingMessage, ServerResponse and
 * keep-alive run as for a TCP socket, without the socket's system calls; this end writes each request's bytes and
 * reads its answer.
 */
function inMemoryConnection(server: Server): Connection {
  let received: Buffer | undefined;
  let waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void } | undefined;
  const fail = (error: Error) => {
    const pending = waiting;
    waiting = undefined;
    pending?.reject(error);
  };
  const socket = new Duplex({
    read() {},
    // What the server writes: the answer, in one chunk or more.
    write(chunk: Buffer, _encoding, callback) {
      received = received ? Buffer.concat([received, chunk]) : chunk;
      try {
        const read = answerIn(received);
        if (read) {
          received = read.end < received.length ? received.subarray(read.end) : undefined;
          const pending = waiting;
          waiting = undefined;
          if (!pending) throw new Error('an answer to no request');
          pending.resolve(read.answer);
        }
      } catch (error) {
        fail(error as Error);
      }
      callback();
    },
  });
  // The peer the rate limits and the logs read, as of a loopback client.
  Object.defineProperties(socket, {
    remoteAddress: { value: '127.0.0.1' },
    remotePort: { value: 50_000 },
    remoteFamily: { value: 'IPv4' },
  });
  socket.on('close', () => fail(new Error('the server closed the connection')));
  server.emit('connection', socket);
  return {
    send: (request) =>
      new Promise<Answer>((resolve, reject) => {
        waiting = { resolve, reject };
        socket.push(request);
      }),
    close: () => socket.destroy(),
  };
}

/** The answer at the start of `data` and where it ends; undefined while it has not all arrived. */
function answerIn(data: Buffer): { answer: Answer; end: number } | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = data.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  const start = headEnd + 4;
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) {
    const end = start + Number(length[1]);
    return data.length < end ? undefined : { answer: { status, body: data.toString('utf8', start, end) }, end };
  }
  if (status === 204 || status === 304) return { answer: { status, body: '' }, end: start };
  if (!/\r\ntransfer-encoding: *chunked/i.test(head)) throw new Error(`an answer without a length: ${head}`);
  const chunks: Buffer[] = [];
  for (let at = start; ;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.toString('latin1', at, lineEnd), 16);
    const end = lineEnd + 2 + size + 2;
    if (data.length < end) return undefined;
    if (size === 0) return { answer: { status, body: Buffer.concat(chunks).toString('utf8') }, end };
    chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = end;
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

/**
 * V8's sampling heap profile of `work`, objects already collected included: where the bytes were allocated. With
 * `survivors`, objects a scavenge collected are left out: where the bytes that outlived a scavenge were allocated.
 */
async function allocationProfile(work: () => Promise<void>, survivors: boolean): Promise<unknown> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 2048,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: !survivors,
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
function envelopSplits(yoga: GraphQLHandler, apiKey: string): Record<string, (n: number) => Promise<string>> {
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
    // lifetimePoints is a bigint (src/domain/points/lifetime-points.ts): written as the API writes it, a number.
    return JSON.stringify(await earnPoints(deps, input, caller), (_key, value: unknown) =>
      typeof value === 'bigint' ? Number(value) : value,
    );
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
