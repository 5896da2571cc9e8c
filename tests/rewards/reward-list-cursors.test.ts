import { randomUUID } from 'node:crypto';
import { encodeBase64, encodeCursorChunk, encodeCursorTuple } from '@pothos/core';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * `rewards(after:)` with the cursor of a retired reward, for a caller the list leaves retired rewards out for
 * (everyone but an admin asking `includeRetired`). Prisma looks a cursor's row up by its id alone, so that
 * cursor pages the active rewards from the retired one's place — all of them after it, none left out
 * (src/db/cursor-pages.ts; until stop 53 the first of them was skipped in the cursor's row's stead) — where the cursor
 * of an id nobody has answers an empty page. Unlike another key's service incident (tests/service-failures/incident-list-cursors.test.ts) this tells the
 * caller nothing it may not read: every catalogue reader reads a retired reward by `node(id)` (`readReward`, retired
 * ones too), its price — its place in the list — included. Should retired rewards ever be hidden from some readers,
 * `rewards` must look its cursor up as they may read it, as `serviceIncidentsPage` does.
 */
const { app } = useTestApp();

const CREATE = `mutation($i: CreateRewardInput!) { createReward(input: $i) { __typename ... on CreateRewardPayload { reward { id } } } }`;
const RETIRE = `mutation($i: RetireRewardInput!) { retireReward(input: $i) { __typename } }`;
const LIST = `query($first: Int, $after: String, $all: Boolean) {
  rewards(first: $first, after: $after, includeRetired: $all) {
    totalCount edges { node { name } } pageInfo { hasNextPage hasPreviousPage } } }`;
const NODE = `query($id: ID!) { node(id: $id) { ... on Reward { name active pointsCost } } }`;
const listCursor = (id: string) => encodeBase64(`GPC:${encodeCursorChunk(id)}`);
const names = (answer: Record<string, any>) => (answer.data?.rewards?.edges as { node: { name: string } }[]).map((e) => e.node.name);

describe('rewards: the cursor of a retired reward, for a caller the list leaves it out for', () => {
  it('is a reward the caller reads by node(id), and pages from its place', async () => {
    const admin = await app.staffToken('ADMIN');
    const created: Record<string, string> = {};
    for (const [name, pointsCost] of [
      ['Cheap', 100],
      ['Old', 300],
      ['Mid', 500],
      ['Big', 900],
    ] as const) {
      const answer = await app.gql(CREATE, { i: { name, pointsCost, voucherValue: '1.00' } }, admin);
      expect(answer.data?.createReward.__typename, JSON.stringify(answer)).toBe('CreateRewardPayload');
      created[name] = answer.data!.createReward.reward.id as string;
    }
    expect((await app.gql(RETIRE, { i: { id: created.Old } }, admin)).data?.retireReward.__typename).toBe('RetireRewardPayload');
    const old = listCursor(decodeGlobalID(created.Old!).id);

    const readers = {
      member: await app.memberToken(await app.enroll()),
      'points:redeem key': await app.apiKeyToken(['points:redeem']),
      'members:read key': await app.apiKeyToken(['members:read']),
      AGENT: await app.staffToken('AGENT'),
      'ADMIN without includeRetired': admin,
    };
    for (const [who, token] of Object.entries(readers)) {
      const node = await app.gql(NODE, { id: created.Old }, token);
      expect(node.errors, who).toBeUndefined();
      expect(node.data?.node, who).toEqual({ name: 'Old', active: false, pointsCost: 300 });

      const all = !who.startsWith('ADMIN'); // asked for by all but the admin: it is an admin's only
      const after = await app.gql(LIST, { first: 10, after: old, all }, token);
      expect(after.errors, who).toBeUndefined();
      // From the retired reward's place: every reward after it, where an id nobody has answers no reward.
      expect(names(after), who).toEqual(['Mid', 'Big']);
      expect(after.data?.rewards.pageInfo, who).toEqual({ hasNextPage: false, hasPreviousPage: true });
      expect(after.data?.rewards.totalCount, who).toBe(3);
      const nobody = await app.gql(LIST, { first: 10, after: listCursor(randomUUID()), all }, token);
      expect(names(nobody), who).toEqual([]);
      expect(nobody.data?.rewards.totalCount, who).toBe(3);
    }
  });
});

