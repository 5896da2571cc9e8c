import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { LOOP_MONITOR_TICK_MS, loopLatenessMs, memberId, percentile, voucherCode } from './support.js';

/**
 * The load generator, in its own process (never the server's), against
 * 127.0.0.1 only. Reads one `LoadSpec` as JSON from argv, warms up, measures,
 * and prints one `LoadResult` as JSON on stdout.
 *
 * Two models of load:
 * - closed loop (no `rate`): autocannon, `connections` connections each sending
 *   its next request when the previous one is answered — the maximum req/s;
 * - open loop (`rate`): loadtest's `requestsPerSecond`, one request every
 *   1/rate s whether or not the earlier ones were answered, as independent users
 *   arrive — latency at a load below the maximum — over `connections` kept-alive
 *   connections opened before the window (a new one when none is free), as a
 *   proxy in front of the API holds them. autocannon's `overallRate` sends each
 *   second's requests in a burst (its issue #174), which measures queueing
 *   behind the burst instead.
 *
 * Either way every request is built fresh by the same `builder` (a random
 * seeded member, a unique idempotency key and order reference, the next unused
 * voucher code) and every response is checked by the same `answered`: a GraphQL
 * error or an unexpected `__typename` counts as a failure, so a fast wrong
 * answer cannot pass as throughput.
 */

export type LoadKind =
  'bare' | 'lookup' | 'raw-earn' | 'raw-earn-rows' | 'earn' | 'earn-rules' | 'redeem' | 'voucher' | 'status' | 'cached-status';

export interface LoadSpec {
  kind: LoadKind;
  url: string;
  token?: string;
  connections: number;
  /** Seconds. */
  duration: number;
  warmup: number;
  /**
   * Requests per second in all, sent at a fixed arrival rate (open loop, loadtest; `connections` are opened
   * before the window and kept alive, more only when all are busy): latency below capacity. Unset: a closed
   * loop on `connections` connections, as fast as it goes.
   */
  rate?: number;
  members: number;
  vouchersPerMember?: number;
  /** Index of the first voucher code to use (codes are spent, never reused). */
  voucherStart?: number;
  /** The member-status query (built from schema.graphql by the runner). */
  statusQuery?: string;
  /**
   * `cached-status`: member tokens, one per member read (the first `memberTokens.length` members), and
   * the member app's status document id; each request is one of these members reading their own status.
   */
  memberTokens?: string[];
  documentId?: string;
}

export interface LoadResult {
  kind: LoadKind;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  failures: number;
  firstFailure: string | null;
  /** Open loop: requests sent in the measured window (answered or not), and those still unanswered at its end. */
  sent?: number;
  unanswered?: number;
  /**
   * Open loop: how late this process's own event loop ran in the window (p99 and max, ms, beyond the
   * monitor's tick): an answer that arrived meanwhile waited that long before its latency was taken.
   */
  generatorDelayP99Ms?: number;
  generatorDelayMaxMs?: number;
  /** Open loop: connections opened in the window because every one open was busy. */
  connectionsOpened?: number;
  /**
   * CPU time of this process (the load generator, on the same cores as the service) per request, ms: from the start of
   * the measured window to its last answer.
   */
  generatorCpuMsPerRequest: number | null;
  /** Voucher codes used, so the next run starts after them. */
  vouchersUsed: number;
}

interface Built {
  body: string;
  /** Per request: the member's own token (default: the spec's token). */
  token?: string;
  /** A successful answer contains this (the same for every request of a kind). */
  expect: string;
}

