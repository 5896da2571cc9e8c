import { encodeBase64, encodeCursorChunk } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { LEDGER_NEWEST_FIRST, VOUCHERS_NEWEST_FIRST } from '../../src/domain/members/member-status.service.js';
import { useTestApp } from '../support/app.js';
import { rowsDuring } from '../support/rows-read.js';

/**
 * A page of a list under a list of parents reads its page from PostgreSQL, not the parents' whole lists: the rows
 * PostgreSQL hands the service for a request (each row of each statement, and each row of a relation Prisma reads as
 * JSON inside its parent's row) stay within the parents' pages, whatever the cursors. Prisma read a relation page
 * under a list of parents in SQL only without any cursor in the read: with one (the relation's `after`/`before`, or
 * the parents' own `after`), every relation of the read came in one statement over all parents without a LIMIT, and
 * was paged in memory (src/db/keyset-pages.ts). Three members with 1 500 ledger entries and 40 vouchers each: a page
 * of 10 read up to 4 500 entries.
 */
const { prisma, app } = useTestApp();

const MEMBERS = 3;
const ENTRIES = 1_500;
const VOUCHERS = 40;

/** A list cursor of a row, as the API hands it out (plugin-prisma's `id` cursor). */
const cursorOf = (id: string) => encodeBase64(`GPC:${encodeCursorChunk(id)}`);

/**
 * `count` ledger entries of +1 and −1 points in turn (the member's balance stays consistent), two by two at the same
 * instant (so that a page's place is decided by `id` too), a second apart, the newest an hour ago.
 */
async function history(memberId: string, count: number): Promise<void> {
  await prisma.$executeRaw`
    INSERT INTO ledger_entries (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key, created_at)
    SELECT ${memberId}::uuid, 'ADJUST', CASE WHEN i % 2 = 1 THEN 1 ELSE -1 END, i % 2, 'ADJUSTMENT', 'bulk', 'SYSTEM', 'test', 'bulk-' || i,
           now() - interval '1 hour' - (${count}::int - i) / 2 * interval '1 second'
    FROM generate_series(1, ${count}::int) AS i`;
  await prisma.member.update({ where: { id: memberId }, data: { lifetimePoints: Math.ceil(count / 2) } });
  await prisma.voucher.createMany({
    data: Array.from({ length: VOUCHERS }, (_, n) => ({
      code: `NESTED-${memberId.slice(0, 8)}-${n}`,
      memberId,
      kind: 'GOODWILL' as const,
      valueType: 'FIXED' as const,
      amount: '5.00',
      currency: 'EUR',
      status: 'ISSUED' as const,
      causeType: 'GESTURE' as const,
      causeRef: `nested-${memberId}-${n}`,
      issuedAt: new Date(Date.now() - (VOUCHERS - n) * 60_000),
      expiresAt: new Date(Date.now() + 30 * 86_400_000),
    })),
  });
}

interface Connection {
  edges: { node: { id: string } }[];
}
const ids = (connection: Connection) => connection.edges.map((edge) => edge.node.id);

/**
 * What a request may make PostgreSQL send: each parent, each parent's pages (plugin-prisma reads a page of `first`
 * with one row more, for `hasNextPage`), and per cursor its row's place and whether each parent owns it
 * (src/graphql/cursor-ownership.ts), a row each.
 */
const bound = (parents: number, pages: number[], cursors: number) =>
  parents * (1 + pages.reduce((sum, first) => sum + first + 1, 0)) + cursors * (1 + parents);

let members: string[];
/** Per member, its ledger entries and vouchers newest first, as global ids. */
let ledgers: Map<string, string[]>;
let vouchers: Map<string, string[]>;
let staff: string;

