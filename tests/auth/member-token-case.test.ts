import { describe, expect, it } from 'vitest';
import { signMemberToken } from '../../src/auth/tokens.js';
import { TEST_JWT_SECRET, useTestApp } from '../support/app.js';

/**
 * A member token's `sub` is the member's UUID. A UUID is case-insensitive (RFC 9562: input is
 * case-insensitive), the verifier accepts the upper-case spelling (z.uuid()) and PostgreSQL finds the
 * member by it. Such a token must then be that member's in every respect: their own data, and refused
 * at once once the member is closed (src/auth/member-accounts.ts) — not half-accepted.
 */
const { app } = useTestApp();
const CLOSE = `mutation($id: ID!, $status: MemberStatus!) { updateMember(input: { id: $id, status: $status }) { __typename } }`;
const ME = '{ me { id status } }';

describe('member token whose sub is the member id in upper case', () => {
  it('reads its own member, and is refused (401) at once once the member is closed', async () => {
    const memberId = await app.enroll();
    const token = await signMemberToken(TEST_JWT_SECRET, { memberId: memberId.toUpperCase() });
    const admin = await app.staffToken('ADMIN');

    const before = await app.request(ME, {}, { token });
    expect(before.status).toBe(200);

    expect((await app.gql(CLOSE, { id: memberId, status: 'CLOSED' }, admin)).data?.updateMember.__typename).toBe('UpdateMemberPayload');
    const after = await app.request(ME, {}, { token });
    // Before: 200 (the closed check was cached per spelling of the id, and only the lower-case one forgotten).
    expect(after.status, JSON.stringify(after.body)).toBe(401);

    // And before it was closed, the token was its member's own (before: `me` answered FORBIDDEN).
    expect(before.body.data?.me, JSON.stringify(before.body)).toEqual({ id: expect.any(String), status: 'ACTIVE' });
  });
});
