import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { addMonths } from '../../src/domain/time.js';
import { documentId } from '../../src/graphql/trusted-documents.js';
import { memberChangeChannel } from '../../src/live/member-change-bus.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createOutboxPublisher } from '../../src/queues/outbox-queues.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { MAINTENANCE_QUEUE } from '../../workers/maintenance.processor.js';
import { createTestApp, TEST_JWT_SECRET, testLogger, useTestApp, type GraphQLResponse } from '../support/app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { monitorRedis, subscribedListener } from '../support/redis-monitor.js';
import { until } from '../support/until.js';

/**
 * The members' response cache across API processes: two handlers (A and B) on one Redis, each with
 * its own connections as two API processes have, and the real worker wiring (workers/index.ts).
 * A read on A is cached; a change made through B or by a worker job is visible on A's very next read.
 */
const { prisma } = useTestApp();
const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
const STATUS_ID = documentId(STATUS);

let redis: Redis;
let workers: WorkersHandle;
let publisher: ReturnType<typeof createOutboxPublisher>;
let a: ReturnType<typeof createTestApp>;
let b: ReturnType<typeof createTestApp>;

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetRedis(redis);
  publisher = createOutboxPublisher({ redisUrl: testRedisUrl(), prefix: testQueuePrefix(), logger: testLogger });
  a = createTestApp(prisma, { redis: true });
  b = createTestApp(prisma, { redis: true, outbox: publisher });
  const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', QUEUE_PREFIX: testQueuePrefix() });
  workers = await startWorkers(
    { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
    { queues: ['compensation'], relay: false },
  );
});
afterAll(async () => {
  await workers.close();
  await publisher.close();
  await Promise.all([a.close(), b.close()]);
  await resetRedis(redis);
  redis.disconnect();
});

interface Status {
  name: string;
  status: string;
  tier: { key: string };
  balance: { available: number; pending: number; lifetime: number };
  vouchers: { edges: { node: { kind: string } }[] };
  ledger: { edges: { node: { kind: string; amount: number } }[] };
}

/** The app's status screen as the app sends it (its exact text), over HTTP to one handler (its cache's shortcut, then yoga). */
async function readStatus(app: ReturnType<typeof createTestApp>, token: string, headers: Record<string, string> = {}) {
  const response = await fetch(await app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query: STATUS, variables: {} }),
  });
  const body = (await response.json()) as GraphQLResponse<{ me: Status }>;
  expect(body.errors).toBeUndefined();
  return { me: body.data!.me, etag: response.headers.get('etag') };
}

/** A member whose cached status on A hides a change made behind the cache's back (a direct database write). */
async function cachedMember(seed?: (memberId: string) => Promise<void>) {
  const memberId = await a.enroll({ name: 'Before' });
  await seed?.(memberId);
  const token = await a.memberToken(memberId);
  const first = await readStatus(a, token);
  // Not a change the service makes: no event, so the cached answer stands on A and on B.
  await prisma.member.update({ where: { id: memberId }, data: { name: 'Behind the cache' } });
  expect((await readStatus(a, token)).me).toEqual(first.me);
  expect((await readStatus(b, token)).me).toEqual(first.me);
  return { memberId, token, first: first.me };
}

async function mutate(
  app: ReturnType<typeof createTestApp>,
  token: string,
  field: string,
  inputType: string,
  input: Record<string, unknown>,
) {
  const result = await app.gql(`mutation($i: ${inputType}!) { ${field}(input: $i) { __typename } }`, { i: input }, token);
  expect(result.errors).toBeUndefined();
  return (result.data as Record<string, { __typename: string }>)[field]!.__typename;
}

async function jobDone(queue: string, jobId: string) {
  const handle = new Queue(queue, { connection: redis, prefix: testQueuePrefix() });
  try {
    await until(async () => (await (await handle.getJob(jobId))?.getState()) === 'completed', 20_000, 20, `${queue} job ${jobId}`);
  } finally {
    await handle.close();
  }
}

