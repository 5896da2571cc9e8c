import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { createGraphQLHandler } from '../src/app.js';
import { signStaffToken } from '../src/auth/tokens.js';
import { DEFAULT_DATABASE_POOL_SIZE, loadConfig } from '../src/config/env.js';
import { createPrisma, type PrismaClient } from '../src/db/prisma.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../src/domain/program/program-settings.js';
import { MAX_PAGE_ENTRIES } from '../src/domain/service-failures/incidents.service.js';
import { createLogger } from '../src/logger.js';
import { createOutboxPublisher } from '../src/queues/outbox-queues.js';
import { createBenchDatabase } from './seed.js';
import { BENCH_RATE_LIMITS, BENCH_REDIS, deleteRedisKeys, dropDatabase, memberId, sleep } from './support.js';

/**
 * `npm run bench:incident`: one service incident of --members (100 000) members,
 * end to end, with the worker killed mid-way:
 *
 * 1. seeds the members (SQL, not timed);
 * 2. starts the worker process (`workers/main.ts`, as production runs it) and an
 *    API handler in this process (yoga, the immediate enqueue to Redis);
 * 3. the clock starts: an agent reports the incident over GraphQL in pages of
 *    --page (1 000) entries — raw member ids, every 10th member by external id —
 *    the first page creating it with a budget of --budget-share (0.9) of what
 *    compensating everyone costs, the rest with `incidentId`, --clients (4) at once;
 * 4. when --kill-at (0.5) of the members have their failure, the worker gets
 *    SIGKILL and is started again at once;
 * 5. the clock stops when every member is expanded and every incident job's
 *    outbox event is done; then a supervisor grants the remainder over the
 *    budget (`decideServiceIncident`) and the time until its vouchers are issued
 *    is measured too.
 *
 * Then it counts, in SQL: failures of the incident, distinct members among them,
 * vouchers per failure, failures compensated or held for review — and fails
 * unless every member has exactly one failure and one voucher or review, and
 * nothing is doubled. The worker runs with WORKER_LOCK_DURATION_MS=5000 (jobs
 * of a killed worker are recovered within ~10 s; with the 30 s default their
 * pages are still finished at once by the incident's other jobs).
 *
 * It creates `treue_bench_incident_*` on BENCH_POSTGRES_URL (default the local
 * PostgreSQL) and a private key prefix on BENCH_REDIS_URL; both are removed
 * (--keep keeps the database). Every wait is bounded (--timeout, 300 s).
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '100000' },
    page: { type: 'string', default: String(MAX_PAGE_ENTRIES) },
    clients: { type: 'string', default: '4' },
    'budget-share': { type: 'string', default: '0.9' },
    'kill-at': { type: 'string', default: '0.5' },
    timeout: { type: 'string', default: '300' },
    keep: { type: 'boolean', default: false },
  },
});
const MEMBERS = Number(args.members);
const PAGE = Number(args.page);
const CLIENTS = Number(args.clients);
const BUDGET_SHARE = Number(args['budget-share']);
const KILL_AT = Number(args['kill-at']);
const TIMEOUT_MS = Number(args.timeout) * 1000;
const POOL_SIZE = DEFAULT_DATABASE_POOL_SIZE;
const logger = createLogger('warn', { bench: 'incident' });
/** LOW failures of BRONZE members, first in their repeat window: 5.00 each by the default policy. */
const PER_MEMBER = Number(DEFAULT_PROGRAM_SETTINGS.compensation.baseBySeverity.LOW);

