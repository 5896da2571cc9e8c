import { describe, expect, it } from 'vitest';
import { sqlTransaction } from '../../src/db/sql.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { compensateServiceFailures } from '../../src/domain/service-failures/compensation-groups.js';
import { decideServiceIncident, expandIncidentPage, reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import {
  compensateServiceFailure,
  lockFailuresForDecision,
  reportServiceFailure,
  reviewServiceFailure,
} from '../../src/domain/service-failures/service-failures.service.js';
import type { Severity } from '../../src/generated/prisma/client.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processIncidentJob, type IncidentJob } from '../../workers/incident.processor.js';
import { apiKeyCaller, STOREFRONT_SCOPES, staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { currencySwitch } from '../support/currency-switch.js';
import { type Hold, holdMember, whileHolding } from '../support/holding.js';

/**
 * A decision on compensation that waited for a lock decides on the program's settings as committed once it
 * holds it, as the ledger kernel does (program_cache_keys): an admin's change committed while it waited counts
 * (docs/domain-rules.md, money keeps its currency). Each test has this process parse the settings of before
 * (they are cached by their hash, `settingsForHash`) before the decision waits, so the settings of before are
 * what a decision reading its first snapshot would get.
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const admin = staffCaller('ADMIN');
const agent = staffCaller('AGENT');
const supervisor = staffCaller('SUPERVISOR');

let keys = 0;
const key = () => `k-${++keys}`;

const report = async (memberId: string, severity: Severity, orderRef: string) =>
  (await reportServiceFailure(app.deps, { memberId, type: 'LATE_DELIVERY', severity, orderRef, idempotencyKey: key() }, shop)).failureId;

const switchToUsd = async () => {
  await updateProgram(app.deps, { patch: await currencySwitch(prisma, 'USD') }, admin);
};

/** The incident's row as a decision or a batch on it holds it. */
const holdIncident =
  (incidentId: string): Hold =>
  (holder) =>
    holder.query('SELECT 1 FROM service_incidents WHERE id = $1 FOR NO KEY UPDATE', [incidentId]);

const vouchers = async () =>
  (await prisma.voucher.findMany({ where: { kind: 'COMPENSATION' }, orderBy: { issuedAt: 'asc' } })).map(
    (voucher) => `${voucher.amount!.toFixed(2)} ${voucher.currency}`,
  );

/** A failure decided (HIGH, a BRONZE member: 25.00 EUR): the settings in EUR are parsed and cached in this process. */
async function decideOneInEuros(): Promise<void> {
  const failureId = await report(await app.enroll(), 'HIGH', 'o-warm');
  expect(await processCompensation({ failureId }, app.deps)).toMatchObject({ outcome: 'COMPENSATED', amount: '25.00' });
}

describe('a compensation job that waited for the member', () => {
  it('issues the voucher in the currency the program switched to while it waited', async () => {
    await decideOneInEuros();
    const memberId = await app.enroll();
    const failureId = await report(memberId, 'HIGH', 'o-1');

    const decided = whileHolding(prisma, holdMember(memberId), () => compensateServiceFailure(app.deps, failureId), {
      meanwhile: switchToUsd,
    });

    // Before: the job read the settings in its first statement's snapshot, taken before it waited: 25.00 EUR.
    await expect(decided).resolves.toMatchObject({ outcome: 'COMPENSATED', amount: '25.00' });
    expect(await vouchers()).toEqual(['25.00 EUR', '25.00 USD']);
    expect(await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } })).toMatchObject({
      status: 'COMPENSATED',
      compensationCurrency: 'USD',
    });
  });

  it('in a group, decides every failure by the policy an admin changed while the group waited for its last member', async () => {
    await decideOneInEuros();
    const [first, second] = (await Promise.all([app.enroll(), app.enroll()])).sort();
    const failures = [await report(first!, 'HIGH', 'o-1'), await report(second!, 'HIGH', 'o-2')];

    const decided = whileHolding(
      prisma,
      holdMember(second),
      () =>
        compensateServiceFailures(
          app.deps,
          failures.map((failureId) => ({ failureId })),
        ),
      { meanwhile: () => updateProgram(app.deps, { patch: { compensation: { baseBySeverity: { HIGH: '40.00' } } } }, admin) },
    );

    // Before: both by the 25.00 of the group's first snapshot.
    await expect(decided).resolves.toMatchObject([
      { outcome: 'COMPENSATED', amount: '40.00' },
      { outcome: 'COMPENSATED', amount: '40.00' },
    ]);
    expect(await vouchers()).toEqual(['25.00 EUR', '40.00 EUR', '40.00 EUR']);
  });
});

