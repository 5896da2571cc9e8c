// The paths before yoga (the response cache's shortcut, the direct execution) take only what yoga would run:
// its endpoint, a JSON body yoga would parse. Everything else is yoga's to answer — and to refuse.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type Api } from '../../src/app.js';
import { createTestApp, testApiConfig, testLogger, useTestApp } from '../support/app.js';
import { testQueuePrefix, testRedisUrl } from '../support/db.js';

const { prisma } = useTestApp();
/** The service's request path as in tests/graphql/direct-execution.test.ts: shortcut, direct execution, then yoga. */
const app = createTestApp(prisma);
let api: Api;
let apiPort: number;
let yogaOnly: Server;
let yogaOnlyPort: number;

beforeAll(async () => {
  const config = testApiConfig({
    QUEUE_PREFIX: testQueuePrefix(),
  });
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
  apiPort = Number(new URL(api.url).port);
  // The same handler as `app`, with yoga alone answering (no paths before it).
  yogaOnly = createServer((req, res) => void app.yoga.handle(req, res));
  await new Promise<void>((resolve) => yogaOnly.listen(0, '127.0.0.1', resolve));
  yogaOnlyPort = (yogaOnly.address() as AddressInfo).port;
});
afterAll(async () => {
  await api.close();
  await new Promise((resolve) => yogaOnly.close(resolve));
  await app.close();
});

/** One raw HTTP/1.1 request (any path, any header spelling), its status, headers and body. */
function send(port: number, path: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const kept = { ...res.headers };
          for (const name of ['date', 'connection', 'keep-alive', 'transfer-encoding']) delete kept[name];
          resolve({ status: res.statusCode!, headers: kept, body: Buffer.concat(chunks).toString() });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename ... on EarnPointsPayload { points } } }`;

async function earnRequest(memberId: string, key: string) {
  const token = await app.apiKeyToken(['points:earn', 'members:read']);
  const input = { memberId: encodeGlobalID('Member', memberId), orderRef: key, orderTotal: '40.00', idempotencyKey: key };
  return { authorization: `Bearer ${token}`, body: JSON.stringify({ query: EARN, variables: { input } }) };
}

describe('the paths before yoga take no request yoga would not run', () => {
  it('runs GraphQL (a points mutation included) only on /graphql: any other path is 404 and changes nothing, as with yoga', async () => {
    const memberId = await app.enroll({ name: 'Grace' });
    // yoga alone: a path other than its endpoint is not GraphQL.
    const reference = await earnRequest(memberId, 'ref');
    const viaYoga = await send(
      yogaOnlyPort,
      '/healthz/',
      { 'content-type': 'application/json', authorization: reference.authorization },
      reference.body,
    );
    expect(viaYoga.status).toBe(404);

    // The service (startApi): the same request on paths that are neither /graphql nor another route.
    for (const [i, path] of ['/healthz/', '/metrics/', '/', '/not-graphql'].entries()) {
      const { authorization, body } = await earnRequest(memberId, `path-${i}`);
      const answer = await send(apiPort, path, { 'content-type': 'application/json', authorization }, body);
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
    }
    // Nothing earned: no ledger entry was written through a non-GraphQL path.
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(0);
  });

  it.each([
    ['upper-case media type', 'APPLICATION/JSON'],
    ['mixed-case media type', 'Application/Json; charset=utf-8'],
    ['space before the parameters', 'application/json ; charset=utf-8'],
  ])('answers a Content-Type yoga does not parse (%s) as yoga does, without running the operation', async (_, contentType) => {
    const memberId = await app.enroll({ name: 'Ada' });
    const serviceUrl = new URL(await app.url());
    const reference = await earnRequest(memberId, `ref-${contentType}`);
    const viaYoga = await send(
      yogaOnlyPort,
      '/graphql',
      { 'content-type': contentType, authorization: reference.authorization },
      reference.body,
    );
    // yoga has no parser for it: 415, nothing runs.
    expect(viaYoga.status).toBe(415);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(0);

    const viaService = await send(
      Number(serviceUrl.port),
      '/graphql',
      { 'content-type': contentType, authorization: reference.authorization },
      reference.body,
    );
    expect(viaService.status).toBe(415);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(0);
  });
});
