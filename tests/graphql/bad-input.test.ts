import { beforeEach, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();
let admin: string;
let memberId: string;

beforeEach(async () => {
  admin = await app.staffToken('ADMIN');
  memberId = await app.enroll();
  const grant = await app.gql(
    `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }`,
    { i: { memberId, points: 50, reason: 'starting balance', idempotencyKey: 'seed' } },
    admin,
  );
  expect(grant.data?.adjustPoints.__typename).toBe('AdjustPointsPayload');
});

async function rowCounts() {
  const [members, entries, lots, orders, records] = await Promise.all([
    prisma.member.count(),
    prisma.ledgerEntry.count(),
    prisma.pointLot.count(),
    prisma.pointOrder.count(),
    prisma.idempotencyRecord.count(),
  ]);
  return { members, entries, lots, orders, records };
}

const REDEEM = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) {
  __typename ... on ValidationError { field message } ... on NotFoundError { entity } } }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on ValidationError { field message } ... on NotFoundError { entity } } }`;
const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on ValidationError { field } ... on AlreadyExistsError { field } } }`;

describe('bad input gets a typed error and writes nothing', () => {
  const badPoints: [string, number][] = [
    ['zero', 0],
    ['negative', -5],
    ['fractional', 1.5],
    ['above 2^31', 2 ** 31],
    ['far above 2^31', 1e15],
  ];
  for (const [label, points] of badPoints) {
    it(`redeemPoints with ${label} points → ValidationError on points`, async () => {
      const before = await rowCounts();
      const result = await app.gql(REDEEM, { i: { memberId, points, idempotencyKey: `bad-${label.replace(/\W/g, '')}` } }, admin);
      expect(result.data?.redeemPoints).toMatchObject({ __typename: 'ValidationError', field: 'points' });
      expect(await rowCounts()).toEqual(before);
    });
  }

  it('earnPoints with a malformed order total, currency or key → ValidationError', async () => {
    const before = await rowCounts();
    const cases = [
      [{ orderTotal: '-1' }, 'orderTotal'],
      [{ orderTotal: '12.345' }, 'orderTotal'],
      [{ orderTotal: 'abc' }, 'orderTotal'],
      [{ currency: 'euro' }, 'currency'],
      [{ idempotencyKey: '' }, 'idempotencyKey'],
      [{ idempotencyKey: 'x'.repeat(500) }, 'idempotencyKey'],
      [{ orderRef: '   ' }, 'orderRef'],
      // Every operation naming an order refuses control characters: one this form took could never be cancelled.
      [{ orderRef: 'A\nB' }, 'orderRef'],
      [{ orderRef: 'tab\there' }, 'orderRef'],
    ] as const;
    for (const [override, field] of cases) {
      const input = { memberId, orderRef: 'o-1', orderTotal: '10.00', idempotencyKey: 'k-1', ...override };
      const result = await app.gql(EARN, { i: input }, admin);
      expect(result.data?.earnPoints, JSON.stringify(override)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('refundOrder looks an order reference with control characters up as stored, as cancelOrder does: no such order, nothing written', async () => {
    const before = await rowCounts();
    const result = await app.gql(
      `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { __typename ... on ValidationError { field } } }`,
      { i: { memberId, orderRef: 'A\nB', idempotencyKey: 'refund-ctl' } },
      admin,
    );
    expect(result.data?.refundOrder).toEqual({ __typename: 'NotFoundError' });
    expect(await rowCounts()).toEqual(before);
  });

  it('an unknown member → NotFoundError; a malformed member id → ValidationError', async () => {
    const before = await rowCounts();
    const unknown = await app.gql(
      REDEEM,
      { i: { memberId: '00000000-0000-4000-8000-000000000000', points: 1, idempotencyKey: 'u-1' } },
      admin,
    );
    expect(unknown.data?.redeemPoints).toMatchObject({ __typename: 'NotFoundError', entity: 'Member' });
    const malformed = await app.gql(REDEEM, { i: { memberId: 'not-an-id', points: 1, idempotencyKey: 'u-2' } }, admin);
    expect(malformed.data?.redeemPoints).toMatchObject({ __typename: 'ValidationError', field: 'memberId' });
    expect(await rowCounts()).toEqual(before);
  });

  it('enrollMember with a malformed e-mail → ValidationError; duplicates → AlreadyExistsError', async () => {
    const before = await rowCounts();
    const malformed = await app.gql(ENROLL, { i: { externalId: 'c-1', email: 'not-an-email', name: 'N' } }, admin);
    expect(malformed.data?.enrollMember).toEqual({ __typename: 'ValidationError', field: 'email' });
    expect(await rowCounts()).toEqual(before);

    const ok = await app.gql(ENROLL, { i: { externalId: 'c-1', email: 'one@example.com', name: 'N' } }, admin);
    expect(ok.data?.enrollMember.__typename).toBe('EnrollMemberPayload');
    const sameExternal = await app.gql(ENROLL, { i: { externalId: 'c-1', email: 'two@example.com', name: 'N' } }, admin);
    expect(sameExternal.data?.enrollMember).toEqual({ __typename: 'AlreadyExistsError', field: 'externalId' });
    const sameEmail = await app.gql(ENROLL, { i: { externalId: 'c-2', email: 'ONE@example.com', name: 'N' } }, admin);
    expect(sameEmail.data?.enrollMember).toEqual({ __typename: 'AlreadyExistsError', field: 'email' });
    expect((await rowCounts()).members).toBe(before.members + 1);
  });

  it('an anonymous or under-scoped caller gets a typed error and nothing is written', async () => {
    const before = await rowCounts();
    const anonymous = await app.gql(REDEEM, { i: { memberId, points: 1, idempotencyKey: 'a-1' } });
    expect(anonymous.data?.redeemPoints.__typename).toBe('UnauthenticatedError');
    const earnOnly = await app.apiKeyToken(['points:earn']);
    const underScoped = await app.gql(REDEEM, { i: { memberId, points: 1, idempotencyKey: 'a-2' } }, earnOnly);
    expect(underScoped.data?.redeemPoints.__typename).toBe('ForbiddenError');
    const agent = await app.staffToken('AGENT');
    const adjust = await app.gql(
      `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }`,
      { i: { memberId, points: 5, reason: 'because', idempotencyKey: 'a-3' } },
      agent,
    );
    expect(adjust.data?.adjustPoints.__typename).toBe('ForbiddenError');
    expect(await rowCounts()).toEqual(before);
  });

  it('a bad token is refused with UNAUTHENTICATED, not masked', async () => {
    const result = await app.gql('{ program { version } }', {}, 'not-a-real-token');
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('Points sent as a string (issue 16): read strictly, then validated like a number', () => {
  const balance = async () => {
    const result = await app.gql(`query($id: ID!) { member(id: $id) { balance { available } } }`, { id: memberId }, admin);
    return (result.data as { member: { balance: { available: number } } }).member.balance.available;
  };

  it('a numeral string in a variable is that number of points', async () => {
    const result = await app.gql(REDEEM, { i: { memberId, points: '20', idempotencyKey: 'string-20' } }, admin);
    expect(result.errors).toBeUndefined();
    expect(result.data?.redeemPoints.__typename).toBe('RedeemPointsPayload');
    expect(await balance()).toBe(30);
  });

  it('a numeral string literal in the document is that number of points', async () => {
    const result = await app.gql(
      `mutation { redeemPoints(input: { memberId: "${memberId}", points: "5", idempotencyKey: "literal-5" }) { __typename } }`,
      {},
      admin,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.redeemPoints.__typename).toBe('RedeemPointsPayload');
    expect(await balance()).toBe(45);
  });

  const badStrings = ['0', '-5', '1.5', '2147483648', '250'];
  for (const points of badStrings) {
    it(`"${points}" (not a whole amount within range, or more than the balance) → a typed error on points, nothing written`, async () => {
      const before = await rowCounts();
      const result = await app.gql(REDEEM, { i: { memberId, points, idempotencyKey: `string-${points.replace(/\W/g, '')}` } }, admin);
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      // 250 is a valid amount above the balance of 50: the typed InsufficientPointsError, like the number 250.
      const expected = points === '250' ? { __typename: 'InsufficientPointsError' } : { __typename: 'ValidationError', field: 'points' };
      expect(result.data?.redeemPoints).toMatchObject(expected);
      expect(await rowCounts()).toEqual(before);
    });
  }
});
