import { randomUUID } from 'node:crypto';
import { encodeBase64, encodeCursorChunk } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { encodePosition } from '../../src/db/position-cursors.js';
import { ForbiddenError } from '../../src/domain/errors.js';
import { REWARD_CATALOGUE_ORDER } from '../../src/domain/rewards/rewards.service.js';
import { serviceIncidentFailures } from '../../src/domain/service-failures/incident-failures.service.js';
import type { ServiceFailureStatus } from '../../src/generated/prisma/client.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';
import { testDatabaseUrl } from '../support/db.js';
import { STAFF_OUTAGE } from '../support/incidents.js';
import { rowsDuring } from '../support/rows-read.js';
import { rowsScannedDuring } from '../support/rows-scanned.js';

/**
 * A page of an incident's `failures` reads its page, not the incident's failures. It was read in the incident's own
 * statement (Prisma's LATERAL subquery), which PostgreSQL served through the (incident_id, member_id) index and a sort
 * of ALL the incident's failures: a page of 10 of an incident of 5 000 went through 5 000 rows, whatever the cursor,
 * and under a page of incidents through all of each. What PostgreSQL went through is measured by running each statement
 * the request sent again under EXPLAIN (ANALYZE) (tests/support/rows-scanned.ts); what it answered, by
 * tests/support/rows-read.ts.
 *
 * The fixtures are those that fooled PostgreSQL's planner into reading whole incidents even with an index on
 * (incident_id, id), statistics taken (ANALYZE) as in production: older failures of no incident, then two incidents of
 * 5 000 — most of all failures, so that walking the primary key in id order, from the oldest failure of all, looked
 * as cheap as the index; and, added, a thousand small incidents, whose statistics make every incident look like a few
 * rows, so that for a page larger than that PostgreSQL read the whole incident and sorted it.
 */
const { prisma, app } = useTestApp();

const BIG = 5_000;
const ALONE = 2_000;

const cursorOf = (id: string) => encodeBase64(`GPC:${encodeCursorChunk(id)}`);
const globalIds = (ids: string[]) => ids.map((id) => encodeGlobalID('ServiceFailure', id));

let staff: string;
/** The two large incidents. */
let older: string;
let newer: string;
/** Each incident's failures as a plain `ORDER BY id` reads them, by status too. */
const failuresOf = async (incidentId: string, status?: ServiceFailureStatus) =>
  (
    await prisma.serviceFailure.findMany({
      where: { incidentId, ...(status ? { status } : {}) },
      orderBy: { id: 'asc' },
      select: { id: true },
    })
  ).map((row) => row.id);

async function incident(description: string, createdAt: Date): Promise<string> {
  const row = await prisma.serviceIncident.create({
    data: { ...STAFF_OUTAGE, occurredAt: createdAt, currency: 'EUR', description, createdAt },
  });
  return row.id;
}

/** `count` incidents of `size` failures each (of the first members), created a day ago: older than the large ones. */
async function smallIncidents(count: number, size: number): Promise<void> {
  await prisma.$executeRaw`
    WITH incidents AS (
      INSERT INTO service_incidents (type, severity, occurred_at, reporter_type, reporter_id, currency, created_at)
      SELECT 'OUTAGE', 'LOW', now(), 'STAFF', 'staff-agent', 'EUR', now() - interval '1 day' FROM generate_series(1, ${count}::int)
      RETURNING id)
    INSERT INTO service_failures (member_id, type, severity, occurred_at, reporter_type, reporter_id, incident_id)
    SELECT m.id, 'OUTAGE', 'LOW', now(), 'STAFF', 'staff-agent', i.id
    FROM incidents i CROSS JOIN (SELECT id FROM members ORDER BY external_id LIMIT ${size}::int) m`;
}

beforeEach(async () => {
  await prisma.$executeRaw`INSERT INTO members (external_id, name) SELECT 'page-' || lpad(i::text, 5, '0'), 'Member ' || i FROM generate_series(1, ${BIG}::int) i`;
  // Failures reported one by one, before any incident: no incident, the oldest ids.
  await prisma.$executeRaw`
    INSERT INTO service_failures (member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id)
    SELECT id, 'LATE_DELIVERY', 'LOW', now(), 'alone-' || external_id, 'STAFF', 'staff-agent' FROM members ORDER BY external_id LIMIT ${ALONE}::int`;
  await smallIncidents(1, 3);
  // Two incidents of 5 000, every member, one incident after the other; in the order of their ids, RECORDED and
  // NOT_ELIGIBLE in turn.
  older = await incident('older', new Date(Date.now() - 60_000));
  newer = await incident('newer', new Date());
  for (const incidentId of [older, newer]) {
    await prisma.$executeRaw`
      INSERT INTO service_failures (member_id, type, severity, occurred_at, reporter_type, reporter_id, incident_id)
      SELECT id, 'OUTAGE', 'LOW', now(), 'STAFF', 'staff-agent', ${incidentId}::uuid FROM members`;
    await prisma.$executeRaw`
      UPDATE service_failures f SET status = 'NOT_ELIGIBLE'
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM service_failures WHERE incident_id = ${incidentId}::uuid) o
      WHERE f.id = o.id AND o.n % 2 = 0`;
  }
  await prisma.$executeRawUnsafe('VACUUM (ANALYZE) service_failures');
  staff = await app.staffToken('AGENT');
});

