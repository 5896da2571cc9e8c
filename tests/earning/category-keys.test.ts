import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/domain/idempotency.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * The categories earning rules match are keys, as SKUs are (docs/domain-rules.md, "Text"; docs/earning-rules.md): a
 * rule on "Books" is compared character for character with a line's category, so a line whose "Books" holds a
 * no-break space or full-width letters would silently earn without the rule. A NEW category — an order line's, or
 * one a rule lists — with a format character, a space other than the ASCII one, not in NFC or changed by NFKC is a
 * ValidationError naming its path, nothing written. What is stored keeps working: an earn replayed by its idempotency
 * key whose order carried such a category (or SKU), and a rule stored before the rule with such a SKU or category,
 * which an update keeps (changing its points, ending it, resending its lists) while a new such entry is refused.
 */
const { prisma, app } = useTestApp();

/** Categories the key rule refuses, each beside the clean "Comic Books" it passes for. */
const FAULTY: [string, string][] = [
  ['U+00A0 NO-BREAK SPACE', 'Comic\u00A0Books'],
  ['U+2007 FIGURE SPACE', 'Comic\u2007Books'],
  ['U+3000 IDEOGRAPHIC SPACE', 'Comic\u3000Books'],
  ['full-width letters (U+FF22 …)', 'Comic \uFF22\uFF4F\uFF4F\uFF4B\uFF53'],
  ['U+200B ZERO WIDTH SPACE', 'Comic\u200B Books'],
  ['a decomposed "é" (e + U+0301)', 'Pre\u0301-owned Books'],
];

const result = (payload: string) =>
  `__typename ... on ${payload} { __typename } ... on ValidationError { field message } ... on Error { code message }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on EarnPointsPayload { points entry { id } } ... on ValidationError { field message } ... on Error { code message } } }`;
const PREVIEW = `query($i: PreviewEarnInput!) { previewEarn(input: $i) { ${result('EarnPreview')} } }`;
const CREATE_RULE = `mutation($i: CreateEarningRuleInput!) { createEarningRule(input: $i) {
  __typename ... on CreateEarningRulePayload { earningRule { id } } ... on ValidationError { field message } ... on Error { code message } } }`;
const UPDATE_RULE = `mutation($i: UpdateEarningRuleInput!) { updateEarningRule(input: $i) {
  __typename ... on UpdateEarningRulePayload {
    earningRule { version endsAt points conditions { includeSkus excludeSkus includeCategories excludeCategories } } }
  ... on ValidationError { field message } ... on Error { code message } } }`;

/** An order of three lines, the third in `category`. */
const order = (reference: string, category: string) => ({
  reference,
  total: { amount: '30.00', currency: 'EUR' },
  lines: [
    { sku: 'SKU-A', category: 'Comic Books', quantity: 1, unitPrice: '10.00' },
    { sku: 'SKU-B', quantity: 1, unitPrice: '10.00' },
    { sku: 'SKU-C', category, quantity: 1, unitPrice: '10.00' },
  ],
});

/**
 * An earning rule as it was stored before the key rule (or by SQL): an order bonus of 50 points on the SKUs and
 * categories given, with version 1 in its history. Returns its id.
 */
async function storedRule(lists: {
  includeSkus: string[];
  excludeSkus: string[];
  includeCategories: string[];
  excludeCategories: string[];
}) {
  const [row] = await prisma.$queryRaw<{ id: string }[]>`
    INSERT INTO earning_rules (name, kind, starts_at, include_skus, exclude_skus, include_categories, exclude_categories,
                               points, created_by, updated_by)
    VALUES ('Legacy bonus', 'ORDER_BONUS', '2026-01-01T00:00:00Z', ${lists.includeSkus}::text[], ${lists.excludeSkus}::text[],
            ${lists.includeCategories}::text[], ${lists.excludeCategories}::text[], 50, 'STAFF:legacy', 'STAFF:legacy')
    RETURNING id::text`;
  await prisma.$executeRaw`
    INSERT INTO earning_rule_versions (rule_id, version, action, snapshot, changed_by, changed_at)
    VALUES (${row!.id}::uuid, 1, 'CREATED', '{}'::jsonb, 'STAFF:legacy', now())`;
  return row!.id;
}

