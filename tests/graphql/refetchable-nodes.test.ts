import { describe, expect, it } from 'vitest';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';

/**
 * ApiKey and ProgramChange implement Node: what an admin reads in a list refetches
 * through node(id), with the same answer; anyone else gets what their list gives
 * them — null with FORBIDDEN for staff below admin, storefront keys and members (the
 * service refuses before reading, for an id that exists or not:
 * tests/graphql/unowned-node-read.test.ts), UNAUTHENTICATED for no caller.
 */
const { app } = useTestApp();

const API_KEY = `query($id: ID!) { node(id: $id) { __typename id ... on ApiKey { name prefix scopes revokedAt } } }`;
const CHANGE = `query($id: ID!) { node(id: $id) { __typename id ... on ProgramChange { version changedSettings } } }`;

async function refusals(query: string, id: string, node: string) {
  for (const token of [
    await app.memberToken(await app.enroll()),
    await app.staffToken('AGENT'),
    await app.staffToken('SUPERVISOR'),
    await app.apiKeyToken([...STOREFRONT_SCOPES]),
  ]) {
    const refused = await app.gql(query, { id }, token);
    expect(refused.data?.node ?? null, node).toBeNull();
    expect(
      refused.errors?.map((error) => error.extensions?.code),
      node,
    ).toEqual(['FORBIDDEN']);
  }
  const anonymous = await app.gql(query, { id });
  expect(anonymous.data?.node ?? null).toBeNull();
  expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
}

describe('refetchable admin records', () => {
  it('an ApiKey from apiKeys refetches through node(id) for an admin, and revokeApiKey takes that id', async () => {
    await app.apiKeyToken(['points:earn'], 'web shop');
    const admin = await app.staffToken('ADMIN');
    const list = await app.gql('{ apiKeys { edges { node { id name prefix scopes revokedAt } } } }', {}, admin);
    const listed = list.data!.apiKeys.edges[0].node;
    const refetched = await app.gql(API_KEY, { id: listed.id }, admin);
    expect(refetched.errors).toBeUndefined();
    expect(refetched.data!.node).toEqual({ __typename: 'ApiKey', ...listed });

    const revoke = await app.gql(
      `mutation($id: ID!) { revokeApiKey(input: { id: $id }) { __typename ... on RevokeApiKeyPayload { apiKey { id revokedAt } } } }`,
      { id: listed.id },
      admin,
    );
    expect(revoke.data!.revokeApiKey).toMatchObject({ __typename: 'RevokeApiKeyPayload', apiKey: { id: listed.id } });
    expect(revoke.data!.revokeApiKey.apiKey.revokedAt).not.toBeNull();
  });

  it('nobody but an admin reads an ApiKey through node(id)', async () => {
    await app.apiKeyToken(['points:earn'], 'web shop');
    const admin = await app.staffToken('ADMIN');
    const id = (await app.gql('{ apiKeys { edges { node { id } } } }', {}, admin)).data!.apiKeys.edges[0].node.id;
    await refusals(API_KEY, id, 'ApiKey');
  });

  it('a ProgramChange from program.changes refetches through node(id) for an admin only', async () => {
    await updateProgram(app.deps, { patch: { returnWindowDays: 7 } }, staffCaller('ADMIN'));
    const admin = await app.staffToken('ADMIN');
    const list = await app.gql('{ program { changes { edges { node { id version changedSettings } } } } }', {}, admin);
    const listed = list.data!.program.changes.edges[0].node;
    expect(listed.changedSettings).toEqual(['returnWindowDays']);
    const refetched = await app.gql(CHANGE, { id: listed.id }, admin);
    expect(refetched.errors).toBeUndefined();
    expect(refetched.data!.node).toEqual({ __typename: 'ProgramChange', ...listed });
    await refusals(CHANGE, listed.id, 'ProgramChange');
  });
});
