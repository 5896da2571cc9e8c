import { decodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { whileHolding } from '../support/holding.js';
import { untilWaitingForLocks } from '../support/until.js';

/**
 * An incident's budget and voided vouchers (stop 53). A COMPENSATION voucher staff voided (a member named by
 * mistake, a compensation issued in error) gave nothing: the incident's `spent` leaves it out, and when its batch had
 * counted it against the budget (`budgetUsed`) the void gives the amount back, so a member of a later page is not held
 * for a decision over money never spent. The budget is the reporter's bound on what the incident costs — not a limit on
 * an agent's discretion (an agent reports incidents with any budget or none) — so whoever voids, the room comes back.
 * Once a batch found the budget spent (`overBudgetAt`) the rest waits for one decision, void or not. Pages and voids
 * over GraphQL, the pages expanded by the incidents worker's processor. MEDIUM, BRONZE: 10.00 per member.
 */
const { prisma, app } = useTestApp();

const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
  __typename ... on ReportServiceIncidentPayload { incident { id } } ... on Error { code message } } }`;
const READ = `query($id: ID!) { serviceIncident(id: $id) {
  compensated needsReview awaitingDecision spent { amount } budgetUsed { amount } overBudgetAt } }`;
const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status } } ... on Error { code message } } }`;
const DECIDE = `mutation($i: DecideServiceIncidentInput!) { decideServiceIncident(input: $i) { __typename
  ... on DecideServiceIncidentPayload { decided } ... on Error { code message } } }`;