beforeEach(async () => {
  members = [];
  for (let i = 0; i < MEMBERS; i++) members.push(await app.enroll());
  for (const member of members) await history(member, ENTRIES);
  members.sort();
  ledgers = new Map();
  vouchers = new Map();
  for (const member of members) {
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId: member }, orderBy: LEDGER_NEWEST_FIRST, select: { id: true } });
    ledgers.set(
      member,
      entries.map((entry) => entry.id),
    );
    const own = await prisma.voucher.findMany({ where: { memberId: member }, orderBy: VOUCHERS_NEWEST_FIRST, select: { id: true } });
    vouchers.set(
      member,
      own.map((voucher) => voucher.id),
    );
  }
  staff = await app.staffToken('AGENT');
});

const globalIds = (type: string, rows: string[]) => rows.map((id) => encodeGlobalID(type, id));

async function request(query: string, variables: Record<string, unknown>) {
  const { result, statements, total } = await rowsDuring(() => app.gql(query, variables, staff));
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return { data: result.data!, statements, total };
}

const LIST = `query($after: String, $before: String, $first: Int, $last: Int) {
  members(first: ${MEMBERS}) { edges { node { id
    ledger(first: $first, after: $after, last: $last, before: $before) { edges { node { id } } }
    vouchers(first: 5) { edges { node { id } } } } } } }`;

type MemberPage = { node: { id: string; ledger: Connection; vouchers: Connection } };

