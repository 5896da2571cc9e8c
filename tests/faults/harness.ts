import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { applyMigrations } from '../../src/db/migrate.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import type { ApiKeyScope } from '../../src/auth/principal.js';
import { createLogger } from '../../src/logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/runtime/embedded-postgres.js';
import { startEmbeddedRedis, type EmbeddedRedisHandle } from '../../src/runtime/embedded-redis.js';
import { freePorts, killServiceProcesses, startServiceProcess, type ServiceProcess } from '../support/processes.js';

/**
 * The fault scripts' world: a PRIVATE PostgreSQL and Redis (the project's
 * embedded runtime, in a temporary directory, on free ports) that the scripts
 * may stop and restart at will — never the machine's 5432/6379, where other
 * test runs live — and the service's real entry points as child processes.
 */

export const JWT_SECRET = 'fault-scripts-secret-that-is-long-enough-0123456789';
export const logger = createLogger('silent');

export interface Stack {
  postgresUrl(database: string): string;
  redisUrl: string;
  /** Fast shutdown and start again on the same data and port; resolves with the outage's length. */
  restartPostgres(): Promise<number>;
  /** SIGTERM (the append-only file is written out) and start again on the same data and port. */
  restartRedis(): Promise<number>;
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'treue-faults-'));
  await chmod(dataDir, 0o755); // as root, PostgreSQL runs as 'postgres' and must get through
  const [pgPort, redisPort] = await freePorts(2);
  let postgres: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir, port: pgPort, logger });
  let redis: EmbeddedRedisHandle = await startEmbeddedRedis({ dataDir, port: redisPort, logger });
  const base = new URL(postgres.databaseUrl);
  return {
    postgresUrl: (database) => {
      const url = new URL(base);
      url.pathname = `/${database}`;
      return url.toString();
    },
    redisUrl: redis.redisUrl,
    restartPostgres: async () => {
      const started = performance.now();
      await postgres.stop();
      postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, logger });
      return Math.round(performance.now() - started);
    },
    restartRedis: async () => {
      const started = performance.now();
      await redis.stop();
      redis = await startEmbeddedRedis({ dataDir, port: redisPort, logger });
      return Math.round(performance.now() - started);
    },
    stop: async () => {
      await Promise.allSettled([postgres.stop(), redis.stop()]);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A new, migrated database on the stack, with a Prisma client for setup and counting. */
export async function freshDatabase(stack: Stack, name: string): Promise<{ url: string; prisma: PrismaClient }> {
  const admin = new pg.Client({ connectionString: stack.postgresUrl('postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  await admin.end();
  const url = stack.postgresUrl(name);
  await applyMigrations(url);
  return { url, prisma: createPrisma(url, 4) };
}

export async function apiKey(prisma: PrismaClient, scopes: ApiKeyScope[]): Promise<string> {
  return (
    await createApiKey({ prisma, logger }, { name: 'fault script', scopes }, { actor: { type: 'SYSTEM', id: 'faults' }, role: 'ADMIN' })
  ).token;
}

/**
 * `count` members `<prefix>-0` … in one statement, their ids in that order. Not Prisma's `createMany`:
 * for thousands of rows it splits the insert and sends the parts at once on one connection, which
 * node-postgres deprecates (a DeprecationWarning now, an error in pg 9; prisma/orm#29646).
 */
export async function enrollMembers(prisma: PrismaClient, prefix: string, count: number): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ id: string; n: number }[]>`
    INSERT INTO members (external_id, email, name)
    SELECT ${prefix} || '-' || n, ${prefix} || '-' || n || '@example.com', ${prefix} || ' ' || n
    FROM generate_series(0, ${count}::int - 1) AS n
    RETURNING id::text, split_part(external_id, '-', -1)::int AS n`;
  const byNumber = new Map(rows.map((row) => [row.n, row.id]));
  return Array.from({ length: count }, (_, i) => byNumber.get(i)!);
}

export interface Scenario {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
}

function serviceEnv(scenario: Scenario): Record<string, string> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: scenario.databaseUrl,
    REDIS_URL: scenario.redisUrl,
    QUEUE_PREFIX: scenario.queuePrefix,
    JWT_SECRET,
    LOG_LEVEL: 'info',
    DATABASE_POOL_SIZE: '10',
    WORKER_CONCURRENCY: '8',
    // Recover a dead worker's jobs and re-drive stale events within seconds, not the production minute.
    WORKER_LOCK_DURATION_MS: '3000',
    OUTBOX_STALE_AFTER_MS: '4000',
  };
}

