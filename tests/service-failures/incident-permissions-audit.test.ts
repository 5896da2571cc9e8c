import { randomUUID } from 'node:crypto';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { type ApiKeyScope } from '../../src/auth/principal.js';
import {
  reportServiceIncident,
  serviceIncidentById,
  serviceIncidentListWhere,
  serviceIncidentsProgress,
} from '../../src/domain/service-failures/incidents.service.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';

/**
 * Who reads a service incident (2026-12-06, stop 52): its reporter's words (`description`), its budget and how far its
 * compensations are. Staff read every incident. A key that reports failures (`failures:report`: a shop, a carrier)
 * reads the incidents it reported itself — its report's answer, a retry of it, `serviceIncident(id)`, `node(id)`,
 * `serviceIncidents` — and no other: another key's or a staff member's incident is null, as an unknown id, by every
 * path, and it cannot add pages to one (NotFoundError, nothing written), as the failures rule (stop 51) keeps a key to
 * the failures it reported.
 */
const { app, prisma } = useTestApp();

const SECRET = 'Depot Köln-Ost flooded: parcels of route 17 lost, driver hurt';
const nodeId = (id: string) => encodeGlobalID('ServiceIncident', id);

const INCIDENT_FIELDS = 'id type severity description budget { amount currency } affected recorded spent { amount }';
const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) { __typename
  ... on ReportServiceIncidentPayload { entries named alreadyNamed incident { ${INCIDENT_FIELDS} } }
  ... on Error { code message } } }`;
const BY_ID = `query($id: ID!) { serviceIncident(id: $id) { ${INCIDENT_FIELDS} } }`;
const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on ServiceIncident { ${INCIDENT_FIELDS} } } }`;
const LIST = `{ serviceIncidents(first: 20) { totalCount edges { node { ${INCIDENT_FIELDS} } } } }`;

/** Expands every incident page waiting in the outbox, as the worker would. */
async function expandPages(): Promise<void> {
  for (;;) {
    const events = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null } });
    if (events.length === 0) return;
    for (const event of events) await processIncidentJob(event.payload as never, app.deps);
  }
}

/** Key A's incident, reported through GraphQL with its first page's input (to send it again), expanded. */
async function carrierAsIncident(carrierA: string) {
  const memberId = await app.enroll();
  const input = {
    type: 'OUTAGE',
    severity: 'HIGH',
    description: SECRET,
    budgetMoney: { amount: '500.00', currency: 'EUR' },
    affected: [{ memberId: encodeGlobalID('Member', memberId), orderRef: 'route-17-parcel-1' }],
    idempotencyKey: `incident-${randomUUID()}`,
  };
  const answer = await app.gql(REPORT, { i: input }, carrierA);
  expect(answer.errors).toBeUndefined();
  expect(answer.data?.reportServiceIncident).toMatchObject({
    __typename: 'ReportServiceIncidentPayload',
    incident: { description: SECRET },
  });
  const incidentId = decodeGlobalID(answer.data?.reportServiceIncident.incident.id as string).id;
  await expandPages();
  return { memberId, incidentId, input };
}

async function tokens() {
  return {
    carrierA: await app.apiKeyToken(['failures:report'], 'carrier A'),
    carrierB: await app.apiKeyToken(['failures:report'], 'carrier B'),
    // A key that reads members besides is no reader of incidents either.
    shopB: await app.apiKeyToken([...STOREFRONT_SCOPES] as ApiKeyScope[], 'shop B'),
    agent: await app.staffToken('AGENT'),
  };
}

/** What an answer must not hold for a key the incident is not its own. */
function expectNothingOf(answer: unknown, incidentId: string, who: string): void {
  const text = JSON.stringify(answer);
  expect(text, who).not.toContain(SECRET);
  expect(text, who).not.toContain(incidentId);
  expect(text, who).not.toContain(nodeId(incidentId));
}

