import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { exclusiveCursorPage } from '../../src/db/cursor-pages.js';
import { redeemVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { apiKeyCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { ISSUE } from '../goodwill/goodwill-documents.js';

/**
 * A page after (before) a cursor is the rows strictly after (before) the cursor's place in the list, whether or not
 * the cursor's own row is still in the list. Prisma places a cursor by its row's id alone, whatever the list's `where`,
 * and plugin-prisma skipped one row from there (`skip: 1`) to leave the cursor's row out: when that row had left the
 * list between two pages (a pending gesture approved, a voucher redeemed), the skipped row was the next one of the
 * list, and the page silently lacked it; under a list of parents, which Prisma pages in memory from the cursor's row
 * among the rows it read, the page was empty. src/db/cursor-pages.ts has every such page read the cursor's row too,
 * for `skip: 1` to drop, for every connection: at the top of a query, in a parent's selection, under a list's rows.
 */
const { prisma, app } = useTestApp();

const PAGE = 'totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';
interface Page {
  totalCount: number;
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}
const ids = (page: Page) => page.edges.map((edge) => edge.node.id);

const GESTURES = `query($first: Int, $after: String, $last: Int, $before: String) {
  goodwillGestures(filter: { status: PENDING_APPROVAL }, first: $first, after: $after, last: $last, before: $before) { ${PAGE} } }`;
const APPROVE = `mutation($i: ApproveGoodwillInput!) { approveGoodwill(input: $i) { __typename } }`;

describe('goodwillGestures(status: PENDING_APPROVAL): the cursor of a gesture approved since', () => {
  /** Five pending gestures, newest first g5 g4 g3 g2 g1, and the supervisor's ways to list and approve them. */
  async function queue() {
    const agent = await app.staffToken('AGENT', 'agent-1');
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-1');
    const memberId = encodeGlobalID('Member', await app.enroll());
    for (let i = 0; i < 5; i++) {
      const input = { memberId, kind: 'POINTS', points: 3000 + i, reason: 'DELAYED_DELIVERY', note: 'late', idempotencyKey: `p-${i}` };
      const issued = await app.gql(ISSUE, { input }, agent);
      expect(issued.data?.issueGoodwill.status, JSON.stringify(issued)).toBe('PENDING_APPROVAL');
    }
    const list = async (variables: Record<string, unknown>) => {
      const answer = await app.gql(GESTURES, variables, supervisor);
      expect(answer.errors).toBeUndefined();
      return answer.data!.goodwillGestures as Page;
    };
    const approve = async (id: string) => {
      const answer = await app.gql(APPROVE, { i: { gestureId: id, idempotencyKey: randomUUID() } }, supervisor);
      expect(answer.data?.approveGoodwill.__typename).toBe('ApproveGoodwillPayload');
    };
    const all = await list({ first: 10 });
    expect(all.totalCount).toBe(5);
    return { list, approve, gestures: ids(all) as [string, string, string, string, string] };
  }

  it('after it: the next pending gestures, none left out', async () => {
    const { list, approve, gestures } = await queue();
    const [g5, g4, g3, g2, g1] = gestures;
    // The supervisor reads the first page, and g4, its last gesture, is approved (by another supervisor, say).
    const first = await list({ first: 2 });
    expect(ids(first)).toEqual([g5, g4]);
    await approve(g4);
    const next = await list({ first: 2, after: first.pageInfo.endCursor });
    expect(ids(next)).toEqual([g3, g2]);
    expect(next.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expect(next.totalCount).toBe(4);
    const rest = await list({ first: 2, after: next.pageInfo.endCursor });
    expect(ids(rest)).toEqual([g1]);
    expect(rest.pageInfo.hasNextPage).toBe(false);
    // A cursor of a row still in the list pages as ever: its own row left out, nothing else.
    expect(ids(await list({ first: 5, after: next.edges[0]!.cursor }))).toEqual([g2, g1]);
  });

  it('before it: the pending gestures before its place, none left out', async () => {
    const { list, approve, gestures } = await queue();
    const [g5, g4, g3, g2, g1] = gestures;
    // The last page is g2 g1; g4 and g2 are approved; what comes before g2 is g5 g3, both still pending.
    const last = await list({ last: 2 });
    expect(ids(last)).toEqual([g2, g1]);
    await approve(g4);
    await approve(g2);
    const before = await list({ last: 2, before: last.pageInfo.startCursor });
    expect(ids(before)).toEqual([g5, g3]);
    expect(before.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expect(before.totalCount).toBe(3);
    // A cursor of a row still in the list pages as ever.
    expect(ids(await list({ last: 5, before: last.pageInfo.endCursor }))).toEqual([g5, g3]);
  });
});

describe('Member.vouchers(status: ISSUED): the cursor of a voucher redeemed since', () => {
  const ARGS = '$first: Int, $after: String, $last: Int, $before: String';
  const PAGE_ARGS = 'status: ISSUED, first: $first, after: $after, last: $last, before: $before';

  /**
   * A member's five vouchers, a second apart (newest first v5 v4 v3 v2 v1), with one of another member's among them
   * that no page of the member's shows; the member's list as `me`, `member(id)` and a `members` page read it (the
   * relation loaded in a parent's selection, at the top of a query and under a list's rows), and a redemption.
   */
  async function vouchers() {
    const member = await app.enroll();
    const other = await app.enroll();
    const start = Date.now() - 60_000;
    const issued: string[] = [];
    for (let i = 0; i < 5; i++) {
      issued.push((await issueTestVoucher(prisma, member, { now: new Date(start + i * 1000) })).id);
      if (i === 2) await issueTestVoucher(prisma, other, { now: new Date(start + i * 1000 + 500) });
    }
    const codes = new Map(
      (await prisma.voucher.findMany({ where: { memberId: member } })).map((v) => [encodeGlobalID('Voucher', v.id), v.code]),
    );
    const redeem = (voucher: string) =>
      redeemVoucher(
        app.deps,
        { code: codes.get(voucher)!, orderRef: `o-${randomUUID()}`, orderTotal: '50.00', memberId: member, idempotencyKey: randomUUID() },
        apiKeyCaller('shop', ['vouchers:redeem']),
      );
    const staff = await app.staffToken('AGENT');
    const readers = [
      {
        who: 'me',
        token: await app.memberToken(member),
        query: `query(${ARGS}) { me { vouchers(${PAGE_ARGS}) { ${PAGE} } } }`,
        page: (data: any) => data.me.vouchers as Page,
      },
      {
        who: 'member(id)',
        token: staff,
        query: `query($id: ID!, ${ARGS}) { member(id: $id) { vouchers(${PAGE_ARGS}) { ${PAGE} } } }`,
        page: (data: any) => data.member.vouchers as Page,
      },
      {
        who: 'members page',
        token: staff,
        query: `query($search: String!, ${ARGS}) { members(first: 1, filter: { search: $search }) {
          edges { node { vouchers(${PAGE_ARGS}) { ${PAGE} } } } } }`,
        page: (data: any) => data.members.edges[0].node.vouchers as Page,
      },
    ];
    const { email: search } = await prisma.member.findUniqueOrThrow({ where: { id: member } });
    const id = encodeGlobalID('Member', member);
    const lists = (variables: Record<string, unknown>) =>
      Promise.all(
        readers.map(async ({ who, token, query, page }) => {
          const answer = await app.gql(query, { id, search, ...variables }, token);
          expect(answer.errors, who).toBeUndefined();
          return { who, page: page(answer.data) };
        }),
      );
    /** The member's vouchers of every status, after `cursor`, as staff read them. */
    const unfiltered = async (variables: Record<string, unknown>) => {
      const answer = await app.gql(
        `query($id: ID!, ${ARGS}) { member(id: $id) { vouchers(first: $first, after: $after, last: $last, before: $before) { ${PAGE} } } }`,
        { id, ...variables },
        staff,
      );
      expect(answer.errors).toBeUndefined();
      return ids(answer.data!.member.vouchers as Page);
    };
    return {
      lists,
      unfiltered,
      redeem,
      vouchers: issued.map((v) => encodeGlobalID('Voucher', v)) as [string, string, string, string, string],
    };
  }

  it('after it: the next ISSUED vouchers, none left out', async () => {
    const { lists, unfiltered, redeem, vouchers: all } = await vouchers();
    const [v1, v2, v3, v4, v5] = all;
    const first = await lists({ first: 2 });
    for (const { who, page } of first) expect(ids(page), who).toEqual([v5, v4]);
    const v4Cursor = first[0]!.page.pageInfo.endCursor;
    await redeem(v4);
    for (const { who, page } of await lists({ first: 2, after: v4Cursor })) {
      expect(ids(page), who).toEqual([v3, v2]);
      expect(page.pageInfo, who).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
      expect(page.totalCount, who).toBe(4);
    }
    // Of every status, the redeemed voucher is in the list, and its cursor pages as ever.
    expect(await unfiltered({ first: 10, after: v4Cursor })).toEqual([v3, v2, v1]);
    expect(await unfiltered({ last: 10, before: v4Cursor })).toEqual([v5]);
  });

  it('before it: the ISSUED vouchers before its place, none left out', async () => {
    const { lists, unfiltered, redeem, vouchers: all } = await vouchers();
    const [v1, v2, v3, v4, v5] = all;
    const last = await lists({ last: 2 });
    for (const { who, page } of last) expect(ids(page), who).toEqual([v2, v1]);
    const v2Cursor = last[0]!.page.pageInfo.startCursor;
    await redeem(v4);
    await redeem(v2);
    for (const { who, page } of await lists({ last: 2, before: v2Cursor })) {
      expect(ids(page), who).toEqual([v5, v3]);
      expect(page.pageInfo, who).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
      expect(page.totalCount, who).toBe(3);
    }
    expect(await unfiltered({ last: 10, before: v2Cursor })).toEqual([v5, v4, v3]);
    expect(await unfiltered({ first: 10, after: v2Cursor })).toEqual([v1]);
  });
});

describe('exclusiveCursorPage: the arguments Prisma is sent', () => {
  const id = randomUUID();
  const NEWEST = [{ createdAt: 'desc' }, { id: 'desc' }];
  const listed = (where: object, row: object) => ({ OR: [{ AND: [where, { NOT: row }] }, row] });

  it('hands a read without a cursor page on as it is, not a copy', () => {
    const args = {
      where: { id },
      select: {
        id: true,
        _count: { select: { vouchers: { where: { status: 'ISSUED' } } } },
        ledger: { take: 11, skip: 0, orderBy: NEWEST },
      },
    };
    expect(exclusiveCursorPage('Member', args)).toBe(args);
    const first = { where: { status: 'ISSUED' }, take: 6, skip: 0, orderBy: NEWEST };
    expect(exclusiveCursorPage('Voucher', first)).toBe(first);
  });

  it('reads the cursor row too at the top and in relations at any depth, copying only the way there', () => {
    const top = { where: { status: 'PENDING_APPROVAL' }, cursor: { id }, take: -3, skip: 1, orderBy: NEWEST };
    expect(exclusiveCursorPage('GoodwillGesture', top)).toEqual({ ...top, where: listed({ status: 'PENDING_APPROVAL' }, { id }) });
    expect(top.where).toEqual({ status: 'PENDING_APPROVAL' });

    const other = { select: { id: true } };
    const renewals = { cursor: { id }, take: 3, skip: 1, where: { bonusHeldAt: null }, orderBy: { id: 'asc' } };
    const args = { where: { id }, select: { id: true, other, contracts: { include: { renewals } } } };
    const paged = exclusiveCursorPage('Member', args) as typeof args;
    expect(paged.select.contracts.include.renewals).toEqual({ ...renewals, where: listed({ bonusHeldAt: null }, { id }) });
    expect(paged.select.other).toBe(other);
    expect(args.select.contracts.include.renewals).toBe(renewals);

    // The conditions a service adds to a cursor (serviceIncidentsPage: the caller's reporter) name the same row.
    const incident = {
      where: { type: 'OUTAGE' },
      cursor: { id, reporterType: 'API_KEY', reporterId: 'k' },
      take: 3,
      skip: 1,
      orderBy: NEWEST,
    };
    expect(exclusiveCursorPage('ServiceIncident', incident).where).toEqual(listed({ type: 'OUTAGE' }, incident.cursor));
  });

  it('leaves alone what plugin-prisma does not make, or where the cursor row could take another row’s place', () => {
    for (const args of [
      { where: { a: 1 }, cursor: { id }, take: 3, skip: 0, orderBy: NEWEST }, // no skip: the cursor's row is meant
      { where: { a: 1 }, cursor: { id }, take: 3, skip: 2, orderBy: NEWEST },
      { where: { a: 1 }, cursor: { memberId_orderRef: { memberId: id, orderRef: 'o' } }, take: 3, skip: 1, orderBy: NEWEST },
      { where: { a: 1 }, cursor: { version: 3 }, take: 3, skip: 1, orderBy: { version: 'desc' } },
      { where: { a: 1 }, cursor: { id }, take: 3, skip: 1, orderBy: [{ sequence: 'asc' }] },
      { where: { a: 1 }, cursor: { id }, take: 3, skip: 1 },
      { cursor: { id }, take: 3, skip: 1, orderBy: NEWEST }, // no where: the cursor's row is in the list
    ]) {
      expect(exclusiveCursorPage('GoodwillGesture', args)).toBe(args);
    }
  });
});
