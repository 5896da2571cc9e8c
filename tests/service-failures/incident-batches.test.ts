import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import type { ServiceFailureStatus } from '../../src/generated/prisma/client.js';
import { useTestApp } from '../support/app.js';
import { STAFF_OUTAGE } from '../support/incidents.js';
import { statementsDuring } from '../support/statements.js';

/**
 * What a page of incidents asks of each incident — its progress, a page of its failures, their count — is read for all
 * the incidents of the page at once (src/graphql/service-failures/service-incident.type.ts): one statement per kind
 * of read and per page key (the same page arguments, the same status), however many incidents the page holds.
 */
const { prisma, app } = useTestApp();

/** `serviceIncidentsProgress`' statement. */
const PROGRESS = /FROM service_incident_members/;
/** `serviceIncidentFailureCounts`' statement. */
const COUNTS = /count\(\*\)::int AS count/;
/** The ids of the pages of `serviceIncidentFailures` (their rows follow, by key, in a statement of their own). */
const PAGE_IDS = /CROSS JOIN LATERAL/;

/** An incident whose failures have these statuses, one member each; its id. */
async function incident(statuses: ServiceFailureStatus[], members: string[], createdAt: Date): Promise<string> {
  const { id } = await prisma.serviceIncident.create({ data: { ...STAFF_OUTAGE, occurredAt: createdAt, currency: 'EUR', createdAt } });
  for (const [i, status] of statuses.entries()) {
    await prisma.serviceFailure.create({
      data: { ...STAFF_OUTAGE, memberId: members[i]!, occurredAt: createdAt, incidentId: id, status },
    });
  }
  return id;
}

/** The statuses of an incident's first failures, in the order of their ids (a page's order). */
async function firstStatuses(incidentId: string, take: number): Promise<string[]> {
  const failures = await prisma.serviceFailure.findMany({ where: { incidentId }, orderBy: { id: 'asc' }, take, select: { status: true } });
  return failures.map((failure) => failure.status);
}

describe('a page of incidents', () => {
  it('reads its incidents’ progress, failures pages and counts in one statement each, per status asked for', async () => {
    const members = await Promise.all(Array.from({ length: 3 }, () => app.enroll()));
    const now = Date.now();
    const made = [
      await incident(['RECORDED', 'NOT_ELIGIBLE', 'RECORDED'], members, new Date(now - 3_000)),
      await incident(['NOT_ELIGIBLE'], members, new Date(now - 2_000)),
      await incident(['RECORDED', 'RECORDED'], members, new Date(now - 1_000)),
    ].reverse(); // newest first, as the list answers
    const LIST = `{ serviceIncidents(first: 10) { edges { node { id recorded notEligible inProgress
      all: failures(first: 2) { totalCount edges { node { status } } }
      open: failures(first: 2, status: RECORDED) { totalCount edges { node { status } } } } } } }`;
    const { statements, result } = await statementsDuring(async () => app.gql(LIST, {}, await app.staffToken('AGENT')));
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    type Page = { totalCount: number; edges: { node: { status: string } }[] };
    type Node = { id: string; recorded: number; notEligible: number; inProgress: number; all: Page; open: Page };
    const nodes = (result.data!.serviceIncidents.edges as { node: Node }[]).map(({ node }) => ({
      ...node,
      all: { totalCount: node.all.totalCount, statuses: node.all.edges.map((edge) => edge.node.status) },
      open: { totalCount: node.open.totalCount, statuses: node.open.edges.map((edge) => edge.node.status) },
    }));
    expect(nodes).toEqual([
      {
        id: encodeGlobalID('ServiceIncident', made[0]!),
        recorded: 2,
        notEligible: 0,
        inProgress: 2,
        all: { totalCount: 2, statuses: ['RECORDED', 'RECORDED'] },
        open: { totalCount: 2, statuses: ['RECORDED', 'RECORDED'] },
      },
      {
        id: encodeGlobalID('ServiceIncident', made[1]!),
        recorded: 1,
        notEligible: 1,
        inProgress: 0,
        all: { totalCount: 1, statuses: ['NOT_ELIGIBLE'] },
        open: { totalCount: 0, statuses: [] },
      },
      {
        id: encodeGlobalID('ServiceIncident', made[2]!),
        recorded: 3,
        notEligible: 1,
        inProgress: 2,
        all: { totalCount: 3, statuses: await firstStatuses(made[2]!, 2) },
        open: { totalCount: 2, statuses: ['RECORDED', 'RECORDED'] },
      },
    ]);
    const sent = (pattern: RegExp) => statements.filter((sql) => pattern.test(sql)).length;
    // Three incidents: one statement for their progress; for their pages and their counts, one per status asked for.
    expect(sent(PROGRESS)).toBe(1);
    expect(sent(PAGE_IDS)).toBe(2);
    expect(sent(COUNTS)).toBe(2);
  });

  it('a second page of an incident in the same request answers the counts after it, not those the first page read', async () => {
    const [first, second, third] = [await app.enroll(), await app.enroll(), await app.enroll()];
    const agent = await app.staffToken('AGENT');
    const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
      __typename ... on ReportServiceIncidentPayload { incident { id affected } } ... on Error { code message } } }`;
    const opened = await app.gql(
      REPORT,
      { i: { type: 'OUTAGE', severity: 'LOW', affected: [{ memberId: first }], idempotencyKey: 'open-stale' } },
      agent,
    );
    expect(opened.data?.reportServiceIncident.incident.affected, JSON.stringify(opened)).toBe(1);
    const incidentId = opened.data!.reportServiceIncident.incident.id as string;
    // Two pages of the same incident in one request: mutations run one after the other, each answer as it stands then.
    const TWO = `mutation($a: ReportServiceIncidentInput!, $b: ReportServiceIncidentInput!) {
      a: reportServiceIncident(input: $a) { ... on ReportServiceIncidentPayload { incident { affected } } ... on Error { code message } }
      b: reportServiceIncident(input: $b) { ... on ReportServiceIncidentPayload { incident { affected } } ... on Error { code message } } }`;
    const both = await app.gql(
      TWO,
      {
        a: { incidentId, affected: [{ memberId: second }], idempotencyKey: 'page-a' },
        b: { incidentId, affected: [{ memberId: third }], idempotencyKey: 'page-b' },
      },
      agent,
    );
    expect(both.errors, JSON.stringify(both.errors)).toBeUndefined();
    expect([both.data!.a.incident.affected, both.data!.b.incident.affected]).toEqual([2, 3]);
  });
});
