import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { permissionOf, type CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope, type Principal } from '../../src/auth/principal.js';
import { SERVICE_CALLERS } from '../../src/domain/authorization.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { builder } from '../../src/graphql/builder.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { memberVisibility } from '../../src/graphql/members/member.type.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, MEMBER_READER_KINDS } from '../support/matrix-callers.js';
import { statementsDuring } from '../support/statements.js';
import { tokenOfKind, withReadMembersRule } from '../support/node-reads.js';

/**
 * A Member read through `node(id)` is the members service's read (`readMember`: SERVICE_CALLERS.readMembers, a
 * member only themself), as `member(id)` is: a caller outside the rule is refused by the service before anything is
 * read, and a member token aiming at another member gets null without that member's row being read. Every other
 * field that puts a Member into an answer (a relation, a mutation's payload) is admitted by the type's visibility,
 * which is the same rule of the same service, not a copy of it.
 */
const { app } = useTestApp();

const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on Member { externalId name balance { available } } } }`;

/** The statements that read a member row. */
const memberReads = (statements: string[]) => statements.filter((sql) => /\bmembers\b/.test(sql));

describe('node(id) of a Member is the members service read', () => {
  it('answers the callers the matrix lets read members; the service refuses the others before reading', async () => {
    const owner = await app.enroll();
    const stranger = await app.enroll();
    const id = encodeGlobalID('Member', owner);
    const missing = encodeGlobalID('Member', randomUUID());
    const callers = matrixCallers('Query', 'node', { owner, stranger });
    expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual(MEMBER_READER_KINDS);

    for (const { kind, access } of callers) {
      const token = await tokenOfKind(app, kind, owner, stranger);
      await app.gql('{ __typename }', {}, token); // credentials looked up and cached: what follows is the read alone
      const { statements, result } = await statementsDuring(() => app.gql(NODE, { id }, token));
      const unknown = await app.gql(NODE, { id: missing }, token);
      if (kind === 'anonymous') {
        expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
        expect(unknown.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      } else if (access !== 'deny') {
        expect(result.errors, kind).toBeUndefined();
        expect(result.data?.node, kind).toMatchObject({ __typename: 'Member', id, balance: { available: 0 } });
        // An id nobody has: null, as for every node type.
        expect(unknown, kind).toEqual({ data: { node: null } });
      } else if (kind === 'memberOther') {
        // Null, as for an id nobody has, and the other member's row is not read to answer it.
        expect(result, kind).toEqual({ data: { node: null } });
        expect(unknown, kind).toEqual({ data: { node: null } });
        expect(memberReads(statements), kind).toEqual([]);
      } else {
        // Refused by the service's own check (its message names the rule), before any read, whether the member
        // exists or not.
        for (const answer of [result, unknown]) {
          expect(answer.data?.node ?? null, kind).toBeNull();
          expect(
            answer.errors?.map((e) => [e.extensions?.code, e.message]),
            kind,
          ).toEqual([['FORBIDDEN', expect.stringMatching(/^readMembers is for /)]]);
        }
        expect(statements, kind).toEqual([]);
      }
    }
  });

  it('reads the member with what the selection asks for, in one statement', async () => {
    const owner = await app.enroll();
    await adjustPoints(app.deps, { memberId: owner, points: 25, reason: 'opening', idempotencyKey: 'open' }, staffCaller('ADMIN'));
    const token = await app.memberToken(owner);
    await app.gql('{ __typename }', {}, token);
    const query = `query($id: ID!) { node(id: $id) { ... on Member { balance { available } ledger(first: 5) { edges { node { amount } } } } } }`;
    const { statements, result } = await statementsDuring(() =>
      app.gql(query, { id: encodeGlobalID('Member', owner.toUpperCase()) }, token),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.node).toEqual({ balance: { available: 25 }, ledger: { edges: [{ node: { amount: 25 } }] } });
    expect(memberReads(statements)).toHaveLength(1);
  });

  it('refuses a Member global id around something that is not a UUID as any other node type’s, reading nothing', async () => {
    const agent = await app.staffToken('AGENT');
    const { statements, result } = await statementsDuring(() => app.gql(NODE, { id: encodeGlobalID('Member', 'nope') }, agent));
    const voucher = await app.gql(NODE, { id: encodeGlobalID('Voucher', 'nope') }, agent);
    expect(result.data?.node ?? null).toBeNull();
    expect(result.errors?.map((e) => [e.extensions?.code, e.message])).toEqual(voucher.errors?.map((e) => [e.extensions?.code, e.message]));
    expect(result.errors?.[0]?.message).toMatch(/global id/);
    expect(statements).toEqual([]);
  });
});

describe('memberVisibility is SERVICE_CALLERS.readMembers', () => {
  /** Whether a type whose visibility is `memberVisibility(memberId)` shows its object to `principal`. */
  async function sees(principal: Principal, memberId: string): Promise<boolean> {
    const context = { principal } as GraphQLContext;
    try {
      await builder.runAuthScopes(context, memberVisibility(memberId));
      return true;
    } catch {
      return false;
    }
  }

  const principalOf = (kind: CallerKind, owner: string, stranger: string): Principal => {
    if (kind === 'anonymous') return { kind: 'anonymous' };
    if (kind === 'memberSelf') return { kind: 'member', memberId: owner };
    if (kind === 'memberOther') return { kind: 'member', memberId: stranger };
    if ((API_KEY_SCOPES as readonly string[]).includes(kind)) {
      return { kind: 'apiKey', apiKeyId: `key-${kind}`, name: kind, scopes: new Set([kind as ApiKeyScope]) };
    }
    return { kind: 'staff', staffId: `staff-${kind}`, role: kind as 'AGENT' | 'SUPERVISOR' | 'ADMIN' };
  };

  it('shows a member’s objects to exactly the callers the matrix lets read that member', async () => {
    const [owner, stranger] = [randomUUID(), randomUUID()];
    const row = permissionOf('Query', 'member')!;
    for (const [kind, access] of Object.entries(row.access) as [CallerKind, string][]) {
      expect(await sees(principalOf(kind, owner, stranger), owner), kind).toBe(access !== 'deny');
    }
  });

  it('follows the rule: a change to SERVICE_CALLERS.readMembers is a change to who sees members in GraphQL', async () => {
    const owner = randomUUID();
    const reader: Principal = { kind: 'apiKey', apiKeyId: 'key-reader', name: 'reader', scopes: new Set(['members:read']) };
    const earner: Principal = { kind: 'apiKey', apiKeyId: 'key-earner', name: 'earner', scopes: new Set(['points:earn']) };
    const agent: Principal = { kind: 'staff', staffId: 'staff-agent', role: 'AGENT' };
    const self: Principal = { kind: 'member', memberId: owner };
    expect([await sees(reader, owner), await sees(earner, owner), await sees(agent, owner), await sees(self, owner)]).toEqual([
      true,
      false,
      true,
      true,
    ]);
    const changed = await withReadMembersRule({ staff: 'SUPERVISOR', apiKeys: ['points:earn'] }, async () => [
      await sees(reader, owner),
      await sees(earner, owner),
      await sees(agent, owner),
      await sees(self, owner),
    ]);
    expect(changed).toEqual([false, true, false, false]);
  });

  it('a mutation payload’s member is shown by the same rule (a key that earns points but does not read members gets FORBIDDEN)', async () => {
    const owner = await app.enroll();
    await adjustPoints(app.deps, { memberId: owner, points: 50, reason: 'opening', idempotencyKey: 'open' }, staffCaller('ADMIN'));
    const redeemer = await app.apiKeyToken(['points:redeem'], 'till');
    const redeem = (key: string) =>
      app.gql(
        `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename ... on RedeemPointsPayload { points member { id } } } }`,
        { i: { memberId: owner, points: 5, idempotencyKey: key } },
        redeemer,
      );
    const refused = await redeem('one');
    expect(refused.errors?.map((e) => [e.extensions?.code, e.path?.join('.')])).toEqual([['FORBIDDEN', 'redeemPoints.member']]);
    const allowed = await withReadMembersRule({ ...SERVICE_CALLERS.readMembers, apiKeys: ['members:read', 'points:redeem'] }, () =>
      redeem('two'),
    );
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data?.redeemPoints).toMatchObject({ points: -5, member: { id: encodeGlobalID('Member', owner) } });
  });
});
