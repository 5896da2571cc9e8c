import { describe, expect, it } from 'vitest';
import { compensateServiceFailures } from '../../src/domain/service-failures/compensation-groups.js';
import { reportServiceFailure, storedCompensation } from '../../src/domain/service-failures/service-failures.service.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { switchCurrencyMutation } from '../support/currency-switch.js';

/**
 * Money keeps the currency it was decided in (docs/domain-rules.md): a
 * failure's compensation and an incident's budget keep the program currency
 * they were decided in. After the program's currency changes they read in it,
 * a supervisor cannot grant them (ValidationError, nothing written; DECLINE
 * still works), and the 30-day cap counts only vouchers in the current one.
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);

const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename
  ... on ReportServiceFailurePayload { duplicate failure { id status } }
  ... on Error { code message } } }`;
const REVIEW = `mutation($i: ReviewServiceFailureInput!) { reviewServiceFailure(input: $i) {
  __typename
  ... on ReviewServiceFailurePayload { failure { id status compensation { amount currency } voucher { value { amount currency } } } }
  ... on ValidationError { field }
  ... on Error { code message } } }`;
const FAILURE = `query($id: ID!) { node(id: $id) { ... on ServiceFailure {
  status compensation { amount currency } voucher { value { amount currency } } } } }`;
const REPORT_INCIDENT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
  __typename ... on ReportServiceIncidentPayload { incident { id } } ... on Error { message } } }`;
const DECIDE_INCIDENT = `mutation($i: DecideServiceIncidentInput!) { decideServiceIncident(input: $i) {
  __typename ... on DecideServiceIncidentPayload { decided } ... on ValidationError { field } ... on Error { code message } } }`;
const INCIDENT = `query($id: ID!) { node(id: $id) { ... on ServiceIncident {
  budget { amount currency } budgetUsed { amount currency } spent { amount currency } compensated awaitingDecision } } }`;
const TO_USD = switchCurrencyMutation('USD');

/** Runs every pending compensation and incident job, as the workers would. */
async function drain() {
  for (;;) {
    const events = await prisma.outboxEvent.findMany({
      where: { completedAt: null, queue: { in: ['compensation', 'incidents'] } },
      orderBy: { createdAt: 'asc' },
    });
    if (events.length === 0) return;
    for (const event of events) {
      if (event.queue === 'compensation') await processCompensation(event.payload as never, app.deps);
      else await processIncidentJob(event.payload as never, app.deps);
    }
  }
}

async function switchToUsd() {
  expect((await app.gql(TO_USD, {}, await app.staffToken('ADMIN'))).data?.updateProgram.__typename).toBe('UpdateProgramPayload');
}

let keys = 0;
const report = (memberId: string, extra: Record<string, unknown>) => ({
  memberId,
  type: 'LATE_DELIVERY',
  severity: 'LOW',
  idempotencyKey: `k-${++keys}`,
  ...extra,
});

/** A PLATINUM member: a CRITICAL failure uses up the 100.00 EUR cap; the second (5 × 2 × 1.5 = 15.00 EUR) waits over it. */
async function failureOverTheCap(storefront: string): Promise<{ memberId: string; failureId: string }> {
  const memberId = await app.enroll();
  await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
  await app.gql(REPORT, { i: report(memberId, { severity: 'CRITICAL', orderRef: 'o-1' }) }, storefront);
  await drain();
  const held = await app.gql(REPORT, { i: report(memberId, { orderRef: 'o-2' }) }, storefront);
  await drain();
  const failureId = held.data!.reportServiceFailure.failure.id as string;
  const waiting = await app.gql(FAILURE, { id: failureId }, storefront);
  expect(waiting.data!.node).toMatchObject({ status: 'NEEDS_REVIEW', compensation: { amount: '15.00', currency: 'EUR' } });
  return { memberId, failureId };
}

/** Three BRONZE members of a MEDIUM incident with a 10.00 EUR budget: one 10.00 EUR voucher, two wait for a decision. */
async function incidentOverItsBudget(): Promise<string> {
  const ids = await Promise.all(Array.from({ length: 3 }, () => app.enroll()));
  const page = await app.gql(
    REPORT_INCIDENT,
    {
      i: {
        type: 'OUTAGE',
        severity: 'MEDIUM',
        budgetMoney: { amount: '10.00', currency: 'EUR' },
        affected: ids.map((memberId) => ({ memberId })),
        idempotencyKey: `incident-${++keys}`,
      },
    },
    await app.staffToken('AGENT'),
  );
  await drain();
  return page.data!.reportServiceIncident.incident.id as string;
}

const decideIncident = async (incidentId: string, decision: 'GRANT' | 'DECLINE') =>
  (
    await app.gql(
      DECIDE_INCIDENT,
      { i: { incidentId, decision, note: 'all of them', idempotencyKey: `decide-${++keys}` } },
      await app.staffToken('SUPERVISOR'),
    )
  ).data!.decideServiceIncident;