function builder(spec: LoadSpec): () => Built {
  const run = randomBytes(4).toString('hex');
  let counter = 0;
  let voucherIndex = spec.voucherStart ?? 0;
  const randomMember = () => memberId(1 + Math.floor(Math.random() * spec.members));
  const json = (query: string, variables: Record<string, unknown> = {}) => JSON.stringify({ query, variables });
  switch (spec.kind) {
    case 'bare':
      return () => ({ body: json('{ ping }'), expect: '"pong"' });
    case 'lookup':
      return () => ({
        body: json('query Lookup($id: ID!) { member(id: $id) { id tier available pending } }', { id: randomMember() }),
        expect: '"tier"',
      });
    case 'raw-earn':
      return () => ({
        body: json('mutation RawEarn($m: ID!) { earn(memberId: $m, points: 25) { entryId balanceAfter } }', {
          m: randomMember(),
        }),
        expect: '"entryId"',
      });
    case 'raw-earn-rows':
      return () => ({
        body: json('mutation RawEarnRows($m: ID!) { earnRows(memberId: $m, points: 25) { entryId balanceAfter } }', {
          m: randomMember(),
        }),
        expect: '"entryId"',
      });
    case 'earn':
      return () => {
        const n = ++counter;
        return {
          body: json(
            `mutation Earn($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
               ... on EarnPointsPayload { points member { id balance { available pending } } }
               ... on Error { message } } }`,
            { input: { memberId: randomMember(), orderRef: `b-${run}-${n}`, orderTotal: '25.00', idempotencyKey: `b-${run}-${n}` } },
          ),
          expect: '"EarnPointsPayload"',
        };
      };
    case 'earn-rules':
      // An order of 5 lines (25.00) under the 3 rules bench/run.ts activates: a double on category c, an
      // exclusion of SKU-4, a web bonus; the answer explains it line by line.
      return () => {
        const n = ++counter;
        const reference = `bl-${run}-${n}`;
        const lines = Array.from({ length: 5 }, (_, i) => ({ sku: `SKU-${i}`, category: 'c', quantity: 1, unitPrice: '5.00' }));
        return {
          body: json(
            `mutation EarnLines($input: EarnPointsInput!) { earnPoints(input: $input) { __typename
               ... on EarnPointsPayload { points breakdown { points ruleName } member { id balance { available pending } } }
               ... on Error { message } } }`,
            {
              input: {
                memberId: randomMember(),
                order: { reference, total: { amount: '25.00', currency: 'EUR' }, channel: 'web', lines },
                idempotencyKey: reference,
              },
            },
          ),
          expect: '"EarnPointsPayload"',
        };
      };
    case 'redeem':
      return () => {
        const n = ++counter;
        return {
          body: json(
            `mutation Redeem($input: RedeemPointsInput!) { redeemPoints(input: $input) { __typename
               ... on RedeemPointsPayload { points member { id balance { available } } }
               ... on Error { message } } }`,
            { input: { memberId: randomMember(), points: 1, reference: `basket-${run}-${n}`, idempotencyKey: `r-${run}-${n}` } },
          ),
          expect: '"RedeemPointsPayload"',
        };
      };
    case 'voucher':
      return () => {
        const index = voucherIndex++;
        const i = (index % spec.members) + 1;
        const k = Math.floor(index / spec.members) + 1;
        return {
          body: json(
            `mutation RedeemVoucher($input: RedeemVoucherInput!) { redeemVoucher(input: $input) { __typename
               ... on RedeemVoucherPayload { orderRef discount { amount currency } voucher { code status } }
               ... on Error { message } } }`,
            {
              input: {
                code: k <= (spec.vouchersPerMember ?? 0) ? voucherCode(i, k) : `TRU-USED-UP${index}`,
                orderRef: `vo-${run}-${index}`,
                orderTotal: '40.00',
                memberId: memberId(i),
                idempotencyKey: `v-${run}-${index}`,
              },
            },
          ),
          expect: '"RedeemVoucherPayload"',
        };
      };
    case 'status':
      return () => ({ body: json(spec.statusQuery!, { id: randomMember() }), expect: '"member":{' });
    case 'cached-status': {
      const tokens = spec.memberTokens!;
      const body = JSON.stringify({ documentId: spec.documentId });
      return () => ({ body, token: tokens[Math.floor(Math.random() * tokens.length)], expect: '"me":{' });
    }
  }
}

/** Seconds an open loop runs at its rate, unmeasured, between opening its connections and its window (`measureOpen`). */
const OPEN_SETTLE_SECONDS = 3;

/** Whether a response is the right answer to a request built with `expect`. */
function answered(status: number, body: string, expect: string): boolean {
  return status === 200 && !body.includes('"errors"') && body.includes(expect);
}

function headersOf(spec: LoadSpec, built?: Built): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = built?.token ?? spec.token;
  if (token) headers.authorization = `Bearer ${token}`;
  return headers;
}

/** Closed loop: autocannon on `spec.connections` connections for `seconds`. */
async function measureClosed(spec: LoadSpec, seconds: number, next: () => Built): Promise<Omit<LoadResult, 'kind' | 'vouchersUsed'>> {
  let failures = 0;
  let firstFailure: string | null = null;
  let expect = '';
  const headers = headersOf(spec);
  const cpu = process.cpuUsage();
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    method: 'POST',
    headers,
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const built = next();
          expect = built.expect;
          return { ...request, method: 'POST', headers: headersOf(spec, built), body: built.body };
        },
        onResponse: (status, body) => {
          if (!answered(status, body, expect)) {
            failures += 1;
            firstFailure ??= `${status} ${body.slice(0, 300)}`;
          }
        },
      },
    ],
  });
  const requests = result.requests.total;
  return {
    generatorCpuMsPerRequest: cpuMsPer(process.cpuUsage(cpu), requests),
    rps: (requests - failures) / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    requests,
    failures: failures + result.errors + result.timeouts,
    firstFailure,
  };
}

