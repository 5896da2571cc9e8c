import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * DESIGN.md, Member: "external id (the storefront's customer id, unique), e-mail (optional, unique when given)";
 * Principle 5: "Bad input gets a clear, typed error and changes nothing." docs/domain-rules.md, "Member e-mail
 * addresses and external ids".
 */
const { prisma, app } = useTestApp();

const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on EnrollMemberPayload { member { id email externalId } } ... on ValidationError { field message }
  ... on AlreadyExistsError { field } ... on Error { code message } } }`;
const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) {
  __typename ... on UpdateMemberPayload { member { id email name } } ... on ValidationError { field message }
  ... on AlreadyExistsError { field } ... on Error { code message } } }`;
const BY_EXTERNAL_ID = `query($x: String!) { memberByExternalId(externalId: $x) { id externalId } }`;

// "josé@example.com": é as U+00E9 (NFC), and as e + U+0301 (NFD: what macOS input and many copy-pastes give).
const COMPOSED = 'jos\u00e9@example.com';
const DECOMPOSED = 'jose\u0301@example.com';

describe('member e-mail addresses under Unicode normalisation', () => {
  it('stores an address typed decomposed (NFD) in NFC', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const enrolled = await app.gql(ENROLL, { i: { externalId: 'shop-1', name: 'José', email: ` JOSE\u0301@Example.com ` } }, storefront);
    expect(enrolled.data?.enrollMember).toMatchObject({ __typename: 'EnrollMemberPayload', member: { email: COMPOSED } });
  });

  it('an address typed precomposed and one typed decomposed are the same address: the second is AlreadyExistsError', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const first = await app.gql(ENROLL, { i: { externalId: 'shop-1', name: 'José', email: COMPOSED } }, storefront);
    expect(first.data?.enrollMember.__typename).toBe('EnrollMemberPayload');

    const second = await app.gql(ENROLL, { i: { externalId: 'shop-2', name: 'José', email: DECOMPOSED } }, storefront);
    expect(second.data?.enrollMember).toMatchObject({ __typename: 'AlreadyExistsError', field: 'email' });

    // updateMember is the other way in: moving another member onto the decomposed spelling is refused too.
    const other = await app.gql(ENROLL, { i: { externalId: 'shop-3', name: 'Other', email: 'other@example.com' } }, storefront);
    const moved = await app.gql(UPDATE, { i: { id: other.data?.enrollMember.member.id, email: DECOMPOSED } }, storefront);
    expect(moved.data?.updateMember).toMatchObject({ __typename: 'AlreadyExistsError', field: 'email' });

    const rows = await prisma.member.findMany({ select: { email: true }, orderBy: { externalId: 'asc' } });
    expect(rows.map((row) => row.email)).toEqual([COMPOSED, 'other@example.com']);
  });
});

describe('control characters in a member’s identifiers', () => {
  it('an e-mail address with a control character is not a valid address: ValidationError on email, nothing written', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    for (const email of ['a\u0001da@example.com', 'ada@exa\u007fmple.com']) {
      const answer = await app.gql(ENROLL, { i: { externalId: 'shop-1', name: 'Ada', email } }, storefront);
      expect(answer.data?.enrollMember).toMatchObject({ __typename: 'ValidationError', field: 'email' });
    }
    expect(await prisma.member.count()).toBe(0);
  });

  it('an external id or a name with a control character is refused like an order reference, nothing written', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const badId = await app.gql(ENROLL, { i: { externalId: 'shop-1\u0007', name: 'Ada' } }, storefront);
    expect(badId.data?.enrollMember).toMatchObject({
      __typename: 'ValidationError',
      field: 'externalId',
      message: 'must not contain control characters',
    });
    const badName = await app.gql(ENROLL, { i: { externalId: 'shop-1', name: 'Ada\u001bLovelace' } }, storefront);
    expect(badName.data?.enrollMember).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    expect(await prisma.member.count()).toBe(0);

    const memberId = await app.enroll();
    const renamed = await app.gql(UPDATE, { i: { id: memberId, name: 'Ada\nLovelace' } }, storefront);
    expect(renamed.data?.updateMember).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).name).not.toContain('\n');
  });
});

describe('memberByExternalId finds the member by the id it was enrolled with', () => {
  it('an id sent with surrounding spaces is stored trimmed; the same id sent to the lookup finds the member', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const enrolled = await app.gql(ENROLL, { i: { externalId: ' shop-7 ', name: 'Ada' } }, storefront);
    expect(enrolled.data?.enrollMember).toMatchObject({ __typename: 'EnrollMemberPayload', member: { externalId: 'shop-7' } });
    // Enrolment says the id is taken, so the lookup must find it.
    const again = await app.gql(ENROLL, { i: { externalId: ' shop-7 ', name: 'Ada' } }, storefront);
    expect(again.data?.enrollMember).toMatchObject({ __typename: 'AlreadyExistsError', field: 'externalId' });

    const member = { id: enrolled.data?.enrollMember.member.id, externalId: 'shop-7' };
    for (const externalId of [' shop-7 ', 'shop-7', '\tshop-7']) {
      const found = await app.gql(BY_EXTERNAL_ID, { x: externalId }, storefront);
      expect(found.data?.memberByExternalId, JSON.stringify(externalId)).toEqual(member);
    }
    expect((await app.gql(BY_EXTERNAL_ID, { x: ' shop-8 ' }, storefront)).data?.memberByExternalId).toBeNull();
  });
});
