import { describe, expect, it } from 'vitest';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { createEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { trackEvent } from '../../src/domain/earning/events.service.js';
import { adjustPoints, earnPoints, previewEarn } from '../../src/domain/points/points.service.js';
import { expandIncidentPage, reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { tableRowCounts } from '../support/db.js';
import { enrolMembers, incidentPages } from '../support/incidents.js';

/**
 * An audit of the numeric limits on every path that creates or moves value, across areas: what one area accepts
 * (a setting, an input) multiplied, summed or carried into another area's column. Points are int4, money numeric.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);

describe('an incident without a budget, whose compensations add up past what one voucher may be', () => {
  it('compensates every member, and its budgetUsed holds their sum', async () => {
    // A careless but storable policy (each voucher fits, as updateProgram checks): 2 000 000 000.00 a MEDIUM failure.
    // In a currency of small units (VND, IDR) an outage of some thousand members at ordinary values adds up as much.
    await updateProgram(
      app.deps,
      { patch: { compensation: { baseBySeverity: { MEDIUM: '2000000000.00' }, capAmount: '9999999999.99' } } },
      admin,
    );
    const members = await enrolMembers(() => app.enroll(), 6);
    const { firstPage } = incidentPages('big-outage');
    const page = await reportServiceIncident(app.deps, firstPage(members.map((memberId) => ({ memberId }))), shop);
    const expansion = await expandIncidentPage(app.deps, page.pageId);
    expect(expansion).toMatchObject({ recorded: 6, compensated: 6 });
    const incident = await prisma.serviceIncident.findUniqueOrThrow({ where: { id: page.incidentId } });
    expect(incident.budgetUsed.toFixed(2)).toBe('12000000000.00');
    expect(await prisma.voucher.count({ where: { kind: 'COMPENSATION' } })).toBe(6);
  });
});

describe('a Points input whose fraction a JS number cannot hold', () => {
  const ADJUST = `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) {
    __typename ... on ValidationError { field message } ... on AdjustPointsPayload { entry { amount } } } }`;

  it('is refused as fractional, as a string variable and as a literal, and grants nothing', async () => {
    const memberId = await app.enroll();
    const token = await app.staffToken('ADMIN');
    // Number("1.00000000000000001") and Number("2147483647.0000001") are whole: the fraction is below a double's step.
    for (const [points, key] of [
      ['1.00000000000000001', 'tiny-fraction'],
      ['2147483647.0000001', 'fraction-at-the-limit'],
    ] as const) {
      const refused = await app.gql(ADJUST, { i: { memberId, points, reason: 'a fraction', idempotencyKey: key } }, token);
      expect(refused.errors).toBeUndefined();
      expect(refused.data?.adjustPoints).toMatchObject({ __typename: 'ValidationError', field: 'points' });
    }
    const literal = await app.gql(
      `mutation($m: ID!) { adjustPoints(input: { memberId: $m, points: 1.00000000000000001, reason: "a fraction", idempotencyKey: "lit" }) {
        __typename ... on ValidationError { field } } }`,
      { m: memberId },
      token,
    );
    expect(literal.errors).toBeUndefined();
    expect(literal.data?.adjustPoints).toMatchObject({ __typename: 'ValidationError', field: 'points' });
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(0);
    // A whole number written with zeros after the point, or as a literal with an exponent, is whole.
    const whole = await app.gql(ADJUST, { i: { memberId, points: '250.000', reason: 'whole', idempotencyKey: 'whole' } }, token);
    expect(whole.data?.adjustPoints).toMatchObject({ __typename: 'AdjustPointsPayload', entry: { amount: 250 } });
    const exponent = await app.gql(
      `mutation($m: ID!) { adjustPoints(input: { memberId: $m, points: 1.5e1, reason: "whole", idempotencyKey: "exp" }) {
        __typename ... on AdjustPointsPayload { entry { amount } } } }`,
      { m: memberId },
      token,
    );
    expect(exponent.data?.adjustPoints).toMatchObject({ __typename: 'AdjustPointsPayload', entry: { amount: 15 } });
  });
});

describe("a member's balance, as PostgreSQL holds it", () => {
  it('refuses available + pending past 2^31 − 1, which every read of the balance adds up as an integer', async () => {
    // The ledger kernel refuses such a grant (assertRoomFor); this is the last line of defence behind it. Each column
    // alone fits, but `available_points + pending_points` (the status read, the ledger check) would fail with 22003.
    const memberId = await app.enroll();
    await expect(
      prisma.$executeRaw`UPDATE members SET available_points = ${MAX_POINTS}, pending_points = 1, lifetime_points = ${MAX_POINTS}
                         WHERE id = ${memberId}::uuid`,
    ).rejects.toThrow(/members_balance_fits_an_integer/);
    // Exactly the limit is a balance.
    await prisma.$executeRaw`UPDATE members SET available_points = ${MAX_POINTS - 1}, pending_points = 1, lifetime_points = ${MAX_POINTS}
                             WHERE id = ${memberId}::uuid`;
    await prisma.$executeRaw`UPDATE members SET available_points = 0, pending_points = 0, lifetime_points = 0 WHERE id = ${memberId}::uuid`;
  });
});

describe('a custom event whose rules would take the member past the limit', () => {
  it('is a ValidationError naming the event type, the field that set the amount, and writes nothing', async () => {
    const memberId = await app.enroll();
    await adjustPoints(app.deps, { memberId, points: MAX_POINTS - 100, reason: 'near the limit', idempotencyKey: 'fill' }, admin);
    await createEarningRule(
      app.deps,
      {
        name: 'Birthday',
        startsAt: new Date(Date.now() - 60_000),
        effect: { eventPoints: { eventType: 'birthday', points: 500, limit: { count: 1, period: 'CALENDAR_YEAR' } } },
      },
      admin,
    );
    const before = await tableRowCounts(prisma);
    // TrackEventInput has no `points`: the amount is the rules' for its `type`.
    await expect(trackEvent(app.deps, { memberId, type: 'birthday', idempotencyKey: 'bday' }, shop)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'type',
    });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('an earn at the largest values the inputs and the settings accept', () => {
  it('is a ValidationError on the order total, previewed and earned alike, with nothing written', async () => {
    // 9 999 999 999.99 × 1 000 points per unit × a rule's × 10 on 200 lines of 1 000 000 units: about 10^14 points,
    // exact in a JS number (under 2^53), and refused before any int4 column sees it.
    await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 1000 } }, admin);
    await createEarningRule(
      app.deps,
      { name: 'Ten times', startsAt: new Date(Date.now() - 60_000), effect: { lineMultiplier: { multiplier: '10' } } },
      admin,
    );
    const memberId = await app.enroll();
    const order = {
      reference: 'ORD-MAX',
      total: { amount: '9999999999.99', currency: 'EUR' },
      lines: Array.from({ length: 200 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1_000_000, unitPrice: '9999999999.99' })),
    };
    const before = await tableRowCounts(prisma);
    const refusal = { code: 'VALIDATION', field: 'order.total.amount' };
    await expect(previewEarn(app.deps, { memberId, order }, shop)).rejects.toMatchObject(refusal);
    await expect(earnPoints(app.deps, { memberId, order, idempotencyKey: 'max' }, shop)).rejects.toMatchObject(refusal);
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});
