import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * createApiKey's optional idempotency key: an admin (or the console) that retries a creation whose answer was lost is
 * answered the key its first call created — one credential — but without its token, which exists nowhere after that
 * first answer (only its hash is stored): `token` is null then, and the admin revokes that key and creates another.
 * Without a key every call creates a key, as before.
 */

const CREATE = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
  __typename
  ... on CreateApiKeyPayload { token apiKey { id name prefix scopes revokedAt } }
  ... on IdempotencyConflictError { idempotencyKey }
  ... on ValidationError { field }
  ... on Error { message code } } }`;
const PING = '{ program { currency } }';

// A pool above the six concurrent creations below.
const { prisma, app } = useTestApp(10);

const KEY = { name: 'web shop', scopes: ['members:read', 'points:earn'] };

const create = async (input: Record<string, unknown>, staffId = 'keys-admin') =>
  app.gql(CREATE, { input }, await app.staffToken('ADMIN', staffId)).then((r) => r.data?.createApiKey ?? r.errors);

/** What the token opens: 200 for a key that works, 401 for one that does not. */
const statusWith = async (token: string) => (await app.request(PING, {}, { token })).status;

/** Every stored answer, as text: what a token or its hash must never be part of. */
const storedAnswers = async () => JSON.stringify(await prisma.idempotencyRecord.findMany());

describe('createApiKey with an idempotency key', () => {
  it('the same key and input again answers the first key, without its token; nothing more is written', async () => {
    const input = { ...KEY, idempotencyKey: 'api-key-once' };
    const first = await create(input);
    expect(first).toMatchObject({
      __typename: 'CreateApiKeyPayload',
      token: expect.stringMatching(/^trk_/),
      apiKey: { name: 'web shop', scopes: ['members:read', 'points:earn'], revokedAt: null },
    });
    const afterFirst = await tableRowCounts(prisma);
    expect([afterFirst.api_keys, afterFirst.idempotency_records]).toEqual([1, 1]);

    const again = await create(input);
    expect(again).toEqual({ ...first, token: null });
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
    // The first answer's token is the key's, and stays the only one that opens it.
    expect(await statusWith(first.token)).toBe(200);
    const { secretHash } = await prisma.apiKey.findFirstOrThrow();
    expect(await storedAnswers()).not.toContain(first.token);
    expect(await storedAnswers()).not.toContain(secretHash);
  });

  it('six concurrent creations with one key create one key; only the one that made it shows the token', async () => {
    const input = { ...KEY, idempotencyKey: 'api-key-race' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(input)));

    for (const answer of answers) expect(answer).toMatchObject({ __typename: 'CreateApiKeyPayload', apiKey: { name: 'web shop' } });
    expect(new Set(answers.map((answer) => answer.apiKey.id)).size).toBe(1);
    const shown = answers.filter((answer) => answer.token !== null);
    expect(shown).toHaveLength(1);
    expect(await prisma.apiKey.count()).toBe(1);
    expect(await prisma.idempotencyRecord.count()).toBe(1);
    expect(await statusWith(shown[0].token)).toBe(200);
    expect(await storedAnswers()).not.toContain(shown[0].token);
  });

  it('the same key with another input is an IdempotencyConflictError and writes nothing', async () => {
    const first = await create({ ...KEY, idempotencyKey: 'api-key-conflict' });
    expect(first).toMatchObject({ __typename: 'CreateApiKeyPayload' });
    const afterFirst = await tableRowCounts(prisma);

    for (const other of [{ name: 'billing' }, { scopes: ['members:read'] }, { scopes: ['admin'] }]) {
      expect(await create({ ...KEY, ...other, idempotencyKey: 'api-key-conflict' })).toEqual({
        __typename: 'IdempotencyConflictError',
        idempotencyKey: 'api-key-conflict',
        message: expect.any(String),
        code: 'IDEMPOTENCY_CONFLICT',
      });
    }
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
  });

  it('a key is the caller’s own: another admin with the same key creates their own API key, with its token', async () => {
    const input = { ...KEY, idempotencyKey: 'api-key-shared-key' };
    const mine = await create(input, 'admin-a');
    const theirs = await create(input, 'admin-b');
    expect(theirs).toMatchObject({ __typename: 'CreateApiKeyPayload', token: expect.stringMatching(/^trk_/) });
    expect(theirs.apiKey.id).not.toBe(mine.apiKey.id);
    expect(await prisma.apiKey.count()).toBe(2);
  });

  it('a malformed key is a ValidationError and writes nothing', async () => {
    const before = await tableRowCounts(prisma);
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(121)]) {
      expect(await create({ ...KEY, idempotencyKey })).toMatchObject({ __typename: 'ValidationError', field: 'idempotencyKey' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('createApiKey without an idempotency key', () => {
  it('creates a key per call, each with its token, as before; no answer is stored', async () => {
    const first = await create(KEY);
    const second = await create({ ...KEY, idempotencyKey: null });
    expect(first).toMatchObject({ __typename: 'CreateApiKeyPayload', token: expect.stringMatching(/^trk_/) });
    expect(second).toMatchObject({ __typename: 'CreateApiKeyPayload', token: expect.stringMatching(/^trk_/) });
    expect(second.apiKey.id).not.toBe(first.apiKey.id);
    expect(await prisma.apiKey.count()).toBe(2);
    expect(await prisma.idempotencyRecord.count()).toBe(0);
  });
});