/** The part of loadtest 8's programmatic API used here (its bundled types describe the older callback API). */
interface LoadtestOptions {
  url: string;
  method: 'POST';
  requestsPerSecond: number;
  maxSeconds: number;
  agentKeepAlive: boolean;
  timeout: number;
  quiet: boolean;
  requestGenerator: (
    options: unknown,
    params: RequestOptions,
    request: (params: RequestOptions, callback: (response: IncomingMessage) => void) => ClientRequest,
    callback: (response: IncomingMessage) => void,
  ) => ClientRequest;
}

/**
 * Open loop: loadtest sends one request every 1/rate s for `seconds`, over `spec.connections` kept-alive
 * connections opened before the window (one agent for all; a new connection whenever all are busy,
 * counted). loadtest's own keep-alive option gives each of its clients an agent of its own and adds a
 * client whenever none is free, so all its connections were opened during the window, in bursts after
 * any hiccup; on this machine the first answer on a connection opened in such a burst left the service
 * 40–110 ms after its request arrived (tcpdump on the loopback; the service's own timer, which starts at
 * the request's handler, saw under 25 ms), while no answer on a kept-alive connection took 30 ms
 * (2026-12-05, bench/README.md). Clients reach the API through a proxy that keeps its connections to it
 * open: that is what this measures, and a connection opened in the window is still counted and timed.
 * Latency is taken here, from the moment loadtest asks for the request to the end of its answer.
 * Requests still on their way when the window closes are waited for (30 s at most) and counted like
 * the others; one still unanswered then is a failure with its age as its latency (a lower bound), so
 * an overloaded service cannot hide its slowest. req/s: right answers to the requests sent in the
 * window, per second of the window.
 *
 * The window starts at the rate's steady state: once the connections are open, the same rate runs
 * `OPEN_SETTLE_SECONDS` unmeasured, so that neither the closed-loop warm-up's last answers nor the
 * connections' opening burst (50 requests at once, queued behind them) land in the window, the
 * service's histogram and its CPU times (`onWindow` tells the runner when the window starts).
 */
async function measureOpen(
  spec: LoadSpec,
  seconds: number,
  next: () => Built,
  rate: number,
  onWindow: () => void,
): Promise<Omit<LoadResult, 'kind' | 'vouchersUsed'>> {
  // Imported by name at run time: only the open-loop measurement needs the package.
  const loadtest = 'loadtest';
  const { loadTest } = (await import(loadtest)) as { loadTest: (options: LoadtestOptions) => Promise<unknown> };
  const latencies: number[] = [];
  const pending = new Map<ClientRequest, number>();
  let sent = 0;
  let ok = 0;
  let failures = 0;
  let firstFailure: string | null = null;
  const fail = (why: string) => {
    failures += 1;
    firstFailure ??= why;
  };
  const { agent, connections } = await openConnections(spec, next);
  let connectionsOpened = 0;
  // Settling: the same requests at the same rate, each checked, none timed.
  let settling = true;
  const settled = new Set<ClientRequest>();
  const sendAtRate = (maxSeconds: number) =>
    loadTest({
      url: spec.url,
      method: 'POST',
      requestsPerSecond: rate,
      maxSeconds,
      agentKeepAlive: false,
      timeout: 30_000,
      quiet: true,
      requestGenerator: (_options, params, request, callback) => {
        const built = next();
        const body = Buffer.from(built.body);
        params.headers = { ...params.headers, ...headersOf(spec, built), 'content-length': String(body.length) };
        params.agent = agent;
        const begin = performance.now();
        const timed = !settling;
        if (timed) sent += 1;
        const req = request(params, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            const right = answered(response.statusCode ?? 0, text, built.expect);
            if (!timed) {
              settled.delete(req);
              if (!right) fail(`while settling: ${response.statusCode} ${text.slice(0, 300)}`);
              return;
            }
            if (!pending.delete(req)) return;
            latencies.push(performance.now() - begin);
            if (right) ok += 1;
            else fail(`${response.statusCode} ${text.slice(0, 300)}`);
          });
          callback(response);
        });
        req.once('socket', (socket) => {
          if (connections.has(socket)) return;
          connections.add(socket);
          if (timed) connectionsOpened += 1;
        });
        if (timed) pending.set(req, begin);
        else settled.add(req);
        req.on('error', (error) => {
          if (timed ? pending.delete(req) : settled.delete(req)) fail(`transport${timed ? '' : ' while settling'}: ${error.message}`);
        });
        req.write(body);
        return req;
      },
    });
  await sendAtRate(OPEN_SETTLE_SECONDS);
  settling = false;
  onWindow();
  const delay = monitorEventLoopDelay({ resolution: LOOP_MONITOR_TICK_MS });
  delay.enable();
  const started = performance.now();
  const cpu = process.cpuUsage();
  await sendAtRate(seconds);
  const ended = performance.now();
  delay.disable();
  // The answers to requests sent near the end of the window are still on their way: wait for them (their
  // latency counts like any other), at most the request timeout.
  const drainUntil = ended + 30_000;
  while (pending.size > 0 && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10));
  const unanswered = pending.size;
  for (const begin of pending.values()) {
    latencies.push(performance.now() - begin);
    fail('no answer within 30 s');
  }
  const generatorCpu = process.cpuUsage(cpu);
  // A settling request still unanswered now (sent before the window, a whole window and the drain ago) fails too, untimed.
  for (let i = 0; i < settled.size; i += 1) fail('no answer while settling');
  for (const req of [...pending.keys(), ...settled]) req.destroy();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const ms = (value: number) => Math.round(value * 10) / 10;
  return {
    rps: ok / ((ended - started) / 1000),
    p50: ms(percentile(latencies, 50)),
    p90: ms(percentile(latencies, 90)),
    p99: ms(percentile(latencies, 99)),
    max: ms(latencies.at(-1) ?? NaN),
    requests: latencies.length,
    failures,
    firstFailure,
    sent,
    unanswered,
    generatorDelayP99Ms: ms(loopLatenessMs(delay.percentile(99) / 1e6)),
    generatorDelayMaxMs: ms(loopLatenessMs(delay.max / 1e6)),
    connectionsOpened,
    generatorCpuMsPerRequest: cpuMsPer(generatorCpu, latencies.length),
  };
}