describe('lockFailuresForDecision', () => {
  it('reads the settings once every failure is locked: a change committed while it waited for the last one counts for all', async () => {
    await decideOneInEuros();
    const memberIds = await Promise.all([app.enroll(), app.enroll(), app.enroll()]);
    const failureIds = (await Promise.all(memberIds.map((memberId, index) => report(memberId, 'HIGH', `o-${index}`)))).sort();
    const settingsHash = async () => (await prisma.program.findUniqueOrThrow({ where: { id: 1 } })).settingsHash;
    const before = await settingsHash();

    // The members are free; the last failure in lock order is held (a decision on an incident's remainder updates
    // its failures without locking their members).
    const locked = await whileHolding(
      prisma,
      (holder) => holder.query('SELECT 1 FROM service_failures WHERE id = $1 FOR UPDATE', [failureIds.at(-1)]),
      () => sqlTransaction(prisma, (tx) => lockFailuresForDecision(tx, failureIds)),
      { meanwhile: switchToUsd },
    );

    // Before: the settings of the statement's snapshot, taken before it waited, for all three.
    const after = await settingsHash();
    expect(after).not.toBe(before);
    expect(locked.map((failure) => [failure.id, failure.settingsHash])).toEqual(failureIds.map((id) => [id, after]));
  });
});

describe("a supervisor's review that waited for the member", () => {
  it('does not grant a compensation computed in EUR once the program switched to USD while it waited', async () => {
    // A PLATINUM member: a CRITICAL failure uses up the 100.00 EUR cap; the second (15.00 EUR) waits over it.
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
    await processCompensation({ failureId: await report(memberId, 'CRITICAL', 'o-1') }, app.deps);
    const failureId = await report(memberId, 'LOW', 'o-2');
    expect(await processCompensation({ failureId }, app.deps)).toMatchObject({ outcome: 'NEEDS_REVIEW', amount: '15.00' });

    const reviewed = whileHolding(
      prisma,
      holdMember(memberId),
      () => reviewServiceFailure(app.deps, { failureId, decision: 'GRANT', note: 'loyal customer', idempotencyKey: 'r-1' }, supervisor),
      { meanwhile: switchToUsd },
    );

    // Before: granted as 15.00 EUR, after the program had switched to USD.
    await expect(reviewed).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'failureId',
      message: expect.stringMatching(/15\.00 EUR.*now uses USD/),
    });
    expect(await vouchers()).toEqual(['100.00 EUR']);
    expect(await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } })).toMatchObject({
      status: 'NEEDS_REVIEW',
      voucherId: null,
      decidedBy: null,
    });
  });
});

