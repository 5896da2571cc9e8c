import { encodeGlobalID } from '@pothos/plugin-relay';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler } from '../../src/app.js';
import type { Caller } from '../../src/auth/principal.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { memberChangeChannel } from '../../src/live/member-change-bus.js';
import { MemberStatusStream } from '../../src/live/member-status-stream.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { serviceEnv } from '../support/built-service-env.js';
import { createTestApp, TEST_JWT_SECRET, testConfig, testLogger, useTestApp } from '../support/app.js';
import { createTestPrisma, resetDatabase, resetRedis, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { freePort, killServiceProcesses, startServiceProcess, until } from '../support/processes.js';
import { readSse, subscriptionRequest, type SseSubscription } from '../support/sse.js';
import { signMemberToken } from '../../src/auth/tokens.js';

const STATUS = `subscription($m: ID) { memberStatusChanged(memberId: $m) {
  change { kind reference } changes { kind reference }
  member { id status tier { key } balance { available pending } vouchers(first: 5) { edges { node { id kind } } } } } }`;

const SHOP: Caller = { actor: { type: 'API_KEY', id: 'shop' }, scopes: new Set(['points:earn', 'failures:report']) };

type StatusEvent = {
  change: { kind: string; reference: string | null };
  changes: { kind: string; reference: string | null }[];
  member: {
    id: string;
    status: string;
    balance: { available: number; pending: number };
    vouchers: { edges: { node: { id: string; kind: string } }[] };
  };
};
const eventOf = (result: { data?: Record<string, unknown> | null }) => result.data!.memberStatusChanged as StatusEvent;

describe('memberStatusChanged in one API process', () => {
  const { app, prisma: db } = useTestApp();
  const open: SseSubscription[] = [];
  const subscribe = async (variables: Record<string, unknown>, token: string) => {
    const stream = await app.subscribe(STATUS, variables, token);
    open.push(stream);
    return stream;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((stream) => stream.close()));
  });
  const earn = (memberId: string, orderRef: string, orderTotal = '25.00') =>
    earnPoints(app.deps, { memberId, orderRef, orderTotal, idempotencyKey: orderRef }, SHOP);

  it('opens with the current status, then sends each committed change with its cause', async () => {
    const memberId = await app.enroll();
    await earn(memberId, 'before');
    const stream = await subscribe({}, await app.memberToken(memberId));
    const first = await stream.result(0);
    expect(first.errors).toBeUndefined();
    expect(eventOf(first)).toMatchObject({
      change: { kind: 'CURRENT', reference: null },
      member: { id: encodeGlobalID('Member', memberId), balance: { pending: 25 } },
    });

    const shop = await app.apiKeyToken(['points:earn']);
    const earned = await app.gql(
      `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`,
      { i: { memberId, orderRef: 'order-1', orderTotal: '10.00', idempotencyKey: 'order-1' } },
      shop,
    );
    expect(earned.data!.earnPoints.__typename).toBe('EarnPointsPayload');
    expect(eventOf(await stream.result(1))).toMatchObject({
      change: { kind: 'EARNED', reference: 'order-1' },
      member: { balance: { pending: 35 } },
    });
  });

  it('a replayed request changes nothing and sends nothing; the next real change does', async () => {
    const memberId = await app.enroll();
    const stream = await subscribe({}, await app.memberToken(memberId));
    await stream.result(0);
    await earn(memberId, 'once');
    await earn(memberId, 'once'); // same key: a replay
    await earn(memberId, 'twice');
    const second = eventOf(await stream.result(1));
    const events = [second, ...(second.changes.length === 2 ? [] : [eventOf(await stream.result(2))])];
    expect(events.flatMap((event) => event.changes.map((change) => change.reference))).toEqual(['once', 'twice']);
    expect(events.at(-1)!.member.balance.pending).toBe(50);
  });

  it("another member's id answers exactly as a missing member does; staff and members:read keys may watch anyone", async () => {
    const a = await app.enroll();
    const b = await app.enroll();
    const tokenA = await app.memberToken(a);
    const other = await (await subscribe({ m: b }, tokenA)).result(0);
    const missing = await (await subscribe({ m: '00000000-0000-4000-8000-000000000000' }, tokenA)).result(0);
    expect(other).toEqual(missing);
    expect(other.data ?? null).toBeNull();
    expect(other.errors).toEqual([expect.objectContaining({ message: 'Member not found', extensions: { code: 'NOT_FOUND' } })]);

    // Their own id, global or raw, is theirs.
    const own = eventOf(await (await subscribe({ m: encodeGlobalID('Member', a) }, tokenA)).result(0));
    expect(own.member.id).toBe(encodeGlobalID('Member', a));

    const agent = await subscribe({ m: b }, await app.staffToken('AGENT'));
    const crm = await subscribe({ m: b }, await app.apiKeyToken(['members:read']));
    for (const stream of [agent, crm]) expect(eventOf(await stream.result(0)).member.id).toBe(encodeGlobalID('Member', b));
    await earn(b, 'seen-by-staff');
    for (const stream of [agent, crm])
      expect(eventOf(await stream.result(1)).change).toEqual({ kind: 'EARNED', reference: 'seen-by-staff' });

    const storefront = await (await subscribe({ m: b }, await app.apiKeyToken(['points:earn']))).result(0);
    expect(storefront.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('a voucher issued by the compensation worker arrives as VOUCHER_ISSUED', async () => {
    const memberId = await app.enroll();
    const stream = await subscribe({}, await app.memberToken(memberId));
    await stream.result(0);
    const { failureId } = await reportServiceFailure(
      app.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'late-1', idempotencyKey: 'late-1' },
      SHOP,
    );
    const outcome = await processCompensation({ failureId }, app.deps);
    expect(outcome.outcome).toBe('COMPENSATED');
    const event = eventOf(await stream.result(1));
    const voucherId = (outcome as { voucherId: string }).voucherId;
    expect(event.change).toEqual({ kind: 'VOUCHER_ISSUED', reference: voucherId });
    expect(event.member.vouchers.edges.map((edge) => edge.node)).toEqual([
      { id: encodeGlobalID('Voucher', voucherId), kind: 'COMPENSATION' },
    ]);
  });

  it("closing the member ends the member's own stream; staff watching it see the status change", async () => {
    const memberId = await app.enroll();
    const own = await subscribe({}, await app.memberToken(memberId));
    const staff = await subscribe({ m: memberId }, await app.staffToken('AGENT'));
    await Promise.all([own.result(0), staff.result(0)]);
    const closed = await app.gql(
      `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename } }`,
      { i: { id: memberId, status: 'CLOSED' } },
      await app.staffToken('SUPERVISOR'),
    );
    expect(closed.data!.updateMember.__typename).toBe('UpdateMemberPayload');
    await own.ended();
    expect(own.results).toHaveLength(1);
    expect(eventOf(await staff.result(1))).toMatchObject({
      change: { kind: 'STATUS_CHANGED', reference: 'CLOSED' },
      member: { status: 'CLOSED' },
    });
    expect(staff.completed).toBe(false);
  });

  it('revoking the API key ends its streams', async () => {
    const memberId = await app.enroll();
    const { apiKey, token } = await createApiKey(
      app.deps,
      { name: 'crm', scopes: ['members:read'] },
      { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
    );
    const stream = await subscribe({ m: memberId }, token);
    await stream.result(0);
    const revoked = await app.gql(
      `mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { __typename } }`,
      { i: { id: apiKey.id } },
      await app.staffToken('ADMIN'),
    );
    expect(revoked.data!.revokeApiKey.__typename).toBe('RevokeApiKeyPayload');
    await stream.ended();
  });

  it('after the change channel was lost and is back, every stream sends the current status again', async () => {
    const withRedis = createTestApp(db, { redis: true });
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    try {
      await withRedis.yoga.memberChangesReady;
      const memberId = await withRedis.enroll();
      const stream = await withRedis.subscribe(STATUS, {}, await withRedis.memberToken(memberId));
      open.push(stream);
      await stream.result(0);
      // Drop this handler's listening connection, as a Redis restart or a network cut does.
      const name = `${memberChangeChannel(testQueuePrefix())}:listener`;
      const clients = String(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
      const id = clients
        .split('\n')
        .find((line) => line.includes(` name=${name} `))
        ?.match(/^id=(\d+)/)?.[1];
      expect(id).toBeDefined();
      await redis.call('CLIENT', 'KILL', 'ID', id!);
      expect(eventOf(await stream.result(1)).change).toEqual({ kind: 'CURRENT', reference: null });
    } finally {
      redis.disconnect();
      await withRedis.close();
    }
  });

  it('a caller may hold a few streams per API process, not more; a closed one frees its place', async () => {
    const memberId = await app.enroll();
    const token = await app.memberToken(memberId);
    const streams = await Promise.all(Array.from({ length: 5 }, () => subscribe({}, token)));
    for (const stream of streams) expect(eventOf(await stream.result(0)).change.kind).toBe('CURRENT');
    const sixth = await (await subscribe({}, token)).result(0);
    expect(sixth.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    await streams[0]!.close();
    await until(
      async () => {
        const again = await (await subscribe({}, token)).result(0);
        return again.errors === undefined;
      },
      5_000,
      20,
      'a place for a new stream',
    );
  });

  it('a variable of the wrong type answers BAD_USER_INPUT, as the same variable does in a query', async () => {
    const memberId = await app.enroll();
    const staff = await app.staffToken('AGENT');
    const query = await app.gql('query($m: ID!) { member(id: $m) { id } }', { m: [memberId] }, staff);
    expect(query.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    for (const m of [[memberId], { id: memberId }]) {
      const first = await (await subscribe({ m }, staff)).result(0);
      expect(first.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
      expect(first.errors?.[0]?.message).toMatch(/Variable "\$m" got invalid value/);
    }
  });

  it('a variable of the wrong type logs nothing at error level: nothing a client sends produces an error line', async () => {
    const lines: { level: number; msg?: string }[] = [];
    const logger = pino(
      { level: 'error' },
      { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg?: string }) },
    );
    const yoga = createGraphQLHandler({ config: testConfig, logger, prisma: db });
    try {
      const staff = await app.staffToken('AGENT');
      const stream = readSse(await yoga.fetch('http://yoga/graphql', subscriptionRequest(STATUS, { m: ['x'] }, staff)));
      open.push(stream);
      await stream.result(0);
      expect(lines.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual([]);
    } finally {
      await yoga.dispose();
    }
  });
});

describe('MemberStatusStream', () => {
  it('coalesces changes that arrive while the previous event is being sent into one event', async () => {
    const stream = new MemberStatusStream('m-1');
    expect((await stream.next()).value?.changes).toEqual([{ kind: 'CURRENT', reference: null }]);
    for (let i = 0; i < 150; i++) stream.push({ kind: 'EARNED', reference: `order-${i}` });
    const burst = (await stream.next()).value!;
    // One read for the whole burst; the oldest changes beyond the last 100 are dropped.
    expect(burst.changes).toHaveLength(100);
    expect(burst.changes.at(-1)).toEqual({ kind: 'EARNED', reference: 'order-149' });
    const waiting = stream.next();
    await stream.return();
    expect(await waiting).toEqual({ done: true, value: undefined });
  });
});

// Two API processes and a worker process on this test worker's database and Redis, as production runs them.
describe('memberStatusChanged across processes', () => {
  let prisma: ReturnType<typeof createTestPrisma>;
  let redis: Redis;
  beforeAll(async () => {
    prisma = createTestPrisma();
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    await resetDatabase(prisma);
    await resetRedis(redis);
  });
  afterEach(() => killServiceProcesses());
  afterAll(async () => {
    await resetRedis(redis);
    redis.disconnect();
    await prisma.$disconnect();
  });

  const env = () => serviceEnv({ DATABASE_POOL_SIZE: '4' });
  const startApi = async () => {
    const port = await freePort();
    const api = startServiceProcess('src/main.ts', {
      ...env(),
      TREUE_ROLE: 'api',
      PORT: String(port),
      HOST: '127.0.0.1',
      WEB_CONCURRENCY: '1',
    });
    await api.waitForLine(/Treue ready: GraphQL at/, 60_000);
    return { api, url: `http://127.0.0.1:${port}/graphql` };
  };

  it(
    'a subscriber on API A hears an earn made through API B, and a voucher issued by the worker process',
    { timeout: 180_000 },
    async () => {
      const [a, b] = await Promise.all([startApi(), startApi()]);
      const workers = startServiceProcess('workers/main.ts', env());
      await workers.waitForLine(/worker process ready/, 60_000);
      const member = await prisma.member.create({ data: { externalId: 'live-1', email: 'live-1@example.com', name: 'Live' } });
      const { token: shop } = await createApiKey(
        { prisma, logger: testLogger },
        { name: 'shop', scopes: ['points:earn', 'failures:report'] },
        { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
      );
      const memberToken = await signMemberToken(TEST_JWT_SECRET, { memberId: member.id });
      const stream = readSse(await fetch(a.url, subscriptionRequest(STATUS, {}, memberToken)));
      try {
        expect(eventOf(await stream.result(0)).change.kind).toBe('CURRENT');
        const post = (query: string, variables: Record<string, unknown>) =>
          fetch(b.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${shop}` },
            body: JSON.stringify({ query, variables }),
          }).then((response) => response.json() as Promise<{ data: Record<string, { __typename: string } | undefined> }>);

        // API A said it was ready only once it heard member changes: one earn on B is enough.
        const earnedOnB = await post(`mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`, {
          i: { memberId: member.id, orderRef: 'order-1', orderTotal: '20.00', idempotencyKey: 'order-1' },
        });
        expect(earnedOnB.data.earnPoints?.__typename).toBe('EarnPointsPayload');
        await stream.result(1, 10_000);
        const earned = eventOf(stream.results[1]!);
        expect(earned).toMatchObject({ change: { kind: 'EARNED', reference: 'order-1' }, member: { balance: { pending: 20 } } });

        const reported = await post(`mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) { __typename } }`, {
          i: { memberId: member.id, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'late-1', idempotencyKey: 'late-1' },
        });
        expect(reported.data.reportServiceFailure?.__typename).toBe('ReportServiceFailurePayload');
        const voucher = await until(
          () => stream.results.map(eventOf).find((event) => event.changes.some((change) => change.kind === 'VOUCHER_ISSUED')),
          30_000,
          20,
          'the compensation voucher on A',
        );
        expect(voucher.member.vouchers.edges.map((edge) => edge.node.kind)).toEqual(['COMPENSATION']);
        // Stopping API A completes its streams (the app reconnects to another process) instead of holding the drain.
        a.api.kill('SIGTERM');
        await stream.ended(15_000);
      } finally {
        await stream.close();
      }
      for (const process of [b.api, workers]) process.kill('SIGTERM');
      for (const process of [a.api, b.api, workers]) expect(await process.exited).toEqual({ code: 0, signal: null });
    },
  );
});
