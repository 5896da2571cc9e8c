import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import { readSse, subscriptionRequest, type SseSubscription } from '../support/sse.js';
import { until } from '../support/until.js';

/**
 * The live streams (memberStatusChanged, approvalQueueChanged) as a denial-of-service surface (audit): what one
 * caller may hold open, however it asks, and what a stream's document may cost for every event it sends.
 */
const { prisma } = useTestApp();
const app = createTestApp(prisma, { env: { NODE_ENV: 'production' } });
afterAll(async () => app.close());
const open: SseSubscription[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((stream) => stream.close()));
  await until(() => app.yoga.live.size === 0, 5_000, 10, 'every stream to end');
});

const subscribe = async (query: string, variables: Record<string, unknown>, token: string) => {
  const stream = await app.subscribe(query, variables, token);
  open.push(stream);
  return stream;
};

/** Contracts and their renewals: 20 × 20 rows read again for every event when the page sizes are left out. */
const CONTRACTS = (page: string) =>
  `subscription { memberStatusChanged { member { contracts${page} { edges { node { id plan renewals${page} { edges { node { id } } } } } } } } }`;

describe('what a live stream may cost', () => {
  it('a stream whose document reads more than the cost limit allows is refused, page sizes written, sent as variables or left out', async () => {
    const token = await app.memberToken(await app.enroll());
    // The control: written out, armor refuses it at validation.
    const written = await (await subscribe(CONTRACTS('(first: 20)'), {}, token)).result(0);
    expect(written.errors?.[0]?.message).toMatch(/cost/i);
    const variables = `subscription($n: Int) { memberStatusChanged { member { contracts(first: $n) { edges { node { id plan renewals(first: $n) { edges { node { id } } } } } } } } }`;
    for (const [query, values] of [
      [variables, { n: 20 }],
      [CONTRACTS(''), {}],
    ] as const) {
      const answer = await (await subscribe(query, values, token)).result(0);
      expect(answer.errors?.[0]?.message, JSON.stringify(answer)).toMatch(/cost/i);
      expect(answer.data ?? null).toBeNull();
    }
    expect(app.yoga.live.size).toBe(0);
  });
});

describe('how many streams one caller holds', () => {
  const STATUS = 'subscription { memberStatusChanged { change { kind } } }';
  const QUEUE = 'subscription { approvalQueueChanged { change { kind } } }';

  // Streams are sent as Server-Sent Events only: any other Accept is answered 406 once the stream is open.
  it('a stream asked for with an Accept it is not sent in (406) keeps no place, memberStatusChanged and approvalQueueChanged', async () => {
    const token = await app.memberToken(await app.enroll());
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-406');
    const notSent = async (query: string, credentials: string) => {
      for (const accept of ['application/json', 'application/graphql-response+json', 'multipart/mixed', 'text/html']) {
        const init = subscriptionRequest(query, {}, credentials);
        const response = await app.yoga.fetch('http://yoga/graphql', {
          ...init,
          headers: { ...(init.headers as Record<string, string>), accept },
        });
        expect(response.status, accept).toBe(406);
        await response.body?.cancel();
      }
    };
    for (let i = 0; i < 2; i++) await notSent(STATUS, token);
    for (let i = 0; i < 2; i++) await notSent(QUEUE, supervisor);
    expect(app.yoga.live.size).toBe(0);
    // The supervisor still has all 5 places in the queue.
    const queues = await Promise.all(Array.from({ length: 5 }, () => subscribe(QUEUE, {}, supervisor)));
    for (const stream of queues) expect((await stream.result(0)).errors).toBeUndefined();
    // The caller still has all 5 places.
    const streams = await Promise.all(Array.from({ length: 5 }, () => subscribe(STATUS, {}, token)));
    for (const stream of streams) expect((await stream.result(0)).errors).toBeUndefined();
  });

  it('a GET stream counts as a POST one does', async () => {
    const token = await app.memberToken(await app.enroll());
    const get = async () =>
      readSse(
        await app.yoga.fetch(`http://yoga/graphql?query=${encodeURIComponent(STATUS)}`, {
          headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
        }),
      );
    const streams = await Promise.all(Array.from({ length: 5 }, get));
    open.push(...streams);
    for (const stream of streams) expect((await stream.result(0)).errors).toBeUndefined();
    const sixth = await get();
    open.push(sixth);
    expect((await sixth.result(0)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  it('anonymous callers hold no stream', async () => {
    const answer = await readSse(await app.yoga.fetch('http://yoga/graphql', subscriptionRequest(STATUS, {}, undefined))).result(0);
    expect(answer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(app.yoga.live.size).toBe(0);
  });
});