describe('an incident whose batch or decision waited', () => {
  /** An incident (MEDIUM: 10.00 EUR each) of `members` with a budget of `budget` EUR, its page not expanded yet. */
  async function incident(members: number, budget: string) {
    const memberIds = (await Promise.all(Array.from({ length: members }, () => app.enroll()))).sort();
    const page = await reportServiceIncident(
      app.deps,
      { type: 'OUTAGE', severity: 'MEDIUM', budget, affected: memberIds.map((memberId) => ({ memberId })), idempotencyKey: key() },
      agent,
    );
    return { memberIds, incidentId: page.incidentId, pageId: page.pageId };
  }

  it('a page expanded after waiting for the incident is held over its EUR budget once the program runs in USD', async () => {
    await decideOneInEuros();
    const { incidentId, pageId } = await incident(2, '100.00');

    const expanded = whileHolding(prisma, holdIncident(incidentId), () => expandIncidentPage(app.deps, pageId), { meanwhile: switchToUsd });

    // Before: two 10.00 EUR vouchers, issued after the switch.
    await expect(expanded).resolves.toMatchObject({ recorded: 2, compensated: 0, needsReview: 2 });
    expect(await vouchers()).toEqual(['25.00 EUR']);
    expect(await prisma.serviceFailure.findMany({ where: { incidentId }, select: { status: true, compensationCurrency: true } })).toEqual([
      { status: 'NEEDS_REVIEW', compensationCurrency: 'USD' },
      { status: 'NEEDS_REVIEW', compensationCurrency: 'USD' },
    ]);
  });

  it('a page expanded after waiting for one of its members is held over its EUR budget once the program runs in USD', async () => {
    await decideOneInEuros();
    const { memberIds, incidentId, pageId } = await incident(2, '100.00');

    const expanded = whileHolding(prisma, holdMember(memberIds[1]!), () => expandIncidentPage(app.deps, pageId), {
      meanwhile: switchToUsd,
    });

    // Before: the settings read under the incident's lock, before the members' (10.00 EUR each).
    await expect(expanded).resolves.toMatchObject({ recorded: 2, compensated: 0, needsReview: 2 });
    expect(await vouchers()).toEqual(['25.00 EUR']);
    expect(await prisma.serviceFailure.count({ where: { incidentId, status: 'NEEDS_REVIEW', compensationCurrency: 'USD' } })).toBe(2);
  });

  /** An incident of three members with a 10.00 EUR budget, expanded: one 10.00 EUR voucher, two wait for a decision. */
  async function overItsBudget() {
    const reported = await incident(3, '10.00');
    await expandIncidentPage(app.deps, reported.pageId);
    expect(await vouchers()).toEqual(['10.00 EUR']);
    const waiting = await prisma.serviceFailure.findMany({
      where: { incidentId: reported.incidentId, status: 'NEEDS_REVIEW' },
      select: { memberId: true },
      orderBy: { memberId: 'asc' },
    });
    return { ...reported, waiting: waiting.map((failure) => failure.memberId) };
  }

  it("a supervisor's GRANT that waited for the incident refuses a remainder in EUR once the program runs in USD", async () => {
    const { incidentId } = await overItsBudget();

    const decided = whileHolding(
      prisma,
      holdIncident(incidentId),
      () => decideServiceIncident(app.deps, { incidentId, decision: 'GRANT', note: 'all of them', idempotencyKey: 'd-1' }, supervisor),
      { meanwhile: switchToUsd },
    );

    // Before: the GRANT was recorded (its 10.00 EUR compensations in the program's currency of the first snapshot).
    await expect(decided).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'incidentId',
      message: expect.stringMatching(/decided in EUR.*now uses USD/),
    });
    expect(await prisma.serviceFailure.count({ where: { incidentId, status: 'NEEDS_REVIEW', decidedBy: null } })).toBe(2);
    expect(await prisma.outboxEvent.count({ where: { queue: 'incidents', completedAt: null } })).toBe(0);
  });

  it('an approved remainder issued after waiting for a member waits for a decision again once the program runs in USD', async () => {
    const { incidentId, waiting } = await overItsBudget();
    await decideServiceIncident(app.deps, { incidentId, decision: 'GRANT', note: 'all of them', idempotencyKey: 'd-1' }, supervisor);
    const grant = await prisma.outboxEvent.findFirstOrThrow({ where: { queue: 'incidents', completedAt: null } });

    const granted = whileHolding(
      prisma,
      holdMember(waiting[1]!),
      () => processIncidentJob(grant.payload as unknown as IncidentJob, app.deps),
      { meanwhile: switchToUsd },
    );

    // Before: the settings read under the incident's lock, before the members': two 10.00 EUR vouchers.
    await expect(granted).resolves.toEqual({ compensated: 0, notEligible: 0 });
    expect(await vouchers()).toEqual(['10.00 EUR']);
    expect(await prisma.serviceFailure.count({ where: { incidentId, status: 'NEEDS_REVIEW', decidedBy: null } })).toBe(2);
  });
});
