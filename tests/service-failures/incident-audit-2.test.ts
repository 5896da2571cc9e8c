import { beforeAll, describe, expect, it } from 'vitest';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { expandIncidentPage } from '../../src/domain/service-failures/incidents.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { enrolMembers, incidentPages } from '../support/incidents.js';

/**
 * An incident entry's `orderRef`, through real requests: given alone it is a key looked up (the member whose order
 * earned points under it), read as `order(memberId, reference)` reads one; given with a member it is the order
 * reference the new failure records, checked as `reportServiceFailure`'s `orderRef` is.
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const { key } = incidentPages('incident-audit-2');
const members = (count: number) => enrolMembers(() => app.enroll(), count);

const REPORT = `mutation($input: ReportServiceIncidentInput!) { reportServiceIncident(input: $input) {
  __typename
  ... on ReportServiceIncidentPayload { entries named alreadyNamed unresolved { index reason orderRef } incident { id } }
  ... on ValidationError { field message }
  ... on Error { message code } } }`;
const REPORT_FAILURE = `mutation($input: ReportServiceFailureInput!) { reportServiceFailure(input: $input) {
  __typename
  ... on ValidationError { field message }
  ... on Error { message code } } }`;

let token: string;
beforeAll(async () => {
  token = await app.staffToken('AGENT', 'agent-incident-2');
});

async function report(affected: Record<string, unknown>[]) {
  const result = await app.gql(REPORT, { input: { type: 'LATE_DELIVERY', severity: 'MEDIUM', affected, idempotencyKey: key() } }, token);
  expect(result.errors).toBeUndefined();
  return result.data!.reportServiceIncident;
}

/** An order of `memberId` whose reference was stored before the text rules (written by SQL: no write accepts it today). */
async function legacyOrder(memberId: string, reference: string) {
  await earnPoints(app.deps, { memberId, orderRef: 'ORD-LEGACY', orderTotal: '20.00', idempotencyKey: `earn-${memberId}` }, shop);
  expect(await prisma.$executeRaw`UPDATE point_orders SET order_ref = ${reference} WHERE member_id = ${memberId}::uuid`).toBe(1);
}

describe('an incident entry that names a member by an order reference alone', () => {
  it('names the member of an order whose stored reference predates the text rules, as order(memberId, reference) finds it', async () => {
    const [owner, other] = await members(2);
    const reference = 'ORD\u202E7-gnp.exe';
    await legacyOrder(owner!, reference);

    const page = await report([{ orderRef: reference }, { memberId: other! }]);
    expect(page).toMatchObject({ __typename: 'ReportServiceIncidentPayload', entries: 2, named: 2, unresolved: [] });
    const pageRow = await prisma.serviceIncidentPage.findFirstOrThrow();
    expect(await expandIncidentPage(app.deps, pageRow.id)).toMatchObject({ recorded: 2, compensated: 2 });
    // The failure records the order's reference as stored, so a later report of that order finds it as a duplicate.
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { memberId: owner! } })).toMatchObject({ orderRef: reference });
  });

  it('a reference no order holds (one no write accepts) is that entry answered UNKNOWN_ORDER; the rest of the page is recorded', async () => {
    const [m] = await members(1);
    const page = await report([{ memberId: m! }, { orderRef: 'evil\u202Egnp.exe' }, { orderRef: 'ORD\u2028X' }]);
    expect(page).toMatchObject({
      __typename: 'ReportServiceIncidentPayload',
      entries: 3,
      named: 1,
      unresolved: [
        { index: 1, reason: 'UNKNOWN_ORDER', orderRef: 'evil\u202Egnp.exe' },
        { index: 2, reason: 'UNKNOWN_ORDER', orderRef: 'ORD\u2028X' },
      ],
    });
    expect(await prisma.serviceIncidentMember.count()).toBe(1);
  });

  it('a reference with NUL is refused before the service runs (a variable no text may hold), nothing written', async () => {
    const [m] = await members(1);
    const before = await tableRowCounts(prisma);
    const input = {
      type: 'LATE_DELIVERY',
      severity: 'MEDIUM',
      affected: [{ memberId: m! }, { orderRef: 'ORD\u0000-1' }],
      idempotencyKey: key(),
    };
    const result = await app.gql(REPORT, { input }, token);
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it.each([
    ['a lone surrogate', 'ORD-\uD800'],
    ['201 characters', 'x'.repeat(201)],
    ['only blanks', '   '],
  ])('a reference with %s refuses the page with a ValidationError on affected[1].orderRef and writes nothing', async (_, orderRef) => {
    const [m] = await members(1);
    const before = await tableRowCounts(prisma);
    expect(await report([{ memberId: m! }, { orderRef }])).toMatchObject({ __typename: 'ValidationError', field: 'affected[1].orderRef' });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('an incident entry that names a member and the order it concerns', () => {
  it.each([
    ['a right-to-left override', 'evil\u202Egnp.exe'],
    ['a line break', 'ORD\n7'],
    ['an escape', 'ORD\u001b[31m'],
    ['a lone surrogate', 'ORD-\uD800'],
    ['201 characters', 'x'.repeat(201)],
  ])(
    'a reference with %s is refused as reportServiceFailure refuses it, naming affected[1].orderRef, nothing written',
    async (_, orderRef) => {
      const [m, other] = await members(2);
      const before = await tableRowCounts(prisma);
      const single = await app.gql(
        REPORT_FAILURE,
        { input: { memberId: m!, type: 'LATE_DELIVERY', severity: 'MEDIUM', orderRef, idempotencyKey: key('single') } },
        token,
      );
      expect(single.data!.reportServiceFailure).toMatchObject({ __typename: 'ValidationError', field: 'orderRef' });
      const page = await report([{ memberId: other! }, { memberId: m!, orderRef }]);
      expect(page).toMatchObject({
        __typename: 'ValidationError',
        field: 'affected[1].orderRef',
        message: single.data!.reportServiceFailure.message,
      });
      expect(await tableRowCounts(prisma)).toEqual(before);
    },
  );
});
