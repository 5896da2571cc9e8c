// No useTestApp(): one fixture (three members and rows of every list, interleaved in time) serves every case.
import { randomUUID } from 'node:crypto';
import { decodeBase64, decodeCursorChunk, encodeBase64, encodeCursorChunk } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { expandIncidentPage, reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { staffCaller } from '../support/callers.js';
import { createTestApp, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';
import { Seeder } from '../support/permission-probes.js';
import { statementsDuring } from '../support/statements.js';

/**
 * A connection's cursor is a position in that connection's list. Prisma's cursor pagination looks the cursor's row up
 * by its id alone, so a cursor naming a row of another parent (member B's ledger entry, in member A's ledger) used to
 * page A's list from B's row's place: an answer that told A that B's row exists and when it was written, where a
 * cursor of an id that exists nowhere answers an empty page. Every connection of a parent's rows must answer a cursor
 * of a row outside that parent exactly as it answers a cursor of nothing, for every caller (docs/errors.md), while a
 * cursor of the parent's own row still pages.
 */
let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
let seed: Seeder;
let a: string;
let b: string;
const tokens: Record<string, string> = {};

/**
 * Rows of one list: two of A's, B's, two more of A's (made in that order), so that B's sits between A's. Two on each
 * side: Prisma skips the row at the cursor's place (`skip: 1`), so a foreign cursor's page lost one of A's rows.
 */
interface Rows {
  aOlder: string;
  b: string;
  aNewer: string;
}

interface Case {
  /** The connection, as Type.field. */
  name: string;
  rows: Rows;
  /** The query, given the connection's arguments and selection, and who may ask it. */
  query: (page: string) => string;
  variables: () => Record<string, unknown>;
  callers: string[];
}

const cases: Case[] = [];
const DAY = 86_400_000;
const PAGE = 'totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';
const listCursor = (id: string) => encodeBase64(`GPC:${encodeCursorChunk(id)}`);
/**
 * The rows of the edges in an answer, by their cursors: a row's id, or the id a position ends in (the cursors of a
 * list ordered by a column that can change, `Member.orders`: src/db/position-cursors.ts).
 */
const cursorRows = (answer: string) =>
  [...answer.matchAll(/"cursor":"([^"]+)"/g)].map(([, cursor]) => {
    const value: unknown = decodeCursorChunk(decodeBase64(cursor!).slice('GPC:'.length));
    return Array.isArray(value) ? value.at(-1) : value;
  });

/** Rows of a member's list, made by `make` for A, A, B, A and A in turn. */
async function interleaved(make: (memberId: string) => Promise<string>): Promise<Rows> {
  await make(a);
  const aOlder = await make(a);
  const bRow = await make(b);
  const aNewer = await make(a);
  await make(a);
  return { aOlder, b: bRow, aNewer };
}