describe('another failures:report key’s incident, path by path', () => {
  it('serviceIncident(id): null for key B (as an unknown id, no error); key A and staff read it, description included', async () => {
    const { carrierA, carrierB, shopB, agent } = await tokens();
    const { incidentId } = await carrierAsIncident(carrierA);
    for (const [who, token] of [
      ['key B', carrierB],
      ['key B with every storefront scope', shopB],
    ] as const) {
      for (const id of [incidentId, nodeId(incidentId)]) {
        const answer = await app.gql(BY_ID, { id }, token);
        expect(answer, who).toEqual({ data: { serviceIncident: null } });
      }
    }
    for (const [who, token] of [
      ['key A', carrierA],
      ['agent', agent],
    ] as const) {
      const answer = await app.gql(BY_ID, { id: incidentId }, token);
      expect(answer.errors, who).toBeUndefined();
      expect(answer.data?.serviceIncident, who).toMatchObject({
        id: nodeId(incidentId),
        description: SECRET,
        budget: { amount: '500.00' },
        affected: 1,
        recorded: 1,
      });
    }
  });

  it('node(id): null for key B, as for an id nobody has; key A and staff read it', async () => {
    const { carrierA, carrierB, shopB, agent } = await tokens();
    const { incidentId } = await carrierAsIncident(carrierA);
    for (const [who, token] of [
      ['key B', carrierB],
      ['key B with every storefront scope', shopB],
    ] as const) {
      expect(await app.gql(NODE, { id: nodeId(incidentId) }, token), who).toEqual({ data: { node: null } });
      expect(await app.gql(NODE, { id: nodeId(randomUUID()) }, token), who).toEqual({ data: { node: null } });
    }
    for (const [who, token] of [
      ['key A', carrierA],
      ['agent', agent],
    ] as const) {
      const answer = await app.gql(NODE, { id: nodeId(incidentId) }, token);
      expect(answer.errors, who).toBeUndefined();
      expect(answer.data?.node, who).toMatchObject({ __typename: 'ServiceIncident', description: SECRET, recorded: 1 });
    }
  });

  it('serviceIncidents: key B lists only its own, key A only its own, staff every one', async () => {
    const { carrierA, carrierB, shopB, agent } = await tokens();
    const a = await carrierAsIncident(carrierA);
    const b = await app.gql(
      REPORT,
      {
        i: { type: 'LATE_DELIVERY', severity: 'LOW', description: 'B’s own', affected: [{ externalId: 'nobody' }], idempotencyKey: 'b-1' },
      },
      carrierB,
    );
    const bId = b.data?.reportServiceIncident.incident.id as string;
    const listed = async (token: string) => {
      const answer = await app.gql(LIST, {}, token);
      expect(answer.errors).toBeUndefined();
      const ids = (answer.data?.serviceIncidents.edges as { node: { id: string } }[]).map((edge) => edge.node.id);
      return { ids, totalCount: answer.data?.serviceIncidents.totalCount as number, answer };
    };
    const ofB = await listed(carrierB);
    expect(ofB.ids).toEqual([bId]);
    expect(ofB.totalCount).toBe(1);
    expectNothingOf(ofB.answer, a.incidentId, 'key B');
    const ofShopB = await listed(shopB);
    expect(ofShopB).toMatchObject({ ids: [], totalCount: 0 });
    expect(await listed(carrierA)).toMatchObject({ ids: [nodeId(a.incidentId)], totalCount: 1 });
    expect(await listed(agent)).toMatchObject({ ids: [bId, nodeId(a.incidentId)], totalCount: 2 });
    // A filter does not reach past the rule either.
    const filtered = await app.gql(
      `{ serviceIncidents(first: 5, filter: { type: OUTAGE, open: false }) { totalCount edges { node { id description } } } }`,
      {},
      carrierB,
    );
    expect(filtered).toEqual({ data: { serviceIncidents: { totalCount: 0, edges: [] } } });
  });

  it('reportServiceIncident: key B’s later page naming key A’s incident is NotFoundError and writes nothing', async () => {
    const { carrierA, carrierB } = await tokens();
    const { incidentId } = await carrierAsIncident(carrierA);
    const other = await app.enroll();
    const before = await prisma.serviceIncidentPage.count({ where: { incidentId } });
    const answer = await app.gql(
      REPORT,
      { i: { incidentId: nodeId(incidentId), affected: [{ memberId: other }], idempotencyKey: 'b-page-2' } },
      carrierB,
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.reportServiceIncident).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(JSON.stringify(answer)).not.toContain(SECRET);
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId } })).toBe(before);
    expect(await prisma.serviceIncidentMember.count({ where: { incidentId, memberId: other } })).toBe(0);
    // As for an incident nobody reported: the same answer.
    const unknown = await app.gql(
      REPORT,
      { i: { incidentId: randomUUID(), affected: [{ memberId: other }], idempotencyKey: 'b-page-3' } },
      carrierB,
    );
    expect(unknown.data?.reportServiceIncident.__typename).toBe('NotFoundError');
    // Key A adds its page.
    const own = await app.gql(
      REPORT,
      { i: { incidentId: nodeId(incidentId), affected: [{ memberId: other }], idempotencyKey: 'a-page-2' } },
      carrierA,
    );
    expect(own.errors).toBeUndefined();
    expect(own.data?.reportServiceIncident).toMatchObject({ named: 1, incident: { id: nodeId(incidentId), description: SECRET } });
  });

  it('reportServiceIncident: key B sending key A’s first page with A’s idempotency key records its own incident, none of A’s', async () => {
    const { carrierA, carrierB } = await tokens();
    const { incidentId, input } = await carrierAsIncident(carrierA);
    const answer = await app.gql(REPORT, { i: input }, carrierB);
    expect(answer.errors).toBeUndefined();
    // The key is B's own (stop 52): B's incident, with the words B sent — not A's answer replayed, A's incident unseen.
    expect(answer.data?.reportServiceIncident).toMatchObject({
      __typename: 'ReportServiceIncidentPayload',
      named: 1,
      incident: { description: SECRET, affected: 1 },
    });
    expect(JSON.stringify(answer)).not.toContain(nodeId(incidentId));
    expect(JSON.stringify(answer)).not.toContain(incidentId);
    const incidents = await prisma.serviceIncident.findMany({ select: { reporterId: true } });
    expect(incidents).toHaveLength(2);
    expect(new Set(incidents.map((incident) => incident.reporterId)).size).toBe(2);
  });
});

