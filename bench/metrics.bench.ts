import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createGraphQLHandler } from '../src/app.js';
import { signStaffToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config/env.js';
import { applyMigrations } from '../src/db/migrate.js';
import { createPrisma } from '../src/db/prisma.js';
import { createLogger } from '../src/logger.js';
import { seedMetricsYear } from './metrics-seed.js';
import { createBenchDatabase, seed } from './seed.js';
import { BENCH_RATE_LIMITS, databaseExists, databaseUrl, dropDatabase, percentile } from './support.js';

/**
 * `npm run bench:metrics`: loyaltyMetrics latency for one year, by month, on a program of
 * `--members` (default 1 000 000) members: the bench data set (bench/seed.ts, `--entries` ledger
 * entries per member) plus one year of cases, feedback, failures, vouchers, goodwill, contracts,
 * renewals and status changes (bench/metrics-seed.ts). The database `treue_bench_metrics_m<members>_e<entries>`
 * is kept and used again by the next run (seeding a million members takes minutes on this
 * machine); `--fresh` seeds it again, `--drop` drops it at the end.
 *
 * Each run is one GraphQL request through the service's handler in this process (yoga.fetch, a
 * SUPERVISOR token, the query a dashboard sends: every figure, totals and 12 monthly buckets);
 * `--warmup` runs first, then `--runs` measured one after another. Prints p50, p99, min and max.
 */

const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '1000000' },
    entries: { type: 'string', default: '5' },
    runs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    fresh: { type: 'boolean', default: false },
    drop: { type: 'boolean', default: false },
    channel: { type: 'string' },
  },
});

/** The year the data set covers: fixed, so a database seeded once answers the same later. */
const FROM = new Date('2025-12-01T00:00:00.000Z');
const TO = new Date('2026-12-01T00:00:00.000Z');

const RATIO = 'numerator denominator value';
const FIGURES = `from to
  nps { ${RATIO} band promoters passives detractors } csat { ${RATIO} band mean { ${RATIO} } }
  firstContactResolution { ${RATIO} } timeToFirstResponse { ${RATIO} } timeToResolution { ${RATIO} } renewalRate { ${RATIO} }
  members { at active passive suspended closed total }
  compensation { count value { amount } byFailureType { type count value { amount } } }
  goodwill { count value { amount } byReason { reason count value { amount } } }
  voucherRedemption { all { ${RATIO} } byKind { kind rate { ${RATIO} } } }
  churnAfterFailure { oneFailure { all { ${RATIO} } compensated { ${RATIO} } notCompensated { ${RATIO} } }
                      repeatedFailures { all { ${RATIO} } compensated { ${RATIO} } notCompensated { ${RATIO} } } }
  recovery { ${RATIO} } detractorConversion { ${RATIO} }`;
interface Fraction {
  numerator: number;
  denominator: number;
  value: number | null;
}

/** What the summary line prints of the totals. */
interface Totals {
  nps: Fraction;
  csat: Fraction;
  firstContactResolution: Fraction;
  renewalRate: Fraction;
  members: { total: number; passive: number };
  compensation: { count: number; value: { amount: string } };
  churnAfterFailure: { repeatedFailures: { all: Fraction } };
  recovery: Fraction;
  detractorConversion: Fraction;
}

const QUERY = `query($from: DateTime!, $to: DateTime!, $channel: ServiceChannel) {
  loyaltyMetrics(from: $from, to: $to, channel: $channel, groupBy: MONTH) {
    __typename ... on LoyaltyMetrics { totals { ${FIGURES} } buckets { ${FIGURES} } } ... on Error { message } } }`;

async function prepareDatabase(members: number, entries: number): Promise<string> {
  const database = `treue_bench_metrics_m${members}_e${entries}`;
  if (!args.fresh && (await databaseExists(database))) {
    console.log(`using ${database} as seeded before (--fresh seeds it again); applying new migrations`);
    await applyMigrations(databaseUrl(database));
    return database;
  }
  const started = Date.now();
  await createBenchDatabase(database);
  const log = (line: string) => console.log(`  ${line}`);
  console.log(`seeding ${database}: ${members} members × ${entries} ledger entries`);
  await seed({ database, members, entriesPerMember: entries, vouchersPerMember: 0, log });
  console.log(`seeding one year of service (${FROM.toISOString()} – ${TO.toISOString()})`);
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    await seedMetricsYear(client, { members, from: FROM, to: TO, log });
  } finally {
    await client.end();
  }
  console.log(`seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return database;
}

async function main(): Promise<void> {
  const members = Number(args.members);
  const entries = Number(args.entries);
  const database = await prepareDatabase(members, entries);
  const jwtSecret = randomBytes(32).toString('hex');
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', ...BENCH_RATE_LIMITS });
  const prisma = createPrisma(databaseUrl(database), 4);
  const yoga = createGraphQLHandler({ config, logger: createLogger('warn'), prisma });
  const token = await signStaffToken(jwtSecret, { staffId: 'bench-supervisor', role: 'SUPERVISOR' });
  const variables = { from: FROM.toISOString(), to: TO.toISOString(), channel: args.channel ?? null };

  const ask = async () => {
    const started = performance.now();
    const response = await yoga.fetch('http://bench/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: QUERY, variables }),
    });
    const body = (await response.json()) as { data?: { loyaltyMetrics?: { __typename: string; totals: Totals } }; errors?: unknown };
    const ms = performance.now() - started;
    if (body.errors || body.data?.loyaltyMetrics?.__typename !== 'LoyaltyMetrics') throw new Error(JSON.stringify(body).slice(0, 500));
    return { ms, totals: body.data.loyaltyMetrics.totals };
  };

  try {
    let totals: Totals | undefined;
    for (let i = 0; i < Number(args.warmup); i++) totals = (await ask()).totals;
    const times: number[] = [];
    for (let i = 0; i < Number(args.runs); i++) times.push((await ask()).ms);
    times.sort((a, b) => a - b);
    const t = totals ?? (await ask()).totals;
    console.log(
      `year ${FROM.toISOString().slice(0, 10)} – ${TO.toISOString().slice(0, 10)}: NPS ${t.nps.value?.toFixed(1)} (${t.nps.denominator} answers), ` +
        `CSAT ${t.csat.value?.toFixed(1)} %, FCR ${t.firstContactResolution.numerator}/${t.firstContactResolution.denominator}, ` +
        `renewals ${t.renewalRate.numerator}/${t.renewalRate.denominator}, members ${t.members.total} (${t.members.passive} passive), ` +
        `compensations ${t.compensation.count} (${t.compensation.value.amount}), churn after repeats ` +
        `${t.churnAfterFailure.repeatedFailures.all.numerator}/${t.churnAfterFailure.repeatedFailures.all.denominator}, ` +
        `recovery ${t.recovery.numerator}/${t.recovery.denominator}, conversion ${t.detractorConversion.numerator}/${t.detractorConversion.denominator}`,
    );
    const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
    console.log(
      `loyaltyMetrics, one year by MONTH${args.channel ? `, channel ${args.channel}` : ''}, ${members} members, ${times.length} runs: ` +
        `p50 ${fmt(percentile(times, 50))}, p99 ${fmt(percentile(times, 99))}, min ${fmt(times[0]!)}, max ${fmt(times.at(-1)!)}`,
    );
  } finally {
    await yoga.dispose();
    await prisma.$disconnect();
    if (args.drop) await dropDatabase(database);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
