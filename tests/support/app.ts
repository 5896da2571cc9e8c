import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Plugin } from 'graphql-yoga';
import { afterAll, afterEach, beforeEach } from 'vitest';
import { createGraphQLHandler } from '../../src/app.js';
import { signMemberToken, signStaffToken } from '../../src/auth/tokens.js';
import type { ApiKeyScope, StaffRole } from '../../src/auth/principal.js';
import { loadConfig } from '../../src/config/env.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import type { OutboxPublisher } from '../../src/domain/deps.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { Metrics } from '../../src/metrics.js';
import { createTestPrisma, resetDatabase, testQueuePrefix, testRedisUrl } from './db.js';
import { readSse, subscriptionRequest, type SseSubscription } from './sse.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/**
 * The settings of an API a test starts on its own (`startApi`): production mode on a free loopback port, the
 * tests' signing secret, no logs. `env` adds to them or overrides them.
 */
export function testApiConfig(env: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  return loadConfig({ NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', ...env });
}

/**
 * The environment of test handlers. Rate limits stay on (the limiter runs on every
 * request) but far above what any test sends: tests of other rules must not trip over
 * budgets, and in-process requests all come from one unknown address.
 * tests/auth/rate-limit.test.ts sets its own.
 */
const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'silent',
  RATE_LIMIT_API_KEY_MUTATIONS: '1000000',
  RATE_LIMIT_API_KEY_VOUCHER_LOOKUPS: '1000000',
  RATE_LIMIT_MEMBER_MUTATIONS: '1000000',
  RATE_LIMIT_MEMBER_VOUCHER_LOOKUPS: '1000000',
  RATE_LIMIT_ADDRESS_MUTATIONS: '1000000',
  RATE_LIMIT_ADDRESS_VOUCHER_LOOKUPS: '1000000',
  RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS: '1000000',
};

export const testConfig = loadConfig(TEST_ENV);
export const testLogger = createLogger('silent');

export interface GraphQLResponse<T = Record<string, any>> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: (string | number)[] }[];
}

export interface TestAppOptions {
  /** The immediate enqueue after commit (src/queues/outbox-queues.ts), for tests with real queues. */
  outbox?: OutboxPublisher;
  /**
   * Give the handler this worker's Redis (testRedisUrl, under testQueuePrefix), as an API
   * process has: credential events across handlers and shared rate limits; a string is
   * another Redis URL (e.g. one that is down). Close the app (`close`) after the test file.
   */
  redis?: boolean | string;
  /** Environment on top of the test defaults (e.g. rate limits). */
  env?: Record<string, string>;
  /** The OpenTelemetry plugin of a started tracing (src/telemetry/tracing.ts). */
  tracing?: Plugin;
  /** The handler's metrics, for a test that reads them (a fresh registry otherwise). */
  metrics?: Metrics;
  /** The handler's logger, for a test that reads what it logs (silent otherwise). */
  logger?: Logger;
  /** The services' clock, for the handler and `deps` alike (the system's otherwise). */
  now?: () => Date;
}

/** How a test request reaches the handler: credentials, client address (the socket's), extra headers. */
export interface TestRequestOptions {
  token?: string;
  /** The raw Authorization header (wins over `token`). */
  authorization?: string;
  /** The TCP peer address the handler sees; none by default. */
  address?: string;
  headers?: Record<string, string>;
}

/**
 * An in-process GraphQL client over `yoga.fetch`, as yoga's own tests do.
 */