describe('member status from the shared response cache', () => {
  it('an earn through API B is on the very next read on API A', async () => {
    const { memberId, token } = await cachedMember();
    const shop = await b.apiKeyToken(['points:earn']);
    const order = { reference: 'order-1', total: { amount: '25.00', currency: 'EUR' } };
    expect(await mutate(b, shop, 'earnPoints', 'EarnPointsInput', { memberId, order, idempotencyKey: 'order-1' })).toBe(
      'EarnPointsPayload',
    );
    const next = (await readStatus(a, token)).me;
    expect(next.balance.pending).toBe(25);
    expect(next.ledger.edges[0]!.node).toMatchObject({ kind: 'EARN', amount: 25 });
    // The whole answer is fresh, not only what the change touched.
    expect(next.name).toBe('Behind the cache');
  });

  it('an earn makes its member stale and tells live screens in one command: the script publishes, after the bump', async () => {
    const { memberId, token } = await cachedMember();
    const shop = await b.apiKeyToken(['points:earn']);
    const channel = memberChangeChannel(testQueuePrefix());
    const listener = await subscribedListener(redis, channel);
    const { heard } = listener;
    // Every command Redis runs, with who sent it: a client's address, or "lua" for a command a script runs.
    const monitor = await monitorRedis(testRedisUrl());
    const { seen } = monitor;
    const isPublish = (args: string[]) => args[0]?.toLowerCase() === 'publish' && args[1] === channel;
    try {
      const order = { reference: 'one-command', total: { amount: '25.00', currency: 'EUR' } };
      expect(await mutate(b, shop, 'earnPoints', 'EarnPointsInput', { memberId, order, idempotencyKey: 'one-command' })).toBe(
        'EarnPointsPayload',
      );
      // The bus's own wire format, as listeners (src/live/member-status-stream.ts) read it.
      const wire = JSON.stringify([[memberId, 'EARNED', 'one-command']]);
      await until(() => heard.includes(wire) && seen.some(({ args }) => isPublish(args)), 5_000, 20, 'the live message');
      expect(heard).toEqual([wire]);
      const publishes = seen.filter(({ args }) => isPublish(args)).map(({ args, source }) => ({ message: args[2], source }));
      expect(publishes).toEqual([{ message: wire, source: 'lua' }]);
      // Inside the script the member's cached answers are stale before the message goes out.
      const lua = seen.filter(({ source }) => source === 'lua').map(({ args }) => args);
      const bump = lua.findIndex(
        (args) => args[0]?.toLowerCase() === 'hset' && args[1] === `${testQueuePrefix()}:response-cache:member:${memberId}`,
      );
      expect(bump).toBeGreaterThanOrEqual(0);
      expect(bump).toBeLessThan(lua.findIndex(isPublish));
    } finally {
      monitor.stop();
      listener.stop();
    }
    expect((await readStatus(a, token)).me.balance.pending).toBe(25);
  });

  it('a redeem through API B is on the very next read on API A', async () => {
    const admin = await b.staffToken('ADMIN');
    const { memberId, token, first } = await cachedMember(async (memberId) => {
      await mutate(b, admin, 'adjustPoints', 'AdjustPointsInput', { memberId, points: 100, reason: 'seed', idempotencyKey: 'seed' });
    });
    expect(first.balance.available).toBe(100);
    const shop = await b.apiKeyToken(['points:redeem']);
    expect(await mutate(b, shop, 'redeemPoints', 'RedeemPointsInput', { memberId, points: 40, idempotencyKey: 'r-1' })).toBe(
      'RedeemPointsPayload',
    );
    expect((await readStatus(a, token)).me.balance.available).toBe(60);
  });

  it('a compensation voucher issued by the worker is on the next read on API A once the job is done', async () => {
    const { memberId, token, first } = await cachedMember();
    expect(first.vouchers.edges).toEqual([]);
    const shop = await b.apiKeyToken(['failures:report']);
    const input = { memberId, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'late-1', idempotencyKey: 'late-1' };
    expect(await mutate(b, shop, 'reportServiceFailure', 'ReportServiceFailureInput', input)).toBe('ReportServiceFailurePayload');
    const failure = await prisma.serviceFailure.findFirstOrThrow({ where: { memberId } });
    await jobDone('compensation', failure.id);
    expect((await readStatus(a, token)).me.vouchers.edges.map((edge) => edge.node.kind)).toEqual(['COMPENSATION']);
  });

  it('a tier change and an expiry by the maintenance job are on the next read on API A', async () => {
    const longAgo = addMonths(new Date(), -25);
    const shop = await b.apiKeyToken(['points:earn']);
    const { token, first } = await cachedMember(async (memberId) => {
      // Points earned 25 months ago (due to expire) and a tier reached 13 months ago (due for review).
      await b.request(
        `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`,
        { i: { memberId, order: { reference: 'old', total: { amount: '30.00', currency: 'EUR' } }, idempotencyKey: 'old' } },
        { token: shop },
      );
      await prisma.$executeRaw`UPDATE point_lots SET created_at = ${longAgo}, expires_at = ${addMonths(longAgo, 24)}, available_at = ${longAgo} WHERE member_id = ${memberId}::uuid`;
      await prisma.member.update({ where: { id: memberId }, data: { tier: 'SILVER', tierSince: addMonths(new Date(), -13) } });
    });
    expect(first.tier.key).toBe('SILVER');
    expect(first.balance.pending + first.balance.available).toBe(30);

    const maintenance = new Queue(MAINTENANCE_QUEUE, { connection: redis, prefix: testQueuePrefix() });
    const job = await maintenance.add('points-maintenance', {});
    await maintenance.close();
    await jobDone(MAINTENANCE_QUEUE, job.id!);
    const next = (await readStatus(a, token)).me;
    expect(next.tier.key).toBe('BRONZE');
    expect(next.balance.pending + next.balance.available).toBe(0);
  });

  it('a tier review that keeps the tier (a new tierSince, the next review a year on) is on the next read on API A', async () => {
    const shop = await b.apiKeyToken(['points:earn']);
    const reachedAt = addMonths(new Date(), -13);
    const { memberId, token, first } = await cachedMember(async (memberId) => {
      // Enough qualifying points to keep SILVER, reached 13 months ago: due for review.
      const order = { reference: 'big', total: { amount: '1200.00', currency: 'EUR' } };
      expect(await mutate(b, shop, 'earnPoints', 'EarnPointsInput', { memberId, order, idempotencyKey: 'big' })).toBe('EarnPointsPayload');
      await prisma.member.update({ where: { id: memberId }, data: { tier: 'SILVER', tierSince: reachedAt } });
    });
    expect(first.tier.key).toBe('SILVER');

    const maintenance = new Queue(MAINTENANCE_QUEUE, { connection: redis, prefix: testQueuePrefix() });
    const job = await maintenance.add('points-maintenance', {});
    await maintenance.close();
    await jobDone(MAINTENANCE_QUEUE, job.id!);
    const review = await prisma.tierChange.findFirstOrThrow({ where: { memberId }, orderBy: { createdAt: 'desc' } });
    expect(review.reason).toBe('RETAINED');
    const next = (await readStatus(a, token)).me;
    expect(next.tier.key).toBe('SILVER');
    expect(next.name).toBe('Behind the cache');
  });

  it("a member never receives another member's cached answer, and staff are not served from it", async () => {
    const one = await cachedMember();
    const other = await a.enroll({ name: 'Other' });
    const otherStatus = (await readStatus(a, await a.memberToken(other))).me;
    expect(otherStatus.name).toBe('Other');
    // Staff asking for the same member with the same document get the database's answer.
    const agent = await a.gql<{ member: Status }>(
      STATUS.replace(/me \{/, 'member(id: $id) {').replace('query StatusScreen', 'query StatusScreen($id: ID!)'),
      { id: one.memberId },
      await a.staffToken('AGENT'),
    );
    expect(agent.errors).toBeUndefined();
    expect(agent.data!.member.name).toBe('Behind the cache');
  });

  it('a query that is not a trusted document is not cached', async () => {
    const memberId = await a.enroll({ name: 'Before' });
    const token = await a.memberToken(memberId);
    const ask = async () => (await a.gql<{ me: { name: string } }>('{ me { name } }', {}, token)).data!.me.name;
    expect(await ask()).toBe('Before');
    await prisma.member.update({ where: { id: memberId }, data: { name: 'After' } });
    expect(await ask()).toBe('After');
  });

  it('a program change by an admin makes every cached answer stale', async () => {
    const { token, first } = await cachedMember();
    expect(first.name).toBe('Before');
    const admin = await b.staffToken('ADMIN');
    expect(await mutate(b, admin, 'updateProgram', 'UpdateProgramInput', { returnWindowDays: 15 })).toBe('UpdateProgramPayload');
    expect((await readStatus(a, token)).me.name).toBe('Behind the cache');
  });

  // The service reports the change, not the document: how the admin wrote the mutation does not matter.
  it.each([
    ['inside an inline fragment', `mutation($i: UpdateProgramInput!) { ... on Mutation { updateProgram(input: $i) { __typename } } }`],
    [
      'inside a named fragment',
      `mutation Change($i: UpdateProgramInput!) { ...Change } fragment Change on Mutation { updateProgram(input: $i) { __typename } }`,
    ],
    [
      'beside a field of its answer that fails',
      `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
        ... on UpdateProgramPayload { program { version changes(first: -1) { totalCount } } } } }`,
    ],
  ])('a program change written %s makes every cached answer stale', async (_, document) => {
    const { token } = await cachedMember();
    const admin = await b.staffToken('ADMIN');
    const { version } = await prisma.program.findUniqueOrThrow({ where: { id: 1 } });
    await b.gql(document, { i: { returnWindowDays: 10 + (version % 20) } }, admin);
    expect((await prisma.program.findUniqueOrThrow({ where: { id: 1 } })).version).toBe(version + 1);
    expect((await readStatus(a, token)).me.name).toBe('Behind the cache');
  });
});

describe('ETag and 304 for the status query', () => {
  it('answers 304 without a body while the member is unchanged, by POST and by GET with the document id', async () => {
    const { memberId, token } = await cachedMember();
    const { etag } = await readStatus(a, token);
    expect(etag).toMatch(/^"[\w-]+"$/);

    const post = await a.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'if-none-match': etag! },
      body: JSON.stringify({ query: STATUS }),
    });
    expect(post.status).toBe(304);
    expect(await post.text()).toBe('');
    expect(post.headers.get('etag')).toBe(etag);
    expect(post.headers.get('cache-control')).toBe('private, no-cache');

    const get = async (tag: string) =>
      a.yoga.fetch(`http://yoga/graphql?documentId=${STATUS_ID}`, {
        method: 'GET',
        headers: { accept: 'application/graphql-response+json', authorization: `Bearer ${token}`, 'if-none-match': tag },
      });
    const unchanged = await get(etag!);
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');

    const shop = await b.apiKeyToken(['points:earn']);
    const order = { reference: 'order-1', total: { amount: '10.00', currency: 'EUR' } };
    await mutate(b, shop, 'earnPoints', 'EarnPointsInput', { memberId, order, idempotencyKey: 'order-1' });
    const changed = await get(etag!);
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(((await changed.json()) as { data: { me: Status } }).data.me.balance.pending).toBe(10);
  });

  it('another member with the same tag gets a full answer', async () => {
    const { etag } = await readStatus(a, await a.memberToken(await a.enroll({ name: 'Same' })));
    const other = await a.request(
      STATUS,
      {},
      { token: await a.memberToken(await a.enroll({ name: 'Other' })), headers: { 'if-none-match': etag! } },
    );
    expect(other.status).toBe(200);
    expect((other.body.data as { me: Status }).me.name).toBe('Other');
  });
});
