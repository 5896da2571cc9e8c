import { randomUUID } from 'node:crypto';
import { encodeBase64, encodeCursorChunk } from '@pothos/core';
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
