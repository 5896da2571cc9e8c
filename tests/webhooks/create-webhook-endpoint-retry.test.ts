import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * createWebhookEndpoint's optional idempotency key: an admin (or the console) that retries a registration whose answer
 * was lost is answered the endpoint its first call registered — one endpoint, so every event is delivered once —
 * but without its signing secret, which is never kept for a retry: `secret` is null then, and the admin rotates it.
 * Without a key every call registers an endpoint, as before.
 */

const CREATE = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  __typename
  ... on CreateWebhookEndpointPayload { secret endpoint { id url eventTypes description enabled } }
  ... on IdempotencyConflictError { idempotencyKey }
  ... on ValidationError { field }
  ... on Error { message code } } }`;
const ROTATE = `mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  __typename ... on UpdateWebhookEndpointPayload { secret } ... on Error { message } } }`;

// A pool above the six concurrent registrations below.
const { prisma, app } = useTestApp(10);

const ENDPOINT = { url: 'https://crm.example.com/treue', eventTypes: ['points.earned', 'voucher.issued'], description: 'CRM' };

const create = async (input: Record<string, unknown>, staffId = 'hooks-admin') =>
  app.gql(CREATE, { input }, await app.staffToken('ADMIN', staffId)).then((r) => r.data?.createWebhookEndpoint ?? r.errors);

/** Every stored answer, as text: what a secret must never be part of. */
const storedAnswers = async () => JSON.stringify(await prisma.idempotencyRecord.findMany());

describe('createWebhookEndpoint with an idempotency key', () => {
  it('the same key and input again answers the first endpoint, without its secret; nothing more is written', async () => {
    const input = { ...ENDPOINT, idempotencyKey: 'endpoint-once' };
    const first = await create(input);
    expect(first).toMatchObject({
      __typename: 'CreateWebhookEndpointPayload',
      secret: expect.stringMatching(/^whsec_/),
      endpoint: { url: ENDPOINT.url, eventTypes: ENDPOINT.eventTypes, description: 'CRM', enabled: true },
    });
    const afterFirst = await tableRowCounts(prisma);
    expect([afterFirst.webhook_endpoints, afterFirst.idempotency_records]).toEqual([1, 1]);
    const stored = await prisma.webhookEndpoint.findFirstOrThrow();
    expect(stored.secret).toBe(first.secret);

    const again = await create(input);
    expect(again).toEqual({ ...first, secret: null });
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
    // The endpoint still signs with the secret of the first answer: the retry made no new one.
    expect(await prisma.webhookEndpoint.findFirstOrThrow()).toEqual(stored);
    expect(await storedAnswers()).not.toContain(first.secret);
    expect(await storedAnswers()).not.toContain(first.secret.slice('whsec_'.length));
  });

  it('an admin told "no secret" rotates it: the endpoint gets a new one, shown once', async () => {
    const input = { ...ENDPOINT, idempotencyKey: 'endpoint-rotate' };
    const first = await create(input);
    const again = await create(input);
    expect(again.secret).toBeNull();
    const rotated = await app.gql(
      ROTATE,
      { input: { id: again.endpoint.id, rotateSecret: true, rotationOverlapHours: 0 } },
      await app.staffToken('ADMIN', 'hooks-admin'),
    );
    const secret = rotated.data?.updateWebhookEndpoint.secret as string;
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(first.secret);
    expect(await prisma.webhookEndpoint.findFirstOrThrow()).toMatchObject({ secret, previousSecret: null });
  });

  it('six concurrent registrations with one key register one endpoint; only the one that made it shows the secret', async () => {
    const input = { ...ENDPOINT, idempotencyKey: 'endpoint-race' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(input)));

    for (const answer of answers)
      expect(answer).toMatchObject({ __typename: 'CreateWebhookEndpointPayload', endpoint: { url: ENDPOINT.url } });
    expect(new Set(answers.map((answer) => answer.endpoint.id)).size).toBe(1);
    const shown = answers.filter((answer) => answer.secret !== null);
    expect(shown).toHaveLength(1);
    expect(await prisma.webhookEndpoint.count()).toBe(1);
    expect((await prisma.webhookEndpoint.findFirstOrThrow()).secret).toBe(shown[0].secret);
    expect(await prisma.idempotencyRecord.count()).toBe(1);
    expect(await storedAnswers()).not.toContain(shown[0].secret);
  });

  it('the same key with another input is an IdempotencyConflictError and writes nothing', async () => {
    const first = await create({ ...ENDPOINT, idempotencyKey: 'endpoint-conflict' });
    expect(first).toMatchObject({ __typename: 'CreateWebhookEndpointPayload' });
    const afterFirst = await tableRowCounts(prisma);

    for (const other of [
      { url: 'https://crm.example.com/treue2' },
      { eventTypes: ['points.earned'] },
      { description: 'Helpdesk' },
      { enabled: false },
    ]) {
      expect(await create({ ...ENDPOINT, ...other, idempotencyKey: 'endpoint-conflict' })).toEqual({
        __typename: 'IdempotencyConflictError',
        idempotencyKey: 'endpoint-conflict',
        message: expect.any(String),
        code: 'IDEMPOTENCY_CONFLICT',
      });
    }
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
  });

  it('a key is the caller’s own: another admin with the same key registers their own endpoint, with its secret', async () => {
    const input = { ...ENDPOINT, idempotencyKey: 'endpoint-shared-key' };
    const mine = await create(input, 'admin-a');
    const theirs = await create(input, 'admin-b');
    expect(theirs).toMatchObject({ __typename: 'CreateWebhookEndpointPayload', secret: expect.stringMatching(/^whsec_/) });
    expect(theirs.endpoint.id).not.toBe(mine.endpoint.id);
    expect(await prisma.webhookEndpoint.count()).toBe(2);
  });

  it('a malformed key is a ValidationError and writes nothing', async () => {
    const before = await tableRowCounts(prisma);
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(121)]) {
      expect(await create({ ...ENDPOINT, idempotencyKey })).toMatchObject({ __typename: 'ValidationError', field: 'idempotencyKey' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('createWebhookEndpoint without an idempotency key', () => {
  it('registers an endpoint per call, each with its secret, as before; no answer is stored', async () => {
    const first = await create(ENDPOINT);
    const second = await create({ ...ENDPOINT, idempotencyKey: null });
    expect(first).toMatchObject({ __typename: 'CreateWebhookEndpointPayload', secret: expect.stringMatching(/^whsec_/) });
    expect(second).toMatchObject({ __typename: 'CreateWebhookEndpointPayload', secret: expect.stringMatching(/^whsec_/) });
    expect(second.endpoint.id).not.toBe(first.endpoint.id);
    expect(await prisma.webhookEndpoint.count()).toBe(2);
    expect(await prisma.idempotencyRecord.count()).toBe(0);
  });
});
