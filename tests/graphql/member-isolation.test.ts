import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { createTestApp, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';

/**
 * A member token must never reach another member. Every root field of Query and
 * Mutation needs a probe here (the first test fails when a field is added
 * without one); each probe aims at member B with member A's token, and B's data
 * must not appear anywhere in the answer, nor may anything of B change.
 */
let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
let a: { id: string; token: string };
let b: { id: string; externalId: string; email: string; entryId: string };

const MEMBER_FIELDS = 'id externalId email name balance { available pending } ledger { edges { node { id amount member { id email } } } }';

type Probe = (ctx: { b: typeof b }) => { query: string; variables?: Record<string, unknown> };

const queryProbes: Record<string, Probe[]> = {
  me: [() => ({ query: `{ me { ${MEMBER_FIELDS} } }` })],
  member: [
    ({ b }) => ({ query: `query($id: ID!) { member(id: $id) { ${MEMBER_FIELDS} } }`, variables: { id: b.id } }),
    ({ b }) => ({
      query: `query($id: ID!) { member(id: $id) { ${MEMBER_FIELDS} } }`,
      variables: { id: encodeGlobalID('Member', b.id) },
    }),
  ],
  memberByExternalId: [
    ({ b }) => ({
      query: `query($e: String!) { memberByExternalId(externalId: $e) { ${MEMBER_FIELDS} } }`,
      variables: { e: b.externalId },
    }),
  ],
  members: [() => ({ query: `{ members(first: 50) { edges { node { ${MEMBER_FIELDS} } } } }` })],
  node: [
    ({ b }) => ({
      query: `query($id: ID!) { node(id: $id) { id ... on Member { ${MEMBER_FIELDS} } } }`,
      variables: { id: encodeGlobalID('Member', b.id) },
    }),
    ({ b }) => ({
      query: `query($id: ID!) { node(id: $id) { id ... on LedgerEntry { amount member { id email } } } }`,
      variables: { id: encodeGlobalID('LedgerEntry', b.entryId) },
    }),
  ],
  program: [() => ({ query: '{ program { version currency } }' })],
};

const mutationProbes: Record<string, Probe[]> = {
  enrollMember: [
    ({ b }) => ({
      query: `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename ... on EnrollMemberPayload { member { id } } } }`,
      variables: { i: { externalId: b.externalId, email: 'x@example.com', name: 'X' } },
    }),
  ],
  updateMember: [
    ({ b }) => ({
      query: `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename ... on UpdateMemberPayload { member { ${MEMBER_FIELDS} } } } }`,
      variables: { i: { id: b.id, name: 'Hijacked' } },
    }),
  ],
  earnPoints: [
    ({ b }) => ({
      query: `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { member { ${MEMBER_FIELDS} } } } }`,
      variables: { i: { memberId: b.id, orderRef: 'x', orderTotal: '10', idempotencyKey: 'iso-1' } },
    }),
  ],
  redeemPoints: [
    ({ b }) => ({
      query: `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename } }`,
      variables: { i: { memberId: b.id, points: 1, idempotencyKey: 'iso-2' } },
    }),
  ],
  adjustPoints: [
    ({ b }) => ({
      query: `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }`,
      variables: { i: { memberId: b.id, points: -1, reason: 'steal', idempotencyKey: 'iso-3' } },
    }),
  ],
  refundOrder: [
    ({ b }) => ({
      query: `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { __typename } }`,
      variables: { i: { memberId: b.id, orderRef: 'b-order', idempotencyKey: 'iso-4' } },
    }),
  ],
  createApiKey: [
    () => ({
      query: `mutation { createApiKey(input: { name: "x", scopes: ["admin"] }) { __typename ... on CreateApiKeyPayload { token } } }`,
    }),
  ],
};

async function snapshotOfB() {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: b.id } });
  const entries = await prisma.ledgerEntry.count({ where: { memberId: b.id } });
  return { ...member, entries, keys: await prisma.apiKey.count() };
}

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
  await resetDatabase(prisma);
  const aId = await app.enroll({ externalId: 'cust-a', email: 'a@example.com' });
  const bId = await app.enroll({ externalId: 'cust-b', email: 'b@example.com' });
  const storefront = { actor: { type: 'API_KEY' as const, id: 'shop' }, isAdmin: false };
  const deps = { prisma, logger: testLogger };
  await earnPoints(deps, { memberId: aId, orderRef: 'a-order', orderTotal: '10', idempotencyKey: 'a1' }, storefront);
  const earned = await earnPoints(
    deps,
    { memberId: bId, orderRef: 'b-order', orderTotal: '20', idempotencyKey: 'b1' },
    storefront,
  );
  a = { id: aId, token: await app.memberToken(aId) };
  b = { id: bId, externalId: 'cust-b', email: 'b@example.com', entryId: earned.entryId! };
});
afterAll(async () => prisma.$disconnect());

function expectNoTraceOfB(response: unknown) {
  const text = JSON.stringify(response);
  for (const secret of [b.id, encodeGlobalID('Member', b.id), b.email, b.externalId, b.entryId]) {
    expect(text).not.toContain(secret);
  }
}

describe('a member token cannot reach another member', () => {
  it('every root field of Query and Mutation has a probe', () => {
    const schema = getSchema();
    expect(Object.keys(schema.getQueryType()!.getFields()).sort()).toEqual(Object.keys(queryProbes).sort());
    expect(Object.keys(schema.getMutationType()!.getFields()).sort()).toEqual(Object.keys(mutationProbes).sort());
  });

  it('no query field returns anything of member B', async () => {
    for (const [field, probes] of Object.entries(queryProbes)) {
      for (const probe of probes) {
        const { query, variables } = probe({ b });
        const response = await app.gql(query, variables, a.token);
        expectNoTraceOfB(response);
        if (field === 'me') expect(response.data?.me.id).toBe(encodeGlobalID('Member', a.id));
      }
    }
  });

  it('no mutation changes or returns member B', async () => {
    const before = await snapshotOfB();
    for (const probes of Object.values(mutationProbes)) {
      for (const probe of probes) {
        const { query, variables } = probe({ b });
        const response = await app.gql(query, variables, a.token);
        expectNoTraceOfB(response);
        const typename = Object.values(response.data ?? {})[0] as { __typename?: string } | null | undefined;
        if (typename) expect(['ForbiddenError', 'NotFoundError']).toContain(typename.__typename);
      }
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("a member sees their own ledger and balance through `me`", async () => {
    const response = await app.gql(`{ me { balance { pending } ledger { edges { node { amount member { email } } } } } }`, {}, a.token);
    expect(response.errors).toBeUndefined();
    expect(response.data?.me.balance.pending).toBe(10);
    expect(response.data?.me.ledger.edges[0].node.member.email).toBe('a@example.com');
  });
});