const vouchers = async () =>
  (await prisma.voucher.findMany({ where: { kind: 'COMPENSATION' }, orderBy: { issuedAt: 'asc' } })).map(
    (voucher) => `${voucher.amount!.toFixed(2)} ${voucher.currency}`,
  );

describe('a service failure’s compensation keeps its currency', () => {
  it('a failure compensated in EUR still reads as EUR after the switch to USD', async () => {
    const storefront = await app.apiKeyToken(['failures:report', 'members:read']);
    const memberId = await app.enroll();
    const reported = await app.gql(REPORT, { i: report(memberId, { severity: 'HIGH', orderRef: 'o-1' }) }, storefront);
    await drain();
    const id = reported.data!.reportServiceFailure.failure.id as string;

    await switchToUsd();

    expect((await app.gql(FAILURE, { id }, storefront)).data!.node).toEqual({
      status: 'COMPENSATED',
      compensation: { amount: '25.00', currency: 'EUR' },
      voucher: { value: { amount: '25.00', currency: 'EUR' } },
    });
  });

  it('reviewServiceFailure GRANT of a compensation computed in EUR, after the switch to USD → ValidationError; nothing written; DECLINE works', async () => {
    const storefront = await app.apiKeyToken(['failures:report', 'members:read']);
    const { failureId } = await failureOverTheCap(storefront);
    await switchToUsd();
    const supervisor = await app.staffToken('SUPERVISOR');

    const granted = await app.gql(
      REVIEW,
      { i: { failureId, decision: 'GRANT', note: 'loyal customer', idempotencyKey: 'r-1' } },
      supervisor,
    );

    expect(granted.data!.reviewServiceFailure).toMatchObject({ __typename: 'ValidationError', field: 'failureId' });
    expect(granted.data!.reviewServiceFailure.message).toMatch(/15\.00 EUR.*now uses USD.*decline it/);
    expect(await vouchers()).toEqual(['100.00 EUR']);
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { status: 'NEEDS_REVIEW' } })).toMatchObject({
      decidedBy: null,
      voucherId: null,
      compensationCurrency: 'EUR',
    });
    expect(await prisma.idempotencyRecord.count({ where: { operation: { startsWith: 'reviewServiceFailure' } } })).toBe(0);

    const declined = await app.gql(
      REVIEW,
      { i: { failureId, decision: 'DECLINE', note: 'old currency', idempotencyKey: 'r-2' } },
      supervisor,
    );
    expect(declined.data!.reviewServiceFailure).toMatchObject({
      __typename: 'ReviewServiceFailurePayload',
      failure: { status: 'NOT_ELIGIBLE', compensation: { amount: '15.00', currency: 'EUR' }, voucher: null },
    });
  });

  it('the 30-day cap counts only vouchers in the program’s current currency', async () => {
    const storefront = await app.apiKeyToken(['failures:report', 'members:read']);
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
    await app.gql(REPORT, { i: report(memberId, { severity: 'CRITICAL', orderRef: 'o-1' }) }, storefront);
    await drain(); // 100.00 EUR: the cap in EUR is used up
    await switchToUsd();

    const second = await app.gql(REPORT, { i: report(memberId, { orderRef: 'o-2' }) }, storefront);
    await drain();

    // 100.00 EUR are not 100.00 USD of the cap: the second failure's 15.00 USD are issued.
    const id = second.data!.reportServiceFailure.failure.id as string;
    expect((await app.gql(FAILURE, { id }, storefront)).data!.node).toMatchObject({
      status: 'COMPENSATED',
      compensation: { amount: '15.00', currency: 'USD' },
    });
    expect(await vouchers()).toEqual(['100.00 EUR', '15.00 USD']);
  });

  it('every path stores the currency with the amount: the single job, a group of jobs and an incident’s batch', async () => {
    await switchToUsd();
    const [alone, grouped, named] = await Promise.all(Array.from({ length: 3 }, () => app.enroll()));
    const single = await reportServiceFailure(app.deps, report(alone!, { orderRef: 'o-1' }) as never, shop);
    await processCompensation({ failureId: single.failureId }, app.deps);
    const group = await reportServiceFailure(app.deps, report(grouped!, { orderRef: 'o-2' }) as never, shop);
    const [outcome] = await compensateServiceFailures(app.deps, [{ failureId: group.failureId }]);
    expect(outcome?.outcome).toBe('COMPENSATED');
    await app.gql(
      REPORT_INCIDENT,
      { i: { type: 'OUTAGE', severity: 'LOW', affected: [{ memberId: named }], idempotencyKey: 'incident-usd' } },
      await app.staffToken('AGENT'),
    );
    await drain();

    const failures = await prisma.serviceFailure.findMany({
      select: { status: true, compensationAmount: true, compensationCurrency: true },
    });
    expect(failures.map((f) => `${f.status} ${f.compensationAmount?.toFixed(2)} ${f.compensationCurrency}`)).toEqual(
      Array.from({ length: 3 }, () => 'COMPENSATED 5.00 USD'),
    );
  });
});