/** A Member connection, asked of A by A's token (`me`) and by staff and a storefront key (`member(id)`). */
function memberList(field: string, rows: Rows) {
  const id = encodeGlobalID('Member', a);
  cases.push(
    {
      name: `Member.${field} (me)`,
      rows,
      query: (page) => `query ($c: String!) { me { ${field}${page} } }`,
      variables: () => ({}),
      callers: ['member'],
    },
    {
      name: `Member.${field} (member(id))`,
      rows,
      query: (page) => `query ($id: ID!, $c: String!) { member(id: $id) { ${field}${page} } }`,
      variables: () => ({ id }),
      callers: ['member', 'staff', 'key'],
    },
  );
}

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
  seed = new Seeder(prisma);
  await resetDatabase(prisma);
  a = await app.enroll();
  b = await app.enroll();
  const c = [await app.enroll(), await app.enroll(), await app.enroll()];
  tokens.member = await app.memberToken(a);
  tokens.staff = await app.staffToken('SUPERVISOR');
  tokens.key = await app.apiKeyToken(['members:read']);
  const deps = { prisma, logger: testLogger };
  const agent = staffCaller('AGENT');

  const orders: string[] = [];
  memberList(
    'ledger',
    await interleaved(async (memberId) => {
      const { orderRef, entryId } = await seed.earnedOrder(memberId);
      orders.push((await prisma.pointOrder.findFirstOrThrow({ where: { memberId, orderRef } })).id);
      return entryId;
    }),
  );
  memberList('orders', { aOlder: orders[1]!, b: orders[2]!, aNewer: orders[3]! });
  memberList('vouchers', await interleaved(async (memberId) => (await seed.voucher(memberId)).voucherId));
  memberList('goodwillGestures', await interleaved(async (memberId) => (await seed.pendingGesture(memberId)).gestureId));
  memberList('serviceCases', await interleaved(async (memberId) => (await seed.openCase(memberId)).caseId));
  memberList('feedback', await interleaved(async (memberId) => (await submitFeedback(deps, { memberId, nps: 9 }, agent)).id));
  memberList('serviceFailures', await interleaved(async (memberId) => (await seed.failure(memberId)).failureId));
  memberList(
    'tierHistory',
    await interleaved(
      async (memberId) =>
        (await prisma.tierChange.create({ data: { memberId, fromTier: 'x', toTier: 'y', reason: 'UPGRADE', qualifyingPoints: 0 } })).id,
    ),
  );
  memberList('contracts', await interleaved(async (memberId) => (await seed.contract(memberId)).contractId));

  // Contract.renewals (ordered by sequence): A's contract renewed four times, B's three (its second sits between A's).
  const aContract = await seed.contract(a);
  const bContract = await seed.contract(b);
  const renewal = async (contractId: string, sequence: number) =>
    (
      await prisma.contractRenewal.create({
        data: {
          contractId,
          sequence,
          termMonths: 12,
          previousEndsAt: new Date(Date.now() + sequence * DAY),
          newEndsAt: new Date(Date.now() + (sequence + 1) * DAY),
          requestedType: 'STAFF',
          requestedBy: 'test',
        },
      })
    ).id;
  const [, renewalOlder, , renewalNewer] = [
    await renewal(aContract.contractId, 1),
    await renewal(aContract.contractId, 2),
    await renewal(aContract.contractId, 3),
    await renewal(aContract.contractId, 4),
  ];
  await renewal(bContract.contractId, 1);
  const bRenewal = await renewal(bContract.contractId, 2);
  await renewal(bContract.contractId, 3);
  const contractId = encodeGlobalID('Contract', aContract.contractId);
  cases.push({
    name: 'Contract.renewals',
    rows: { aOlder: renewalOlder, b: bRenewal, aNewer: renewalNewer },
    query: (page) => `query ($id: ID!, $c: String!) { node(id: $id) { ... on Contract { renewals${page} } } }`,
    variables: () => ({ id: contractId }),
    callers: ['member', 'staff', 'key'],
  });

  // ServiceIncident.failures (ordered by id, uuid v7): incident 1's failures, incident 2's, incident 1's again.
  const page = async (memberId: string, incidentId?: string) => {
    const reported = await reportServiceIncident(
      deps,
      {
        ...(incidentId ? { incidentId } : { type: 'OUTAGE', severity: 'LOW' }),
        affected: [{ memberId }],
        idempotencyKey: randomUUID(),
      },
      agent,
    );
    await expandIncidentPage(deps, reported.pageId);
    const failure = await prisma.serviceFailure.findFirstOrThrow({ where: { memberId, incidentId: reported.incidentId } });
    return { incidentId: reported.incidentId, failureId: failure.id };
  };
  const first = await page(a);
  const older = await page(c[0]!, first.incidentId);
  const other = await page(b);
  const newer = await page(c[1]!, first.incidentId);
  await page(c[2]!, first.incidentId);
  const incidentId = encodeGlobalID('ServiceIncident', first.incidentId);
  cases.push({
    name: 'ServiceIncident.failures',
    rows: { aOlder: older.failureId, b: other.failureId, aNewer: newer.failureId },
    query: (page) => `query ($id: ID!, $c: String!) { serviceIncident(id: $id) { failures${page} } }`,
    variables: () => ({ id: incidentId }),
    callers: ['staff'],
  });
});
afterAll(async () => prisma.$disconnect());

async function answer(testCase: Case, caller: string, args: string, cursor: string) {
  return app.gql(testCase.query(`(${args}) { ${PAGE} }`), { ...testCase.variables(), c: cursor }, tokens[caller]);
}