describe('a page of a relation under a list of parents reads the parents’ pages, not their lists', () => {
  it('after a cursor: the cursor’s member gets the next entries, each member its vouchers, from that many rows', async () => {
    const [owner] = members as [string];
    const entries = ledgers.get(owner)!;
    // Both places of a pair of entries written at the same instant: the next row ties with the cursor's, or not.
    for (const place of [700, 701]) {
      const { data, total, statements } = await request(LIST, { first: 10, after: cursorOf(entries[place]!) });
      const pages = data.members.edges as MemberPage[];
      expect(pages.map((page) => page.node.id)).toEqual(globalIds('Member', members));
      expect(ids(pages[0]!.node.ledger)).toEqual(globalIds('LedgerEntry', entries.slice(place + 1, place + 11)));
      // Another member's page after this cursor is one of nothing (src/graphql/cursor-ownership.ts).
      for (const page of pages.slice(1)) expect(ids(page.node.ledger)).toEqual([]);
      for (const [i, page] of pages.entries()) {
        expect(ids(page.node.vouchers)).toEqual(globalIds('Voucher', vouchers.get(members[i]!)!.slice(0, 5)));
      }
      expect(total, JSON.stringify(statements.map((s) => [s.rows, s.sql.slice(0, 120)]))).toBeLessThanOrEqual(bound(MEMBERS, [10, 5], 1));
    }
  });

  it('before a cursor (last): the entries before its place, from that many rows', async () => {
    const [owner] = members as [string];
    const entries = ledgers.get(owner)!;
    for (const place of [700, 701]) {
      const { data, total, statements } = await request(LIST, { last: 10, before: cursorOf(entries[place]!) });
      const pages = data.members.edges as MemberPage[];
      expect(ids(pages[0]!.node.ledger)).toEqual(globalIds('LedgerEntry', entries.slice(place - 10, place)));
      for (const page of pages.slice(1)) expect(ids(page.node.ledger)).toEqual([]);
      expect(total, JSON.stringify(statements.map((s) => [s.rows, s.sql.slice(0, 120)]))).toBeLessThanOrEqual(bound(MEMBERS, [10, 5], 1));
    }
  });

  it('without a cursor, first or last: each member’s newest or oldest entries, from that many rows', async () => {
    for (const [variables, slice] of [
      [{ first: 10 }, (entries: string[]) => entries.slice(0, 10)],
      [{ last: 10 }, (entries: string[]) => entries.slice(-10)],
    ] as const) {
      const { data, total } = await request(LIST, variables);
      for (const [i, page] of (data.members.edges as MemberPage[]).entries()) {
        expect(ids(page.node.ledger)).toEqual(globalIds('LedgerEntry', slice(ledgers.get(members[i]!)!)));
      }
      expect(total).toBeLessThanOrEqual(bound(MEMBERS, [10, 5], 0));
    }
  });

  it('the parents’ next page (members after a cursor): each member’s pages, from that many rows', async () => {
    const query = `query($after: String) { members(first: ${MEMBERS}, after: $after) { edges { node { id
      ledger(first: 10) { edges { node { id } } } vouchers(first: 5) { edges { node { id } } } } } } }`;
    const { data, total, statements } = await request(query, { after: cursorOf(members[0]!) });
    const pages = data.members.edges as MemberPage[];
    expect(pages.map((page) => page.node.id)).toEqual(globalIds('Member', members.slice(1)));
    for (const [i, page] of pages.entries()) {
      expect(ids(page.node.ledger)).toEqual(globalIds('LedgerEntry', ledgers.get(members[i + 1]!)!.slice(0, 10)));
      expect(ids(page.node.vouchers)).toEqual(globalIds('Voucher', vouchers.get(members[i + 1]!)!.slice(0, 5)));
    }
    // The members' cursor is no relation's: no owner to ask.
    expect(total, JSON.stringify(statements.map((s) => [s.rows, s.sql.slice(0, 120)]))).toBeLessThanOrEqual(
      bound(MEMBERS - 1, [10, 5], 0) + 1,
    );
  });

  it('a page under a page under a list (an entry’s member’s vouchers after a cursor): from that many rows', async () => {
    const [owner] = members as [string];
    const own = vouchers.get(owner)!;
    const query = `query($after: String) { members(first: ${MEMBERS}) { edges { node { id ledger(first: 2) { edges { node {
      member { id vouchers(first: 5, after: $after) { edges { node { id } } } } } } } } } } }`;
    const { data, total, statements } = await request(query, { after: cursorOf(own[10]!) });
    type Entry = { node: { member: { id: string; vouchers: Connection } } };
    const pages = data.members.edges as { node: { id: string; ledger: { edges: Entry[] } } }[];
    for (const [i, page] of pages.entries()) {
      expect(page.node.ledger.edges).toHaveLength(2);
      for (const entry of page.node.ledger.edges) {
        expect(entry.node.member.id).toBe(page.node.id);
        expect(ids(entry.node.member.vouchers)).toEqual(i === 0 ? globalIds('Voucher', own.slice(11, 16)) : []);
      }
    }
    // Each member, its page of entries (2 + 1), each entry's member (one row) with its page of vouchers (5 + 1); the
    // cursor's place, and whether each entry's member shown owns it.
    const shown = MEMBERS * 2;
    expect(total, JSON.stringify(statements.map((s) => [s.rows, s.sql.slice(0, 120)]))).toBeLessThanOrEqual(
      MEMBERS * (1 + 3 * (1 + 1 + 6)) + 1 + shown,
    );
  });

  it('under one member: the page after a cursor, from that many rows', async () => {
    const [owner] = members as [string];
    const entries = ledgers.get(owner)!;
    const query = `query($id: ID!, $after: String) { member(id: $id) { ledger(first: 10, after: $after) { edges { node { id } } } } }`;
    const { data, total } = await request(query, { id: encodeGlobalID('Member', owner), after: cursorOf(entries[700]!) });
    expect(ids(data.member.ledger as Connection)).toEqual(globalIds('LedgerEntry', entries.slice(701, 711)));
    expect(total).toBeLessThanOrEqual(bound(1, [10], 1));
  });

  it('a cursor of a row that exists nowhere: an empty page, from no more rows', async () => {
    const { data, total } = await request(LIST, { first: 10, after: cursorOf('00000000-0000-7000-8000-000000000000') });
    for (const page of data.members.edges as MemberPage[]) {
      expect(ids(page.node.ledger)).toEqual([]);
      expect(page.node.vouchers.edges).toHaveLength(5);
    }
    expect(total).toBeLessThanOrEqual(bound(MEMBERS, [10, 5], 1));
  });
});