describe('a service failure’s stored compensation', () => {
  it('reads in the currency its row holds, never the program’s; an amount and a currency apart are a broken row, thrown', () => {
    const id = '00000000-0000-4000-8000-000000000001';
    expect(storedCompensation({ id, amount: '15.00', currency: 'EUR' })).toEqual({ amount: '15.00', currency: 'EUR' });
    expect(storedCompensation({ id, amount: null, currency: null })).toBeNull();
    // The database refuses both (service_failures_compensation_currency_paired, tests/db/compensation-currency-migration.test.ts).
    expect(() => storedCompensation({ id, amount: '15.00', currency: null })).toThrow(
      `service failure ${id} has a compensation of 15.00 in no currency`,
    );
    expect(() => storedCompensation({ id, amount: null, currency: 'EUR' })).toThrow(
      `service failure ${id} has a compensation of no amount in EUR`,
    );
  });
});

describe('a service incident’s money keeps its currency', () => {
  it('budget, budgetUsed and spent read in the incident’s currency after the switch', async () => {
    const incidentId = await incidentOverItsBudget();
    await switchToUsd();

    const incident = await app.gql(INCIDENT, { id: incidentId }, await app.staffToken('AGENT'));
    expect(incident.data!.node).toEqual({
      budget: { amount: '10.00', currency: 'EUR' },
      budgetUsed: { amount: '10.00', currency: 'EUR' },
      spent: { amount: '10.00', currency: 'EUR' },
      compensated: 1,
      awaitingDecision: 2,
    });
  });

  it('decideServiceIncident GRANT of a remainder decided in EUR, after the switch → ValidationError; nothing written; DECLINE works', async () => {
    const incidentId = await incidentOverItsBudget();
    await switchToUsd();

    const granted = await decideIncident(incidentId, 'GRANT');

    expect(granted).toMatchObject({ __typename: 'ValidationError', field: 'incidentId' });
    expect(granted.message).toMatch(/decided in EUR.*now uses USD/);
    await drain();
    expect(await vouchers()).toEqual(['10.00 EUR']);
    expect(await prisma.serviceFailure.count({ where: { status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET', decidedBy: null } })).toBe(
      2,
    );
    expect(await prisma.outboxEvent.count({ where: { queue: 'incidents', completedAt: null } })).toBe(0);
    expect(await prisma.idempotencyRecord.count({ where: { operation: { startsWith: 'decideServiceIncident' } } })).toBe(0);

    expect(await decideIncident(incidentId, 'DECLINE')).toEqual({ __typename: 'DecideServiceIncidentPayload', decided: 2 });
    expect(await prisma.serviceFailure.count({ where: { status: 'NOT_ELIGIBLE' } })).toBe(2);
  });

  it('a remainder granted in EUR whose vouchers are issued after the switch waits for a decision again, nothing issued', async () => {
    const incidentId = await incidentOverItsBudget();
    expect(await decideIncident(incidentId, 'GRANT')).toEqual({ __typename: 'DecideServiceIncidentPayload', decided: 2 });
    await switchToUsd(); // before the worker issues the approved remainder

    await drain();

    expect(await vouchers()).toEqual(['10.00 EUR']);
    const waiting = await prisma.serviceFailure.findMany({ where: { status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET' } });
    expect(waiting.map((failure) => [failure.decidedBy, failure.compensationCurrency])).toEqual([
      [null, 'EUR'],
      [null, 'EUR'],
    ]);
    expect(await prisma.outboxEvent.count({ where: { queue: 'incidents', completedAt: null } })).toBe(0);
  });

  it('a page expanded after the switch is held over an EUR budget, which cannot measure USD compensations', async () => {
    const ids = await Promise.all(Array.from({ length: 2 }, () => app.enroll()));
    await app.gql(
      REPORT_INCIDENT,
      {
        i: {
          type: 'OUTAGE',
          severity: 'MEDIUM',
          budgetMoney: { amount: '100.00', currency: 'EUR' },
          affected: ids.map((memberId) => ({ memberId })),
          idempotencyKey: 'incident-late',
        },
      },
      await app.staffToken('AGENT'),
    );
    await switchToUsd(); // before the worker expands the page

    await drain();

    expect(await vouchers()).toEqual([]);
    const failures = await prisma.serviceFailure.findMany({ select: { status: true, reviewReason: true, compensationCurrency: true } });
    expect(failures).toEqual(
      Array.from({ length: 2 }, () => ({ status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET', compensationCurrency: 'USD' })),
    );
  });
});