/** `process.cpuUsage` (µs, user and system) per request, in ms. */
function cpuMsPer(usage: NodeJS.CpuUsage, requests: number): number | null {
  return requests > 0 ? (usage.user + usage.system) / 1000 / requests : null;
}

/**
 * `spec.connections` keep-alive connections to the service, each opened by one request of the measured kind
 * (answered and checked, not timed): the agent the open loop sends over, and the connections it holds now. It
 * hands out the connection idle longest (`fifo`), so at a low rate (the scale run's 50 req/s) every one is used
 * about once a second and none sits idle into the service's keep-alive timeout, to be closed as a request is
 * sent on it.
 */
async function openConnections(spec: LoadSpec, next: () => Built): Promise<{ agent: Agent; connections: WeakSet<object> }> {
  const agent = new Agent({ keepAlive: true, scheduling: 'fifo' });
  const connections = new WeakSet<object>();
  const url = new URL(spec.url);
  const send = () =>
    new Promise<void>((resolve, reject) => {
      const built = next();
      const body = Buffer.from(built.body);
      const req = httpRequest(
        url,
        { method: 'POST', agent, headers: { ...headersOf(spec, built), 'content-length': String(body.length) } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (answered(response.statusCode ?? 0, text, built.expect)) resolve();
            else reject(new Error(`opening the open loop's connections: ${response.statusCode} ${text.slice(0, 300)}`));
          });
        },
      );
      req.once('socket', (socket) => connections.add(socket));
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(Array.from({ length: spec.connections }, send));
  return { agent, connections };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  if (!/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(spec.url)) throw new Error(`load goes to 127.0.0.1 only, not ${spec.url}`);
  const next = builder(spec);
  let used = 0;
  const counted = () => {
    used += 1;
    return next();
  };
  // Warm-up at full speed (closed loop) even before an open-loop measurement: the JIT and the caches warm with work done.
  if (spec.warmup > 0) await measureClosed(spec, spec.warmup, counted);
  // The runner samples the server's CPU time when this line arrives and when the process ends.
  const announceWindow = () => process.stderr.write('measuring\n');
  let measured: Omit<LoadResult, 'kind' | 'vouchersUsed'>;
  if (spec.rate) measured = await measureOpen(spec, spec.duration, counted, spec.rate, announceWindow);
  else {
    announceWindow();
    measured = await measureClosed(spec, spec.duration, counted);
  }
  const output: LoadResult = { kind: spec.kind, ...measured, vouchersUsed: spec.kind === 'voucher' ? used : 0 };
  // Exit once written: loadtest's keep-alive agents would hold the process open for their idle time.
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(0));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
