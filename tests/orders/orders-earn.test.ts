import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
  __typename ... on EarnPointsPayload { points }
  ... on ValidationError { field message } ... on Error { code message } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  __typename ... on RedeemPointsPayload { points } ... on Error { code message } } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { __typename } }`;
const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) {
  __typename ... on EnrollMemberPayload { member { id email } } ... on AlreadyExistsError { field } ... on Error { code } } }`;

const { prisma, app } = useTestApp();

const LINES = [
  { sku: 'SHOE-1', category: 'shoes', quantity: 1, unitPrice: '80.00' },
  { sku: 'SOCK-3', category: 'socks', quantity: 3, unitPrice: '5.00' },
  { sku: 'GIFT-50', category: 'gift-cards', quantity: 1, unitPrice: '50.00' },
  { sku: 'BAG-1', category: 'bags', quantity: 1, unitPrice: '29.99' },
  { sku: 'LACE-2', quantity: 2, unitPrice: '2.50' },
];

/** Rows an earn may write: nothing of them after a refused one. */
async function written() {
  return Promise.all([prisma.pointOrder.count(), prisma.orderLine.count(), prisma.ledgerEntry.count(), prisma.pointLot.count()]);
}

describe('earnPoints with an order', () => {
  it('records the order with its lines and earns what the total-only form earns', async () => {
    const storefront = await app.apiKeyToken(['points:earn']);
    const [withLines, totalOnly] = [await app.enroll(), await app.enroll()];
    const order = { reference: 'W-1001', total: { amount: '170.00', currency: 'EUR' }, channel: 'web', lines: LINES };
    const earned = await app.gql(EARN, { input: { memberId: withLines, order, idempotencyKey: 'e-1' } }, storefront);
    const plain = await app.gql(
      EARN,
      { input: { memberId: totalOnly, orderRef: 'W-1001', orderTotal: '170.00', idempotencyKey: 'e-1' } },
      storefront,
    );
    expect(earned.data?.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 170 });
    expect(plain.data?.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 170 });

    const row = await prisma.pointOrder.findFirstOrThrow({
      where: { memberId: withLines },
      include: { lines: { orderBy: { position: 'asc' } } },
    });
    expect([row.orderRef, row.orderTotal?.toFixed(2), row.channel, row.pointsEarned, row.earnedAt !== null]).toEqual([
      'W-1001',
      '170.00',
      'web',
      170,
      true,
    ]);
    // Line amounts 80 + 15 + 50 + 29.99 + 5 = 179.99, prorated onto the 170.00 paid, largest remainder to the cent.
    expect(row.lines.map((l) => [l.sku, l.category, l.quantity, l.unitPrice.toFixed(2), l.share.toFixed(2)])).toEqual([
      ['SHOE-1', 'shoes', 1, '80.00', '75.56'],
      ['SOCK-3', 'socks', 3, '5.00', '14.17'],
      ['GIFT-50', 'gift-cards', 1, '50.00', '47.22'],
      ['BAG-1', 'bags', 1, '29.99', '28.33'],
      ['LACE-2', null, 2, '2.50', '4.72'],
    ]);
    expect(row.lines.reduce((sum, l) => sum + Number(l.share.toFixed(2)) * 100, 0)).toBe(17000);
  });

  it.each([
    { patch: { reference: '' }, field: 'order.reference' },
    { patch: { total: { amount: '10.00', currency: 'USD' } }, field: 'order.total.currency' },
    { patch: { total: { amount: '-5', currency: 'EUR' } }, field: 'order.total.amount' },
    { patch: { channel: 'WEB' }, field: 'order.channel' },
    { patch: { placedAt: '2999-01-01T00:00:00Z' }, field: 'order.placedAt' },
    { patch: { lines: [{ sku: 'A', quantity: 0, unitPrice: '1.00' }] }, field: 'order.lines[0].quantity' },
    { patch: { lines: [{ sku: 'A', quantity: 1, unitPrice: '-1.00' }] }, field: 'order.lines[0].unitPrice' },
    { patch: { lines: [LINES[0], { ...LINES[1], sku: 'SHOE-1' }] }, field: 'order.lines[1].sku' },
    { patch: { lines: Array.from({ length: 201 }, (_, i) => ({ sku: `S${i}`, quantity: 1, unitPrice: '1.00' })) }, field: 'order.lines' },
  ])('refuses a bad $field with a ValidationError naming it, writing nothing', async ({ patch, field }) => {
    const storefront = await app.apiKeyToken(['points:earn']);
    const memberId = await app.enroll();
    const order = { reference: 'W-2', total: { amount: '10.00', currency: 'EUR' }, lines: LINES.slice(0, 2), ...patch };
    const result = await app.gql(EARN, { input: { memberId, order, idempotencyKey: 'bad' } }, storefront);
    expect(result.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field });
    expect(await written()).toEqual([0, 0, 0, 0]);
  });

  it('refuses an order together with the deprecated total-only fields', async () => {
    const storefront = await app.apiKeyToken(['points:earn']);
    const memberId = await app.enroll();
    const order = { reference: 'W-3', total: { amount: '10.00', currency: 'EUR' } };
    const result = await app.gql(EARN, { input: { memberId, order, orderRef: 'W-3', idempotencyKey: 'both' } }, storefront);
    expect(result.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'order' });
    const neither = await app.gql(EARN, { input: { memberId, idempotencyKey: 'neither' } }, storefront);
    expect(neither.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'order' });
    expect(await written()).toEqual([0, 0, 0, 0]);
  });

  it('an order named first by a redemption is completed by its earn, not duplicated; a second earn is refused', async () => {
    const storefront = await app.apiKeyToken(['points:earn', 'points:redeem']);
    const memberId = await app.enroll();
    await app.gql(ADJUST, { input: { memberId, points: 100, reason: 'test grant', idempotencyKey: 'g' } }, await app.staffToken('ADMIN'));
    const redeemed = await app.gql(REDEEM, { input: { memberId, points: 30, orderReference: 'W-4', idempotencyKey: 'r' } }, storefront);
    expect(redeemed.data?.redeemPoints).toEqual({ __typename: 'RedeemPointsPayload', points: -30 });
    let order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId }, include: { pointRedemptions: true } });
    expect([order.orderTotal, order.earnedAt, order.pointsRedeemed, order.pointRedemptions.map((r) => r.points)]).toEqual([
      null,
      null,
      30,
      [30],
    ]);

    const order4 = { reference: 'W-4', total: { amount: '60.00', currency: 'EUR' }, lines: LINES.slice(0, 1) };
    const earned = await app.gql(EARN, { input: { memberId, order: order4, idempotencyKey: 'e' } }, storefront);
    expect(earned.data?.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 60 });
    order = await prisma.pointOrder.findFirstOrThrow({ where: { memberId }, include: { pointRedemptions: true } });
    expect([
      await prisma.pointOrder.count({ where: { memberId } }),
      order.orderTotal?.toFixed(2),
      order.pointsEarned,
      order.pointsRedeemed,
    ]).toEqual([1, '60.00', 60, 30]);
    const again = await app.gql(EARN, { input: { memberId, order: order4, idempotencyKey: 'e-2' } }, storefront);
    expect(again.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'order.reference' });
  });
});

