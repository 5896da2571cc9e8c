import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, describe, expect, it } from 'vitest';
import { hashApiKeyToken } from '../../src/auth/api-keys.js';
import { API_KEY_SCOPES, type Caller } from '../../src/auth/principal.js';
import { apiKeyListArgs, revokeApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { ForbiddenError } from '../../src/domain/errors.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { testDatabaseUrl, testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

/**
 * Admins list and revoke API keys; a revocation reaches every API process at once.
 * Two handlers with their own verifier caches stand for two API processes; with
 * Redis they share the revocation channel, as two `npm start` processes do.
 */
const { prisma, app } = useTestApp();
const processA = createTestApp(prisma, { redis: true });
const processB = createTestApp(prisma, { redis: true });
afterAll(async () => {
  await processA.close();
  await processB.close();
});

const LIST = `query($filter: ApiKeyFilter) { apiKeys(first: 10, filter: $filter) { edges { node {
  id name prefix scopes createdAt createdBy lastUsedAt revokedAt revokedBy } } pageInfo { hasNextPage } } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(input: { id: $id }) { __typename
  ... on RevokeApiKeyPayload { apiKey { id prefix revokedAt revokedBy } }
  ... on Error { code message } } }`;
const PING = '{ program { currency } }';

const prefixOf = (token: string) => token.slice(4, 12);

/**
 * Waits until the other process answers with `wanted`. Its caches keep what they verified
 * for 30 s (their TTL), so a change it shows well before that came through the credential
 * channel; the bound only has to stay below the TTL (the channel itself takes one pub/sub
 * message), so a busy machine does not make it flaky. `until` pauses between tries: an answer
 * from the caches never waits for I/O, and a loop without a pause would keep the event loop
 * from reading the very message it waits for.
 */
const BELOW_CACHE_TTL_MS = 10_000;
const answers = (wanted: number, use: () => Promise<number>) =>
  until(async () => (await use()) === wanted, BELOW_CACHE_TTL_MS, 20, `HTTP ${wanted} from the other process`);
const refusedThroughTheChannel = (use: () => Promise<number>) => answers(401, use);
const acceptedThroughTheChannel = (use: () => Promise<number>) => answers(200, use);

describe('apiKeys', () => {
  it('lists keys newest first with name, prefix, scopes and dates, never the secret or its hash', async () => {
    const admin = await app.staffToken('ADMIN');
    const first = await app.apiKeyToken(['points:earn'], 'web shop');
    const second = await app.apiKeyToken(['contracts:write', 'members:read'], 'billing');
    expect((await app.request(PING, {}, { token: first })).status).toBe(200);

    const answer = await app.request(LIST, {}, { token: admin });
    expect(answer.status).toBe(200);
    const nodes = answer.body.data!.apiKeys.edges.map((edge: any) => edge.node);
    expect(nodes.map((node: any) => node.name)).toEqual(['billing', 'web shop']);
    expect(nodes[0]).toMatchObject({
      prefix: prefixOf(second),
      scopes: ['contracts:write', 'members:read'],
      revokedAt: null,
      lastUsedAt: null,
    });
    expect(nodes[1]).toMatchObject({ prefix: prefixOf(first), createdBy: 'SYSTEM:test' });
    expect(Date.parse(nodes[1].lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);

    const text = JSON.stringify(answer.body);
    for (const token of [first, second]) {
      expect(text).not.toContain(token.slice(13));
      expect(text).not.toContain(hashApiKeyToken(token));
    }
  });

  it('filters revoked and usable keys', async () => {
    const admin = await app.staffToken('ADMIN');
    await app.apiKeyToken(['points:earn'], 'kept');
    const gone = await app.apiKeyToken(['points:earn'], 'gone');
    await prisma.apiKey.updateMany({ where: { prefix: prefixOf(gone) }, data: { revokedAt: new Date() } });
    const names = async (revoked: boolean) =>
      (await app.gql(LIST, { filter: { revoked } }, admin)).data!.apiKeys.edges.map((edge: any) => edge.node.name);
    expect(await names(true)).toEqual(['gone']);
    expect(await names(false)).toEqual(['kept']);
  });

  it('is refused to agents, supervisors, storefront keys, members and anonymous callers', async () => {
    const memberId = await app.enroll();
    const callers = [
      await app.staffToken('AGENT'),
      await app.staffToken('SUPERVISOR'),
      await app.apiKeyToken(['members:read', 'members:write', 'points:earn']),
      await app.memberToken(memberId),
      undefined,
    ];
    for (const token of callers) {
      const answer = await app.gql(LIST, {}, token);
      expect(answer.data?.apiKeys ?? null).toBeNull();
      expect(['FORBIDDEN', 'UNAUTHENTICATED']).toContain(answer.errors?.[0]?.extensions?.code);
    }
  });

  it('the service itself refuses to list or revoke for anyone but an admin', async () => {
    const key = await app.apiKeyToken(['points:earn']);
    const id = (await prisma.apiKey.findFirstOrThrow()).id;
    const agent: Caller = { actor: { type: 'STAFF', id: 'a' }, role: 'AGENT' };
    const storefront: Caller = {
      actor: { type: 'API_KEY', id: 'k' },
      scopes: new Set(API_KEY_SCOPES.filter((scope) => scope !== 'admin')),
    };
    for (const caller of [agent, storefront]) {
      expect(() => apiKeyListArgs(caller)).toThrow(ForbiddenError);
      await expect(revokeApiKey(app.deps, caller, { id })).rejects.toBeInstanceOf(ForbiddenError);
    }
    expect((await prisma.apiKey.findFirstOrThrow()).revokedAt).toBeNull();
    expect((await app.request(PING, {}, { token: key })).status).toBe(200);
  });
});

describe('createApiKey', () => {
  it('refuses a name with control characters, creating no key', async () => {
    const admin = await app.staffToken('ADMIN');
    const answer = await app.gql(
      `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename
        ... on ValidationError { field message }
        ... on Error { code message } } }`,
      { input: { name: 'web shop\u001b[2J\u0007', scopes: ['members:read'] } },
      admin,
    );
    expect(answer.data?.createApiKey).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    expect(await prisma.apiKey.count()).toBe(0);
  });
});

describe('revokeApiKey', () => {
  it('revokes at once: the key is refused (401) on the next request, even though it was cached', async () => {
    const admin = await app.staffToken('ADMIN', 'alice');
    const key = await app.apiKeyToken(['points:earn']);
    expect((await app.request(PING, {}, { token: key })).status).toBe(200);
    const id = (await prisma.apiKey.findFirstOrThrow()).id;

    // The raw UUID of earlier releases is still accepted; the answer carries the global id.
    const answer = await app.gql(REVOKE, { id }, admin);
    expect(answer.data?.revokeApiKey).toMatchObject({
      __typename: 'RevokeApiKeyPayload',
      apiKey: { id: encodeGlobalID('ApiKey', id), prefix: prefixOf(key), revokedBy: 'STAFF:alice' },
    });
    expect((await app.request(PING, {}, { token: key })).status).toBe(401);
  });

  it('is idempotent: a second revocation keeps the first time and actor', async () => {
    const key = await app.apiKeyToken(['points:earn']);
    const id = (await prisma.apiKey.findFirstOrThrow()).id;
    const first = await app.gql(REVOKE, { id }, await app.staffToken('ADMIN', 'alice'));
    const again = await app.gql(REVOKE, { id }, await app.staffToken('ADMIN', 'bob'));
    expect(again.data?.revokeApiKey).toEqual(first.data?.revokeApiKey);
    expect(again.data?.revokeApiKey.apiKey.revokedBy).toBe('STAFF:alice');
    expect((await app.request(PING, {}, { token: key })).status).toBe(401);
  });

  it('answers typed errors and changes nothing: unknown id, malformed id, non-admin caller', async () => {
    const key = await app.apiKeyToken(['points:earn']);
    const id = (await prisma.apiKey.findFirstOrThrow()).id;
    const admin = await app.staffToken('ADMIN');
    const unknown = await app.gql(REVOKE, { id: '00000000-0000-4000-8000-000000000000' }, admin);
    expect(unknown.data?.revokeApiKey).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const malformed = await app.gql(REVOKE, { id: "x'; DROP TABLE api_keys; --" }, admin);
    expect(malformed.data?.revokeApiKey).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    for (const token of [await app.staffToken('SUPERVISOR'), await app.apiKeyToken(['members:write'])]) {
      expect((await app.gql(REVOKE, { id }, token)).data?.revokeApiKey.__typename).toBe('ForbiddenError');
    }
    expect((await app.gql(REVOKE, { id })).data?.revokeApiKey.__typename).toBe('UnauthenticatedError');
    expect(await prisma.apiKey.count({ where: { revokedAt: { not: null } } })).toBe(0);
    expect((await app.request(PING, {}, { token: key })).status).toBe(200);
  });
});

describe('revocation across API processes', () => {
  it('a key revoked through one process is refused by another through the channel, long before its cache TTL', async () => {
    await Promise.all([processA.ready(), processB.ready()]);
    const key = await app.apiKeyToken(['points:earn']);
    // Process B has verified (and cached) the key.
    expect((await processB.request(PING, {}, { token: key })).status).toBe(200);
    expect((await processB.request(PING, {}, { token: key })).status).toBe(200);

    const id = (await prisma.apiKey.findFirstOrThrow()).id;
    const revoked = await processA.gql(REVOKE, { id }, await processA.staffToken('ADMIN'));
    expect(revoked.data?.revokeApiKey.__typename).toBe('RevokeApiKeyPayload');
    await refusedThroughTheChannel(async () => (await processB.request(PING, {}, { token: key })).status);
  });

  it('without the channel the other process would keep the key for its cache TTL (what the channel fixes)', async () => {
    const isolatedA = createTestApp(prisma);
    const isolatedB = createTestApp(prisma);
    const key = await app.apiKeyToken(['points:earn']);
    expect((await isolatedB.request(PING, {}, { token: key })).status).toBe(200);
    const id = (await prisma.apiKey.findFirstOrThrow()).id;
    await isolatedA.gql(REVOKE, { id }, await isolatedA.staffToken('ADMIN'));
    expect((await isolatedA.request(PING, {}, { token: key })).status).toBe(401);
    expect((await isolatedB.request(PING, {}, { token: key })).status).toBe(200);
  });

  // Starting the CLI (npx, tsx) takes seconds on a busy machine.
  it(
    'npm run cli -- revoke-api-key <prefix> revokes and running processes refuse the key through the channel',
    { timeout: 120_000 },
    async () => {
      await processB.ready();
      const key = await app.apiKeyToken(['points:earn'], 'leaked');
      expect((await processB.request(PING, {}, { token: key })).status).toBe(200);
      const { stdout } = await promisify(execFile)('npx', ['tsx', 'src/cli.ts', 'revoke-api-key', prefixOf(key)], {
        env: {
          ...process.env,
          DATABASE_URL: testDatabaseUrl(),
          REDIS_URL: testRedisUrl(),
          QUEUE_PREFIX: testQueuePrefix(),
          LOG_LEVEL: 'silent',
        },
      });
      expect(stdout).toContain(`API key "leaked" (${prefixOf(key)}) revoked`);
      expect(stdout).toContain('refuse it now');
      expect((await prisma.apiKey.findFirstOrThrow()).revokedBy).toBe('SYSTEM:cli');
      await refusedThroughTheChannel(async () => (await processB.request(PING, {}, { token: key })).status);
    },
  );
});

describe('closed members across API processes', () => {
  const CLOSE = `mutation($id: ID!, $status: MemberStatus!) { updateMember(input: { id: $id, status: $status }) { __typename } }`;
  const ME = '{ me { id status } }';

  it('a member closed through one process has their token refused (401) by another through the channel, and reopened accepted again', async () => {
    await Promise.all([processA.ready(), processB.ready()]);
    const memberId = await app.enroll();
    const token = await app.memberToken(memberId);
    expect((await processB.request(ME, {}, { token })).body.data?.me).toEqual({ id: expect.any(String), status: 'ACTIVE' });

    const admin = await processA.staffToken('ADMIN');
    expect((await processA.gql(CLOSE, { id: memberId, status: 'CLOSED' }, admin)).data?.updateMember.__typename).toBe(
      'UpdateMemberPayload',
    );
    await refusedThroughTheChannel(async () => (await processB.request(ME, {}, { token })).status);
    const refused = await processB.request(ME, {}, { token });
    expect(refused.body.errors?.[0]).toMatchObject({ message: 'invalid or expired token', extensions: { code: 'UNAUTHENTICATED' } });

    expect((await processA.gql(CLOSE, { id: memberId, status: 'ACTIVE' }, admin)).data?.updateMember.__typename).toBe(
      'UpdateMemberPayload',
    );
    await acceptedThroughTheChannel(async () => (await processB.request(ME, {}, { token })).status);
  });

  it('a closed member is refused on the very process that closed them, suspended members are not', async () => {
    const memberId = await app.enroll();
    const token = await app.memberToken(memberId);
    const admin = await app.staffToken('ADMIN');
    await app.gql(CLOSE, { id: memberId, status: 'SUSPENDED' }, admin);
    expect((await app.request(ME, {}, { token })).status).toBe(200);
    await app.gql(CLOSE, { id: memberId, status: 'CLOSED' }, admin);
    expect((await app.request(ME, {}, { token })).status).toBe(401);
  });
});