/** `npm run api` (TREUE_ROLE=api) from the fault scripts' build (global-setup.ts) on `port`; resolves once it listens. */
export async function startApiProcess(scenario: Scenario, port: number): Promise<ServiceProcess> {
  const api = startServiceProcess(`${inject('faultsBuild')}/src/main.js`, {
    ...serviceEnv(scenario),
    TREUE_ROLE: 'api',
    PORT: String(port),
    HOST: '127.0.0.1',
    WEB_CONCURRENCY: '1',
  });
  await api.waitForLine(/Treue ready: GraphQL at/, 60_000);
  return api;
}

/** `npm run workers` from the fault scripts' build (global-setup.ts); resolves once its workers run. */
export async function startWorkerProcess(scenario: Scenario): Promise<ServiceProcess> {
  const workers = startServiceProcess(`${inject('faultsBuild')}/workers/main.js`, serviceEnv(scenario));
  await workers.waitForLine(/worker process ready/, 60_000);
  return workers;
}

export interface GraphQLAnswer {
  status: number;
  data?: Record<string, any>;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One POST to /graphql (with `requestId` as x-request-id: the service logs it); a refused or dropped connection is an answer with status 0. */
export async function gql(
  port: number,
  token: string,
  query: string,
  variables: Record<string, unknown>,
  requestId?: string,
): Promise<GraphQLAnswer> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...(requestId ? { 'x-request-id': requestId } : {}),
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await response.json().catch(() => ({}))) as Omit<GraphQLAnswer, 'status'>;
    return { status: response.status, ...body };
  } catch {
    return { status: 0 };
  }
}

export interface Burst {
  /** Requests answered with success, by request index. */
  accepted: Set<number>;
  /** Attempts that did not succeed and were retried with the same idempotency key. */
  retries: number;
  /** Requests that never succeeded within the deadline. */
  gaveUp: number[];
}

/**
 * Sends requests 0..count-1 from `clients` concurrent clients. A request is
 * retried with the same idempotency key — what a client must do when it got
 * no answer or an error — until it succeeds or `deadlineMs` passes. `onAccepted`
 * sees the running count of successes (to inject a fault mid-burst).
 */
