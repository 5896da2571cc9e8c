import { decodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { useTestApp } from '../support/app.js';
import { whileHolding, type Hold } from '../support/holding.js';
import { enrolMembers, incidentPages } from '../support/incidents.js';
import { untilWaitingForLocks } from '../support/until.js';

/**
 * A void of an incident's batch voucher and the supervisor's decision on the same incident's remainder, at once
 * (stop 54). The void gives the batch's amount back to `budgetUsed` (`counted_in_budget`) under the incident's row
 * lock; the decision takes the same lock and decides what waits over the budget. Whatever order they take the lock
 * in, the incident's figures are what its vouchers say: `spent` the sum of those not voided, `budgetUsed` the sum of
 * those its batches issued and not voided, and no voucher counted in the budget is voided. Voids and decisions over
 * GraphQL, pages expanded and the approved remainder issued by the incidents worker's processor. MEDIUM, BRONZE:
 * 10.00 per member; a budget of 20.00 for three members: two compensated and counted, the third waits.
 */
const { prisma, app } = useTestApp();
const { key } = incidentPages('voided-decision');

const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
  __typename ... on ReportServiceIncidentPayload { incident { id } } ... on Error { code message } } }`;
const READ = `query($id: ID!) { serviceIncident(id: $id) {
  compensated awaitingDecision notEligible spent { amount } budgetUsed { amount } } }`;
const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status } } ... on Error { code message } } }`;
const DECIDE = `mutation($i: DecideServiceIncidentInput!) { decideServiceIncident(input: $i) { __typename
  ... on DecideServiceIncidentPayload { decided } ... on Error { code message } } }`;

type Decision = 'GRANT' | 'DECLINE';

/** Every incident job waiting (pages, approved remainders), run by the worker's processor until none is left. */
async function drainIncidents(): Promise<void> {
  for (;;) {
    const events = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null }, orderBy: { createdAt: 'asc' } });
    if (events.length === 0) return;
    for (const event of events) await processIncidentJob(event.payload as never, app.deps);
  }
}

/** An incident of 20.00 naming three members, expanded: the first two compensated and counted, the third waiting. */
async function incidentOverBudget(shop: string) {
  const [a, b, c] = await enrolMembers(app.enroll, 3);
  const input = {
    type: 'LATE_DELIVERY',
    severity: 'MEDIUM',
    budgetMoney: { amount: '20.00', currency: 'EUR' },
    affected: [a, b, c].map((memberId) => ({ memberId })),
    idempotencyKey: key('page'),
  };
  const answer = await app.gql(REPORT, { i: input }, shop);
  expect(answer.data?.reportServiceIncident.__typename, JSON.stringify(answer)).toBe('ReportServiceIncidentPayload');
  const incident = answer.data!.reportServiceIncident.incident.id as string;
  await drainIncidents();
  const counted = await prisma.serviceFailure.findMany({
    where: { incidentId: decodeGlobalID(incident).id, countedInBudget: true },
    select: { voucherId: true },
  });
  expect(counted).toHaveLength(2);
  const { code } = await prisma.voucher.findUniqueOrThrow({ where: { id: counted[0]!.voucherId! } });
  return { incident, voided: code };
}

const voidOf = (code: string, agent: string) => () =>
  app.gql(VOID, { i: { code, reason: 'named by mistake', idempotencyKey: key('void') } }, agent);
const decisionOf = (incident: string, decision: Decision, supervisor: string) => () =>
  app.gql(DECIDE, { i: { incidentId: incident, decision, note: 'our outage', idempotencyKey: key('decide') } }, supervisor);

/**
 * The incident's figures as `serviceIncident` answers them, beside a recount from its vouchers: `spent` the vouchers
 * of its failures that stand, `budgetUsed` those of them its batches compensated (no review, no decision: the
 * supervisor's grants are not counted), and the failures still counted whose voucher is voided (none, ever).
 */
async function figuresAndRecount(shop: string, incident: string) {
  const answer = await app.gql(READ, { id: incident }, shop);
  expect(answer.errors).toBeUndefined();
  const read = answer.data!.serviceIncident;
  const failures = await prisma.serviceFailure.findMany({
    where: { incidentId: decodeGlobalID(incident).id, voucherId: { not: null } },
    select: { reviewReason: true, decidedBy: true, countedInBudget: true, voucherId: true },
  });
  const vouchers = new Map(
    (await prisma.voucher.findMany({ where: { id: { in: failures.map((failure) => failure.voucherId!) } } })).map((voucher) => [
      voucher.id,
      voucher,
    ]),
  );
  const voided = (failure: (typeof failures)[number]) => vouchers.get(failure.voucherId!)!.status === 'VOIDED';
  const standing = failures.filter((failure) => !voided(failure));
  const sum = (rows: typeof failures) => rows.reduce((total, row) => total + Number(vouchers.get(row.voucherId!)!.amount), 0).toFixed(2);
  return {
    figures: { spent: read.spent.amount as string, budgetUsed: read.budgetUsed.amount as string },
    recount: {
      spent: sum(standing),
      budgetUsed: sum(standing.filter((failure) => failure.reviewReason === null && failure.decidedBy === null)),
    },
    countedAndVoided: failures.filter((failure) => failure.countedInBudget && voided(failure)).length,
    counts: {
      compensated: read.compensated as number,
      awaitingDecision: read.awaitingDecision as number,
      notEligible: read.notEligible as number,
    },
  };
}

