import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import { ForbiddenError } from '../../src/domain/errors.js';
import { readServiceFailure, reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';

/**
 * Who reads a service failure (2026-12-06, stop 51): what happened to a member, with the reporter's free text
 * (`description`; for a missed service target it names the case and its channel). Staff and the member read it. A
 * key that reports failures (`failures:report`: a shop, a carrier) reads the failures it reported itself — its
 * report's answer, by `node(id)` later, its own incident's — and no other: not by `node(id)`, not on the member, not
 * as the answer of a duplicate report, not through another reporter's incident (which it does not read at all since
 * stop 52).
 */
const { app, prisma } = useTestApp();

const SECRET = 'Case ticket-4711 (PHONE): member in hospital, call back only after 18:00';
const codes = (answer: { errors?: { extensions?: Record<string, unknown> }[] }) => (answer.errors ?? []).map((e) => e.extensions?.code);
const nodeId = (id: string) => encodeGlobalID('ServiceFailure', id);
const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on ServiceFailure { type orderRef caseRef description status } } }`;

/** A failure an agent reported for a member, with free text. */
async function agentsFailure(): Promise<{ memberId: string; failureId: string }> {
  const memberId = await app.enroll();
  const reported = await reportServiceFailure(
    app.deps,
    {
      memberId,
      type: 'UNRESOLVED_CONTACT',
      severity: 'MEDIUM',
      orderRef: 'order-9',
      caseRef: 'ticket-4711',
      description: SECRET,
      idempotencyKey: `a-${memberId}`,
    },
    staffCaller('AGENT', 'agent-anna'),
  );
  return { memberId, failureId: reported.failureId };
}

describe('node(id) of another reporter’s service failure, caller by caller', () => {
  const KINDS: {
    name: string;
    token: (owner: string, stranger: string) => Promise<string | undefined> | undefined;
    reads: 'all' | 'forbidden' | 'nothing-found';
  }[] = [
    { name: 'anonymous', token: () => undefined, reads: 'forbidden' },
    { name: 'the member', token: (owner) => app.memberToken(owner), reads: 'all' },
    { name: 'another member', token: (_owner, stranger) => app.memberToken(stranger), reads: 'nothing-found' },
    ...API_KEY_SCOPES.map((scope) => ({
      name: `key ${scope}`,
      token: () => app.apiKeyToken([scope], `key ${scope}`),
      reads: (scope === 'admin' ? 'all' : scope === 'failures:report' ? 'nothing-found' : 'forbidden') as
        'all' | 'forbidden' | 'nothing-found',
    })),
    {
      name: 'key failures:report + members:read',
      token: () => app.apiKeyToken(['failures:report', 'members:read']),
      reads: 'nothing-found',
    },
    {
      name: 'key with every storefront scope',
      token: () => app.apiKeyToken([...STOREFRONT_SCOPES] as ApiKeyScope[]),
      reads: 'nothing-found',
    },
    { name: 'AGENT', token: () => app.staffToken('AGENT'), reads: 'all' },
    { name: 'SUPERVISOR', token: () => app.staffToken('SUPERVISOR'), reads: 'all' },
    { name: 'ADMIN', token: () => app.staffToken('ADMIN'), reads: 'all' },
  ];

  it('staff and the member read it; a failures:report key finds nothing, as for an id nobody reported; other keys get FORBIDDEN', async () => {
    const { memberId, failureId } = await agentsFailure();
    const stranger = await app.enroll();
    for (const kind of KINDS) {
      const answer = await app.gql(NODE, { id: nodeId(failureId) }, await kind.token(memberId, stranger));
      if (kind.reads === 'all') {
        expect(answer.errors, kind.name).toBeUndefined();
        expect(answer.data?.node, kind.name).toMatchObject({ description: SECRET, caseRef: 'ticket-4711', status: 'RECORDED' });
        continue;
      }
      expect(answer.data?.node ?? null, kind.name).toBeNull();
      expect(JSON.stringify(answer), kind.name).not.toContain('ticket-4711');
      if (kind.reads === 'nothing-found') expect(answer.errors, kind.name).toBeUndefined();
      else expect(codes(answer), kind.name).toContain(kind.name === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    }
  });

  it('the service: readServiceFailure gives a reporting key only its own reports, and refuses a key without the scope', async () => {
    const { failureId } = await agentsFailure();
    const shop = apiKeyCaller('shop-1', ['failures:report']);
    expect(await readServiceFailure(app.deps, failureId, {}, shop)).toBeNull();
    const memberId = await app.enroll();
    const own = await reportServiceFailure(
      app.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'o-1', description: 'parcel 2 days late', idempotencyKey: 'own-1' },
      shop,
    );
    expect(await readServiceFailure(app.deps, own.failureId, {}, shop)).toMatchObject({ description: 'parcel 2 days late' });
    expect(await readServiceFailure(app.deps, own.failureId, {}, apiKeyCaller('shop-2', ['failures:report']))).toBeNull();
    await expect(readServiceFailure(app.deps, failureId, {}, apiKeyCaller('reader', ['members:read']))).rejects.toBeInstanceOf(
      ForbiddenError,
    );
  });
});

describe('what a failures:report key reads of its own reports', () => {
  const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) { __typename
    ... on ReportServiceFailurePayload { duplicate failure { id type orderRef caseRef description status SELECT } } ... on Error { code } } }`;

  it('its report’s answer and, later, node(id): what it sent and the status; the member stays FORBIDDEN', async () => {
    const memberId = await app.enroll();
    const shop = await app.apiKeyToken(['failures:report'], 'carrier');
    const input = {
      memberId: encodeGlobalID('Member', memberId),
      type: 'LATE_DELIVERY',
      severity: 'LOW',
      orderRef: 'o-7',
      description: 'two days late',
    };
    const answer = await app.gql(REPORT.replace('SELECT', ''), { i: { ...input, idempotencyKey: 'r-1' } }, shop);
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.reportServiceFailure).toMatchObject({
      duplicate: false,
      failure: { orderRef: 'o-7', description: 'two days late', status: 'RECORDED' },
    });
    const later = await app.gql(NODE, { id: answer.data?.reportServiceFailure.failure.id }, shop);
    expect(later.errors).toBeUndefined();
    expect(later.data?.node).toMatchObject({ description: 'two days late', status: 'RECORDED' });
    const member = await app.gql(REPORT.replace('SELECT', 'member { id }'), { i: { ...input, idempotencyKey: 'r-1' } }, shop);
    expect(codes(member)).toContain('FORBIDDEN');
  });

  it('a duplicate of a failure another caller reported: duplicate true, the failure null, its words not in the answer', async () => {
    const { memberId } = await agentsFailure();
    const shop = await app.apiKeyToken(['failures:report', 'members:read'], 'shop');
    const answer = await app.gql(
      REPORT.replace('SELECT', ''),
      {
        i: {
          memberId: encodeGlobalID('Member', memberId),
          type: 'UNRESOLVED_CONTACT',
          severity: 'LOW',
          orderRef: 'order-9',
          idempotencyKey: 'dup-1',
        },
      },
      shop,
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.reportServiceFailure).toEqual({ __typename: 'ReportServiceFailurePayload', duplicate: true, failure: null });
    expect(JSON.stringify(answer)).not.toContain('ticket-4711');
  });

  it('Member.serviceFailures: FORBIDDEN for a failures:report key that reads members too; the member’s failures stay unread', async () => {
    const { memberId } = await agentsFailure();
    const answer = await app.gql(
      `query($id: ID!) { member(id: $id) { id serviceFailures { edges { node { caseRef description } } } } }`,
      { id: encodeGlobalID('Member', memberId) },
      await app.apiKeyToken(['failures:report', 'members:read']),
    );
    expect(codes(answer)).toContain('FORBIDDEN');
    expect(JSON.stringify(answer)).not.toContain('ticket-4711');
  });

  it('an incident’s failures: its reporter reads them; another failures:report key reads neither (stop 52: not the incident either)', async () => {
    const memberId = await app.enroll();
    const carrier = await app.apiKeyToken(['failures:report'], 'carrier');
    const REPORT_INCIDENT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) { __typename ... on ReportServiceIncidentPayload { incident { id } } } }`;
    const reported = await app.gql(
      REPORT_INCIDENT,
      {
        i: {
          type: 'LATE_DELIVERY',
          severity: 'LOW',
          affected: [{ memberId: encodeGlobalID('Member', memberId), orderRef: 'parcel-123' }],
          idempotencyKey: 'inc-1',
        },
      },
      carrier,
    );
    expect(reported.errors).toBeUndefined();
    const incidentId = reported.data?.reportServiceIncident.incident.id as string;
    for (;;) {
      const events = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null } });
      if (events.length === 0) break;
      for (const event of events) await processIncidentJob(event.payload as never, app.deps);
    }
    const READ = `query($id: ID!) { serviceIncident(id: $id) { id recorded failures(first: 5) { edges { node { orderRef status } } } } }`;
    const own = await app.gql(READ, { id: incidentId }, carrier);
    expect(own.errors).toBeUndefined();
    expect(own.data?.serviceIncident.failures.edges).toMatchObject([{ node: { orderRef: 'parcel-123' } }]);

    // Another reporting key reads neither the incident nor its failures: the incident is null, as an unknown id
    // (tests/service-failures/incident-permissions-audit.test.ts).
    const other = await app.gql(READ, { id: incidentId }, await app.apiKeyToken(['failures:report'], 'another shop'));
    expect(other).toEqual({ data: { serviceIncident: null } });
    expect(JSON.stringify(other)).not.toContain('parcel-123');
  });
});
