import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { memberId, voucherCode } from './support.js';

/**
 * The load generator: autocannon in its own process (never the server's),
 * against 127.0.0.1 only. Reads one `LoadSpec` as JSON from argv, warms up,
 * measures, and prints one `LoadResult` as JSON on stdout.
 *
 * Every request is built fresh (`setupRequest`): a random seeded member, a
 * unique idempotency key and order reference, the next unused voucher code.
 * Every response is checked (`onResponse`): a GraphQL error or an unexpected
 * `__typename` counts as a failure, so a fast wrong answer cannot pass as
 * throughput.
 */

export type LoadKind = 'bare' | 'lookup' | 'raw-earn' | 'earn' | 'earn-rules' | 'redeem' | 'voucher' | 'status' | 'cached-status';

export interface LoadSpec {
  kind: LoadKind;
  url: string;
  token?: string;
  connections: number;
  /** Seconds. */
  duration: number;
  warmup: number;
  /** Requests per second in all (a fixed rate below capacity: latency without queueing); unset: as fast as it goes. */
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

async function measure(spec: LoadSpec, seconds: number, next: () => Built, rate = spec.rate) {
  let failures = 0;
  let firstFailure: string | null = null;
  let expect = '';
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (spec.token) headers.authorization = `Bearer ${spec.token}`;
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    // At a fixed rate, autocannon's coordinated-omission correction would add synthetic samples
    // (and count them as requests): we want the latencies of the requests actually sent.
    ...(rate ? { overallRate: rate, ignoreCoordinatedOmission: true } : {}),
    method: 'POST',
    headers,
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const built = next();
          expect = built.expect;
          const own = built.token ? { ...headers, authorization: `Bearer ${built.token}` } : headers;
          return { ...request, method: 'POST', headers: own, body: built.body };
        },
        onResponse: (status, body) => {
          const ok = status === 200 && !body.includes('"errors"') && body.includes(expect);
          if (!ok) {
            failures += 1;
            firstFailure ??= `${status} ${body.slice(0, 300)}`;
          }
        },
      },
    ],
  });
  return { result, failures, firstFailure };
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
  // Warm-up at full speed even before a fixed-rate measurement: the JIT and the caches warm with work done.
  if (spec.warmup > 0) await measure(spec, spec.warmup, counted, undefined);
  // The runner samples the server's CPU time when this line arrives and when the process ends.
  process.stderr.write('measuring\n');
  const { result, failures, firstFailure } = await measure(spec, spec.duration, counted);
  const requests = result.requests.total;
  const output: LoadResult = {
    kind: spec.kind,
    rps: (requests - failures) / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    requests,
    failures: failures + result.errors + result.timeouts,
    firstFailure,
    vouchersUsed: spec.kind === 'voucher' ? used : 0,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
