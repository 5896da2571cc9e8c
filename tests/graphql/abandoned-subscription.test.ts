import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Plugin } from 'graphql-yoga';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { createTestPrisma } from '../support/db.js';
import { readSse, subscriptionRequest, type SseSubscription } from '../support/sse.js';
import { until, untilWaitingForLocks } from '../support/until.js';

/**
 * A client that goes away while its subscription is still being set up (the member lookup or the API key check waits
 * on the database): node:http sees the response closed before anything was sent, so nobody reads the stream and
 * nobody returns it (@whatwg-node/server does not cancel the body of a closed response). The request's signal is
 * aborted then: the stream must end by it and free its place, or it stays open for good.
 */
const STATUS = 'subscription($m: ID) { memberStatusChanged(memberId: $m) { change { kind } } }';
const QUEUE = 'subscription { approvalQueueChanged { change { kind } } }';

describe('a subscription whose client left before the stream started', () => {
  const { prisma } = useTestApp();
  // Counts subscriptions whose subscribe resolver has returned (the stream exists, or was refused).
  let subscribed = 0;
  const observer: Plugin = { onSubscribe: () => ({ onSubscribeResult: () => void subscribed++ }) };
  const app = createTestApp(prisma, { tracing: observer });
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => app.close());

  /** The handler on a node:http server as startApi mounts it for SSE (the fast paths never take an event stream). */
  async function serve(): Promise<{ url: string; closedResponses: () => number }> {
    let closed = 0;
    const server: Server = createServer((req, res) => {
      res.on('close', () => void closed++);
      void app.yoga.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, closedResponses: () => closed };
  }

  /** Holds `table` locked from another session until the returned release is called. */
  async function lockTable(table: string): Promise<() => Promise<void>> {
    const holder = createTestPrisma(1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const held = holder.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
        locked();
        await gate;
      },
      { timeout: 60_000 },
    );
    await isLocked;
    let released = false;
    const done = async () => {
      if (released) return;
      released = true;
      release();
      await held;
      await holder.$disconnect();
    };
    cleanups.push(done);
    return done;
  }

  /** Opens a subscription, gives up on it while the server waits on the locked table, then lets the server go on. */
  async function abandon(url: string, closedResponses: () => number, query: string, variables: object, token: string, table: string) {
    const release = await lockTable(table);
    const client = new AbortController();
    const request = fetch(url, { ...subscriptionRequest(query, { ...variables }, token), signal: client.signal }).catch(() => undefined);
    await untilWaitingForLocks(prisma, 1, 'the subscription to wait on the locked table');
    client.abort();
    await request;
    // The server saw the client go before it had anything to send.
    await until(() => closedResponses() === 1, 5_000, 10, 'the server to see the client leave');
    const before = subscribed;
    await release();
    // The server finishes setting the subscription up, for a client that is gone.
    await until(() => subscribed > before, 5_000, 10, 'the abandoned subscription to be set up');
  }

  const open = async (url: string, query: string, variables: object, token: string): Promise<SseSubscription> => {
    const stream = readSse(await fetch(url, subscriptionRequest(query, { ...variables }, token)));
    cleanups.push(() => stream.close());
    return stream;
  };

  it('memberStatusChanged: the abandoned stream is ended and its place freed (a CRM key may still open its 5 streams)', async () => {
    const { url, closedResponses } = await serve();
    const memberId = await app.enroll();
    const crm = await app.apiKeyToken(['members:read'], 'helpdesk');
    // The member lookup of the subscription (memberToWatch) waits on the members table.
    await abandon(url, closedResponses, STATUS, { m: memberId }, crm, 'members');

    // Nobody reads that stream: it must not stay open in this process (its bus listener, its re-check timer).
    await until(() => app.yoga.live.size === 0, 3_000, 20, 'the abandoned stream to end').catch(() => undefined);
    expect(app.yoga.live.size).toBe(0);

    // And it must not count against the key: 5 streams per caller.
    const firsts: string[] = [];
    for (let i = 0; i < 5; i++) {
      const first = await (await open(url, STATUS, { m: memberId }, crm)).result(0);
      firsts.push((first.errors?.[0]?.extensions?.code as string | undefined) ?? 'OK');
    }
    expect(firsts).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
  });

  it('approvalQueueChanged: the abandoned stream does not keep its place (an admin key may still open its 5 streams)', async () => {
    const { url, closedResponses } = await serve();
    const { token } = await createApiKey(app.deps, { name: 'automation', scopes: ['admin'] }, staffCaller('ADMIN'));
    // The key's first use is checked against the database (api_keys), before the subscription starts.
    await abandon(url, closedResponses, QUEUE, {}, token, 'api_keys');

    const firsts: string[] = [];
    for (let i = 0; i < 5; i++) {
      const first = await (await open(url, QUEUE, {}, token)).result(0);
      firsts.push((first.errors?.[0]?.extensions?.code as string | undefined) ?? 'OK');
    }
    expect(firsts).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
  });
});