describe('key A’s own incident, retried', () => {
  it('a retried first page (same idempotency key) answers key A its incident again, sequentially and raced', async () => {
    const { carrierA } = await tokens();
    const { incidentId, input } = await carrierAsIncident(carrierA);
    const retried = await app.gql(REPORT, { i: input }, carrierA);
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.reportServiceIncident).toMatchObject({ incident: { id: nodeId(incidentId), description: SECRET } });

    const page = {
      type: 'LATE_DELIVERY',
      severity: 'LOW',
      description: 'raced',
      affected: [{ memberId: await app.enroll() }],
      idempotencyKey: 'raced-1',
    };
    const answers = await Promise.all(Array.from({ length: 6 }, () => app.gql(REPORT, { i: page }, carrierA)));
    const ids = new Set(answers.map((answer) => answer.data?.reportServiceIncident.incident?.id));
    expect([...ids]).toHaveLength(1);
    expect([...ids][0]).toEqual(expect.any(String));
    for (const answer of answers) expect(answer.data?.reportServiceIncident.incident).toMatchObject({ description: 'raced' });
    expect(await prisma.serviceIncident.count({ where: { description: 'raced' } })).toBe(1);
  });
});

describe('a staff member’s incident', () => {
  it('is null to every failures:report key by id, node and list; staff read it', async () => {
    const memberId = await app.enroll();
    const page = await reportServiceIncident(
      app.deps,
      { type: 'OUTAGE', severity: 'CRITICAL', description: SECRET, affected: [{ memberId }], idempotencyKey: 'staff-1' },
      staffCaller('AGENT', 'agent-anna'),
    );
    const { carrierA, agent } = await tokens();
    expect(await app.gql(BY_ID, { id: page.incidentId }, carrierA)).toEqual({ data: { serviceIncident: null } });
    expect(await app.gql(NODE, { id: nodeId(page.incidentId) }, carrierA)).toEqual({ data: { node: null } });
    expect(await app.gql(LIST, {}, carrierA)).toEqual({ data: { serviceIncidents: { totalCount: 0, edges: [] } } });
    expect((await app.gql(BY_ID, { id: page.incidentId }, agent)).data?.serviceIncident).toMatchObject({ description: SECRET });
  });
});

describe('the service: the rule holds without GraphQL', () => {
  it('serviceIncidentById, serviceIncidentListWhere and serviceIncidentsProgress keep a reporting key to its own incidents', async () => {
    const memberId = await app.enroll();
    const keyA = apiKeyCaller('key-a', ['failures:report']);
    const keyB = apiKeyCaller('key-b', ['failures:report', 'members:read']);
    const own = await reportServiceIncident(
      app.deps,
      { type: 'OUTAGE', severity: 'LOW', description: SECRET, affected: [{ memberId }], idempotencyKey: 'svc-1' },
      keyA,
    );
    expect(await serviceIncidentById(app.deps, own.incidentId, keyA)).toMatchObject({ description: SECRET });
    expect(await serviceIncidentById(app.deps, own.incidentId, keyB)).toBeNull();
    expect(await serviceIncidentById(app.deps, own.incidentId, staffCaller('AGENT'))).toMatchObject({ description: SECRET });
    expect(await prisma.serviceIncident.count({ where: serviceIncidentListWhere(null, keyB) })).toBe(0);
    expect(await prisma.serviceIncident.count({ where: serviceIncidentListWhere({ type: 'OUTAGE' }, keyA) })).toBe(1);
    // Another's incident counts nothing, as an id nobody has.
    expect((await serviceIncidentsProgress(app.deps, [own.incidentId], keyB)).get(own.incidentId)).toMatchObject({ affected: 0, pages: 0 });
    expect((await serviceIncidentsProgress(app.deps, [own.incidentId], keyA)).get(own.incidentId)).toMatchObject({ affected: 1, pages: 1 });
    // A later page of another's incident: NotFoundError before anything is written.
    await expect(
      reportServiceIncident(app.deps, { incidentId: own.incidentId, affected: [{ memberId }], idempotencyKey: 'svc-2' }, keyB),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId: own.incidentId } })).toBe(1);
  });
});