describe('a new category with a non-ASCII space or a look-alike character is refused: ValidationError naming it, nothing written', () => {
  it('earnPoints and previewEarn refuse such a category on an order line, naming order.lines[2].category', async () => {
    const admin = await app.staffToken('ADMIN');
    const memberId = await app.enroll();
    const before = await tableRowCounts(prisma);
    for (const [index, [label, category]] of FAULTY.entries()) {
      const earned = await app.gql(
        EARN,
        { i: { memberId, order: order(`cat-${index}`, category), idempotencyKey: `cat-${index}` } },
        admin,
      );
      expect(earned.data?.earnPoints, label).toMatchObject({ __typename: 'ValidationError', field: 'order.lines[2].category' });
      const preview = await app.gql(PREVIEW, { i: { memberId, order: order(`cat-${index}`, category) } }, admin);
      expect(preview.data?.previewEarn, label).toMatchObject({ __typename: 'ValidationError', field: 'order.lines[2].category' });
    }
    const nbsp = await app.gql(EARN, { i: { memberId, order: order('cat-nbsp', 'Comic\u00A0Books'), idempotencyKey: 'cat-nbsp' } }, admin);
    expect(nbsp.data?.earnPoints).toMatchObject({ message: 'must not contain spaces other than the ASCII space (U+00A0)' });
    expect(await tableRowCounts(prisma)).toEqual(before);

    // The same order with the category written plainly earns.
    const clean = await app.gql(EARN, { i: { memberId, order: order('cat-clean', 'Comic Books'), idempotencyKey: 'cat-clean' } }, admin);
    expect(clean.data?.earnPoints).toMatchObject({ __typename: 'EarnPointsPayload', points: 30 });
  });

  it('an earn on an order a redemption opened before the rule refuses such a category too: its lines are new', async () => {
    const admin = await app.staffToken('ADMIN');
    const memberId = await app.enroll();
    await prisma.pointOrder.create({ data: { memberId, orderRef: 'opened', currency: 'EUR', placedAt: new Date() } });
    const before = await tableRowCounts(prisma);
    const earned = await app.gql(EARN, { i: { memberId, order: order('opened', 'Comic\u3000Books'), idempotencyKey: 'opened' } }, admin);
    expect(earned.data?.earnPoints).toMatchObject({ __typename: 'ValidationError', field: 'order.lines[2].category' });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('createEarningRule refuses such a category in includeCategories and excludeCategories, naming the entry', async () => {
    const admin = await app.staffToken('ADMIN');
    const before = await tableRowCounts(prisma);
    for (const [label, category] of FAULTY) {
      for (const list of ['includeCategories', 'excludeCategories']) {
        const answer = await app.gql(
          CREATE_RULE,
          { i: { name: 'Comics', conditions: { [list]: ['Manga', category] }, effect: { orderBonus: { points: 20 } } } },
          admin,
        );
        expect(answer.data?.createEarningRule, `${list}: ${label}`).toMatchObject({
          __typename: 'ValidationError',
          field: `conditions.${list}.1`,
        });
      }
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('updateEarningRule refuses such a category (and SKU) new on the rule, writing nothing', async () => {
    const admin = await app.staffToken('ADMIN');
    const created = await app.gql(
      CREATE_RULE,
      { i: { name: 'Comics', conditions: { includeCategories: ['Comic Books'] }, effect: { orderBonus: { points: 20 } } } },
      admin,
    );
    const id = created.data?.createEarningRule.earningRule.id as string;
    const before = await tableRowCounts(prisma);
    for (const [label, category] of FAULTY) {
      const answer = await app.gql(UPDATE_RULE, { i: { id, conditions: { includeCategories: ['Comic Books', category] } } }, admin);
      expect(answer.data?.updateEarningRule, label).toMatchObject({
        __typename: 'ValidationError',
        field: 'conditions.includeCategories.1',
      });
      const sku = await app.gql(UPDATE_RULE, { i: { id, conditions: { excludeSkus: [category] } } }, admin);
      expect(sku.data?.updateEarningRule, label).toMatchObject({ __typename: 'ValidationError', field: 'conditions.excludeSkus.0' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

// Each test walks every faulty value through several real writes: past the default 30 s on a machine shared with others.
describe('what is stored keeps working', { timeout: 120_000 }, () => {
  it('an earn replayed by its idempotency key, whose order carried such a category and SKU, answers the first earn', async () => {
    const admin = await app.staffToken('ADMIN');
    const memberId = await app.enroll();
    for (const [index, [label, stored]] of FAULTY.entries()) {
      const key = `legacy-${index}`;
      const reference = `legacy-order-${index}`;
      const first = await app.gql(EARN, { i: { memberId, order: order(reference, `clean-${index}`), idempotencyKey: key } }, admin);
      expect(first.data?.earnPoints.__typename, label).toBe('EarnPointsPayload');
      // As it was accepted before the rule: the third line's SKU and category, and the key's request, carry `stored`.
      const sent = order(reference, stored);
      sent.lines[2]!.sku = stored;
      const body = {
        order: {
          reference,
          total: '30.00',
          currency: 'EUR',
          channel: null,
          placedAt: null,
          lines: sent.lines.map((l) => [l.sku, l.category ?? null, l.quantity, l.unitPrice]),
        },
        points: null,
      };
      const orderRow = await prisma.pointOrder.findFirstOrThrow({ where: { memberId, orderRef: reference } });
      await prisma.$executeRaw`UPDATE order_lines SET sku = ${stored}, category = ${stored} WHERE order_id = ${orderRow.id}::uuid AND position = 3`;
      await prisma.$executeRaw`UPDATE idempotency_records SET request_hash = ${fingerprint(body)}
        WHERE operation = ${`earnPoints:${memberId}`} AND key = ${key}`;
      const before = await tableRowCounts(prisma);
      const retry = await app.gql(EARN, { i: { memberId, order: sent, idempotencyKey: key } }, admin);
      expect(retry.data?.earnPoints, label).toEqual(first.data?.earnPoints);
      expect(await tableRowCounts(prisma), label).toEqual(before);
    }
  });

  it('a rule stored with such SKUs and categories can change its points, end, and resend its lists; a new such entry is refused', async () => {
    const admin = await app.staffToken('ADMIN');
    for (const [index, [label, stored]] of FAULTY.entries()) {
      const id = await storedRule({
        includeSkus: [`K\u00A0-${index}`, 'SKU-OK'],
        excludeSkus: [stored],
        includeCategories: [stored],
        excludeCategories: [`Gift\u3000Cards-${index}`],
      });
      const kept = {
        includeSkus: [`K\u00A0-${index}`, 'SKU-OK'],
        excludeSkus: [stored],
        includeCategories: [stored],
        excludeCategories: [`Gift\u3000Cards-${index}`],
      };

      // Its points change: the stored lists are merged in and validated with the rule.
      const points = await app.gql(UPDATE_RULE, { i: { id, effect: { orderBonus: { points: 75 } } } }, admin);
      expect(points.data?.updateEarningRule, label).toMatchObject({
        __typename: 'UpdateEarningRulePayload',
        earningRule: { version: 2, points: 75, conditions: kept },
      });

      // It is given an end (it stops applying then).
      const endsAt = '2030-01-01T00:00:00.000Z';
      const ended = await app.gql(UPDATE_RULE, { i: { id, endsAt, expectedVersion: 2 } }, admin);
      expect(ended.data?.updateEarningRule, label).toMatchObject({ earningRule: { version: 3, endsAt, conditions: kept } });

      // Its lists resent as the console sends them, reordered, a stored SKU moved to the other list, one clean entry added.
      const resent = {
        includeSkus: ['SKU-OK', 'SKU-NEW'],
        excludeSkus: [stored, `K\u00A0-${index}`],
        includeCategories: [stored, 'Comic Books'],
        excludeCategories: [`Gift\u3000Cards-${index}`],
      };
      const lists = await app.gql(UPDATE_RULE, { i: { id, conditions: resent } }, admin);
      expect(lists.data?.updateEarningRule, label).toMatchObject({ earningRule: { version: 4, conditions: resent } });

      // A new such entry beside the stored ones is refused, naming it; nothing written.
      const before = await tableRowCounts(prisma);
      const beforeRule = await prisma.earningRule.findUniqueOrThrow({ where: { id } });
      const newSku = await app.gql(
        UPDATE_RULE,
        { i: { id, conditions: { ...resent, includeSkus: ['SKU-OK', `N\u00A0-${index}`] } } },
        admin,
      );
      expect(newSku.data?.updateEarningRule, label).toMatchObject({
        __typename: 'ValidationError',
        field: 'conditions.includeSkus.1',
        message: 'must not contain spaces other than the ASCII space (U+00A0)',
      });
      const newCategory = await app.gql(
        UPDATE_RULE,
        { i: { id, conditions: { ...resent, excludeCategories: [`Gift\u3000Cards-${index}`, 'Ｍａｎｇａ'] } } },
        admin,
      );
      expect(newCategory.data?.updateEarningRule, label).toMatchObject({
        __typename: 'ValidationError',
        field: 'conditions.excludeCategories.1',
      });
      // A stored SKU is no stored category, nor the other way round.
      const crossed = await app.gql(
        UPDATE_RULE,
        { i: { id, conditions: { ...resent, includeCategories: [stored, `K\u00A0-${index}`] } } },
        admin,
      );
      expect(crossed.data?.updateEarningRule, label).toMatchObject({
        __typename: 'ValidationError',
        field: 'conditions.includeCategories.1',
      });
      expect(await tableRowCounts(prisma), label).toEqual(before);
      expect(await prisma.earningRule.findUniqueOrThrow({ where: { id } }), label).toEqual(beforeRule);

      // Entries taken off the rule are no longer stored on it: adding one back is a new entry, refused.
      const dropped = await app.gql(UPDATE_RULE, { i: { id, conditions: { includeSkus: ['SKU-OK'] } } }, admin);
      expect(dropped.data?.updateEarningRule, label).toMatchObject({
        earningRule: { version: 5, conditions: { excludeSkus: [], includeCategories: [] } },
      });
      const back = await app.gql(UPDATE_RULE, { i: { id, conditions: { includeSkus: ['SKU-OK'], excludeSkus: [stored] } } }, admin);
      expect(back.data?.updateEarningRule, label).toMatchObject({ __typename: 'ValidationError', field: 'conditions.excludeSkus.0' });
    }
  });
});
