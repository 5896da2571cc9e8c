import { encodeBase64, encodeCursorChunk, encodeCursorTuple } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * `Member.orders`, newest first (by `placedAt`): an order first named by a redemption is placed `now`, and the earn
 * that completes it later may say when it was really placed (`order.placedAt`), an earlier moment: the order moves
 * down the list. Prisma placed the cursor of such an order at its new place, so the next page skipped every order
 * between its old place and its new one. A cursor is the place it was issued at (src/db/position-cursors.ts): the next
 * page holds the orders after that place, the moved order among them at its new place.
 */
const { prisma, app } = useTestApp();

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename ... on Error { message } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { __typename ... on Error { message } } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }`;
const PAGE = 'totalCount edges { cursor node { reference } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';
const ARGS = '$first: Int, $after: String, $last: Int, $before: String';
const PAGE_ARGS = 'first: $first, after: $after, last: $last, before: $before';
interface Page {
  totalCount: number;
  edges: { cursor: string; node: { reference: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}
const refs = (page: Page) => page.edges.map((edge) => edge.node.reference);

/**
 * A member's orders (`orders()`), the member's token, one of the orders, and cursors no list handed out: garbage, and a
 * place of another list (`heldRenewalBonuses`) at that order.
 */
async function forgedCursors() {
  const { memberId } = await orders();
  const order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId } });
  const cursors = ['garbage', encodeBase64(`GPC:${encodeCursorTuple(['heldRenewalBonuses', order.placedAt, order.id])}`)];
  return { token: await app.memberToken(memberId), order, cursors };
}

/**
 * A member's orders O1 … O5, placed an hour apart in the past, and W, first named by a redemption (placed now): newest
 * first W O5 O4 O3 O2 O1. The member's list as `me`, `member(id)` and a `members` page read it (the relation at the top
 * of a query and under a list's rows), and the earn that completes W, placed between O3 and O2.
 */
async function orders() {
  const storefront = await app.apiKeyToken(['points:earn', 'points:redeem']);
  const memberId = await app.enroll();
  await app.gql(ADJUST, { input: { memberId, points: 100, reason: 'grant', idempotencyKey: 'g' } }, await app.staffToken('ADMIN'));
  const base = Date.now() - 10 * 3_600_000;
  const placed = (hours: number) => new Date(base + hours * 3_600_000).toISOString();
  const earn = async (reference: string, placedAt: string) => {
    const order = { reference, placedAt, total: { amount: '10.00', currency: 'EUR' } };
    const answer = await app.gql(EARN, { input: { memberId, order, idempotencyKey: `e-${reference}` } }, storefront);
    expect(answer.data?.earnPoints.__typename, JSON.stringify(answer)).toBe('EarnPointsPayload');
  };
  for (let i = 1; i <= 5; i++) await earn(`O${i}`, placed(i));
  const redeemed = await app.gql(REDEEM, { input: { memberId, points: 10, orderReference: 'W', idempotencyKey: 'r-W' } }, storefront);
  expect(redeemed.data?.redeemPoints.__typename, JSON.stringify(redeemed)).toBe('RedeemPointsPayload');

  const staff = await app.staffToken('AGENT');
  const { email: search } = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  const readers = [
    {
      who: 'me',
      token: await app.memberToken(memberId),
      query: `query(${ARGS}) { me { orders(${PAGE_ARGS}) { ${PAGE} } } }`,
      page: (data: any) => data.me.orders as Page,
    },
    {
      who: 'member(id)',
      token: staff,
      query: `query($id: ID!, ${ARGS}) { member(id: $id) { orders(${PAGE_ARGS}) { ${PAGE} } } }`,
      page: (data: any) => data.member.orders as Page,
    },
    {
      who: 'members page',
      token: staff,
      query: `query($search: String!, ${ARGS}) { members(first: 1, filter: { search: $search }) {
        edges { node { orders(${PAGE_ARGS}) { ${PAGE} } } } } }`,
      page: (data: any) => data.members.edges[0].node.orders as Page,
    },
  ];
  const id = encodeGlobalID('Member', memberId);
  const lists = (variables: Record<string, unknown>) =>
    Promise.all(
      readers.map(async ({ who, token, query, page }) => {
        const answer = await app.gql(query, { id, search, ...variables }, token);
        expect(answer.errors, `${who}: ${JSON.stringify(answer.errors)}`).toBeUndefined();
        return { who, page: page(answer.data) };
      }),
    );
  return { lists, completeW: () => earn('W', placed(2.5)), memberId };
}

describe('Member.orders: the cursor of an order whose placedAt changed since', () => {
  it('after it: the orders after the place it had, none left out', async () => {
    const { lists, completeW } = await orders();
    const first = await lists({ first: 2 });
    for (const { who, page } of first) expect(refs(page), who).toEqual(['W', 'O5']);
    const wCursor = first[0]!.page.edges[0]!.cursor;
    await completeW();
    for (const { who, page } of await lists({ first: 10 })) expect(refs(page), who).toEqual(['O5', 'O4', 'O3', 'W', 'O2', 'O1']);

    for (const { who, page } of await lists({ first: 3, after: wCursor })) {
      expect(refs(page), who).toEqual(['O5', 'O4', 'O3']);
      expect(page.pageInfo, who).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
      expect(page.totalCount, who).toBe(6);
    }
    for (const { who, page } of await lists({ first: 10, after: wCursor })) {
      expect(refs(page), who).toEqual(['O5', 'O4', 'O3', 'W', 'O2', 'O1']);
    }
  });

  it('before it: the orders before the place it had', async () => {
    const { lists, completeW } = await orders();
    const first = await lists({ first: 3 });
    for (const { who, page } of first) expect(refs(page), who).toEqual(['W', 'O5', 'O4']);
    const o4Cursor = first[0]!.page.pageInfo.endCursor;
    const wCursor = first[0]!.page.pageInfo.startCursor;
    await completeW();
    // Before O4 (unchanged): O5 only, W having moved below it.
    for (const { who, page } of await lists({ last: 10, before: o4Cursor })) expect(refs(page), who).toEqual(['O5']);
    // Before W's place (the newest): nothing.
    for (const { who, page } of await lists({ last: 10, before: wCursor })) {
      expect(refs(page), who).toEqual([]);
      expect(page.pageInfo, who).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    }
  });

  it('a cursor handed out before stop 54 (an order’s id) still pages, from the order’s place now', async () => {
    const { lists, completeW, memberId } = await orders();
    await completeW();
    const w = await prisma.pointOrder.findFirstOrThrow({ where: { memberId, orderRef: 'W' } });
    const legacy = encodeBase64(`GPC:${encodeCursorChunk(w.id)}`);
    for (const { who, page } of await lists({ first: 10, after: legacy })) expect(refs(page), who).toEqual(['O2', 'O1']);
    for (const { who, page } of await lists({ last: 10, before: legacy })) expect(refs(page), who).toEqual(['O5', 'O4', 'O3']);
  });

  it('a garbled or forged cursor is a BAD_USER_INPUT naming the argument, nothing else', async () => {
    const { token, order, cursors } = await forgedCursors();
    for (const cursor of [
      ...cursors,
      encodeBase64(`GPC:${encodeCursorTuple(['Member.orders', 5, order.id])}`),
      encodeBase64(`GPC:${encodeCursorTuple(['Member.orders', order.placedAt, 'no-uuid'])}`),
      encodeBase64(`GPC:T:${JSON.stringify(['S:Member.orders', 'D:x', `S:${order.id}`])}`),
    ]) {
      const answer = await app.request(
        `query($after: String) { me { orders(first: 2, after: $after) { ${PAGE} } } }`,
        { after: cursor },
        { token },
      );
      expect(answer.body.data ?? null, cursor).toBeNull();
      expect(
        answer.body.errors?.map((error: { message: string }) => error.message),
        cursor,
      ).toEqual(['Argument "after" of "orders" is not a cursor of this list.']);
    }
  });

  it("a forged cursor in a live stream's selection is refused as in a query, before the stream starts", async () => {
    // A place of another list among them: taken as a place of this one until subscriptions were checked too.
    const { token, cursors } = await forgedCursors();
    for (const cursor of cursors) {
      const stream = await app.subscribe(
        `subscription($after: String) { memberStatusChanged { member { orders(first: 2, after: $after) { ${PAGE} } } } }`,
        { after: cursor },
        token,
      );
      try {
        const first = await stream.result(0);
        expect(first.data ?? null, cursor).toBeNull();
        expect(
          first.errors?.map((error: { message: string }) => error.message),
          cursor,
        ).toEqual(['Argument "after" of "orders" is not a cursor of this list.']);
      } finally {
        await stream.close();
      }
    }
  });

  it("a forged cursor as a variable's default is refused as one sent, in a query and in a live stream", async () => {
    const { token, cursors } = await forgedCursors();
    for (const cursor of cursors) {
      const selection = `orders(first: 2, after: $after) { ${PAGE} }`;
      const answer = await app.request(`query($after: String = ${JSON.stringify(cursor)}) { me { ${selection} } }`, {}, { token });
      expect(answer.body.data ?? null, cursor).toBeNull();
      expect(
        answer.body.errors?.map((error: { message: string }) => error.message),
        cursor,
      ).toEqual(['Argument "after" of "orders" is not a cursor of this list.']);
      const stream = await app.subscribe(
        `subscription($after: String = ${JSON.stringify(cursor)}) { memberStatusChanged { member { ${selection} } } }`,
        {},
        token,
      );
      try {
        const first = await stream.result(0);
        expect(first.data ?? null, cursor).toBeNull();
        expect(first.errors?.map((error: { message: string }) => error.message)).toEqual([
          'Argument "after" of "orders" is not a cursor of this list.',
        ]);
      } finally {
        await stream.close();
      }
    }
  });
});
