import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { updateMember } from '../../src/domain/members/members.service.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller } from '../support/callers.js';

const { prisma, app } = useTestApp();

const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on EnrollMemberPayload { member { id externalId email name locale status tier { key name } balance { available pending lifetime } } } } }`;

describe('members', () => {
  it('a storefront enrols a member and finds it by id and external id', async () => {
    const key = await app.apiKeyToken(['members:write', 'members:read']);
    const enrolled = await app.gql(ENROLL, { i: { externalId: 'shop-42', email: ' Ada@Example.com ', name: 'Ada', locale: 'de-DE' } }, key);
    const member = enrolled.data?.enrollMember.member;
    expect(member).toMatchObject({
      externalId: 'shop-42',
      email: 'ada@example.com',
      locale: 'de-DE',
      status: 'ACTIVE',
      tier: { key: 'BRONZE', name: 'Bronze' },
      balance: { available: 0, pending: 0, lifetime: 0 },
    });
    const byId = await app.gql(`query($id: ID!) { member(id: $id) { externalId } }`, { id: member.id }, key);
    expect(byId.data?.member.externalId).toBe('shop-42');
    const byExternal = await app.gql(`{ memberByExternalId(externalId: "shop-42") { id } }`, {}, key);
    expect(byExternal.data?.memberByExternalId.id).toBe(member.id);
    const missing = await app.gql(`{ memberByExternalId(externalId: "nobody") { id } }`, {}, key);
    expect(missing.data?.memberByExternalId).toBeNull();
  });

  it('lists members with filters and cursor pagination', async () => {
    const agent = await app.staffToken('AGENT');
    for (let i = 0; i < 5; i++) await app.enroll({ name: `Grace ${i}`, email: `grace${i}@example.com` });
    await app.enroll({ name: 'Linus', email: 'linus@example.org' });
    const closed = await app.enroll({ name: 'Closed One', email: 'closed@example.com' });
    await prisma.member.update({ where: { id: closed }, data: { status: 'CLOSED' } });

    const page1 = await app.gql(
      `{ members(first: 3, filter: { search: "GRACE" }) { edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }`,
      {},
      agent,
    );
    expect(page1.data?.members.edges).toHaveLength(3);
    expect(page1.data?.members.pageInfo.hasNextPage).toBe(true);
    const page2 = await app.gql(
      `query($after: String) { members(first: 3, after: $after, filter: { search: "grace" }) { edges { node { name } } pageInfo { hasNextPage } } }`,
      { after: page1.data?.members.pageInfo.endCursor },
      agent,
    );
    expect(page2.data?.members.edges).toHaveLength(2);
    expect(page2.data?.members.pageInfo.hasNextPage).toBe(false);
    const names = [...page1.data!.members.edges, ...page2.data!.members.edges].map((e: { node: { name: string } }) => e.node.name);
    expect(new Set(names).size).toBe(5);

    const closedOnly = await app.gql(`{ members(filter: { status: CLOSED }) { edges { node { name } } } }`, {}, agent);
    expect(closedOnly.data?.members.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['Closed One']);
  });

  it('a member updates their own details but not their status', async () => {
    const id = await app.enroll();
    const token = await app.memberToken(id);
    const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename ... on UpdateMemberPayload { member { name } } } }`;
    const renamed = await app.gql(UPDATE, { i: { id: encodeGlobalID('Member', id), name: 'New Name' } }, token);
    expect(renamed.data?.updateMember.member.name).toBe('New Name');
    const status = await app.gql(UPDATE, { i: { id, status: 'CLOSED' } }, token);
    expect(status.data?.updateMember.__typename).toBe('ForbiddenError');
    expect((await prisma.member.findUniqueOrThrow({ where: { id } })).status).toBe('ACTIVE');
  });
});