export async function burst(args: {
  count: number;
  clients: number;
  send: (index: number) => Promise<boolean>;
  onAccepted?: (accepted: number) => void;
  deadlineMs?: number;
}): Promise<Burst> {
  const result: Burst = { accepted: new Set(), retries: 0, gaveUp: [] };
  let next = 0;
  const deadline = Date.now() + (args.deadlineMs ?? 60_000);
  const client = async () => {
    for (let index = next++; index < args.count; index = next++) {
      for (;;) {
        if (await args.send(index)) {
          result.accepted.add(index);
          args.onAccepted?.(result.accepted.size);
          break;
        }
        if (Date.now() > deadline) {
          result.gaveUp.push(index);
          break;
        }
        result.retries += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  await Promise.all(Array.from({ length: args.clients }, client));
  return result;
}

export interface Tally {
  scenario: string;
  injected: string;
  accepted: number;
  expected: number;
  found: number;
  lost: number;
  doubled: number;
  notes?: string;
}

/** Prints one scenario's result line; the caller asserts lost = doubled = 0. */
export function print(tally: Tally): void {
  const verdict = tally.lost === 0 && tally.doubled === 0 && tally.expected === tally.found ? 'OK' : 'FAILED';
  process.stdout.write(
    `[fault] ${tally.scenario}: injected ${tally.injected}; accepted ${tally.accepted}; ` +
      `grants expected ${tally.expected}, found ${tally.found}; lost ${tally.lost}, doubled ${tally.doubled}` +
      `${tally.notes ? `; ${tally.notes}` : ''} → ${verdict}\n`,
  );
}

/** Polls until `probe` holds; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** One failure report, answered with the failure's id or a typed error. */
export const REPORT_FAILURE = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename ... on ReportServiceFailurePayload { duplicate failure { id } } ... on Error { message } } }`;

/** Waits until every failure in the database is compensated and every outbox event done. */
export async function allCompensated(prisma: PrismaClient, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    'every recorded failure to be compensated',
    async () => {
      const [open, events] = await Promise.all([
        prisma.serviceFailure.count({ where: { status: { not: 'COMPENSATED' } } }),
        prisma.outboxEvent.count({ where: { completedAt: null } }),
      ]);
      return open === 0 && events === 0;
    },
    timeoutMs,
  );
}

/** Compensation vouchers per request: each of the `count` requests must own one failure with one voucher. */
export async function compensationTally(
  prisma: PrismaClient,
  args: { scenario: string; injected: string; count: number; prefix: string; failureIds: Map<number, string>; notes?: string },
): Promise<Tally> {
  const failures = await prisma.serviceFailure.findMany({ select: { id: true, orderRef: true } });
  const vouchers = await prisma.voucher.groupBy({ by: ['causeRef'], where: { kind: 'COMPENSATION' }, _count: { _all: true } });
  const vouchersByFailure = new Map(vouchers.map((row) => [row.causeRef, row._count._all]));
  const failuresByOrder = new Map<string, string[]>();
  for (const failure of failures)
    failuresByOrder.set(failure.orderRef ?? '', [...(failuresByOrder.get(failure.orderRef ?? '') ?? []), failure.id]);

  let lost = 0;
  let doubled = 0;
  for (let i = 0; i < args.count; i++) {
    const recorded = failuresByOrder.get(`${args.prefix}-order-${i}`) ?? [];
    const grants = recorded.reduce((sum, id) => sum + (vouchersByFailure.get(id) ?? 0), 0);
    if (grants === 0) lost += 1;
    if (grants > 1 || recorded.length > 1) doubled += 1;
  }
  const found = [...vouchersByFailure.values()].reduce((sum, n) => sum + n, 0);
  return {
    scenario: args.scenario,
    injected: args.injected,
    accepted: args.failureIds.size,
    expected: args.count,
    found,
    lost,
    doubled,
    notes: args.notes,
  };
}

export function expectClean(tally: Tally, gaveUp: number[] = []): void {
  print(tally);
  expect(gaveUp, 'requests that never succeeded').toEqual([]);
  expect({ lost: tally.lost, doubled: tally.doubled, found: tally.found }).toEqual({ lost: 0, doubled: 0, found: tally.expected });
}

/**
 * The frame of a fault file: one stack for its scenarios, each scenario's
 * processes killed and its cleanups run after it. `setUp(name)` gives a
 * scenario a database of its own (`faults_<name>`) and a queue prefix.
 */
export function useFaultStack(): {
  stack: () => Stack;
  cleanups: (() => Promise<unknown>)[];
  setUp: (name: string) => Promise<{ scenario: Scenario; prisma: PrismaClient }>;
} {
  let stack: Stack;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    killServiceProcesses();
    for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  });
  afterAll(async () => {
    await stack?.stop();
  });
  return {
    stack: () => stack,
    cleanups,
    async setUp(name) {
      const { url, prisma } = await freshDatabase(stack, `faults_${name}`);
      cleanups.push(() => prisma.$disconnect());
      return { scenario: { databaseUrl: url, redisUrl: stack.redisUrl, queuePrefix: `faults-${name}` }, prisma };
    },
  };
}
