import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * What the answer to a write shows a key that may write but not read (audit of stop 50). A mutation payload's
 * `member` shows the member to exactly the callers who may read them (`mayReadMember`: SERVICE_CALLERS.readMembers,
 * docs/domain-rules.md), as every other field that shows a member does: a `members:write` key's enrolment answers
 * FORBIDDEN on `member` though the member was enrolled, as a `points:earn` key's earn answers FORBIDDEN on its
 * `member` and `entry`. Such a key selects `__typename` (and an earn's `points`); with `members:read` too it sees
 * the member. The enrollMember row of the permission matrix says so (docs/permissions.md).
 *
 * What it does read is `memberId`, the enrolled member's global id (the `member { id }` a reader gets): the answer to
 * its own write, so that it can go on to earn for or update the member it enrolled. A taken external id or e-mail is
 * an AlreadyExistsError naming the field only, never the existing member's id.
 */
const { prisma, app } = useTestApp();

const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on EnrollMemberPayload { member { id externalId name status } } ... on Error { code message } } }`;
const ENROLL_TYPENAME = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename ... on Error { code } } }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on EarnPointsPayload { points member { id balance { pending } } } } }`;
const ENROLL_ID = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on EnrollMemberPayload { memberId } ... on AlreadyExistsError { field } ... on Error { code message } } }`;
const EARN_POINTS = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points } } }`;

describe('a members:write key without members:read', () => {
  it('enrols; the payload shows it no member (FORBIDDEN on `member` alone), as a points:earn key’s earn shows it none', async () => {
    const writer = await app.apiKeyToken(['members:write']);

    const plain = await app.gql(ENROLL_TYPENAME, { i: { externalId: 'shop-1', name: 'Ada' } }, writer);
    expect(plain).toEqual({ data: { enrollMember: { __typename: 'EnrollMemberPayload' } } });
    expect(await prisma.member.count({ where: { externalId: 'shop-1' } })).toBe(1);

    const asked = await app.gql(ENROLL, { i: { externalId: 'shop-2', name: 'Bea' } }, writer);
    expect(asked.errors?.map((error) => [error.path, error.extensions?.code])).toEqual([[['enrollMember', 'member'], 'FORBIDDEN']]);
    expect(JSON.stringify(asked.data)).not.toContain('Bea');
    // Refused is the showing, not the write.
    expect(await prisma.member.count({ where: { externalId: 'shop-2' } })).toBe(1);

    const earner = await app.apiKeyToken(['points:earn']);
    const memberId = await app.enroll();
    const earnInput = (orderRef: string) => ({ i: { memberId, orderRef, orderTotal: '10', idempotencyKey: orderRef } });
    expect(await app.gql(EARN_POINTS, earnInput('o-1'), earner)).toEqual({
      data: { earnPoints: { __typename: 'EarnPointsPayload', points: 10 } },
    });
    const earned = await app.gql(EARN, earnInput('o-2'), earner);
    expect(earned.errors?.map((error) => [error.path, error.extensions?.code])).toEqual([[['earnPoints', 'member'], 'FORBIDDEN']]);
  });

  it('reads the memberId of the member it enrolled and earns for it; a taken external id shows no id', async () => {
    const key = await app.apiKeyToken(['members:write', 'points:earn']);
    const enrolled = await app.gql(ENROLL_ID, { i: { externalId: 'shop-4', name: 'Dan' } }, key);
    expect(enrolled.errors).toBeUndefined();
    const memberId = (enrolled.data?.enrollMember as { memberId: string }).memberId;
    const stored = await prisma.member.findUniqueOrThrow({ where: { externalId: 'shop-4' } });
    expect(memberId).toBe(Buffer.from(`Member:${stored.id}`).toString('base64'));

    const earnInput = { i: { memberId, orderRef: 'o-4', orderTotal: '10', idempotencyKey: 'o-4' } };
    expect(await app.gql(EARN_POINTS, earnInput, key)).toEqual({ data: { earnPoints: { __typename: 'EarnPointsPayload', points: 10 } } });
    expect(await prisma.ledgerEntry.count({ where: { memberId: stored.id, kind: 'EARN' } })).toBe(1);

    const again = await app.gql(ENROLL_ID, { i: { externalId: 'shop-4', name: 'Eve' } }, key);
    expect(again.data?.enrollMember).toEqual({
      __typename: 'AlreadyExistsError',
      field: 'externalId',
      code: 'ALREADY_EXISTS',
      message: expect.any(String),
    });
    expect(JSON.stringify(again)).not.toContain(stored.id);
    expect(JSON.stringify(again)).not.toContain(memberId);
  });

  it('with members:read too, sees the member it enrolled', async () => {
    const key = await app.apiKeyToken(['members:write', 'members:read']);
    const answer = await app.gql(ENROLL.replace('member {', 'memberId member {'), { i: { externalId: 'shop-3', name: 'Cem' } }, key);
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.enrollMember).toMatchObject({
      __typename: 'EnrollMemberPayload',
      member: { externalId: 'shop-3', name: 'Cem', status: 'ACTIVE' },
    });
    const { memberId, member } = answer.data?.enrollMember as { memberId: string; member: { id: string } };
    expect(memberId).toBe(member.id);
  });
});
