// No useTestApp(): a real HTTP server (startApi) on a port, on a client of its own; one reset for the file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../src/app.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { signStaffToken } from '../../src/auth/tokens.js';
import { TEST_JWT_SECRET, testApiConfig, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase, testRedisUrl } from '../support/db.js';

let prisma: PrismaClient;
let api: Awaited<ReturnType<typeof startApi>>;
let base: string;

beforeAll(async () => {
  prisma = createTestPrisma();
  await resetDatabase(prisma);
  const config = testApiConfig({
    LOG_LEVEL: 'error',
  });
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
  base = api.url.replace('/graphql', '');
});
afterAll(async () => {
  await api.close();
  await prisma.$disconnect();
});

async function post(body: unknown, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
}

describe('the HTTP server (production mode, real port)', () => {
  it('answers health, readiness and metrics', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { database: 'ok', redis: 'ok' } });
    await post({ query: '{ __typename }' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('treue_http_request_duration_seconds_bucket');
    expect(metrics).toContain('process_resident_memory_bytes');
  });

  it('serves GraphQL, with introspection off and query limits on in production', async () => {
    const admin = await signStaffToken(TEST_JWT_SECRET, { staffId: 'root', role: 'ADMIN' });
    const program = await post({ query: '{ program { currency returnWindowDays } }' }, admin);
    expect(program.body, JSON.stringify(program.body)).toMatchObject({ data: { program: { currency: 'EUR' } } });
    expect(program.body.data?.program).toEqual({ currency: 'EUR', returnWindowDays: 14 });

    const introspection = await post({ query: '{ __schema { types { name } } }' }, admin);
    expect(introspection.body.errors?.[0]?.message).toMatch(/introspection/i);

    const deep = `{ me { ledger { edges { node { member { ledger { edges { node { member { ledger { edges { node { member { ledger { edges { node { id } } } } } } } } } } } } } } } } }`;
    const tooDeep = await post({ query: deep }, admin);
    expect(tooDeep.body.errors?.[0]?.message).toMatch(/depth/i);
  });

  it('masks unexpected errors', async () => {
    const admin = await signStaffToken(TEST_JWT_SECRET, { staffId: 'root', role: 'ADMIN' });
    // A cursor that is not one of ours (once an internal Prisma error): nothing internal reaches the client.
    const result = await post({ query: '{ members(after: "%%%garbage") { edges { cursor } } }' }, admin);
    const message = result.body.errors?.[0]?.message ?? '';
    expect(message).not.toMatch(/prisma|sql|stack/i);
  });
});
