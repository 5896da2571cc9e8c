import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { memberByExternalIdWhere, readableMemberId } from '../../src/domain/members/members.service.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';

/**
 * `member(id)` and `memberByExternalId` decide nothing themselves: who may read
 * a member, which member a member token finds and what an id may be are the
 * members service's rules, for GraphQL and any other caller alike.
 */
const { app } = useTestApp();

const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on ValidationError { field message } ... on Error { message } } }`;
const BY_EXTERNAL_ID = `query($x: String!) { memberByExternalId(externalId: $x) { id } }`;
const system: Caller = { actor: { type: 'SYSTEM', id: 'job' } };

describe('memberByExternalId', () => {
  it('refuses an external id enrolment refuses for its length with the same VALIDATION error; other characters are not found', async () => {
    const memberId = await app.enroll({ externalId: 'shop-1' });
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const readers = [storefront, await app.staffToken('AGENT'), await app.memberToken(memberId)];
    const bad: [string, string][] = [
      ['121 characters', 'x'.repeat(121)],
      ['60 000 characters', 'x'.repeat(60_000)],
      ['blank', '  '],
    ];
    for (const [label, externalId] of bad) {
      const enrolled = await app.gql(ENROLL, { i: { externalId, name: 'Ada' } }, storefront);
      expect(enrolled.data?.enrollMember, label).toMatchObject({ __typename: 'ValidationError', field: 'externalId' });
      for (const reader of readers) {
        const found = await app.gql(BY_EXTERNAL_ID, { x: externalId }, reader);
        expect(found.data, label).toEqual({ memberByExternalId: null });
        expect(found.errors, label).toHaveLength(1);
        expect(found.errors?.[0], label).toMatchObject({
          message: enrolled.data!.enrollMember.message,
          path: ['memberByExternalId'],
          extensions: { code: 'VALIDATION' },
        });
      }
    }
    // An id enrolment refuses for its characters, but a member enrolled before the rule may hold: not found.
    for (const externalId of ['shop-\u00071', 'shop-\n1', 'shop-\u202E1']) {
      for (const reader of readers)
        expect(await app.gql(BY_EXTERNAL_ID, { x: externalId }, reader)).toEqual({ data: { memberByExternalId: null } });
    }
    const found = await app.gql(BY_EXTERNAL_ID, { x: ' shop-1 ' }, storefront);
    expect(found).toEqual({ data: { memberByExternalId: { id: encodeGlobalID('Member', memberId) } } });
  });

  it('the service refuses callers who may not read members, and keeps a member to themself', async () => {
    for (const caller of [apiKeyCaller('earn', ['points:earn']), apiKeyCaller('write', ['members:write']), system]) {
      expect(() => memberByExternalIdWhere('shop-1', caller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    }
    const memberId = '6f1c0a52-2f4e-4b7a-9d3e-0c1d2e3f4a5b';
    expect(memberByExternalIdWhere(' shop-1 ', memberCaller(memberId))).toEqual({ externalId: 'shop-1', id: memberId });
    expect(memberByExternalIdWhere('shop-1', staffCaller('AGENT'))).toEqual({ externalId: 'shop-1' });
  });
});

describe('member(id): readableMemberId', () => {
  it('a member reads only themself (another member is null, as an unknown id); staff and members:read keys anyone', async () => {
    const mine = await app.enroll();
    const theirs = await app.enroll();
    expect(readableMemberId(mine, memberCaller(mine))).toBe(mine);
    expect(readableMemberId(theirs, memberCaller(mine))).toBeNull();
    for (const reader of [staffCaller('AGENT'), apiKeyCaller('shop', ['members:read']), apiKeyCaller('root', ['admin'])]) {
      expect(readableMemberId(theirs, reader)).toBe(theirs);
      expect(readableMemberId(theirs.toUpperCase(), reader)).toBe(theirs);
    }
    // Through GraphQL, the same answers.
    const token = await app.memberToken(mine);
    const read = (id: string) => app.gql(`query($id: ID!) { member(id: $id) { id } }`, { id }, token);
    expect(await read(encodeGlobalID('Member', theirs))).toEqual({ data: { member: null } });
    expect((await read(mine)).data?.member).not.toBeNull();
  });

  it('refuses callers who may not read members, and an id that is not one', () => {
    const id = '6f1c0a52-2f4e-4b7a-9d3e-0c1d2e3f4a5b';
    for (const caller of [apiKeyCaller('earn', ['points:earn']), apiKeyCaller('write', ['members:write']), system]) {
      expect(() => readableMemberId(id, caller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    }
    expect(() => readableMemberId('nope', staffCaller('AGENT'))).toThrow(expect.objectContaining({ code: 'VALIDATION', field: 'id' }));
  });
});