const PAGE = `edges { cursor node { id status } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`;
const ONE = `query($id: ID!, $first: Int, $last: Int, $after: String, $before: String, $status: ServiceFailureStatus) {
  serviceIncident(id: $id) { id failures(first: $first, last: $last, after: $after, before: $before, status: $status) { ${PAGE} } } }`;

interface Page {
  edges: { cursor: string; node: { id: string; status: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}
const ids = (page: Page) => page.edges.map((edge) => edge.node.id);

/** The statement that loads a page's failures by their ids (Prisma's `findMany({ where: { id: { in } } })`). */
const BY_KEY = /WHERE "t0"\."id" IN \(/;

/**
 * The request's answer, what PostgreSQL read of service_failures for it, and what it answered in all. The page's
 * rows fetched by key count as the keys asked for: how PostgreSQL finds 101 keys is its choice by the table's size —
 * on this test's table of 14 000 failures it reads the table (cheaper, by its costs, than 101 lookups), on a table a
 * few times larger it takes the primary key — and it is not what these tests are about (the first test holds a page
 * of 10 to the primary key).
 */
async function measured(query: string, variables: Record<string, unknown>, token = staff) {
  const { result: answered, statements } = await rowsScannedDuring(testDatabaseUrl(), () =>
    rowsDuring(() => app.gql(query, variables, token)),
  );
  const { result, total } = answered;
  const plan = statements.map((statement) => `${statement.sql.replace(/\s+/g, ' ').slice(0, 100)}: ${statement.plan}`).join('\n');
  const read = statements.reduce(
    (sum, statement) =>
      sum + (BY_KEY.test(statement.sql) ? (statement.sql.match(/\$\d+/g) ?? []).length : (statement.read.get('service_failures') ?? 0)),
    0,
  );
  const byKey = statements.filter((statement) => BY_KEY.test(statement.sql)).map((statement) => statement.plan);
  return { result, read, byKey, answered: total, statements: statements.length, plan };
}

/**
 * What a page may make PostgreSQL go through, for each incident: its rows and one more (`hasNextPage`), twice — their
 * ids from the index, then the rows by key — with as many again passed over when a status filter holds every other
 * failure; a cursor, one lookup by key per incident (is it this incident's failure?).
 */
const bound = (incidents: number, first: number, { status = false, cursor = false } = {}) =>
  incidents * ((first + 1) * (status ? 3 : 2) + (cursor ? 1 : 0));

describe('a page of an incident’s failures reads its page', () => {
  it('the first page, a page after a cursor, before it (last), and the last page: the ORDER BY id rows, from that many', async () => {
    const all = await failuresOf(newer);
    const id = encodeGlobalID('ServiceIncident', newer);
    const cases: [Record<string, unknown>, string[], { hasNextPage: boolean; hasPreviousPage: boolean }, boolean][] = [
      [{ first: 10 }, all.slice(0, 10), { hasNextPage: true, hasPreviousPage: false }, false],
      [{ first: 10, after: cursorOf(all[2_500]!) }, all.slice(2_501, 2_511), { hasNextPage: true, hasPreviousPage: true }, true],
      [{ last: 10, before: cursorOf(all[2_500]!) }, all.slice(2_490, 2_500), { hasNextPage: true, hasPreviousPage: true }, true],
      [{ last: 10 }, all.slice(-10), { hasNextPage: false, hasPreviousPage: true }, false],
      [{ first: 10, after: cursorOf(all[BIG - 5]!) }, all.slice(BIG - 4), { hasNextPage: false, hasPreviousPage: true }, true],
    ];
    for (const [variables, expected, pageInfo, cursor] of cases) {
      const { result, read, byKey, answered, plan } = await measured(ONE, { id, ...variables });
      // The page's rows by key: through the primary key.
      expect(byKey.length, plan).toBe(expected.length > 0 ? 1 : 0);
      for (const fetched of byKey) expect(fetched, plan).toMatch(/^Index Scan service_failures_pkey/);
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      const page = result.data!.serviceIncident.failures as Page;
      expect(ids(page), JSON.stringify(variables)).toEqual(globalIds(expected));
      expect(page.pageInfo).toMatchObject(pageInfo);
      expect(page.pageInfo.startCursor).toBe(cursorOf(expected[0]!));
      expect(page.pageInfo.endCursor).toBe(cursorOf(expected.at(-1)!));
      expect(page.edges.map((edge) => edge.cursor)).toEqual(expected.map(cursorOf));
      // Today's figures: 5 000 read (and sorted) for each of these pages.
      expect(read, `${JSON.stringify(variables)} ${plan}`).toBeLessThanOrEqual(bound(1, 10, { cursor }));
      expect(answered).toBeLessThanOrEqual(1 + bound(1, 10, { cursor }));
    }
  });

  it('with a status: the ORDER BY id rows of that status after and before a cursor, from about that many', async () => {
    const recorded = await failuresOf(newer, 'RECORDED');
    const all = await failuresOf(newer);
    const id = encodeGlobalID('ServiceIncident', newer);
    // A cursor of a failure of another status is a place too: the page is the RECORDED ones after it.
    const other = all.find((failure, i) => i > 2_000 && !recorded.includes(failure))!;
    const place = recorded.findIndex((failure) => failure > other);
    for (const [variables, expected] of [
      [{ first: 10, status: 'RECORDED' }, recorded.slice(0, 10)],
      [{ first: 50, status: 'RECORDED' }, recorded.slice(0, 50)],
      [{ first: 10, status: 'RECORDED', after: cursorOf(other) }, recorded.slice(place, place + 10)],
      [{ last: 10, status: 'RECORDED', before: cursorOf(other) }, recorded.slice(place - 10, place)],
    ] as const) {
      const { result, read, plan } = await measured(ONE, { id, ...variables });
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      expect(ids(result.data!.serviceIncident.failures as Page)).toEqual(globalIds([...expected]));
      const first = 'first' in variables ? variables.first : variables.last;
      expect(read, `${JSON.stringify(variables)} ${plan}`).toBeLessThanOrEqual(
        bound(1, first, { status: true, cursor: 'after' in variables || 'before' in variables }),
      );
    }
  });

  it('under a page of incidents: each incident’s page, all of them in one statement, from that many rows', async () => {
    const LIST = `query($after: String, $status: ServiceFailureStatus) { serviceIncidents(first: 3) { edges { node { id
      failures(first: 10, after: $after, status: $status) { ${PAGE} } } } } }`;
    type Listed = { node: { id: string; failures: Page } };
    // The newest incidents: the two large ones, then one of the small ones.
    const small = (
      await prisma.serviceIncident.findFirstOrThrow({ where: { description: null }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] })
    ).id;
    const shown = [newer, older, small];
    const { result, read, statements, plan } = await measured(LIST, {});
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    const listed = result.data!.serviceIncidents.edges as Listed[];
    expect(listed.map((edge) => edge.node.id)).toEqual(shown.map((incidentId) => encodeGlobalID('ServiceIncident', incidentId)));
    for (const [i, edge] of listed.entries()) {
      expect(ids(edge.node.failures)).toEqual(globalIds((await failuresOf(shown[i]!)).slice(0, 10)));
    }
    expect(read, plan).toBeLessThanOrEqual(3 + bound(3, 10));
    // The incidents, their pages' ids, the pages' rows: three statements, however many incidents.
    expect(statements, plan).toBeLessThanOrEqual(3);

    // After a cursor of the newer incident's: its next page; the others' pages are of nothing (not theirs).
    const all = await failuresOf(newer);
    const after = await measured(LIST, { after: cursorOf(all[3_000]!) });
    expect(after.result.errors).toBeUndefined();
    const pages = (after.result.data!.serviceIncidents.edges as Listed[]).map((edge) => edge.node.failures);
    expect(ids(pages[0]!)).toEqual(globalIds(all.slice(3_001, 3_011)));
    expect(pages.slice(1).map(ids)).toEqual([[], []]);
    expect(pages.slice(1).map((page) => page.pageInfo)).toEqual([
      { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
      { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
    ]);
    expect(after.read, after.plan).toBeLessThanOrEqual(3 + bound(3, 10, { cursor: true }));

    // With a status, each incident's RECORDED ones.
    const status = await measured(LIST, { status: 'RECORDED' });
    expect(status.result.errors).toBeUndefined();
    const recorded = (status.result.data!.serviceIncidents.edges as Listed[]).map((edge) => ids(edge.node.failures));
    const expectedRecorded = [];
    for (const incidentId of shown) expectedRecorded.push(globalIds((await failuresOf(incidentId, 'RECORDED')).slice(0, 10)));
    expect(recorded).toEqual(expectedRecorded);
    expect(status.read, status.plan).toBeLessThanOrEqual(3 + bound(3, 10, { status: true }));
  });

  it('two pages of the same failures in one request stay apart, under one incident and under a page of incidents', async () => {
    const all = await failuresOf(newer);
    const recorded = await failuresOf(newer, 'RECORDED');
    const TWO = `query($id: ID!, $after: String) { serviceIncident(id: $id) {
      a: failures(first: 2) { ${PAGE} } b: failures(first: 5, status: RECORDED, after: $after) { ${PAGE} } } }`;
    const one = await app.gql(TWO, { id: encodeGlobalID('ServiceIncident', newer), after: cursorOf(recorded[3]!) }, staff);
    expect(one.errors, JSON.stringify(one.errors)).toBeUndefined();
    expect(ids(one.data!.serviceIncident.a as Page)).toEqual(globalIds(all.slice(0, 2)));
    expect(ids(one.data!.serviceIncident.b as Page)).toEqual(globalIds(recorded.slice(4, 9)));

    const LISTED = `{ serviceIncidents(first: 2) { edges { node { id
      a: failures(first: 2) { ${PAGE} } b: failures(last: 3, status: NOT_ELIGIBLE) { ${PAGE} } } } } }`;
    const listed = await app.gql(LISTED, {}, staff);
    expect(listed.errors, JSON.stringify(listed.errors)).toBeUndefined();
    const nodes = (listed.data!.serviceIncidents.edges as { node: { id: string; a: Page; b: Page } }[]).map((edge) => edge.node);
    expect(nodes.map((node) => node.id)).toEqual([newer, older].map((incidentId) => encodeGlobalID('ServiceIncident', incidentId)));
    for (const [i, incidentId] of [newer, older].entries()) {
      expect(ids(nodes[i]!.a)).toEqual(globalIds((await failuresOf(incidentId)).slice(0, 2)));
      expect(ids(nodes[i]!.b)).toEqual(globalIds((await failuresOf(incidentId, 'NOT_ELIGIBLE')).slice(-3)));
    }
  });

  it('among many small incidents (an incident looks like a few rows): still the page, not the incident', async () => {
    await smallIncidents(1_000, 2);
    await prisma.$executeRawUnsafe('VACUUM (ANALYZE) service_failures');
    const id = encodeGlobalID('ServiceIncident', newer);
    const all = await failuresOf(newer);
    const recorded = await failuresOf(newer, 'RECORDED');
    for (const [variables, expected, status] of [
      [{ first: 10 }, all.slice(0, 10), false],
      [{ first: 100 }, all.slice(0, 100), false],
      [{ last: 100 }, all.slice(-100), false],
      [{ first: 50, status: 'RECORDED' }, recorded.slice(0, 50), true],
    ] as const) {
      const { result, read, plan } = await measured(ONE, { id, ...variables });
      expect(ids(result.data!.serviceIncident.failures as Page)).toEqual(globalIds([...expected]));
      expect(read, `${JSON.stringify(variables)} ${plan}`).toBeLessThanOrEqual(bound(1, expected.length, { status }));
    }
  });

  it('totalCount counts the whole list with the status; a count alone reads no page', async () => {
    const query = `query($id: ID!, $status: ServiceFailureStatus) { serviceIncident(id: $id) { failures(first: 5, status: $status) { totalCount } } }`;
    for (const [status, count] of [
      [undefined, BIG],
      ['RECORDED', BIG / 2],
      ['HELD', 0],
    ] as const) {
      const { result, statements } = await measured(query, { id: encodeGlobalID('ServiceIncident', older), status });
      expect(result.data!.serviceIncident.failures.totalCount).toBe(count);
      // The incident and the count: no page read.
      expect(statements).toBeLessThanOrEqual(2);
    }
  });

  it('what each failure asks for (its member, its incident) comes with the page’s rows, not a statement per failure', async () => {
    const query = `query { serviceIncidents(first: 3) { edges { node { failures(first: 10) { edges { node { id compensation { amount }
      member { id } incident { id } } } } } } } }`;
    const { result, statements, plan } = await measured(query, {});
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    const nodes = (
      result.data!.serviceIncidents.edges as { node: { failures: { edges: { node: { incident: { id: string } } }[] } } }[]
    ).map((edge) => edge.node.failures.edges.map((failure) => failure.node.incident.id));
    expect(nodes.map((incidentIds) => incidentIds.length)).toEqual([10, 10, 3]);
    expect(statements, plan).toBeLessThanOrEqual(3);
  });
});

describe('what a page refuses, as before', () => {
  it('a cursor the list did not hand out, of another list, negative page sizes, both cursors: the same errors, nothing read', async () => {
    const id = encodeGlobalID('ServiceIncident', newer);
    const notACursor = (argument: string) => [
      { message: `Argument "${argument}" of "failures" is not a cursor of this list.`, extensions: { code: 'BAD_USER_INPUT' } },
    ];
    const all = await failuresOf(newer);
    const refused = (message: string) => [{ message, path: ['serviceIncident'], extensions: { code: 'BAD_USER_INPUT' } }];
    for (const [variables, errors] of [
      [{ first: 5, after: 'garbage' }, notACursor('after')],
      [{ last: 5, before: encodeBase64('GPC:S:not-a-uuid') }, notACursor('before')],
      [{ first: 5, after: encodePosition(REWARD_CATALOGUE_ORDER, { pointsCost: 100, id: randomUUID() }) }, notACursor('after')],
      [{ first: -1 }, refused('Argument "first" must be a non-negative integer')],
      [{ last: -5 }, refused('Argument "last" must be a non-negative integer')],
      [
        { first: 5, after: cursorOf(all[1]!), before: cursorOf(all[9]!) },
        refused('Arguments "before" and "after" are not supported at the same time'),
      ],
      [{ last: 5, after: cursorOf(all[1]!) }, refused('Arguments "after" and "last" are not supported at the same time')],
    ] as const) {
      const { result, statements } = await measured(ONE, { id, ...variables });
      expect(result.errors, JSON.stringify(variables)).toMatchObject(errors);
      expect(result.errors).toHaveLength(1);
      // Refused before execution (no data), or with the incident's field before its read (null): nothing read.
      if ((errors[0] as { path?: unknown }).path) expect(result.data).toEqual({ serviceIncident: null });
      else expect(result.data).toBeUndefined();
      expect(statements).toBe(0);
    }
    expect(await prisma.serviceFailure.count()).toBe(ALONE + 3 + 2 * BIG);
  });

  it('a page beyond the cap is a page of 100; a cursor of another incident’s failure, or of none, an empty page', async () => {
    const id = encodeGlobalID('ServiceIncident', newer);
    const all = await failuresOf(newer);
    const capped = await measured(ONE, { id, first: 150 });
    expect(ids(capped.result.data!.serviceIncident.failures as Page)).toEqual(globalIds(all.slice(0, 100)));
    expect(capped.read).toBeLessThanOrEqual(bound(1, 100));

    const foreign = (await failuresOf(older))[10]!;
    const alone = (await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId: null }, select: { id: true } })).id;
    for (const args of [{ first: 5 }, { last: 5 }]) {
      const cursor = 'first' in args ? 'after' : 'before';
      const nothing = await app.gql(ONE, { id, ...args, [cursor]: cursorOf(randomUUID()) }, staff);
      expect(nothing.data!.serviceIncident.failures).toEqual({
        edges: [],
        pageInfo: { hasNextPage: cursor === 'before', hasPreviousPage: cursor === 'after', startCursor: null, endCursor: null },
      });
      for (const row of [foreign, alone]) expect(await app.gql(ONE, { id, ...args, [cursor]: cursorOf(row) }, staff)).toEqual(nothing);
    }
  });
});

describe('serviceIncidentFailures: who reads an incident’s failures', () => {
  it('staff every incident’s, a reporting key those of the incidents it reported, anyone else nothing at all', async () => {
    const page = { take: 3, select: { id: true } };
    const staffPages = await serviceIncidentFailures(app.deps, [newer, older], {}, staffCaller('AGENT'), page);
    expect([...staffPages.keys()].sort()).toEqual([newer, older].sort());
    await prisma.serviceIncident.update({ where: { id: older }, data: { reporterType: 'API_KEY', reporterId: 'carrier' } });
    const carrier = await serviceIncidentFailures(app.deps, [newer, older], {}, apiKeyCaller('carrier', ['failures:report']), page);
    expect([...carrier.keys()]).toEqual([older]);
    expect(carrier.get(older)!.map((row) => row.id)).toEqual((await failuresOf(older)).slice(0, 3));
    await expect(serviceIncidentFailures(app.deps, [older], {}, memberCaller(randomUUID()), page)).rejects.toBeInstanceOf(ForbiddenError);
  });
});
