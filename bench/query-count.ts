import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { buildSchema } from 'graphql';
import pg from 'pg';
import { readFile } from 'node:fs/promises';
import { createGraphQLHandler } from '../src/app.js';
import { loadConfig } from '../src/config/env.js';
import { createPrisma } from '../src/db/prisma.js';
import { createLogger } from '../src/logger.js';
import { createBenchDatabase, seed } from './seed.js';
import { BENCH_RATE_LIMITS, dropDatabase, databaseUrl, memberId, voucherCode } from './support.js';

/**
 * Round trips per operation: runs each hot GraphQL operation in process (yoga.fetch)
 * against a small seeded bench database and lists every SQL statement sent to
 * PostgreSQL (counted at node-postgres, so Prisma's and raw queries alike).
 *
 *   npx tsx bench/query-count.ts [--verbose]
 */

const { values } = parseArgs({ options: { verbose: { type: 'boolean', default: false } } });

const statements: string[] = [];
let counting = false;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) {
    const first = args[0] as string | { text?: string };
    const text = typeof first === 'string' ? first : (first?.text ?? '?');
    statements.push(text.replace(/\s+/g, ' ').trim());
  }
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

async function main(): Promise<void> {
  const database = `treue_bench_qc_${randomBytes(3).toString('hex')}`;
  await createBenchDatabase(database);
  try {
    const seeded = await seed({ database, members: 100, entriesPerMember: 20, vouchersPerMember: 6 });
    const prisma = createPrisma(databaseUrl(database), 4);
    const config = {
      ...loadConfig({ NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('hex'), ...BENCH_RATE_LIMITS }),
      logLevel: 'silent' as const,
    };
    const yoga = createGraphQLHandler({ config, logger: createLogger('silent'), prisma });
    const schema = buildSchema(await readFile(new URL('../schema.graphql', import.meta.url), 'utf8'));
    const mutations = schema.getMutationType()?.getFields() ?? {};
    const run = async (query: string, variables: Record<string, unknown>) => {
      const response = await yoga.fetch('http://bench/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${seeded.apiKey}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { errors?: unknown };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body;
    };
    let n = 0;
    const operations: Record<string, () => [string, Record<string, unknown>]> = {
      earnPoints: () => [
        `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename ... on EarnPointsPayload { points member { id balance { available pending } } } } }`,
        { input: { memberId: memberId(1 + (n % 50)), orderRef: `qc-${++n}`, orderTotal: '25.00', idempotencyKey: `qc-${n}` } },
      ],
      ...('OrderInput' in schema.getTypeMap()
        ? {
            'earnPoints (order, 5 lines)': (): [string, Record<string, unknown>] => [
              `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename ... on EarnPointsPayload { points member { id balance { available pending } } } } }`,
              {
                input: {
                  memberId: memberId(1 + (n % 50)),
                  order: {
                    reference: `qo-${++n}`,
                    total: { amount: '25.00', currency: 'EUR' },
                    channel: 'web',
                    lines: Array.from({ length: 5 }, (_, i) => ({ sku: `SKU-${i}`, category: 'c', quantity: 1 + i, unitPrice: '1.50' })),
                  },
                  idempotencyKey: `qo-${n}`,
                },
              },
            ],
            'redeemPoints (orderReference)': (): [string, Record<string, unknown>] => [
              `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { __typename ... on RedeemPointsPayload { points member { id balance { available } } } } }`,
              { input: { memberId: memberId(1 + (n % 50)), points: 1, orderReference: `qro-${++n}`, idempotencyKey: `qro-${n}` } },
            ],
          }
        : {}),
      redeemPoints: () => [
        `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { __typename ... on RedeemPointsPayload { points member { id balance { available } } } } }`,
        { input: { memberId: memberId(1 + (n % 50)), points: 1, idempotencyKey: `qr-${++n}` } },
      ],
      'member-status': () => [
        `query($id: ID!) { member(id: $id) { id status tier { key name } tierSince balance { available pending lifetime } expiringPoints { expiresAt points }
           ${'tierProgress' in (schema.getType('Member') as never as { getFields(): object }).getFields() ? 'tierProgress { qualifyingPoints pointsToNext reviewAt current { key threshold } next { key threshold } }' : ''}
           vouchers(first: 5) { edges { node { code kind status value { amount currency } expiresAt } } }
           ledger(first: 10) { edges { node { kind amount balanceAfter causeType causeRef createdAt } } } } }`,
        { id: memberId(1 + (++n % 50)) },
      ],
    };
    if ('redeemVoucher' in mutations) {
      operations.redeemVoucher = () => {
        const i = 1 + (++n % 100);
        return [
          `mutation($input: RedeemVoucherInput!) { redeemVoucher(input: $input) { __typename ... on RedeemVoucherPayload { orderRef discount { amount currency } voucher { code status } } } }`,
          {
            input: {
              code: voucherCode(i, 1 + Math.floor(n / 100)),
              orderRef: `qv-${n}`,
              orderTotal: '40.00',
              memberId: memberId(i),
              idempotencyKey: `qv-${n}`,
            },
          },
        ];
      };
    }
    for (const [name, build] of Object.entries(operations)) {
      await run(...build()); // warm: API key cache, settings cache, prepared statements
      statements.length = 0;
      counting = true;
      await run(...build());
      counting = false;
      console.log(`${name}: ${statements.length} statements`);
      if (values.verbose) for (const text of statements) console.log(`    ${text.slice(0, 160)}`);
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