export function createTestApp(prisma: PrismaClient, options: TestAppOptions = {}) {
  const config =
    options.redis || options.env
      ? loadConfig({
          ...TEST_ENV,
          ...(options.redis ? { QUEUE_PREFIX: testQueuePrefix() } : {}),
          ...options.env,
        })
      : testConfig;
  const yoga = createGraphQLHandler(
    {
      config,
      logger: options.logger ?? testLogger,
      prisma,
      outbox: options.outbox,
      tracing: options.tracing,
      redisUrl: typeof options.redis === 'string' ? options.redis : options.redis ? testRedisUrl() : undefined,
      now: options.now,
    },
    options.metrics,
  );
  // Changes made through app.deps reach the handler's live streams too, as a service call in the API does.
  const deps = { prisma, logger: testLogger, memberChanges: yoga.memberChanges, ...(options.now ? { now: options.now } : {}) };

  /** One POST to /graphql; the raw response's status and headers with the parsed body. */
  async function request<T = Record<string, any>>(
    query: string,
    variables: Record<string, unknown> = {},
    how: TestRequestOptions = {},
  ): Promise<{ status: number; headers: Headers; body: GraphQLResponse<T> }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...how.headers };
    if (how.authorization !== undefined) headers.authorization = how.authorization;
    else if (how.token) headers.authorization = `Bearer ${how.token}`;
    // What the node:http adapter hands yoga as server context: the request and its socket.
    const serverContext = how.address ? { req: { socket: { remoteAddress: how.address } } as IncomingMessage } : {};
    const response = await yoga.fetch(
      'http://yoga/graphql',
      { method: 'POST', headers, body: JSON.stringify({ query, variables }) },
      serverContext,
    );
    return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse<T> };
  }

  async function gql<T = Record<string, any>>(
    query: string,
    variables: Record<string, unknown> = {},
    token?: string,
  ): Promise<GraphQLResponse<T>> {
    return (await request<T>(query, variables, { token })).body;
  }

  /** A subscription over SSE, as an app opens it (see tests/support/sse.ts). */
  async function subscribe(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<SseSubscription> {
    return readSse(await yoga.fetch('http://yoga/graphql', subscriptionRequest(query, variables, token)));
  }

  // A real HTTP server on the handler as startApi mounts it (the cache's shortcut, the direct execution, then yoga),
  // on first use.
  let server: Promise<{ server: Server; url: string }> | undefined;
  let throughYoga = 0;
  let directly = 0;
  const listen = () =>
    (server ??= new Promise((resolve, reject) => {
      const listening = createServer(async (req, res) => {
        if (await yoga.answerFromCache(req, res)) return;
        if (await yoga.answerDirectly(req, res)) {
          directly += 1;
          return;
        }
        throughYoga += 1;
        await yoga.handle(req, res);
      });
      listening.once('error', reject);
      listening.listen(0, '127.0.0.1', () =>
        resolve({ server: listening, url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}/graphql` }),
      );
    }));

  return {
    yoga,
    deps,
    gql,
    request,
    subscribe,
    /** The URL of /graphql on a node:http server of this handler (started on first call, closed by `close`). */
    url: async () => (await listen()).url,
    /** How many requests to that server reached yoga (the others were answered before it). */
    throughYoga: () => throughYoga,
    /** How many requests to that server the direct execution answered (src/graphql/direct-execution.ts). */
    directly: () => directly,
    /** Resolves once the handler hears credential events from other handlers. */
    ready: () => yoga.credentialEventsReady,
    close: async () => {
      const listening = await server;
      if (listening) {
        listening.server.closeAllConnections();
        await new Promise((resolve) => listening.server.close(resolve));
      }
      await yoga.dispose();
    },
    staffToken: (role: StaffRole, staffId = `staff-${role.toLowerCase()}`) => signStaffToken(TEST_JWT_SECRET, { staffId, role }),
    memberToken: (memberId: string) => signMemberToken(TEST_JWT_SECRET, { memberId }),
    apiKeyToken: async (scopes: ApiKeyScope[], name = 'test storefront') =>
      (await createApiKey(deps, { name, scopes }, { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' })).token,
    /** Enrols a member through the service and returns its id; `enrolledAt` (now by default) for a test on a clock of the past. */
    enroll: async (overrides: Partial<{ externalId: string; email: string; name: string; enrolledAt: Date }> = {}) => {
      const suffix = randomUUID().slice(0, 8);
      const member = await prisma.member.create({
        data: {
          externalId: overrides.externalId ?? `cust-${suffix}`,
          email: overrides.email ?? `member-${suffix}@example.com`,
          name: overrides.name ?? `Member ${suffix}`,
          enrolledAt: overrides.enrolledAt,
        },
      });
      return member.id;
    },
  };
}

/** The invariant every test ends with: stored balances equal what the ledger and lots say. */
export async function expectLedgerConsistent(prisma: PrismaClient): Promise<void> {
  const mismatches = await findLedgerMismatches({ prisma });
  if (mismatches.length > 0) throw new Error(`ledger mismatches: ${JSON.stringify(mismatches)}`);
}

/**
 * The frame of a test file on the database: a Prisma client on this worker's
 * database with an app on it, an empty database before each test, and the
 * ledger invariant checked after each; the client is closed after the file.
 */
export function useTestApp(poolSize?: number) {
  const prisma = createTestPrisma(poolSize);
  const app = createTestApp(prisma);
  afterAll(async () => prisma.$disconnect());
  beforeEach(async () => resetDatabase(prisma));
  afterEach(async () => expectLedgerConsistent(prisma));
  return { prisma, app };
}
