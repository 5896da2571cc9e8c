import { beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/domain/idempotency.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { storedContract } from '../support/legacy-rows.js';

/**
 * A key — a client-chosen identifier the service stores and compares character for character: a member's external
 * id, a contract, order or case reference, an order line's SKU and category, an earning rule's SKUs and categories
 * (tests/earning/category-keys.test.ts) — may not hold a format character (Unicode Cf: U+200B ZERO WIDTH SPACE,
 * U+FEFF, the bidirectional controls …), a space other than the ASCII
 * one (U+00A0, U+3000 …), nor be out of Unicode NFC or change under NFKC (full-width "ＡＢＣ", "ﬁ", "²"):
 * "C\u200B-1" shows as "C-1", "K\u00A0-1" as "K -1", a decomposed "é" as the precomposed one, "ＡＢＣ" reads "ABC",
 * yet each is another key. Refused with a
 * ValidationError naming the field, nothing written; never normalised. A key stored before the rule (or by SQL)
 * stays reachable: by its lookups, and by the retries that find it (an identical registration, a duplicate report,
 * an earn on an order opened before, a request replayed by its idempotency key). docs/domain-rules.md, "Text".
 */
const { prisma, app } = useTestApp();

/** Each kind of character the rule refuses in a key, in the middle of one (a leading or trailing U+FEFF is trimmed). */
const FAULTY: [string, string][] = [
  ['U+200B ZERO WIDTH SPACE', 'K\u200B-1'],
  ['U+202E RIGHT-TO-LEFT OVERRIDE', 'K\u202E-1'],
  ['U+FEFF BYTE ORDER MARK', 'K\uFEFF-1'],
  ['a decomposed "é" (e + U+0301)', 'Cafe\u0301-1'],
  ['U+00A0 NO-BREAK SPACE', 'K\u00A0-1'],
  ['U+2007 FIGURE SPACE', 'K\u2007-1'],
  ['U+3000 IDEOGRAPHIC SPACE', 'K\u3000-1'],
  ['full-width letters (U+FF21 …)', '\uFF21\uFF22\uFF23-1'],
  ['the ligature U+FB01 "ﬁ"', 'Pro\uFB01le-1'],
  ['U+00B2 SUPERSCRIPT TWO', 'K\u00B2-1'],
];

const codes = (value: string) => [...value].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');

const result = (payload: string) =>
  `__typename ... on ${payload} { __typename } ... on ValidationError { field message } ... on Error { code message }`;
const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { ${result('EnrollMemberPayload')} } }`;
const REGISTER = `mutation($i: RegisterContractInput!) { registerContract(input: $i) {
  __typename ... on RegisterContractPayload { created contract { id } } ... on ValidationError { field message } ... on Error { code message } } }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on EarnPointsPayload { points entry { id } } ... on ValidationError { field message } ... on Error { code message } } }`;
const REDEEM_POINTS = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { ${result('RedeemPointsPayload')} } }`;
const REDEEM_VOUCHER = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { ${result('RedeemVoucherPayload')} } }`;
const VALIDATE_VOUCHER = `query($c: String!, $r: String) {
  validateVoucher(code: $c, orderRef: $r, orderTotalMoney: { amount: "50.00", currency: "EUR" }) { valid reason } }`;
const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename ... on ReportServiceFailurePayload { duplicate failure { id } } ... on ValidationError { field message }
  ... on Error { code message } } }`;