describe('a cursor of a row outside the connection’s parent answers as a cursor of nothing', () => {
  it('covers every connection of a parent’s rows', () => {
    const related = Object.values(getSchema().getTypeMap()).flatMap((type) =>
      isObjectType(type) && type.name !== 'Query'
        ? Object.values(type.getFields())
            .filter((field) => field.args.some((arg) => arg.name === 'after'))
            .map((field) => `${type.name}.${field.name}`)
        : [],
    );
    // Program.changes: there is one program, and every change is its own; no row lies outside that parent.
    const covered = new Set([...cases.map((testCase) => testCase.name.split(' ')[0]), 'Program.changes']);
    expect(related.sort()).toEqual([...covered].sort());
  });

  it('after and before: another parent’s row answers exactly as a random id', async () => {
    const differing: string[] = [];
    for (const testCase of cases) {
      for (const caller of testCase.callers) {
        for (const args of ['first: 5, after: $c', 'last: 5, before: $c']) {
          const foreign = await answer(testCase, caller, args, listCursor(testCase.rows.b));
          const nothing = await answer(testCase, caller, args, listCursor(randomUUID()));
          if (JSON.stringify(foreign) !== JSON.stringify(nothing)) differing.push(`${testCase.name} ${caller} ${args}`);
          else expect(foreign).toEqual(nothing);
        }
      }
    }
    expect(differing).toEqual([]);
  });

  it('the parent’s own cursor still pages', async () => {
    for (const testCase of cases) {
      for (const caller of testCase.callers) {
        const mayRead = await answer(testCase, caller, 'first: 5, after: $c', listCursor(randomUUID()));
        if (mayRead.errors) continue; // a caller refused the list (e.g. a key and goodwill gestures) is refused alike
        const page = async (args: string, row: string) => {
          const response = await answer(testCase, caller, args, listCursor(row));
          expect(response.errors, `${testCase.name} ${caller}`).toBeUndefined();
          return cursorRows(JSON.stringify(response.data));
        };
        const newest = testCase.name === 'Contract.renewals' || testCase.name === 'ServiceIncident.failures' ? 'aNewer' : 'aOlder';
        const first = newest === 'aOlder' ? testCase.rows.aNewer : testCase.rows.aOlder;
        const second = newest === 'aOlder' ? testCase.rows.aOlder : testCase.rows.aNewer;
        // After the first row of A's in the list's order comes the second; before the second comes the first.
        const after = await page('first: 5, after: $c', first);
        expect(after, `${testCase.name} ${caller}`).toContain(second);
        const before = await page('last: 5, before: $c', second);
        expect(before, `${testCase.name} ${caller}`).toContain(first);
      }
    }
  });
});

/**
 * Under a page of parents every parent asks whether the cursor's row is its own: in one statement for all of them, not
 * one per parent (a page of 50 members asked 50 times).
 */
describe('under a page of parents', () => {
  const NESTED = `query ($c: String!) { members(first: 10) { edges { node { id ledger(first: 5, after: $c) { ${PAGE} } } } } }`;
  /** An ownership check's statement: which of these members has the ledger entry (its id alone, read from members). */
  const OWNERSHIP = /^SELECT "t0"\."id" FROM "public"\."members" AS "t0" WHERE .*"public"\."ledger_entries"/s;
  type Nested = { members: { edges: { node: { id: string; ledger: unknown } }[] } };

  it('one statement asks every parent whether the cursor’s row is theirs, and each answers as alone', async () => {
    const ledger = cases.find((testCase) => testCase.name === 'Member.ledger (member(id))')!;
    const { statements, result } = await statementsDuring(() =>
      app.gql<Nested>(NESTED, { c: listCursor(ledger.rows.aNewer) }, tokens.staff),
    );
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    const parents = result.data!.members.edges.map((edge) => edge.node);
    expect(parents.length).toBeGreaterThanOrEqual(5);
    // The owner is among them, so that one parent pages from the cursor while the others answer a cursor of nothing.
    expect(parents.map((parent) => parent.id)).toContain(encodeGlobalID('Member', a));

    // A's ledger (newest first) pages from A's entry as when asked alone; every other's is a cursor of nothing's page.
    const alone = await answer(ledger, 'staff', 'first: 5, after: $c', listCursor(ledger.rows.aNewer));
    const nothing = await app.gql<Nested>(NESTED, { c: listCursor(randomUUID()) }, tokens.staff);
    expect([alone.errors, nothing.errors]).toEqual([undefined, undefined]);
    const pagesOfNothing = new Map(nothing.data!.members.edges.map(({ node }) => [node.id, node.ledger]));
    for (const parent of parents) {
      if (parent.id === encodeGlobalID('Member', a)) {
        expect(parent.ledger).toEqual(alone.data!.member.ledger);
        expect(cursorRows(JSON.stringify(parent.ledger))).toContain(ledger.rows.aOlder);
      } else {
        expect(parent.ledger, parent.id).toEqual(pagesOfNothing.get(parent.id));
        expect(parent.ledger, parent.id).toMatchObject({
          edges: [],
          pageInfo: { startCursor: null, endCursor: null, hasPreviousPage: true },
        });
      }
    }
    expect(statements.filter((sql) => OWNERSHIP.test(sql))).toHaveLength(1);
  });
});