describe('member status changes (issue 9, hole 2)', () => {
  const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) {
    __typename ... on UpdateMemberPayload { member { name status } } ... on Error { message } } }`;
  const statusOf = async (id: string) => (await prisma.member.findUniqueOrThrow({ where: { id } })).status;

  it('a storefront key with members:write can change details but cannot suspend, close or reactivate anyone', async () => {
    const key = await app.apiKeyToken(['members:write', 'members:read']);
    const id = await app.enroll({ name: 'Before' });
    for (const status of ['SUSPENDED', 'CLOSED', 'PASSIVE']) {
      const refused = await app.gql(UPDATE, { i: { id, status, name: 'After' } }, key);
      expect(refused.data?.updateMember.__typename, status).toBe('ForbiddenError');
    }
    // Neither the status nor the name that came with it was written.
    expect(await prisma.member.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'ACTIVE', name: 'Before' });
    await prisma.member.update({ where: { id }, data: { status: 'SUSPENDED' } });
    const reactivate = await app.gql(UPDATE, { i: { id, status: 'ACTIVE' } }, key);
    expect(reactivate.data?.updateMember.__typename).toBe('ForbiddenError');
    expect(await statusOf(id)).toBe('SUSPENDED');
    const renamed = await app.gql(UPDATE, { i: { id, name: 'After' } }, key);
    expect(renamed.data?.updateMember).toMatchObject({ __typename: 'UpdateMemberPayload', member: { name: 'After' } });
  });

  it('the service itself refuses a status change from an API key or an agent, whatever the GraphQL scope', async () => {
    const id = await app.enroll();
    const key = apiKeyCaller('shop', ['members:write']);
    const agent = { actor: { type: 'STAFF' as const, id: 'agent-1' }, role: 'AGENT' as const };
    for (const caller of [key, agent]) {
      await expect(updateMember(app.deps, { id, status: 'CLOSED' }, caller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(await statusOf(id)).toBe('ACTIVE');
  });

  it('supervisors and admins change status; agents get ForbiddenError', async () => {
    const id = await app.enroll();
    const agent = await app.staffToken('AGENT');
    expect((await app.gql(UPDATE, { i: { id, status: 'SUSPENDED' } }, agent)).data?.updateMember.__typename).toBe('ForbiddenError');
    expect(await statusOf(id)).toBe('ACTIVE');
    const supervisor = await app.staffToken('SUPERVISOR');
    const suspended = await app.gql(UPDATE, { i: { id, status: 'SUSPENDED' } }, supervisor);
    expect(suspended.data?.updateMember).toMatchObject({ member: { status: 'SUSPENDED' } });
    const adminKey = await app.apiKeyToken(['admin']);
    const reactivated = await app.gql(UPDATE, { i: { id, status: 'ACTIVE' } }, adminKey);
    expect(reactivated.data?.updateMember).toMatchObject({ member: { status: 'ACTIVE' } });
    const admin = await app.staffToken('ADMIN');
    const closed = await app.gql(UPDATE, { i: { id, status: 'CLOSED' } }, admin);
    expect(closed.data?.updateMember).toMatchObject({ member: { status: 'CLOSED' } });
  });
});

describe('member search (issue 9, hole 10)', () => {
  const SEARCH = `query($s: String!) { members(first: 50, filter: { search: $s }) { edges { node { name } } } }`;

  it('"%", "_" and "\\" in a search match themselves, not everyone', async () => {
    const agent = await app.staffToken('AGENT');
    await app.enroll({ name: 'Plain Person', email: 'plain@example.com' });
    await app.enroll({ name: '100% Customer', email: 'percent@example.com' });
    await app.enroll({ name: 'Under_Score', email: 'under@example.com' });
    await app.enroll({ name: 'Back\\slash', email: 'back@example.com' });
    await app.enroll({ name: 'Mail Only', email: 'mail_only@example.com' });
    const names = async (search: string) => {
      const result = await app.gql(SEARCH, { s: search }, agent);
      expect(result.errors).toBeUndefined();
      return result.data!.members.edges.map((e: { node: { name: string } }) => e.node.name).sort();
    };
    expect(await names('%')).toEqual(['100% Customer']);
    expect(await names('_')).toEqual(['Mail Only', 'Under_Score']);
    expect(await names('\\')).toEqual(['Back\\slash']);
    expect(await names('%%')).toEqual([]);
    expect(await names('r_s')).toEqual(['Under_Score']);
    expect(await names('0% c')).toEqual(['100% Customer']);
  });
});

describe('e-mail changes (issue 9, hole 11)', () => {
  const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) {
    __typename ... on UpdateMemberPayload { member { email } } ... on Error { message } ... on ValidationError { field } } }`;

  it('a member token cannot tell a taken e-mail from a free one: both changes get the same refusal and nothing is written', async () => {
    const id = await app.enroll({ email: 'me@example.com' });
    await app.enroll({ email: 'taken@example.com' });
    const token = await app.memberToken(id);
    const taken = await app.gql(UPDATE, { i: { id, email: 'taken@example.com' } }, token);
    const free = await app.gql(UPDATE, { i: { id, email: 'free@example.com' } }, token);
    expect(taken).toEqual(free);
    expect(taken.data?.updateMember.__typename).toBe('ForbiddenError');
    expect((await prisma.member.findUniqueOrThrow({ where: { id } })).email).toBe('me@example.com');
  });

  it('a storefront key and staff still learn that an e-mail is taken, and change a free one', async () => {
    const id = await app.enroll({ email: 'me@example.com' });
    await app.enroll({ email: 'taken@example.com' });
    for (const token of [await app.apiKeyToken(['members:write']), await app.staffToken('AGENT')]) {
      const taken = await app.gql(UPDATE, { i: { id, email: 'taken@example.com' } }, token);
      expect(taken.data?.updateMember).toMatchObject({ __typename: 'AlreadyExistsError' });
    }
    const changed = await app.gql(UPDATE, { i: { id, email: 'new@example.com' } }, await app.staffToken('AGENT'));
    expect(changed.data?.updateMember).toMatchObject({ __typename: 'UpdateMemberPayload', member: { email: 'new@example.com' } });
  });
});
