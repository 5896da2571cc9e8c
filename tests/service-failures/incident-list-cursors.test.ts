import { randomUUID } from 'node:crypto';
import { encodeBase64, encodeCursorChunk } from '@pothos/core';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * `serviceIncidents(after:)` / `(before:)` for a key with `failures:report`, which lists only the incidents it reported
 * (`readableIncidentWhere`). Prisma looks a cursor's row up by its id alone, not within the listing's `where`: key A
 * paging with the cursor of key B's incident got A's incidents from B's incident's place, where the cursor of an id
 * nobody has answers an empty page — so the answer told A that B's incident exists and when it was reported. The
 * cursor of an incident the caller may not read now answers exactly as the cursor of nothing; staff, who read every
 * incident, page from anyone's.
 */
const { app } = useTestApp();

const PAGE = 'totalCount edges { cursor node { id description } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';
const LIST = `query($first: Int, $after: String, $last: Int, $before: String, $filter: ServiceIncidentFilter) {
  serviceIncidents(first: $first, after: $after, last: $last, before: $before, filter: $filter) { ${PAGE} } }`;
const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) { __typename
  ... on ReportServiceIncidentPayload { incident { id } } ... on Error { code message } } }`;
const listCursor = (id: string) => encodeBase64(`GPC:${encodeCursorChunk(id)}`);

/** An incident reported by `token` through GraphQL; its raw id. */
async function report(token: string, description: string): Promise<string> {
  const memberId = await app.enroll();
  const answer = await app.gql(
    REPORT,
    {
      i: {
        type: 'OUTAGE',
        severity: 'LOW',
        description,
        affected: [{ memberId: encodeGlobalID('Member', memberId) }],
        idempotencyKey: `incident-${randomUUID()}`,
      },
    },
    token,
  );
  expect(answer.data?.reportServiceIncident?.__typename, JSON.stringify(answer)).toBe('ReportServiceIncidentPayload');
  return decodeGlobalID(answer.data!.reportServiceIncident.incident.id as string).id;
}

/** Key A's incidents around key B's one: A1, A2, B1, A3, A4 (reported in that order; listed newest first). */
async function interleaved() {
  const carrierA = await app.apiKeyToken(['failures:report'], 'carrier A');
  const carrierB = await app.apiKeyToken(['failures:report'], 'carrier B');
  const a1 = await report(carrierA, 'A1');
  const a2 = await report(carrierA, 'A2');
  const b1 = await report(carrierB, 'B1');
  const a3 = await report(carrierA, 'A3');
  const a4 = await report(carrierA, 'A4');
  return { carrierA, carrierB, a1, a2, b1, a3, a4 };
}

const descriptions = (answer: Record<string, any>) =>
  (answer.data?.serviceIncidents?.edges as { node: { description: string } }[] | undefined)?.map((edge) => edge.node.description);

describe('serviceIncidents: a cursor of an incident the caller may not read', () => {
  it('answers key A byte for byte as the cursor of an id nobody has, first/after and last/before, with and without a filter', async () => {
    const { carrierA, b1 } = await interleaved();
    const nobody = listCursor(randomUUID());
    const foreign = listCursor(b1);
    for (const page of [
      { first: 10, after: 'CURSOR' },
      { first: 1, after: 'CURSOR' },
      { last: 10, before: 'CURSOR' },
      { first: 10, after: 'CURSOR', filter: { type: 'OUTAGE' } },
      { last: 10, before: 'CURSOR', filter: { open: false } },
    ]) {
      const withCursor = (cursor: string) =>
        Object.fromEntries(Object.entries(page).map(([name, value]) => [name, value === 'CURSOR' ? cursor : value]));
      const ofNobody = await app.request(LIST, withCursor(nobody), { token: carrierA });
      const ofAnother = await app.request(LIST, withCursor(foreign), { token: carrierA });
      expect(ofNobody.status, JSON.stringify(page)).toBe(200);
      expect(ofNobody.body.errors, JSON.stringify(page)).toBeUndefined();
      expect(JSON.stringify(ofAnother.body), JSON.stringify(page)).toBe(JSON.stringify(ofNobody.body));
      expect(ofAnother.status).toBe(ofNobody.status);
      expect(JSON.stringify(ofAnother.body)).not.toContain('B1');
    }
  });

  it('still pages key A from its own incidents, and key B from its own', async () => {
    const { carrierA, carrierB, a3, a2, b1 } = await interleaved();
    const after = await app.gql(LIST, { first: 10, after: listCursor(a3) }, carrierA);
    expect(after.errors).toBeUndefined();
    expect(descriptions(after)).toEqual(['A2', 'A1']);
    expect(after.data?.serviceIncidents.totalCount).toBe(4);
    const before = await app.gql(LIST, { last: 10, before: listCursor(a2) }, carrierA);
    expect(descriptions(before)).toEqual(['A4', 'A3']);
    const own = await app.gql(LIST, { first: 10, after: listCursor(b1) }, carrierB);
    expect(own.errors).toBeUndefined();
    expect(own.data?.serviceIncidents).toMatchObject({ totalCount: 1, edges: [] });
    // Key B's own list: its cursor of A's incident answers as one of nobody, too.
    const ofA = await app.request(LIST, { first: 10, after: listCursor(a3) }, { token: carrierB });
    const ofNobody = await app.request(LIST, { first: 10, after: listCursor(randomUUID()) }, { token: carrierB });
    expect(JSON.stringify(ofA.body)).toBe(JSON.stringify(ofNobody.body));
  });

  it('staff, who read every incident, page from anyone’s incident', async () => {
    const { b1, a3 } = await interleaved();
    for (const role of ['AGENT', 'SUPERVISOR', 'ADMIN'] as const) {
      const token = await app.staffToken(role);
      const after = await app.gql(LIST, { first: 10, after: listCursor(b1) }, token);
      expect(after.errors, role).toBeUndefined();
      expect(descriptions(after), role).toEqual(['A2', 'A1']);
      expect(after.data?.serviceIncidents.totalCount, role).toBe(5);
      const before = await app.gql(LIST, { last: 10, before: listCursor(b1) }, token);
      expect(descriptions(before), role).toEqual(['A4', 'A3']);
      const fromA = await app.gql(LIST, { first: 2, after: listCursor(a3) }, token);
      expect(descriptions(fromA), role).toEqual(['B1', 'A2']);
    }
  });
});