const UPDATE_MEMBER = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename } }`;

let keys = 0;
const key = (prefix: string) => `${prefix}-${++keys}`;

/** A page over GraphQL (the first one when `incident` is absent): the incident's global id. */
async function page(token: string, memberIds: string[], incident?: string, budget?: string): Promise<string> {
  const input = incident
    ? { incidentId: incident, affected: memberIds.map((memberId) => ({ memberId })), idempotencyKey: key('page') }
    : {
        type: 'LATE_DELIVERY',
        severity: 'MEDIUM',
        ...(budget ? { budgetMoney: { amount: budget, currency: 'EUR' } } : {}),
        affected: memberIds.map((memberId) => ({ memberId })),
        idempotencyKey: key('page'),
      };
  const answer = await app.gql(REPORT, { i: input }, token);
  expect(answer.data?.reportServiceIncident.__typename, JSON.stringify(answer)).toBe('ReportServiceIncidentPayload');
  return answer.data!.reportServiceIncident.incident.id as string;
}

/** Every incident job waiting, run by the worker's processor until none is left. */
async function drainIncidents(): Promise<void> {
  for (;;) {
    const events = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null }, orderBy: { createdAt: 'asc' } });
    if (events.length === 0) return;
    for (const event of events) await processIncidentJob(event.payload as never, app.deps);
  }
}

async function read(token: string, incident: string) {
  const answer = await app.gql(READ, { id: incident }, token);
  expect(answer.errors).toBeUndefined();
  const { spent, budgetUsed, overBudgetAt, ...counts } = answer.data!.serviceIncident;
  return { ...counts, spent: spent.amount as string, budgetUsed: budgetUsed.amount as string, overBudget: overBudgetAt !== null };
}

async function voidVoucherOf(token: string, memberId: string) {
  const { code } = await prisma.voucher.findFirstOrThrow({ where: { memberId, kind: 'COMPENSATION' } });
  const answer = await app.gql(VOID, { i: { code, reason: 'named by mistake', idempotencyKey: key('void') } }, token);
  expect(answer.data?.voidVoucher, JSON.stringify(answer)).toEqual({ __typename: 'VoidVoucherPayload', voucher: { status: 'VOIDED' } });
}

async function statusOf(incident: string, memberId: string) {
  const failure = await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId: decodeGlobalID(incident).id, memberId } });
  return { status: failure.status, reviewReason: failure.reviewReason };
}

/** The incident's vouchers that stand (not voided): their count and sum, against what the row says it used. */
async function standing(incident: string) {
  const id = decodeGlobalID(incident).id;
  const failures = await prisma.serviceFailure.findMany({
    where: { incidentId: id, voucherId: { not: null } },
    select: { voucherId: true },
  });
  const live = await prisma.voucher.aggregate({
    where: { id: { in: failures.map((f) => f.voucherId!) }, status: { not: 'VOIDED' } },
    _count: { _all: true },
    _sum: { amount: true },
  });
  return { count: live._count._all, sum: (live._sum.amount ?? 0).toString() };
}

/** What the incident's row says it used, and what its failures counted in it (`counted_in_budget`) add up to: equal. */
async function usedAndCounted(incident: string) {
  const id = decodeGlobalID(incident).id;
  const { budgetUsed } = await prisma.serviceIncident.findUniqueOrThrow({ where: { id } });
  const counted = await prisma.serviceFailure.aggregate({
    where: { incidentId: id, countedInBudget: true },
    _sum: { compensationAmount: true },
  });
  return { used: budgetUsed.toFixed(2), counted: (counted._sum.compensationAmount ?? 0).toFixed(2) };
}

const members = (count: number) => Promise.all(Array.from({ length: count }, () => app.enroll()));

describe("an incident's budget and voided vouchers", () => {
  it("a voided compensation leaves `spent` and gives its room in the budget back: a later page's member is compensated", async () => {
    const shop = await app.apiKeyToken(['failures:report']);
    const agent = await app.staffToken('AGENT');
    const [a, b, c, late] = await members(4);
    const incident = await page(shop, [a!, b!, c!], undefined, '30.00');
    await drainIncidents();
    expect(await read(shop, incident)).toMatchObject({ compensated: 3, spent: '30.00', budgetUsed: '30.00', overBudget: false });

    await voidVoucherOf(agent, b!);
    expect(await read(shop, incident)).toMatchObject({ compensated: 3, spent: '20.00', budgetUsed: '20.00', overBudget: false });

    await page(shop, [late!], incident);
    await drainIncidents();
    expect(await statusOf(incident, late!)).toEqual({ status: 'COMPENSATED', reviewReason: null });
    expect(await read(shop, incident)).toMatchObject({
      compensated: 4,
      needsReview: 0,
      spent: '30.00',
      budgetUsed: '30.00',
      overBudget: false,
    });
    expect(await standing(incident)).toEqual({ count: 3, sum: '30' });
    expect(await usedAndCounted(incident)).toEqual({ used: '30.00', counted: '30.00' });
    // The voided member's failure stays COMPENSATED: the policy decided, staff took the voucher back.
    expect(await statusOf(incident, b!)).toEqual({ status: 'COMPENSATED', reviewReason: null });
  });

  it('once the budget was found spent the rest waits for one decision, void or not; what the batch did not issue gives nothing back', async () => {
    const shop = await app.apiKeyToken(['failures:report']);
    const agent = await app.staffToken('AGENT');
    const supervisor = await app.staffToken('SUPERVISOR');
    const [a, b, c, suspended, late] = await members(5);
    expect((await app.gql(UPDATE_MEMBER, { i: { id: suspended, status: 'SUSPENDED' } }, supervisor)).data?.updateMember.__typename).toBe(
      'UpdateMemberPayload',
    );
    // 20.00: a and b compensated, c over the budget; the suspended member held.
    const incident = await page(shop, [a!, b!, c!, suspended!], undefined, '20.00');
    await drainIncidents();
    expect(await read(shop, incident)).toMatchObject({ compensated: 2, awaitingDecision: 1, budgetUsed: '20.00', overBudget: true });
    expect(await statusOf(incident, suspended!)).toEqual({ status: 'HELD', reviewReason: null });

    await voidVoucherOf(agent, a!);
    expect(await read(shop, incident)).toMatchObject({ spent: '10.00', budgetUsed: '10.00', overBudget: true });
    await page(shop, [late!], incident);
    await drainIncidents();
    expect(await statusOf(incident, late!)).toEqual({ status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET' });

    // The supervisor grants the remainder, and the suspension ends: neither is counted against the budget, and a void
    // of either gives it nothing back.
    const decided = await app.gql(
      DECIDE,
      { i: { incidentId: incident, decision: 'GRANT', note: 'our outage', idempotencyKey: key('decide') } },
      supervisor,
    );
    expect(decided.data?.decideServiceIncident).toEqual({ __typename: 'DecideServiceIncidentPayload', decided: 2 });
    await drainIncidents();
    await app.gql(UPDATE_MEMBER, { i: { id: suspended, status: 'ACTIVE' } }, supervisor);
    const jobs = await prisma.outboxEvent.findMany({ where: { queue: 'compensation', completedAt: null } });
    for (const job of jobs) await processCompensation(job.payload as { failureId: string }, app.deps);
    expect(await read(shop, incident)).toMatchObject({ compensated: 5, spent: '40.00', budgetUsed: '10.00' });

    await voidVoucherOf(agent, c!);
    await voidVoucherOf(agent, suspended!);
    expect(await read(shop, incident)).toMatchObject({ compensated: 5, spent: '20.00', budgetUsed: '10.00' });
    expect(await standing(incident)).toEqual({ count: 2, sum: '20' });
    expect(await usedAndCounted(incident)).toEqual({ used: '10.00', counted: '10.00' });
  });

  it('a void refused (a redeemed voucher) gives nothing back and writes nothing', async () => {
    const shop = await app.apiKeyToken(['failures:report']);
    const redeemer = await app.apiKeyToken(['vouchers:redeem']);
    const [a] = await members(1);
    const incident = await page(shop, [a!], undefined, '10.00');
    await drainIncidents();
    const { code } = await prisma.voucher.findFirstOrThrow({ where: { memberId: a!, kind: 'COMPENSATION' } });
    const redeemed = await app.gql(
      `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename } }`,
      {
        i: { code, orderRef: 'order-a', orderTotalMoney: { amount: '50.00', currency: 'EUR' }, memberId: a, idempotencyKey: key('redeem') },
      },
      redeemer,
    );
    expect(redeemed.data?.redeemVoucher.__typename).toBe('RedeemVoucherPayload');
    const before = await tableRowCounts(prisma);
    const refused = await app.gql(VOID, { i: { code, reason: 'too late', idempotencyKey: key('void') } }, await app.staffToken('AGENT'));
    expect(refused.data?.voidVoucher).toMatchObject({ __typename: 'ValidationError' });
    expect(await tableRowCounts(prisma)).toEqual(before);
    expect(await read(shop, incident)).toMatchObject({ spent: '10.00', budgetUsed: '10.00' });
  });

  it("a void and a later page's batch at once: one of the two serial outcomes, never over the budget", async () => {
    const shop = await app.apiKeyToken(['failures:report']);
    const agent = await app.staffToken('AGENT');
    const races = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const [a, b, c, late] = await members(4);
        return { voided: b!, late: late!, first: [a!, b!, c!] };
      }),
    );
    const incidents: string[] = [];
    for (const race of races) incidents.push(await page(shop, race.first, undefined, '30.00'));
    await drainIncidents();
    for (const [i, race] of races.entries()) await page(shop, [race.late], incidents[i]);
    const jobs = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null } });
    expect(jobs).toHaveLength(races.length);

    await Promise.all([
      ...races.map((race) => voidVoucherOf(agent, race.voided)),
      ...jobs.map((job) => processIncidentJob(job.payload as never, app.deps)),
    ]);
    await drainIncidents();

    for (const [i, race] of races.entries()) {
      const incident = incidents[i]!;
      const late = await statusOf(incident, race.late);
      const now = await read(shop, incident);
      if (late.status === 'COMPENSATED') {
        // The void first: its room went to the later member.
        expect(now).toMatchObject({ compensated: 4, spent: '30.00', budgetUsed: '30.00', overBudget: false });
        expect(await standing(incident)).toEqual({ count: 3, sum: '30' });
      } else {
        // The batch first: the budget was spent, the later member waits; then the void.
        expect(late).toEqual({ status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET' });
        expect(now).toMatchObject({ compensated: 3, awaitingDecision: 1, spent: '20.00', budgetUsed: '20.00', overBudget: true });
        expect(await standing(incident)).toEqual({ count: 2, sum: '20' });
      }
      expect(await prisma.serviceFailure.count({ where: { incidentId: decodeGlobalID(incident).id } })).toBe(4);
      const { used, counted } = await usedAndCounted(incident);
      expect(used).toBe(counted);
      expect(Number(used)).toBeLessThanOrEqual(30);
    }
  });

  it("both serial orders, made deterministic: the void and the batch take the incident's row in turn, in the order they asked", async () => {
    const shop = await app.apiKeyToken(['failures:report']);
    const agent = await app.staffToken('AGENT');
    const setups: { incident: string; voided: string; late: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const [a, b, c, late] = await members(4);
      setups.push({ incident: await page(shop, [a!, b!, c!], undefined, '30.00'), voided: b!, late: late! });
    }
    await drainIncidents();
    const holdIncident = (incident: string) => (holder: { query: (sql: string, values: unknown[]) => Promise<unknown> }) =>
      holder.query('SELECT 1 FROM service_incidents WHERE id = $1 FOR UPDATE', [decodeGlobalID(incident).id]);
    const laterPage = async (setup: (typeof setups)[number]) => {
      await page(shop, [setup.late], setup.incident);
      const job = await prisma.outboxEvent.findFirstOrThrow({ where: { queue: 'incidents', completedAt: null } });
      return () => processIncidentJob(job.payload as never, app.deps);
    };

    // The void asks first (it has voided the voucher and waits to give the budget back), the batch after it: the batch
    // measures the budget with the 10.00 back, and compensates the later member.
    const [voidFirst, batchFirst] = setups as [(typeof setups)[number], (typeof setups)[number]];
    const batch = await laterPage(voidFirst);
    let expanded: Promise<unknown> | undefined;
    await whileHolding(prisma, holdIncident(voidFirst.incident), () => voidVoucherOf(agent, voidFirst.voided), {
      meanwhile: async () => {
        expanded = batch();
        await untilWaitingForLocks(prisma, 2);
      },
    });
    await expanded;
    expect(await statusOf(voidFirst.incident, voidFirst.late)).toEqual({ status: 'COMPENSATED', reviewReason: null });
    expect(await read(shop, voidFirst.incident)).toMatchObject({ spent: '30.00', budgetUsed: '30.00', overBudget: false });

    // The batch asks first, the void after it: the budget is spent when the batch measures it, the later member
    // waits for a decision; then the void gives its 10.00 back.
    const otherBatch = await laterPage(batchFirst);
    let voided: Promise<unknown> | undefined;
    await whileHolding(prisma, holdIncident(batchFirst.incident), otherBatch, {
      meanwhile: async () => {
        voided = voidVoucherOf(agent, batchFirst.voided);
        await untilWaitingForLocks(prisma, 2);
      },
    });
    await voided;
    expect(await statusOf(batchFirst.incident, batchFirst.late)).toEqual({ status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET' });
    expect(await read(shop, batchFirst.incident)).toMatchObject({ spent: '20.00', budgetUsed: '20.00', overBudget: true });
    for (const setup of setups)
      expect(await prisma.serviceFailure.count({ where: { incidentId: decodeGlobalID(setup.incident).id } })).toBe(4);
  });
});