describe('enrolment without an e-mail', () => {
  it('enrols members without one (any number of them); a given e-mail stays unique', async () => {
    const storefront = await app.apiKeyToken(['members:write', 'members:read']);
    const first = await app.gql(ENROLL, { input: { externalId: 'shop-1', name: 'Ada' } }, storefront);
    const second = await app.gql(ENROLL, { input: { externalId: 'shop-2', name: 'Grace', email: null } }, storefront);
    expect(first.data?.enrollMember).toMatchObject({ __typename: 'EnrollMemberPayload', member: { email: null } });
    expect(second.data?.enrollMember).toMatchObject({ __typename: 'EnrollMemberPayload', member: { email: null } });
    const withEmail = await app.gql(ENROLL, { input: { externalId: 'shop-3', name: 'Linus', email: 'L@Example.com' } }, storefront);
    expect(withEmail.data?.enrollMember).toMatchObject({ member: { email: 'l@example.com' } });
    const taken = await app.gql(ENROLL, { input: { externalId: 'shop-4', name: 'Other', email: 'l@example.com' } }, storefront);
    expect(taken.data?.enrollMember).toMatchObject({ __typename: 'AlreadyExistsError', field: 'email' });
    expect(await prisma.member.count({ where: { email: null } })).toBe(2);
  });
});