describe('rewards: the cursor of a reward whose price changed since', () => {
  const UPDATE = `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename } }`;
  const PAGE = `query($first: Int, $after: String, $last: Int, $before: String) {
    rewards(first: $first, after: $after, last: $last, before: $before) {
      totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;

  /**
   * Five rewards, cheapest first A 100, B 200, C 300, D 400, E 500; a member reads the catalogue page by page, an
   * admin changes prices in between. The catalogue is ordered by price: a reward whose price changed is at another
   * place, and Prisma placed its cursor there, so the next page skipped the rewards between its old and new place (or
   * showed again the ones before). A cursor is the place it was issued at (src/db/position-cursors.ts).
   */
  async function catalogue() {
    const admin = await app.staffToken('ADMIN');
    const ids: Record<string, string> = {};
    for (const [name, pointsCost] of [
      ['A', 100],
      ['B', 200],
      ['C', 300],
      ['D', 400],
      ['E', 500],
    ] as const) {
      const answer = await app.gql(CREATE, { i: { name, pointsCost, voucherValue: '1.00' } }, admin);
      expect(answer.data?.createReward.__typename, JSON.stringify(answer)).toBe('CreateRewardPayload');
      ids[name] = answer.data!.createReward.reward.id as string;
    }
    const member = await app.memberToken(await app.enroll());
    const list = async (variables: Record<string, unknown>) => {
      const answer = await app.gql(PAGE, variables, member);
      expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
      return answer.data!.rewards as {
        totalCount: number;
        edges: { cursor: string; node: { name: string } }[];
        pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string; endCursor: string };
      };
    };
    const price = async (name: string, pointsCost: number) => {
      const answer = await app.gql(UPDATE, { i: { id: ids[name], pointsCost } }, admin);
      expect(answer.data?.updateReward.__typename, JSON.stringify(answer)).toBe('UpdateRewardPayload');
    };
    return { ids, list, price, names: (page: Awaited<ReturnType<typeof list>>) => page.edges.map((edge) => edge.node.name) };
  }

  it('after it: the rewards after the place it had, whether it became dearer or cheaper', async () => {
    const { list, price, names } = await catalogue();
    const first = await list({ first: 2 });
    expect(names(first)).toEqual(['A', 'B']);
    await price('B', 1000);
    expect(names(await list({ first: 10 }))).toEqual(['A', 'C', 'D', 'E', 'B']);
    const next = await list({ first: 2, after: first.pageInfo.endCursor });
    expect(names(next)).toEqual(['C', 'D']);
    expect(next.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expect(next.totalCount).toBe(5);
    expect(names(await list({ first: 10, after: next.pageInfo.endCursor }))).toEqual(['E', 'B']);

    // D became the cheapest: the page after its cursor (issued at 400) is E and B, not A and C again.
    await price('D', 50);
    expect(names(await list({ first: 10, after: next.pageInfo.endCursor }))).toEqual(['E', 'B']);
    expect(names(await list({ first: 10, after: next.edges[0]!.cursor }))).toEqual(['E', 'B']);
  });

  it('before it: the rewards before the place it had', async () => {
    const { list, price, names } = await catalogue();
    const last = await list({ last: 2 });
    expect(names(last)).toEqual(['D', 'E']);
    await price('D', 50);
    const before = await list({ last: 2, before: last.pageInfo.startCursor });
    expect(names(before)).toEqual(['B', 'C']);
    expect(before.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expect(names(await list({ last: 10, before: before.pageInfo.startCursor }))).toEqual(['D', 'A']);
  });

  it('a cursor handed out before stop 54 (a reward’s id) still pages, from the reward’s place now', async () => {
    const { ids, list, price, names } = await catalogue();
    const b = listCursor(decodeGlobalID(ids.B!).id);
    expect(names(await list({ first: 2, after: b }))).toEqual(['C', 'D']);
    await price('B', 450);
    const after = await list({ first: 10, after: b });
    expect(names(after)).toEqual(['E']);
    expect(names(await list({ last: 10, before: b }))).toEqual(['A', 'C', 'D']);
    // The cursors it answers are positions: from E's, nothing after.
    expect(names(await list({ first: 10, after: after.pageInfo.endCursor }))).toEqual([]);
  });

  it('a garbled or forged cursor is a BAD_USER_INPUT naming the argument, nothing else', async () => {
    const member = await app.memberToken(await app.enroll());
    const id = randomUUID();
    for (const cursor of [
      'garbage',
      encodeBase64(`GPC:${encodeCursorTuple(['heldRenewalBonuses', new Date(), id])}`),
      encodeBase64(`GPC:${encodeCursorTuple(['rewards', 1.5, id])}`),
      encodeBase64(`GPC:${encodeCursorTuple(['rewards', -1, id])}`),
      encodeBase64(`GPC:${encodeCursorTuple(['rewards', 2 ** 31, id])}`),
      encodeBase64(`GPC:${encodeCursorTuple(['rewards', '300', id])}`),
      encodeBase64(`GPC:${encodeCursorTuple(['rewards', 300, 'x'])}`),
      encodeBase64(`GPC:T:${JSON.stringify(['S:rewards', 'N:NaN', `S:${id}`])}`),
      encodeBase64(`GPC:T:${JSON.stringify(['S:rewards', 'N:3e2', `S:${id}`])}`),
    ]) {
      const answer = await app.request(PAGE, { first: 2, after: cursor }, { token: member });
      expect(answer.body.data ?? null, cursor).toBeNull();
      expect(
        answer.body.errors?.map((error: { extensions?: { code?: string } }) => error.extensions?.code),
        cursor,
      ).toEqual(['BAD_USER_INPUT']);
    }
  });
});
