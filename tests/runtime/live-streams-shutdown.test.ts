// No useTestApp(): a real HTTP server (startApi) per test, on a Prisma client of its own.
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../src/app.js';
import { signStaffToken } from '../../src/auth/tokens.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { TEST_JWT_SECRET, testApiConfig, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

// What open live streams do when an API process stops (deploy, scale-in): docs/live-status.md promises that it
// completes them before draining, so that the app reconnects and lands on another process; and whatever a client
// opens during the drain must not hold the process (docs/operations.md, Stopping).
const STATUS = 'subscription($m: ID) { memberStatusChanged(memberId: $m) { change { kind } } }';
const QUEUE = 'subscription { approvalQueueChanged { change { kind } } }';

let prisma: PrismaClient;
beforeAll(async () => {
  prisma = createTestPrisma();
  await resetDatabase(prisma);
});
afterAll(async () => prisma.$disconnect());

/** An SSE response read off a node:http client request: its text so far and how it ended. */
interface RawStream {
  status: number;
  text: () => string;
  /** 'end' when the server finished the response; 'aborted' / 'error …' when the connection was cut. */
  ending: Promise<string>;
  ended: () => string | undefined;
}

function openStream(agent: Agent, url: string, query: string, variables: object, token: string): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      },
      (res) => {
        let text = '';
        let how: string | undefined;
        const ending = new Promise<string>((done) => {
          const finish = (why: string) => {
            how ??= why;
            done(how);
          };
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => finish('end'));
          res.on('aborted', () => finish('aborted'));
          res.on('error', (error) => finish(`error ${error.message}`));
        });
        resolve({ status: res.statusCode ?? 0, text: () => text, ending, ended: () => how });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ query, variables }));
  });
}

/** A plain GraphQL POST on `agent`, its body read to the end (so that the agent keeps the connection for the next). */
function answer(agent: Agent, url: string, query: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ query }));
  });
}

describe('live streams when the API process stops', () => {
  it(
    'an open approval queue is completed at once, as member status streams are, not cut after the drain timeout',
    { timeout: 60_000 },
    async () => {
      const api = await startApi({ config: testApiConfig(), logger: testLogger, prisma, redisUrl: testRedisUrl() });
      const agent = new Agent({ keepAlive: true });
      try {
        const supervisor = await signStaffToken(TEST_JWT_SECRET, { staffId: 'sam', role: 'SUPERVISOR' });
        const queue = await openStream(agent, api.url, QUEUE, {}, supervisor);
        await until(() => queue.text().includes('CURRENT'), 10_000, 10, 'the queue’s first event');

        const closing = api.close();
        // Completed by the server (event: complete, the response ended), so that the console reconnects elsewhere now.
        const how = await queue.ending;
        expect({ how, completed: queue.text().includes('event: complete') }).toEqual({ how: 'end', completed: true });
        await closing;
      } finally {
        agent.destroy();
        await api.close();
      }
    },
  );

  it(
    'a member status stream reopened on a kept-alive connection during the drain ends too, and the API finishes closing',
    { timeout: 60_000 },
    async () => {
      const api = await startApi({ config: testApiConfig(), logger: testLogger, prisma, redisUrl: testRedisUrl() });
      // One connection, kept alive between requests: what a browser, an app's HTTP client or a proxy's upstream pool does.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      let closed = false;
      let closing: Promise<void> | undefined;
      try {
        const member = await prisma.member.create({ data: { externalId: 'drain-1', email: 'drain-1@example.com', name: 'Drain' } });
        const agentToken = await signStaffToken(TEST_JWT_SECRET, { staffId: 'agent-1', role: 'AGENT' });
        const first = await openStream(agent, api.url, STATUS, { m: member.id }, agentToken);
        await until(() => first.text().includes('CURRENT'), 10_000, 10, 'the first event');

        closing = api.close().then(() => void (closed = true));
        expect(await first.ending).toBe('end');
        // The app reconnects at once, as docs/live-status.md tells it to; its client reuses the connection.
        const again = await openStream(agent, api.url, STATUS, { m: member.id }, agentToken);
        // Whatever the draining process answers (a refusal, or a stream completed at once), it must end: a stream it
        // keeps open holds the drain (and the process's exit) for good.
        await until(() => again.ended() !== undefined, 20_000, 20, 'the stream opened during the drain to end');
        if (again.status === 200) expect(again.text()).toContain('event: complete');
        await until(() => closed, 20_000, 20, 'api.close() to finish');
      } finally {
        agent.destroy();
        await closing;
      }
    },
  );

  it(
    'a request started on a kept-alive connection during the drain that never finishes is cut at the drain deadline',
    { timeout: 60_000 },
    async () => {
      const api = await startApi({ config: testApiConfig(), logger: testLogger, prisma, redisUrl: testRedisUrl() });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      let closed = false;
      let closing: Promise<void> | undefined;
      try {
        expect(await answer(agent, api.url, '{ __typename }')).toContain('"__typename":"Query"');

        closing = api.close().then(() => void (closed = true));
        // The client's next request on the connection it kept, whose body never ends (a stalled upload): nothing was
        // running when the drain began, and nothing but the deadline ends this one.
        const stalled = request(api.url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } });
        const outcome = new Promise<string>((resolve) => {
          stalled.on('response', (res) => resolve(`answered ${res.statusCode}`));
          stalled.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        });
        stalled.write('{"query":"{ __typ');
        await until(() => closed, 20_000, 20, 'api.close() to finish');
        expect(await outcome).toBe('ECONNRESET');
      } finally {
        agent.destroy();
        await closing;
      }
    },
  );
});