/** What both serial orders leave: the void gave 10.00 back, the decision covered the one member waiting. */
async function expectSettled(shop: string, incident: string, decision: Decision) {
  const { figures, recount, countedAndVoided, counts } = await figuresAndRecount(shop, incident);
  expect(figures).toEqual(recount);
  expect(countedAndVoided).toBe(0);
  if (decision === 'GRANT') {
    expect(figures).toEqual({ spent: '20.00', budgetUsed: '10.00' });
    expect(counts).toEqual({ compensated: 3, awaitingDecision: 0, notEligible: 0 });
  } else {
    expect(figures).toEqual({ spent: '10.00', budgetUsed: '10.00' });
    expect(counts).toEqual({ compensated: 2, awaitingDecision: 0, notEligible: 1 });
  }
}

/** The incident's row, as the void (giving the budget back) and the decision (locking the incident) take it. */
const holdIncident =
  (incident: string): Hold =>
  (holder) =>
    holder.query('SELECT 1 FROM service_incidents WHERE id = $1 FOR UPDATE', [decodeGlobalID(incident).id]);

const VOIDED = { __typename: 'VoidVoucherPayload', voucher: { status: 'VOIDED' } };
const DECIDED = { __typename: 'DecideServiceIncidentPayload', decided: 1 };

describe("a void of an incident's batch voucher and the decision on its remainder", () => {
  it('sent at once, for GRANT and DECLINE: the figures are what the vouchers say, and no voided voucher stays counted', async () => {
    const shop = await app.apiKeyToken(['failures:report']);
    const agent = await app.staffToken('AGENT');
    const supervisor = await app.staffToken('SUPERVISOR');
    const decisions: Decision[] = ['GRANT', 'DECLINE', 'GRANT', 'DECLINE', 'GRANT', 'DECLINE'];
    const races = [];
    for (const decision of decisions) races.push({ decision, ...(await incidentOverBudget(shop)) });

    const answers = await Promise.all(
      races.flatMap((race) => [voidOf(race.voided, agent)(), decisionOf(race.incident, race.decision, supervisor)()]),
    );
    for (const [i, answer] of answers.entries()) {
      expect(answer.data?.[i % 2 === 0 ? 'voidVoucher' : 'decideServiceIncident'], JSON.stringify(answer)).toEqual(
        i % 2 === 0 ? VOIDED : DECIDED,
      );
    }
    await drainIncidents();
    for (const race of races) await expectSettled(shop, race.incident, race.decision);
  });

  it.each<Decision>(['GRANT', 'DECLINE'])(
    "both serial orders of a void and a %s, made deterministic: each takes the incident's row in the order it asked",
    async (decision) => {
      const shop = await app.apiKeyToken(['failures:report']);
      const agent = await app.staffToken('AGENT');
      const supervisor = await app.staffToken('SUPERVISOR');
      const voidFirst = await incidentOverBudget(shop);
      const decisionFirst = await incidentOverBudget(shop);

      // The void asks first: it has marked the voucher VOIDED and waits to give the budget back; the decision queues
      // behind it on the incident's row.
      let decided: Promise<Awaited<ReturnType<ReturnType<typeof decisionOf>>>> | undefined;
      const voided = await whileHolding(prisma, holdIncident(voidFirst.incident), voidOf(voidFirst.voided, agent), {
        meanwhile: async () => {
          decided = decisionOf(voidFirst.incident, decision, supervisor)();
          await untilWaitingForLocks(prisma, 2);
        },
      });
      expect(voided.data?.voidVoucher).toEqual(VOIDED);
      expect((await decided!).data?.decideServiceIncident).toEqual(DECIDED);

      // The decision asks first (it waits for the incident's row it locks first); the void queues behind it.
      let voidedAfter: Promise<Awaited<ReturnType<ReturnType<typeof voidOf>>>> | undefined;
      const decidedFirst = await whileHolding(
        prisma,
        holdIncident(decisionFirst.incident),
        decisionOf(decisionFirst.incident, decision, supervisor),
        {
          meanwhile: async () => {
            voidedAfter = voidOf(decisionFirst.voided, agent)();
            await untilWaitingForLocks(prisma, 2);
          },
        },
      );
      expect(decidedFirst.data?.decideServiceIncident).toEqual(DECIDED);
      expect((await voidedAfter!).data?.voidVoucher).toEqual(VOIDED);

      await drainIncidents();
      await expectSettled(shop, voidFirst.incident, decision);
      await expectSettled(shop, decisionFirst.incident, decision);
    },
  );
});
