import { PrismaPg } from '@prisma/adapter-pg';
import { describe, expect, it } from 'vitest';
import { createWebhookEndpoint, replayWebhookDeliveries } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { testDatabaseUrl } from '../support/db.js';

/**
 * `replayWebhookDeliveries(since)` is the one DateTime argument of the webhook operations (the delivery
 * list filters by endpoint, status and event type only). The DateTime scalar reads the year 0000, which
 * PostgreSQL refuses on input: through a Prisma client it was an unexpected error (INTERNAL), and on the
 * node-postgres pool it was sent as 1 BC and replayed. Either way it must be a ValidationError on `since`
 * that writes nothing (src/domain/validation.ts `dateTime`).
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const deps = { prisma, logger: testLogger };
const YEAR_ZERO = '0000-06-01T00:00:00.000Z';

const REPLAY = `mutation($i: ReplayWebhookDeliveriesInput!) { replayWebhookDeliveries(input: $i) {
  __typename ... on ReplayWebhookDeliveriesPayload { replayed } ... on ValidationError { field message } } }`;

/** An enabled endpoint with one DEAD delivery. */
async function endpointWithDeadDelivery() {
  const { endpoint } = await createWebhookEndpoint(deps, { url: 'https://crm.example.com/hooks', eventTypes: ['member.enrolled'] }, admin);
  await recordWebhookEvents(prisma, [{ type: 'member.enrolled', data: { memberId: 'm-1' } }], new Date());
  await prisma.webhookDelivery.updateMany({ where: { endpointId: endpoint.id }, data: { status: 'DEAD', lastError: 'gave up' } });
  return endpoint.id;
}

const statuses = async (endpointId: string) =>
  (await prisma.webhookDelivery.findMany({ where: { endpointId }, select: { status: true } })).map((row) => row.status);

describe('replayWebhookDeliveries: since', () => {
  it('a since in the year 0000 is a ValidationError on since through GraphQL, and nothing is replayed', async () => {
    const endpointId = await endpointWithDeadDelivery();
    const token = await app.staffToken('ADMIN');
    const answer = await app.gql(REPLAY, { i: { endpointId, since: YEAR_ZERO } }, token);
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.replayWebhookDeliveries).toEqual({
      __typename: 'ValidationError',
      field: 'since',
      message: 'must be in the year 0001 or later',
    });
    expect(await statuses(endpointId)).toEqual(['DEAD']);

    // The year 0001 is a time like any other: the same call replays.
    const replayed = await app.gql(REPLAY, { i: { endpointId, since: '0001-01-01T00:00:00.000Z' } }, token);
    expect(replayed.data?.replayWebhookDeliveries).toEqual({ __typename: 'ReplayWebhookDeliveriesPayload', replayed: 1 });
  });

  it('on a Prisma client (not the pool of createPrisma) the year 0000 is a ValidationError too, not a database error', async () => {
    const endpointId = await endpointWithDeadDelivery();
    const plain = new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 1 }) });
    try {
      await expect(
        replayWebhookDeliveries({ prisma: plain, logger: testLogger }, { endpointId, since: new Date(YEAR_ZERO) }, admin),
      ).rejects.toMatchObject({ code: 'VALIDATION', field: 'since', message: 'must be in the year 0001 or later' });
    } finally {
      await plain.$disconnect();
    }
    expect(await statuses(endpointId)).toEqual(['DEAD']);
  });
});
