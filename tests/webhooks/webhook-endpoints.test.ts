import { describe, expect, it } from 'vitest';
import { enrollMember } from '../../src/domain/members/members.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { blockedAddressReason } from '../../src/domain/webhooks/private-addresses.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { statementsDuring } from '../support/statements.js';

/**
 * Managing endpoints through GraphQL (admins only, validated input, the
 * secret shown once), and how events are written: in the statement of the
 * change, only for subscribed enabled endpoints, never for a change that
 * rolled back.
 */
const { prisma, app } = useTestApp();
/** As deployed: https only, no private addresses. */
const strict = app;
/** As in development and these tests' receivers: http and localhost allowed. */
const lenient = createTestApp(prisma, { env: { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' } });
const admin = staffCaller('ADMIN');
const deps = { prisma, logger: testLogger };

const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  __typename ... on CreateWebhookEndpointPayload { secret endpoint { id url eventTypes enabled } }
  ... on ValidationError { field message } ... on ForbiddenError { message } } }`;
const UPDATE = `mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) {
  __typename ... on UpdateWebhookEndpointPayload { secret endpoint { id url eventTypes enabled previousSecretValidUntil } }
  ... on ValidationError { field message } ... on NotFoundError { message } } }`;

describe('endpoints', () => {
  it('an admin creates an endpoint and sees its whsec_ secret once; listings never show it', async () => {
    const token = await strict.staffToken('ADMIN');
    const created = await strict.gql(
      CREATE,
      { i: { url: 'https://crm.example.com/hooks', eventTypes: ['points.earned', 'points.earned', 'voucher.issued'] } },
      token,
    );
    const payload = created.data?.createWebhookEndpoint;
    expect(payload.__typename).toBe('CreateWebhookEndpointPayload');
    expect(payload.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(payload.endpoint).toMatchObject({
      url: 'https://crm.example.com/hooks',
      eventTypes: ['points.earned', 'voucher.issued'],
      enabled: true,
    });

    const listed = await strict.gql('{ webhookEndpoints(first: 10) { edges { node { id url eventTypes } } } }', {}, token);
    expect(listed.data?.webhookEndpoints.edges).toEqual([
      { node: { id: payload.endpoint.id, url: 'https://crm.example.com/hooks', eventTypes: ['points.earned', 'voucher.issued'] } },
    ]);
    expect(JSON.stringify(listed)).not.toContain(payload.secret);
    const asked = await strict.gql('{ webhookEndpoints(first: 1) { edges { node { secret } } } }', {}, token);
    expect(asked.errors?.[0]?.message).toMatch(/Cannot query field "secret"/);
  });

  it('refuses what may not be a receiver, with a typed error and nothing written', async () => {
    const token = await strict.staffToken('ADMIN');
    const refusals: [string, string[], string][] = [
      ['not a url', ['points.earned'], 'url'],
      ['http://crm.example.com/hooks', ['points.earned'], 'url'],
      ['https://127.0.0.1/hooks', ['points.earned'], 'url'],
      ['https://[::1]/hooks', ['points.earned'], 'url'],
      ['https://10.1.2.3/hooks', ['points.earned'], 'url'],
      ['https://169.254.169.254/latest/meta-data', ['points.earned'], 'url'],
      ['https://[::ffff:192.168.1.1]/hooks', ['points.earned'], 'url'],
      ['https://localhost:8443/hooks', ['points.earned'], 'url'],
      ['https://user:pass@crm.example.com/hooks', ['points.earned'], 'url'],
      ['https://crm.example.com/hooks', [], 'eventTypes'],
      ['https://crm.example.com/hooks', ['points.earned', 'points.stolen'], 'eventTypes'],
    ];
    for (const [url, eventTypes, field] of refusals) {
      const answer = await strict.gql(CREATE, { i: { url, eventTypes } }, token);
      expect(answer.data?.createWebhookEndpoint, url).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await prisma.webhookEndpoint.count()).toBe(0);
    // Where the settings allow it (development, these tests), http and loopback are accepted.
    const local = await lenient.gql(
      CREATE,
      { i: { url: 'http://127.0.0.1:9999/hooks', eventTypes: ['points.earned'] } },
      await lenient.staffToken('ADMIN'),
    );
    expect(local.data?.createWebhookEndpoint.__typename).toBe('CreateWebhookEndpointPayload');
  });

  it('classifies addresses: loopback, private, link-local and IPv4 inside IPv6 are blocked, public ones are not', () => {
    expect(
      Object.fromEntries(
        [
          '127.0.0.1',
          '10.0.0.8',
          '172.20.1.1',
          '192.168.0.1',
          '169.254.169.254',
          '100.64.0.1',
          '0.0.0.0',
          '::1',
          '::',
          'fe80::1',
          'fd00::1',
          '::ffff:127.0.0.1',
          '::ffff:7f00:1',
          '64:ff9b::a00:1',
          '2002:c0a8:101::1',
          '224.0.0.1',
          '93.184.216.34',
          '2606:4700::1111',
          '8.8.8.8',
        ].map((address) => [address, blockedAddressReason(address)]),
      ),
    ).toEqual({
      '127.0.0.1': 'loopback',
      '10.0.0.8': 'private',
      '172.20.1.1': 'private',
      '192.168.0.1': 'private',
      '169.254.169.254': 'link-local',
      '100.64.0.1': 'private',
      '0.0.0.0': 'unspecified',
      '::1': 'loopback',
      '::': 'unspecified',
      'fe80::1': 'link-local',
      'fd00::1': 'private',
      '::ffff:127.0.0.1': 'loopback',
      '::ffff:7f00:1': 'loopback',
      '64:ff9b::a00:1': 'private',
      '2002:c0a8:101::1': 'private',
      '224.0.0.1': 'multicast',
      '93.184.216.34': null,
      '2606:4700::1111': null,
      '8.8.8.8': null,
    });
  });

  it('only admins and admin keys manage endpoints; the service refuses anyone else itself', async () => {
    for (const token of [await strict.staffToken('SUPERVISOR'), await strict.apiKeyToken(['members:write', 'points:earn'])]) {
      const answer = await strict.gql(CREATE, { i: { url: 'https://crm.example.com/hooks', eventTypes: ['points.earned'] } }, token);
      expect(answer.data?.createWebhookEndpoint.__typename).toBe('ForbiddenError');
    }
    await expect(
      createWebhookEndpoint(deps, { url: 'https://crm.example.com/hooks', eventTypes: ['points.earned'] }, staffCaller('SUPERVISOR')),
    ).rejects.toThrow(/admins/);
    const adminKey = await strict.apiKeyToken(['admin']);
    const answer = await strict.gql(CREATE, { i: { url: 'https://crm.example.com/hooks', eventTypes: ['points.earned'] } }, adminKey);
    expect(answer.data?.createWebhookEndpoint.__typename).toBe('CreateWebhookEndpointPayload');
    expect(await prisma.webhookEndpoint.count()).toBe(1);
  });

  it('rotates the secret with an overlap, disables, re-enables and deletes', async () => {
    const token = await strict.staffToken('ADMIN');
    const { endpoint, secret } = await createWebhookEndpoint(
      deps,
      { url: 'https://crm.example.com/hooks', eventTypes: ['points.earned'] },
      admin,
    );
    const rotated = (await strict.gql(UPDATE, { i: { id: endpoint.id, rotateSecret: true, rotationOverlapHours: 2 } }, token)).data
      ?.updateWebhookEndpoint;
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    const stored = await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } });
    expect(stored).toMatchObject({ secret: rotated.secret, previousSecret: secret });
    expect(new Date(rotated.endpoint.previousSecretValidUntil).getTime() - stored.updatedAt.getTime()).toBe(2 * 3_600_000);

    const disabled = (await strict.gql(UPDATE, { i: { id: endpoint.id, enabled: false } }, token)).data?.updateWebhookEndpoint;
    expect(disabled).toMatchObject({ secret: null, endpoint: { enabled: false } });
    const tooLong = (await strict.gql(UPDATE, { i: { id: endpoint.id, rotateSecret: true, rotationOverlapHours: 1000 } }, token)).data
      ?.updateWebhookEndpoint;
    expect(tooLong).toMatchObject({ __typename: 'ValidationError', field: 'rotationOverlapHours' });

    const DELETE = `mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { __typename } }`;
    expect((await strict.gql(DELETE, { i: { id: endpoint.id } }, token)).data?.deleteWebhookEndpoint.__typename).toBe(
      'DeleteWebhookEndpointPayload',
    );
    expect((await strict.gql(DELETE, { i: { id: endpoint.id } }, token)).data?.deleteWebhookEndpoint.__typename).toBe('NotFoundError');
    expect((await strict.gql(UPDATE, { i: { id: endpoint.id, enabled: true } }, token)).data?.updateWebhookEndpoint.__typename).toBe(
      'NotFoundError',
    );
    expect((await strict.gql('{ webhookEndpoints(first: 5) { edges { node { id } } } }', {}, token)).data?.webhookEndpoints.edges).toEqual(
      [],
    );
  });
});

describe('events are written with the change, for subscribed endpoints only', () => {
  const earn = (memberId: string, orderRef: string) =>
    earnPoints(deps, { memberId, orderRef, orderTotal: '10.00', idempotencyKey: orderRef }, admin);

  it('without a subscribed enabled endpoint nothing is written', async () => {
    const member = await enrollMember(deps, { externalId: 'c-1', email: 'a@example.com', name: 'Ada' }, admin);
    await createWebhookEndpoint(deps, { url: 'https://crm.example.com/a', eventTypes: ['voucher.issued'] }, admin);
    await createWebhookEndpoint(deps, { url: 'https://crm.example.com/b', eventTypes: ['points.earned'], enabled: false }, admin);
    await earn(member.id, 'o-1');
    expect(await prisma.webhookEvent.count()).toBe(0);
    expect(await prisma.outboxEvent.count({ where: { queue: 'webhooks' } })).toBe(0);
  });

  it('earnPoints writes its event inside its own statement: still 4 statements with endpoints subscribed', async () => {
    const member = await enrollMember(deps, { externalId: 'c-2', email: 'b@example.com', name: 'Bo' }, admin);
    const one = await createWebhookEndpoint(deps, { url: 'https://crm.example.com/1', eventTypes: ['points.earned'] }, admin);
    const two = await createWebhookEndpoint(
      deps,
      { url: 'https://crm.example.com/2', eventTypes: ['points.earned', 'member.enrolled'] },
      admin,
    );
    await earn(member.id, 'warm');
    const { statements } = await statementsDuring(() => earn(member.id, 'o-2'));
    expect(statements).toHaveLength(4);
    expect(statements.at(-1)).toBe('COMMIT');
    const events = await prisma.webhookEvent.findMany({
      where: { type: 'points.earned' },
      include: { deliveries: true },
      orderBy: { createdAt: 'asc' },
    });
    expect(events).toHaveLength(2);
    expect(events[1]!.payload).toMatchObject({ memberId: member.id, orderRef: 'o-2', points: 10, status: 'PENDING' });
    expect(events[1]!.deliveries.map((delivery) => delivery.endpointId).sort()).toEqual([one.endpoint.id, two.endpoint.id].sort());
    // One outbox row per delivery (id = delivery id) for the relay.
    const deliveryIds = events.flatMap((event) => event.deliveries.map((delivery) => delivery.id));
    expect(await prisma.outboxEvent.count({ where: { id: { in: deliveryIds }, queue: 'webhooks' } })).toBe(4);
  });

  it('a change that is refused or rolled back leaves no event', async () => {
    const member = await enrollMember(deps, { externalId: 'c-3', email: 'c@example.com', name: 'Cy' }, admin);
    await createWebhookEndpoint(deps, { url: 'https://crm.example.com/1', eventTypes: ['points.earned', 'member.enrolled'] }, admin);
    await earn(member.id, 'o-3');
    // The same order again: the earning's statement ran (with its event CTE), then the service threw.
    await expect(
      earnPoints(deps, { memberId: member.id, orderRef: 'o-3', orderTotal: '10.00', idempotencyKey: 'other' }, admin),
    ).rejects.toThrow(/already earned/);
    await expect(enrollMember(deps, { externalId: 'c-3', email: 'other@example.com', name: 'Dup' }, admin)).rejects.toThrow(/external id/);
    expect(await prisma.webhookEvent.count({ where: { type: 'points.earned' } })).toBe(1);
    expect(await prisma.webhookEvent.count({ where: { type: 'member.enrolled' } })).toBe(0);
  });

  it('an incident’s batch compensation announces every voucher and every compensation', async () => {
    await createWebhookEndpoint(
      deps,
      { url: 'https://crm.example.com/1', eventTypes: ['voucher.issued', 'service_failure.compensated'] },
      admin,
    );
    const affected = await Promise.all([1, 2, 3].map(() => app.enroll()));
    await reportServiceIncident(
      deps,
      { type: 'LATE_DELIVERY', severity: 'MEDIUM', affected: affected.map((memberId) => ({ memberId })), idempotencyKey: 'incident-1' },
      staffCaller('AGENT'),
    );
    for (const event of await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null } })) {
      await processIncidentJob(event.payload as never, deps);
    }
    const failures = await prisma.serviceFailure.findMany({ where: { status: 'COMPENSATED' } });
    expect(failures).toHaveLength(3);
    const compensated = await prisma.webhookEvent.findMany({ where: { type: 'service_failure.compensated' } });
    expect(compensated.map((event) => (event.payload as { failureId: string }).failureId).sort()).toEqual(failures.map((f) => f.id).sort());
    expect(compensated[0]!.payload).toMatchObject({ amount: { amount: '10.00', currency: 'EUR' }, decidedBy: 'POLICY' });
    const issued = await prisma.webhookEvent.findMany({ where: { type: 'voucher.issued' } });
    expect(issued.map((event) => (event.payload as { voucherId: string }).voucherId).sort()).toEqual(
      failures.map((f) => f.voucherId).sort(),
    );
  });
});