/** Starts `workers/main.ts`; resolves once it says it is ready. */
async function startWorker(databaseUrl: string, prefix: string, deadline: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL: BENCH_REDIS,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      WORKER_LOCK_DURATION_MS: '5000',
      OUTBOX_STALE_AFTER_MS: '10000',
    },
  });
  let ready = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('worker process ready')) ready = true;
  });
  await waitFor('the worker process', async () => ready || child.exitCode !== null, deadline);
  if (!ready) throw new Error(`the worker process exited with ${child.exitCode}`);
  return child;
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/** Polls `probe` every 100 ms until it holds; throws after the run's timeout. */
async function waitFor(what: string, probe: () => Promise<boolean>, deadline: number): Promise<void> {
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function seedMembers(prisma: PrismaClient): Promise<void> {
  await prisma.$executeRawUnsafe(`
    INSERT INTO members (id, external_id, email, name)
    SELECT md5('m' || i)::uuid, 'cust-' || i, 'm' || i || '@example.com', 'Member ' || i
    FROM generate_series(1, ${MEMBERS}) AS i`);
  await prisma.$executeRawUnsafe('ANALYZE members');
}

interface Counts {
  failures: number;
  members: number;
  compensated: number;
  needsReview: number;
  vouchers: number;
  doubledVouchers: number;
  affected: number;
  pending: number;
  openEvents: number;
}

async function counts(prisma: PrismaClient, incidentId: string): Promise<Counts> {
  const [row] = await prisma.$queryRaw<Counts[]>`
    SELECT
      (SELECT count(*)::int FROM service_failures WHERE incident_id = ${incidentId}::uuid) AS failures,
      (SELECT count(DISTINCT member_id)::int FROM service_failures WHERE incident_id = ${incidentId}::uuid) AS members,
      (SELECT count(*)::int FROM service_failures WHERE incident_id = ${incidentId}::uuid AND status = 'COMPENSATED') AS compensated,
      (SELECT count(*)::int FROM service_failures WHERE incident_id = ${incidentId}::uuid AND status = 'NEEDS_REVIEW') AS "needsReview",
      (SELECT count(*)::int FROM vouchers v JOIN service_failures f ON v.cause_type = 'FAILURE' AND v.cause_ref = f.id::text
        WHERE f.incident_id = ${incidentId}::uuid) AS vouchers,
      (SELECT count(*)::int FROM (SELECT cause_ref FROM vouchers WHERE kind = 'COMPENSATION' GROUP BY cause_ref HAVING count(*) > 1) d)
        AS "doubledVouchers",
      (SELECT count(*)::int FROM service_incident_members WHERE incident_id = ${incidentId}::uuid) AS affected,
      (SELECT count(*)::int FROM service_incident_members WHERE incident_id = ${incidentId}::uuid AND expanded_at IS NULL) AS pending,
      (SELECT count(*)::int FROM outbox_events WHERE queue = 'incidents' AND completed_at IS NULL) AS "openEvents"`;
  return row!;
}

/** Cheap enough to poll: pages expanded, and incident jobs not done. */
async function pagesDone(prisma: PrismaClient, incidentId: string): Promise<{ expanded: number; openEvents: number }> {
  const [row] = await prisma.$queryRaw<{ expanded: number; openEvents: number }[]>`
    SELECT (SELECT count(*)::int FROM service_incident_pages WHERE incident_id = ${incidentId}::uuid AND expanded_at IS NOT NULL) AS expanded,
           (SELECT count(*)::int FROM outbox_events WHERE queue = 'incidents' AND completed_at IS NULL) AS "openEvents"`;
  return row!;
}

async function main(): Promise<void> {
  const run = randomBytes(4).toString('hex');
  const dbName = `treue_bench_incident_${run}`;
  const prefix = `treue-bench-${run}`;
  const databaseUrl = await createBenchDatabase(dbName);
  const prisma = createPrisma(databaseUrl, POOL_SIZE);
  const children: ChildProcess[] = [];
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));
  const deadline = Date.now() + TIMEOUT_MS;
  try {
    await seedMembers(prisma);
    const pages = Math.ceil(MEMBERS / PAGE);
    const budget = (MEMBERS * PER_MEMBER * BUDGET_SHARE).toFixed(2);
    console.log(
      `incident bench: ${MEMBERS} members in ${pages} pages of ${PAGE}, ${CLIENTS} clients, budget ${budget} ` +
        `(${BUDGET_SHARE * 100} % of ${MEMBERS * PER_MEMBER}), worker SIGKILLed at ${KILL_AT * 100} % and restarted`,
    );

    let worker = await startWorker(databaseUrl, prefix, deadline);
    children.push(worker);
    const jwtSecret = randomBytes(32).toString('hex');
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: jwtSecret,
      LOG_LEVEL: 'warn',
      QUEUE_PREFIX: prefix,
      ...BENCH_RATE_LIMITS,
    });
    const outbox = createOutboxPublisher({ redisUrl: BENCH_REDIS, prefix, logger });
    const yoga = createGraphQLHandler({ config, logger, prisma, outbox });
    const agent = await signStaffToken(jwtSecret, { staffId: 'bench-agent', role: 'AGENT' });
    const supervisor = await signStaffToken(jwtSecret, { staffId: 'bench-supervisor', role: 'SUPERVISOR' });
    const gql = async (token: string, query: string, variables: Record<string, unknown>) => {
      const response = await yoga.fetch('http://bench/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return {
        status: response.status,
        body: (await response.json()) as {
          data?: Record<string, { __typename?: string; named?: number; decided?: number; incident?: { id: string } } | undefined>;
          errors?: unknown[];
        },
      };
    };
    const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
      __typename ... on ReportServiceIncidentPayload { named unresolved { index } incident { id } } ... on Error { message } } }`;
    const entries = (page: number) =>
      Array.from({ length: Math.min(PAGE, MEMBERS - page * PAGE) }, (_, k) => {
        const i = page * PAGE + k + 1;
        return i % 10 === 0 ? { externalId: `cust-${i}` } : { memberId: memberId(i) };
      });
    let largestBody = 0;
    const sendPage = async (page: number, incidentId?: string) => {
      const input = incidentId
        ? { incidentId, affected: entries(page), idempotencyKey: `bench-${run}-${page}` }
        : { type: 'OUTAGE', severity: 'LOW', budget, affected: entries(page), idempotencyKey: `bench-${run}-${page}` };
      largestBody = Math.max(largestBody, JSON.stringify({ query: REPORT, variables: { i: input } }).length);
      const answer = await gql(agent, REPORT, { i: input });
      const payload = answer.body.data?.reportServiceIncident;
      if (payload?.__typename !== 'ReportServiceIncidentPayload' || payload.named !== input.affected.length) {
        throw new Error(`page ${page}: ${JSON.stringify(answer.body).slice(0, 500)}`);
      }
      return decodeGlobalID(payload.incident!.id).id;
    };
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const incidentId = await sendPage(0);
    let next = 1;
    let killedAt: number | undefined;
    let restartedAt: number | undefined;
    const reporting = Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < pages) await sendPage(next++, incidentId);
      }),
    ).then(() => seconds());
    const killer = (async () => {
      await waitFor('the kill point', async () => (await pagesDone(prisma, incidentId)).expanded >= pages * KILL_AT, deadline);
      worker.kill('SIGKILL');
      await exited(worker);
      killedAt = seconds();
      const before = await pagesDone(prisma, incidentId);
      worker = await startWorker(databaseUrl, prefix, deadline);
      children.push(worker);
      restartedAt = seconds();
      return before;
    })();
    // Both run at once; neither may end the process with an unhandled rejection before the other is awaited.
    killer.catch(() => undefined);
    const reportedIn = await reporting;
    const atKill = await killer;
    await waitFor(
      'every page expanded and every incident job done',
      async () => {
        const now = await pagesDone(prisma, incidentId);
        return now.expanded === pages && now.openEvents === 0;
      },
      deadline,
    );
    const total = seconds();
    const done = await counts(prisma, incidentId);

    const decideStarted = performance.now();
    const decided = await gql(
      supervisor,
      `mutation($i: DecideServiceIncidentInput!) { decideServiceIncident(input: $i) { __typename ... on DecideServiceIncidentPayload { decided } ... on Error { message } } }`,
      { i: { incidentId, decision: 'GRANT', note: 'bench: the outage was ours', idempotencyKey: `bench-${run}-grant` } },
    );
    const decidedCount = decided.body.data?.decideServiceIncident?.decided as number | undefined;
    if (decidedCount !== done.needsReview) throw new Error(`decision: ${JSON.stringify(decided.body)}`);
    const decisionAnswered = (performance.now() - decideStarted) / 1000;
    await waitFor('the remainder to be compensated', async () => (await pagesDone(prisma, incidentId)).openEvents === 0, deadline);
    const remainderIn = (performance.now() - decideStarted) / 1000;
    const final = await counts(prisma, incidentId);

    const problems: string[] = [];
    if (done.affected !== MEMBERS || done.pending !== 0) problems.push(`affected ${done.affected}, pending ${done.pending}`);
    if (done.failures !== MEMBERS || done.members !== MEMBERS) problems.push(`failures ${done.failures} for ${done.members} members`);
    if (done.compensated + done.needsReview !== MEMBERS) problems.push(`compensated + review = ${done.compensated + done.needsReview}`);
    if (done.vouchers !== done.compensated) problems.push(`vouchers ${done.vouchers} for ${done.compensated} compensated`);
    if (final.vouchers !== MEMBERS || final.compensated !== MEMBERS) problems.push(`after the decision: ${JSON.stringify(final)}`);
    if (final.doubledVouchers !== 0) problems.push(`${final.doubledVouchers} failures with more than one voucher`);

    console.log('');
    console.log(`pages reported (${pages} × ≤ ${PAGE}, body ≤ ${(largestBody / 1024).toFixed(1)} KB)   ${reportedIn.toFixed(1)} s`);
    console.log(
      `worker SIGKILLed at ${killedAt!.toFixed(1)} s with ${atKill.expanded} of ${pages} pages expanded; restarted (ready) at ${restartedAt!.toFixed(1)} s`,
    );
    console.log(`every member expanded and decided                     ${total.toFixed(1)} s  (${(MEMBERS / total).toFixed(0)} members/s)`);
    console.log(
      `  failures ${done.failures} (distinct members ${done.members}), compensated ${done.compensated}, ` +
        `held over the budget ${done.needsReview}, vouchers ${done.vouchers}, vouchers + reviews ${done.vouchers + done.needsReview}`,
    );
    console.log(
      `decideServiceIncident GRANT on ${decidedCount} answered in ${decisionAnswered.toFixed(1)} s; vouchers issued after ${remainderIn.toFixed(1)} s`,
    );
    console.log(`  compensated ${final.compensated}, vouchers ${final.vouchers}, doubled ${final.doubledVouchers}`);
    console.log(`target: within 60 s, nothing lost or doubled — ${problems.length === 0 && total <= 60 ? 'met' : 'NOT met'}`);
    await outbox.close();
    if (problems.length > 0) throw new Error(`incident bench: ${problems.join('; ')}`);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await prisma.$disconnect();
    await deleteRedisKeys(BENCH_REDIS, prefix);
    if (!args.keep) await dropDatabase(dbName);
  }
}

main()
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