const INCIDENT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
  ${result('ReportServiceIncidentPayload')} } }`;
const RECORD_CASE = `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) {
  __typename ... on RecordServiceCasePayload { serviceCase { id } } ... on ValidationError { field message } ... on Error { code message } } }`;
const RESOLVE_CASE = `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) {
  __typename ... on ResolveServiceCasePayload { serviceCase { id resolvedAt } } ... on ValidationError { field message }
  ... on Error { code message } } }`;
const GOODWILL = `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) { ${result('IssueGoodwillPayload')} } }`;
const RULE = `mutation($i: CreateEarningRuleInput!) { createEarningRule(input: $i) { ${result('CreateEarningRulePayload')} } }`;
const REFUND = `mutation($i: RefundOrderInput!) { refundOrder(input: $i) {
  __typename ... on RefundOrderPayload { points } ... on ValidationError { field message } ... on Error { code message } } }`;
const RETURN = `mutation($i: ReturnOrderItemsInput!) { returnOrderItems(input: $i) {
  __typename ... on ReturnOrderItemsPayload { pointsReversed } ... on ValidationError { field message } ... on Error { code message } } }`;
const BY_EXTERNAL_ID = `query($x: String!) { memberByExternalId(externalId: $x) { id } }`;

let admin: string;
let agent: string;

beforeEach(async () => {
  admin = await app.staffToken('ADMIN');
  agent = await app.staffToken('AGENT', 'agent-keys');
});

/** A member with points to spend, and an issued voucher (5.00 off, no minimum) whose code is returned. */
async function memberWithPointsAndVoucher(): Promise<{ memberId: string; code: string }> {
  const memberId = await app.enroll();
  const earned = await app.gql(EARN, { i: { memberId, orderRef: 'seed-order', orderTotal: '500.00', idempotencyKey: 'seed' } }, admin);
  expect(earned.data?.earnPoints.__typename).toBe('EarnPointsPayload');
  await prisma.$executeRaw`UPDATE point_lots SET available_at = now() - interval '1 day' WHERE member_id = ${memberId}::uuid`;
  const code = `KEYS-${memberId.slice(0, 8).toUpperCase()}`;
  await prisma.voucher.create({
    data: {
      code,
      memberId,
      kind: 'GOODWILL',
      valueType: 'FIXED',
      amount: '5.00',
      currency: 'EUR',
      causeType: 'GESTURE',
      causeRef: `keys-${memberId}`,
      expiresAt: new Date(Date.now() + 86_400_000),
    },
  });
  return { memberId, code };
}

/** Each write that stores a key: what it answers for `value` in that key (`n` makes its other keys unique). */
type KeyWrite = { name: string; field: string; send: (value: string, n: number) => Promise<Record<string, any> | undefined> };

function keyWrites(memberId: string, code: string): KeyWrite[] {
  const order = (reference: string, sku = 'SKU-1', category = 'books') => ({
    reference,
    total: { amount: '10.00', currency: 'EUR' },
    lines: [{ sku, category, quantity: 1, unitPrice: '10.00' }],
  });
  return [
    {
      name: 'enrollMember.externalId',
      field: 'externalId',
      send: async (value) => (await app.gql(ENROLL, { i: { externalId: value, name: 'Ada' } }, admin)).data?.enrollMember,
    },
    {
      name: 'registerContract.externalRef',
      field: 'externalRef',
      send: async (value) =>
        (
          await app.gql(
            REGISTER,
            { i: { memberId, externalRef: value, plan: 'mobile', startsAt: '2026-01-01T00:00:00Z', termMonths: 12 } },
            admin,
          )
        ).data?.registerContract,
    },
    {
      name: 'earnPoints order.reference',
      field: 'order.reference',
      send: async (value, n) =>
        (await app.gql(EARN, { i: { memberId, order: order(value), idempotencyKey: `o-${n}` } }, admin)).data?.earnPoints,
    },
    {
      name: 'earnPoints order.lines[0].sku',
      field: 'order.lines[0].sku',
      send: async (value, n) =>
        (await app.gql(EARN, { i: { memberId, order: order(`sku-order-${n}`, value), idempotencyKey: `s-${n}` } }, admin)).data?.earnPoints,
    },
    {
      name: 'earnPoints order.lines[0].category',
      field: 'order.lines[0].category',
      send: async (value, n) =>
        (await app.gql(EARN, { i: { memberId, order: order(`cat-order-${n}`, 'SKU-1', value), idempotencyKey: `t-${n}` } }, admin)).data
          ?.earnPoints,
    },
    {
      name: 'earnPoints orderRef (deprecated form)',
      field: 'orderRef',
      send: async (value, n) =>
        (await app.gql(EARN, { i: { memberId, orderRef: value, orderTotal: '10.00', idempotencyKey: `d-${n}` } }, admin)).data?.earnPoints,
    },
    {
      name: 'redeemPoints.orderReference',
      field: 'orderReference',
      send: async (value, n) =>
        (await app.gql(REDEEM_POINTS, { i: { memberId, points: 10, orderReference: value, idempotencyKey: `r-${n}` } }, admin)).data
          ?.redeemPoints,
    },
    {
      name: 'redeemVoucher.orderRef',
      field: 'orderRef',
      send: async (value, n) =>
        (
          await app.gql(
            REDEEM_VOUCHER,
            { i: { code, orderRef: value, orderTotalMoney: { amount: '50.00', currency: 'EUR' }, idempotencyKey: `v-${n}` } },
            admin,
          )
        ).data?.redeemVoucher,
    },
    {
      name: 'reportServiceFailure.orderRef',
      field: 'orderRef',
      send: async (value, n) =>
        (
          await app.gql(
            REPORT,
            { i: { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: value, idempotencyKey: `f-${n}` } },
            admin,
          )
        ).data?.reportServiceFailure,
    },
    {
      name: 'reportServiceFailure.caseRef',
      field: 'caseRef',
      send: async (value, n) =>
        (await app.gql(REPORT, { i: { memberId, type: 'WRONG_ITEM', severity: 'LOW', caseRef: value, idempotencyKey: `c-${n}` } }, admin))
          .data?.reportServiceFailure,
    },
    {
      name: 'reportServiceIncident affected[0].orderRef (with a member)',
      field: 'affected[0].orderRef',
      send: async (value, n) =>
        (
          await app.gql(
            INCIDENT,
            { i: { type: 'OUTAGE', severity: 'LOW', affected: [{ memberId, orderRef: value }], idempotencyKey: `i-${n}` } },
            admin,
          )
        ).data?.reportServiceIncident,
    },
    {
      name: 'recordServiceCase.externalRef',
      field: 'externalRef',
      send: async (value, n) =>
        (
          await app.gql(
            RECORD_CASE,
            { i: { memberId, channel: 'PHONE', category: 'billing', externalRef: value, idempotencyKey: `k-${n}` } },
            admin,
          )
        ).data?.recordServiceCase,
    },
    {
      name: 'issueGoodwill.caseRef',
      field: 'caseRef',
      send: async (value, n) =>
        (
          await app.gql(
            GOODWILL,
            {
              i: {
                memberId,
                kind: 'POINTS',
                points: 10,
                reason: 'DELAYED_DELIVERY',
                note: 'late',
                caseRef: value,
                idempotencyKey: `g-${n}`,
              },
            },
            agent,
          )
        ).data?.issueGoodwill,
    },
    {
      name: 'createEarningRule conditions.includeSkus',
      field: 'conditions.includeSkus.0',
      send: async (value) =>
        (
          await app.gql(
            RULE,
            { i: { name: 'Double', conditions: { includeSkus: [value] }, effect: { lineMultiplier: { multiplier: '2' } } } },
            admin,
          )
        ).data?.createEarningRule,
    },
    {
      name: 'createEarningRule conditions.includeCategories',
      field: 'conditions.includeCategories.0',
      send: async (value) =>
        (
          await app.gql(
            RULE,
            { i: { name: 'Double', conditions: { includeCategories: [value] }, effect: { lineMultiplier: { multiplier: '2' } } } },
            admin,
          )
        ).data?.createEarningRule,
    },
  ];
}

describe('a key with a format character, or not in Unicode NFC, is refused: ValidationError naming the field, nothing written', () => {
  it('every kind of key refuses U+200B, U+202E, U+FEFF, a decomposed "é", non-ASCII spaces and NFKC compatibility forms; no table gains a row', async () => {
    const { memberId, code } = await memberWithPointsAndVoucher();
    const before = await tableRowCounts(prisma);
    let n = 0;
    for (const write of keyWrites(memberId, code)) {
      for (const [label, value] of FAULTY) {
        const answer = await write.send(value, n++);
        expect(answer, `${write.name}: ${label} (${codes(value)})`).toMatchObject({ __typename: 'ValidationError', field: write.field });
      }
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('the message names the format character by its code point, and says what NFC asks for', async () => {
    const answer = async (externalId: string) => (await app.gql(ENROLL, { i: { externalId, name: 'Ada' } }, admin)).data?.enrollMember;
    expect(await answer('C\u200B-1')).toMatchObject({ field: 'externalId', message: 'must not contain format characters (U+200B)' });
    expect(await answer('C\uFEFF-1')).toMatchObject({ field: 'externalId', message: 'must not contain format characters (U+FEFF)' });
    expect(await answer('C\u202E-1')).toMatchObject({ field: 'externalId', message: 'must not contain bidirectional controls (U+202E)' });
    expect((await answer('Cafe\u0301-1'))?.message).toContain('NFC');
    expect(await answer('C\u00A0-1')).toMatchObject({
      field: 'externalId',
      message: 'must not contain spaces other than the ASCII space (U+00A0)',
    });
    expect(await answer('C\u1680-1')).toMatchObject({
      field: 'externalId',
      message: 'must not contain spaces other than the ASCII space (U+1680)',
    });
    expect(await answer('C\u2028-1')).toMatchObject({
      field: 'externalId',
      message: 'must not contain line or paragraph separators (U+2028)',
    });
    const compatibility: [string, string][] = [
      ['\uFF21\uFF22\uFF23-1', 'U+FF21'],
      ['Pro\uFB01le-1', 'U+FB01'],
      ['C\u00B2-1', 'U+00B2'],
    ];
    for (const [value, culprit] of compatibility) {
      const refused = await answer(value);
      expect(refused, value).toMatchObject({ field: 'externalId' });
      expect(refused?.message, value).toContain(`compatibility characters (${culprit})`);
      expect(refused?.message, value).toContain('NFKC');
    }
    expect(await prisma.member.count()).toBe(0);
  });

  it('the ASCII space inside a key stays allowed, as before: "Shop 7" is accepted and stored as sent', async () => {
    const answer = await app.gql(ENROLL, { i: { externalId: 'Shop 7', name: 'Ada' } }, admin);
    expect(answer.data?.enrollMember.__typename).toBe('EnrollMemberPayload');
    expect((await prisma.member.findFirstOrThrow()).externalId).toBe('Shop 7');
  });

  it('the marks, ZWJ and ZWNJ that a name keeps are refused in a key; the same key written composed is accepted as sent', async () => {
    for (const mark of ['\u200E', '\u200F', '\u061C', '\u200C', '\u200D', '\u2060', '\u00AD']) {
      const answer = await app.gql(ENROLL, { i: { externalId: `C${mark}1`, name: 'Ada' } }, admin);
      expect(answer.data?.enrollMember, codes(mark)).toMatchObject({ __typename: 'ValidationError', field: 'externalId' });
    }
    const composed = await app.gql(ENROLL, { i: { externalId: 'Café-1', name: 'Zoe\u0308 Bjo\u0308rk' } }, admin);
    expect(composed.data?.enrollMember.__typename).toBe('EnrollMemberPayload');
    expect((await prisma.member.findFirstOrThrow()).externalId).toBe('Caf\u00E9-1');
  });

  it('an idempotency key holds only letters, digits, ".", "_", ":" and "-": each of these characters is refused there too', async () => {
    const memberId = await app.enroll();
    const before = await tableRowCounts(prisma);
    for (const [label, value] of FAULTY) {
      const answer = await app.gql(EARN, { i: { memberId, orderRef: 'ORD-1', orderTotal: '10.00', idempotencyKey: value } }, admin);
      expect(answer.data?.earnPoints, label).toMatchObject({ __typename: 'ValidationError', field: 'idempotencyKey' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('validateVoucher refuses such an order reference as redeemVoucher would (VALIDATION, its message), for an order nobody placed', async () => {
    const { code } = await memberWithPointsAndVoucher();
    for (const [label, value] of FAULTY) {
      const answer = await app.gql(VALIDATE_VOUCHER, { c: code, r: value }, admin);
      expect(answer.errors?.[0]?.extensions, label).toMatchObject({ code: 'VALIDATION' });
      expect(answer.errors?.[0]?.message, label).toMatch(
        /format characters|bidirectional controls|NFC|spaces other than|compatibility characters/,
      );
    }
  });
});

// Each test walks every faulty key (FAULTY, 12 rows since stop 52) through real writes: 6–9 s alone, past the
// default 30 s on a machine shared with other suites.
const EVERY_FAULTY_KEY = { timeout: 120_000 };

describe('a key stored before the rule (or by SQL) with such a character is found by lookups and retries', EVERY_FAULTY_KEY, () => {
  it('memberByExternalId finds the member; enrolling the id again is AlreadyExistsError, as before the rule', async () => {
    for (const [label, externalId] of FAULTY) {
      const memberId = await app.enroll({ externalId });
      const found = await app.gql(BY_EXTERNAL_ID, { x: externalId }, admin);
      expect(found.data?.memberByExternalId?.id, label).toBeDefined();
      expect(found.errors, label).toBeUndefined();
      const again = await app.gql(ENROLL, { i: { externalId, name: 'Ada' } }, admin);
      expect(again.data?.enrollMember, label).toMatchObject({ __typename: 'AlreadyExistsError' });
      expect(await prisma.member.count({ where: { externalId } }), label).toBe(1);
      expect(memberId).toBeTruthy();
    }
  });

  it('an identical registerContract of a stored reference returns the stored contract (created: false), writing nothing', async () => {
    const memberId = await app.enroll();
    for (const [label, externalRef] of FAULTY) {
      const storedId = await storedContract(prisma, memberId, externalRef);
      const before = await tableRowCounts(prisma);
      const again = await app.gql(
        REGISTER,
        { i: { memberId, externalRef, plan: 'mobile', startsAt: '2026-01-01T00:00:00Z', termMonths: 12 } },
        admin,
      );
      expect(again.data?.registerContract, label).toMatchObject({ __typename: 'RegisterContractPayload', created: false });
      expect(await tableRowCounts(prisma), label).toEqual(before);
      expect((await prisma.contract.findUniqueOrThrow({ where: { externalRef } })).id).toBe(storedId);
    }
  });

  it('an earn replayed by its idempotency key answers the first earn, and an earn on an order a redemption opened completes it', async () => {
    const memberId = await app.enroll();
    for (const [index, [label, orderRef]] of FAULTY.entries()) {
      // The first earn, as it was accepted before the rule: its order and its key's request carry the stored reference.
      const key = `legacy-earn-${index}`;
      const first = await app.gql(EARN, { i: { memberId, orderRef: `clean-${index}`, orderTotal: '10.00', idempotencyKey: key } }, admin);
      expect(first.data?.earnPoints.__typename, label).toBe('EarnPointsPayload');
      const hash = fingerprint({ orderRef, orderTotal: '10.00', currency: null, points: null });
      await prisma.$executeRaw`UPDATE point_orders SET order_ref = ${orderRef} WHERE member_id = ${memberId}::uuid AND order_ref = ${`clean-${index}`}`;
      await prisma.$executeRaw`UPDATE idempotency_records SET request_hash = ${hash} WHERE operation = ${`earnPoints:${memberId}`} AND key = ${key}`;
      const before = await tableRowCounts(prisma);
      const retry = await app.gql(EARN, { i: { memberId, orderRef, orderTotal: '10.00', idempotencyKey: key } }, admin);
      expect(retry.data?.earnPoints, label).toMatchObject({ __typename: 'EarnPointsPayload', entry: first.data?.earnPoints.entry });
      expect(await tableRowCounts(prisma), label).toEqual(before);

      // An order a redemption opened before the rule (no earn yet): its earn finds it.
      const opened = `${orderRef}-opened`;
      await prisma.pointOrder.create({ data: { memberId, orderRef: opened, currency: 'EUR', placedAt: new Date() } });
      const earned = await app.gql(
        EARN,
        { i: { memberId, orderRef: opened, orderTotal: '20.00', idempotencyKey: `opened-${index}` } },
        admin,
      );
      expect(earned.data?.earnPoints, label).toMatchObject({ __typename: 'EarnPointsPayload', points: 20 });
      expect(await prisma.pointOrder.count({ where: { memberId, orderRef: opened, earnedAt: { not: null } } }), label).toBe(1);
    }
  });

  it('an earn on an order stored before the rule with a no-break space in its reference completes that order; a new one is refused', async () => {
    const memberId = await app.enroll({ externalId: 'shop\u00A07' });
    const stored = 'ORD\u00A01';
    const order = await prisma.pointOrder.create({ data: { memberId, orderRef: stored, currency: 'EUR', placedAt: new Date() } });
    const earned = await app.gql(
      EARN,
      { i: { memberId, order: { reference: stored, total: { amount: '30.00', currency: 'EUR' } }, idempotencyKey: 'nbsp-earn' } },
      admin,
    );
    expect(earned.data?.earnPoints).toMatchObject({ __typename: 'EarnPointsPayload', points: 30 });
    expect(await prisma.pointOrder.findMany({ where: { memberId }, select: { id: true, earnedAt: true } })).toEqual([
      { id: order.id, earnedAt: expect.any(Date) },
    ]);

    const before = await tableRowCounts(prisma);
    const fresh = await app.gql(
      EARN,
      { i: { memberId, order: { reference: 'ORD\u00A02', total: { amount: '30.00', currency: 'EUR' } }, idempotencyKey: 'nbsp-new' } },
      admin,
    );
    expect(fresh.data?.earnPoints).toMatchObject({
      __typename: 'ValidationError',
      field: 'order.reference',
      message: 'must not contain spaces other than the ASCII space (U+00A0)',
    });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('redeemPoints, redeemVoucher and validateVoucher take the reference of an order stored with it', async () => {
    const { memberId, code } = await memberWithPointsAndVoucher();
    for (const [index, [label, orderRef]] of FAULTY.entries()) {
      await prisma.pointOrder.create({ data: { memberId, orderRef, currency: 'EUR', placedAt: new Date() } });
      const redeemed = await app.gql(
        REDEEM_POINTS,
        { i: { memberId, points: 10, orderReference: orderRef, idempotencyKey: `rp-${index}` } },
        admin,
      );
      expect(redeemed.data?.redeemPoints.__typename, label).toBe('RedeemPointsPayload');
      const validated = await app.gql(VALIDATE_VOUCHER, { c: code, r: orderRef }, admin);
      expect(validated.errors, label).toBeUndefined();
      expect(validated.data?.validateVoucher.valid, label).toBe(index === 0);
      if (index === 0) {
        const voucher = await app.gql(
          REDEEM_VOUCHER,
          { i: { code, orderRef, orderTotalMoney: { amount: '50.00', currency: 'EUR' }, idempotencyKey: 'rv-legacy' } },
          admin,
        );
        expect(voucher.data?.redeemVoucher.__typename, label).toBe('RedeemVoucherPayload');
      }
    }
    expect(await prisma.pointOrder.count({ where: { memberId } })).toBe(FAULTY.length + 1);
  });

  it('refundOrder and returnOrderItems find an order, and a line, stored with such a reference and SKU', async () => {
    const memberId = await app.enroll();
    for (const [index, [label, stored]] of FAULTY.entries()) {
      const order = {
        reference: `ret-${index}`,
        total: { amount: '100.00', currency: 'EUR' },
        lines: [{ sku: `sku-${index}`, quantity: 2, unitPrice: '50.00' }],
      };
      const earned = await app.gql(EARN, { i: { memberId, order, idempotencyKey: `ret-earn-${index}` } }, admin);
      expect(earned.data?.earnPoints.__typename, label).toBe('EarnPointsPayload');
      const orderRow = await prisma.pointOrder.findFirstOrThrow({ where: { memberId, orderRef: `ret-${index}` } });
      await prisma.$executeRaw`UPDATE point_orders SET order_ref = ${stored} WHERE id = ${orderRow.id}::uuid`;
      await prisma.$executeRaw`UPDATE order_lines SET sku = ${stored} WHERE order_id = ${orderRow.id}::uuid`;
      const returned = await app.gql(
        RETURN,
        { i: { memberId, orderReference: stored, items: [{ sku: stored, quantity: 1 }], idempotencyKey: `ret-${index}` } },
        admin,
      );
      expect(returned.data?.returnOrderItems, label).toMatchObject({ __typename: 'ReturnOrderItemsPayload' });
      const refunded = await app.gql(
        REFUND,
        { i: { memberId, orderRef: stored, amountMoney: { amount: '10.00', currency: 'EUR' }, idempotencyKey: `ref-${index}` } },
        admin,
      );
      expect(refunded.data?.refundOrder, label).toMatchObject({ __typename: 'RefundOrderPayload' });
    }
  });

  it('a report of a failure stored with such an order reference is its duplicate, one with such a case reference replays; a case is resolved, and not recorded twice, by its stored reference', async () => {
    const memberId = await app.enroll();
    for (const [index, [label, ref]] of FAULTY.entries()) {
      const failure = await prisma.serviceFailure.create({
        data: {
          memberId,
          type: 'LATE_DELIVERY',
          severity: 'LOW',
          occurredAt: new Date(),
          orderRef: ref,
          reporterType: 'SYSTEM',
          reporterId: 'legacy',
        },
      });
      const reported = await app.gql(
        REPORT,
        { i: { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: ref, idempotencyKey: `dup-${index}` } },
        admin,
      );
      expect(reported.data?.reportServiceFailure, label).toMatchObject({ __typename: 'ReportServiceFailurePayload', duplicate: true });
      expect(await prisma.serviceFailure.count({ where: { memberId, orderRef: ref } }), label).toBe(1);
      expect(failure.id).toBeTruthy();

      // A report accepted before the rule with such a case reference: its retry (the same key) replays it.
      const first = await app.gql(
        REPORT,
        { i: { memberId, type: 'WRONG_ITEM', severity: 'LOW', caseRef: `clean-case-${index}`, idempotencyKey: `case-report-${index}` } },
        admin,
      );
      expect(first.data?.reportServiceFailure.__typename, label).toBe('ReportServiceFailurePayload');
      const hash = fingerprint({ type: 'WRONG_ITEM', severity: 'LOW', occurredAt: null, orderRef: null, caseRef: ref, description: null });
      await prisma.$executeRaw`UPDATE service_failures SET case_ref = ${ref} WHERE case_ref = ${`clean-case-${index}`}`;
      await prisma.$executeRaw`UPDATE idempotency_records SET request_hash = ${hash} WHERE key = ${`case-report-${index}`}`;
      const beforeRetry = await tableRowCounts(prisma);
      const retried = await app.gql(
        REPORT,
        { i: { memberId, type: 'WRONG_ITEM', severity: 'LOW', caseRef: ref, idempotencyKey: `case-report-${index}` } },
        admin,
      );
      expect(retried.data?.reportServiceFailure, label).toMatchObject({
        duplicate: false,
        failure: first.data?.reportServiceFailure.failure,
      });
      expect(await tableRowCounts(prisma), label).toEqual(beforeRetry);

      const recorded = await app.gql(
        RECORD_CASE,
        { i: { memberId, channel: 'PHONE', category: 'billing', externalRef: `case-${index}`, idempotencyKey: `case-${index}` } },
        admin,
      );
      expect(recorded.data?.recordServiceCase.__typename, label).toBe('RecordServiceCasePayload');
      await prisma.$executeRaw`UPDATE service_cases SET external_ref = ${ref} WHERE external_ref = ${`case-${index}`}`;
      const again = await app.gql(
        RECORD_CASE,
        { i: { memberId, channel: 'PHONE', category: 'billing', externalRef: ref, idempotencyKey: `case-again-${index}` } },
        admin,
      );
      expect(again.data?.recordServiceCase, label).toMatchObject({ __typename: 'AlreadyExistsError' });
      const resolved = await app.gql(RESOLVE_CASE, { i: { externalRef: ref, idempotencyKey: `resolve-${index}` } }, admin);
      expect(resolved.data?.resolveServiceCase, label).toMatchObject({ __typename: 'ResolveServiceCasePayload' });
    }
  });
});
