import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { cancelContract, decideRenewalBonus, extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { approveGoodwill, issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { eligibility, heldGrantsOnStatusChange, type ValueMovement } from '../../src/domain/members/eligibility.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { adjustPoints, earnPoints, redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { reportServiceFailure, reviewServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays } from '../../src/domain/time.js';
import type { MemberStatus, Severity } from '../../src/generated/prisma/client.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { outboxProcessors } from '../../workers/registry.js';
import { useTestApp, testLogger } from '../support/app.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';

/**
 * One eligibility rule (src/domain/members/eligibility.ts) for every way value
 * reaches a member: earn and spend, automatic grants (compensation, renewal
 * bonus), manual ones (goodwill, adjustments), corrections. A suspended
 * member's automatic grants are held — nothing issued — and granted exactly
 * once when a supervisor reactivates the member (also when reactivations race
 * each other and the workers), or decided by a supervisor before; closing the
 * member declines them. Jobs run through the workers' own registry, called
 * directly (no Redis): what the queue would hand them is the outbox event.
 */
const { prisma, app } = useTestApp();

const T = new Date('2026-06-01T12:00:00.000Z');
const at = (date: Date): ServiceDeps => ({ prisma, logger: testLogger, now: () => date });
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const supervisor = staffCaller('SUPERVISOR', 'sup-1');
const admin = staffCaller('ADMIN', 'admin-1');
const agent = staffCaller('AGENT', 'agent-1');

async function memberIn(tier = 'BRONZE'): Promise<string> {
  const id = await app.enroll();
  await prisma.member.update({ where: { id }, data: { tier } });
  return id;
}

const setStatus = (memberId: string, status: MemberStatus, when = T, caller: Caller = supervisor) =>
  updateMember(at(when), { id: memberId, status }, caller);

let reports = 0;
async function reportFailure(memberId: string, severity: Severity = 'HIGH', when = T): Promise<string> {
  reports += 1;
  const reported = await reportServiceFailure(
    at(when),
    { memberId, type: 'LATE_DELIVERY', severity, orderRef: `order-${reports}`, idempotencyKey: `report-${reports}` },
    storefront,
  );
  return reported.failureId;
}

/** Runs every job whose outbox event is still open, as the workers would (each at most once here). */
async function runOpenJobs(when = T): Promise<unknown[]> {
  const events = await prisma.outboxEvent.findMany({ where: { completedAt: null }, orderBy: { createdAt: 'asc' } });
  const outcomes: unknown[] = [];
  for (const event of events) {
    outcomes.push(await outboxProcessors[event.queue as keyof typeof outboxProcessors](event.payload, at(when)));
  }
  return outcomes;
}

const failure = (id: string) => prisma.serviceFailure.findUniqueOrThrow({ where: { id } });
const openEvents = () => prisma.outboxEvent.count({ where: { completedAt: null } });

describe('the rule', () => {
  const MOVEMENTS: ValueMovement[] = [
    'EARN',
    'SPEND',
    'AUTOMATIC_GRANT',
    'DECIDED_GRANT',
    'GOODWILL',
    'ADJUSTMENT',
    'CORRECTION',
    'RESTORE',
    'CONTRACT',
  ];

  it('active and passive members may do everything', () => {
    for (const status of ['ACTIVE', 'PASSIVE'] as const) {
      for (const movement of MOVEMENTS) expect(eligibility(status, movement), `${status} ${movement}`).toEqual({ decision: 'ALLOW' });
    }
  });

  it('a suspended member neither earns nor spends nor gets goodwill; automatic grants are held; decisions and corrections go ahead', () => {
    const decisions = Object.fromEntries(MOVEMENTS.map((movement) => [movement, eligibility('SUSPENDED', movement).decision]));
    expect(decisions).toEqual({
      EARN: 'REFUSE',
      SPEND: 'REFUSE',
      AUTOMATIC_GRANT: 'HOLD',
      DECIDED_GRANT: 'ALLOW',
      GOODWILL: 'REFUSE',
      ADJUSTMENT: 'ALLOW',
      CORRECTION: 'ALLOW',
      RESTORE: 'ALLOW',
      CONTRACT: 'ALLOW',
    });
    expect(eligibility('SUSPENDED', 'EARN')).toMatchObject({ reason: expect.stringContaining('SUSPENDED') });
  });

  it('a closed member receives nothing; only corrections of the ledger still post', () => {
    for (const movement of MOVEMENTS) {
      expect(eligibility('CLOSED', movement).decision, movement).toBe(movement === 'CORRECTION' ? 'ALLOW' : 'REFUSE');
    }
  });

  it('leaving SUSPENDED for ACTIVE or PASSIVE releases held grants; entering CLOSED declines them', () => {
    expect(heldGrantsOnStatusChange('SUSPENDED', 'ACTIVE')).toBe('RELEASE');
    expect(heldGrantsOnStatusChange('SUSPENDED', 'PASSIVE')).toBe('RELEASE');
    expect(heldGrantsOnStatusChange('SUSPENDED', 'CLOSED')).toBe('DECLINE');
    expect(heldGrantsOnStatusChange('ACTIVE', 'CLOSED')).toBe('DECLINE');
    expect(heldGrantsOnStatusChange('SUSPENDED', 'SUSPENDED')).toBe('KEEP');
    expect(heldGrantsOnStatusChange('ACTIVE', 'SUSPENDED')).toBe('KEEP');
    expect(heldGrantsOnStatusChange('CLOSED', 'ACTIVE')).toBe('KEEP');
  });
});

describe('compensation of a suspended member', () => {
  it('is HELD with the computed amount: no voucher, the job done', async () => {
    const memberId = await memberIn('GOLD');
    await setStatus(memberId, 'SUSPENDED');
    const failureId = await reportFailure(memberId, 'HIGH');
    const [outcome] = await runOpenJobs();
    expect(outcome).toMatchObject({ outcome: 'HELD', amount: '37.50', repeatIndex: 1 });
    expect(await failure(failureId)).toMatchObject({ status: 'HELD', decidedAt: null, decisionNote: expect.stringContaining('SUSPENDED') });
    expect((await failure(failureId)).compensationAmount?.toFixed(2)).toBe('37.50');
    expect(await prisma.voucher.count()).toBe(0);
    expect(await openEvents()).toBe(0);
    // A duplicate of the job (a re-drive) changes nothing.
    expect(await processCompensation({ failureId }, at(T))).toMatchObject({ outcome: 'ALREADY_DECIDED', status: 'HELD' });
    expect(await prisma.voucher.count()).toBe(0);
  });

  it('held failures are listed for supervisors: serviceFailures(filter: { status: HELD })', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const held = await reportFailure(memberId);
    await runOpenJobs();
    await reportFailure(await memberIn()); // recorded, not held
    await runOpenJobs();
    const token = await app.staffToken('SUPERVISOR');
    const listed = await app.gql(
      `{ serviceFailures(filter: { status: HELD }) { edges { node { id status compensation { amount } decisionNote } } } }`,
      {},
      token,
    );
    expect(listed.errors).toBeUndefined();
    const nodes = listed.data!.serviceFailures.edges.map((edge: { node: unknown }) => edge.node);
    expect(nodes).toEqual([
      { id: expect.any(String), status: 'HELD', compensation: { amount: '25.00' }, decisionNote: expect.stringContaining('SUSPENDED') },
    ]);
    expect(await prisma.serviceFailure.findFirst({ where: { id: held, status: 'HELD' } })).not.toBeNull();
  });

  it('is issued exactly once when a supervisor reactivates the member', async () => {
    const memberId = await memberIn('SILVER');
    await setStatus(memberId, 'SUSPENDED');
    const first = await reportFailure(memberId, 'LOW', T);
    const second = await reportFailure(memberId, 'MEDIUM', new Date(T.getTime() + 60_000));
    await runOpenJobs();
    expect((await failure(first)).status).toBe('HELD');
    expect((await failure(second)).status).toBe('HELD');

    const later = addDays(T, 3);
    await setStatus(memberId, 'ACTIVE', later);
    // Released in the reactivation's transaction: RECORDED again, each with a new job in the outbox.
    expect((await failure(first)).status).toBe('RECORDED');
    const events = await prisma.outboxEvent.findMany({ where: { completedAt: null } });
    expect(events.map((event) => (event.payload as { failureId: string }).failureId).sort()).toEqual([first, second].sort());
    expect(events.every((event) => (event.payload as { eventId: string }).eventId === event.id)).toBe(true);

    const outcomes = await runOpenJobs(later);
    expect(outcomes).toEqual([expect.objectContaining({ outcome: 'COMPENSATED' }), expect.objectContaining({ outcome: 'COMPENSATED' })]);
    expect(await prisma.voucher.count({ where: { memberId, kind: 'COMPENSATION' } })).toBe(2);
    // 5 × 1.2 and, as the second failure in the repeat window, 10 × 1.2 × 1.5.
    expect((await failure(first)).compensationAmount?.toFixed(2)).toBe('6.00');
    expect((await failure(second)).compensationAmount?.toFixed(2)).toBe('18.00');
    expect(await openEvents()).toBe(0);

    // Any job of these failures again (the first ones, the released ones): nothing more.
    for (const failureId of [first, second]) await processCompensation({ failureId }, at(later));
    for (const event of events) await outboxProcessors.compensation(event.payload, at(later));
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(2);
    // Reactivating an active member releases nothing.
    await setStatus(memberId, 'ACTIVE', later);
    expect(await openEvents()).toBe(0);
  });

  it('10 concurrent reactivations racing the worker: one voucher per held failure', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const held = [await reportFailure(memberId, 'LOW'), await reportFailure(memberId, 'LOW'), await reportFailure(memberId, 'LOW')];
    await runOpenJobs();
    const later = addDays(T, 1);

    // A worker that keeps running whatever is open while the reactivations arrive, plus stale duplicates of the first jobs.
    let reactivating = true;
    const worker = (async () => {
      let runs = 0;
      while (reactivating || (await openEvents()) > 0) {
        runs += (await runOpenJobs(later)).length;
        for (const failureId of held) await processCompensation({ failureId }, at(later));
      }
      return runs;
    })();
    const reactivations = await Promise.allSettled(Array.from({ length: 10 }, () => setStatus(memberId, 'ACTIVE', later)));
    reactivating = false;
    await worker;
    await runOpenJobs(later);

    expect(reactivations.every((result) => result.status === 'fulfilled')).toBe(true);
    for (const failureId of held) {
      expect(await failure(failureId)).toMatchObject({ status: 'COMPENSATED' });
      expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(1);
    }
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(3);
    // Exactly one release: one new job per held failure, all done.
    expect(await prisma.outboxEvent.count()).toBe(3 + 3);
    expect(await openEvents()).toBe(0);
  });

  it('the policy is measured again on release: past the cap by then, the failure goes to review', async () => {
    const memberId = await memberIn('PLATINUM');
    await setStatus(memberId, 'SUSPENDED');
    const heldId = await reportFailure(memberId, 'LOW', T); // 5 × 2 = 10, held
    await runOpenJobs();
    // A supervisor grants another one meanwhile: 50 × 2 × 1.5 = 150.00, over the cap of 100 by itself.
    const decided = await reportFailure(memberId, 'CRITICAL', addDays(T, 1));
    await runOpenJobs(addDays(T, 1));
    await reviewServiceFailure(
      at(addDays(T, 1)),
      { failureId: decided, decision: 'GRANT', note: 'approved', idempotencyKey: 'r-1' },
      supervisor,
    );
    await setStatus(memberId, 'ACTIVE', addDays(T, 2));
    await runOpenJobs(addDays(T, 2));
    expect(await failure(heldId)).toMatchObject({ status: 'NEEDS_REVIEW' });
    expect(await prisma.voucher.count({ where: { causeRef: heldId } })).toBe(0);
  });

  it('a supervisor may grant it while the member is still suspended: issued now, once', async () => {
    const memberId = await memberIn('GOLD');
    await setStatus(memberId, 'SUSPENDED');
    const failureId = await reportFailure(memberId, 'HIGH');
    await runOpenJobs();
    const input = { failureId, decision: 'GRANT' as const, note: 'the suspension was an error', idempotencyKey: 'grant-1' };
    await expect(reviewServiceFailure(at(T), input, agent)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await reviewServiceFailure(at(T), input, supervisor);
    expect(await failure(failureId)).toMatchObject({ status: 'COMPENSATED', decidedBy: 'sup-1' });
    const voucher = await prisma.voucher.findFirstOrThrow({ where: { causeRef: failureId } });
    expect(voucher.amount?.toFixed(2)).toBe('37.50');
    // The same key replays; another decision is refused; the reactivation later releases nothing.
    expect(await reviewServiceFailure(at(T), input, supervisor)).toMatchObject({ replayed: true });
    await expect(
      reviewServiceFailure(at(T), { ...input, decision: 'DECLINE', idempotencyKey: 'decline-1' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'failureId' });
    await setStatus(memberId, 'ACTIVE', addDays(T, 1));
    await runOpenJobs(addDays(T, 1));
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
  });

  it('a supervisor may decline it while the member is still suspended: NOT_ELIGIBLE, and the reactivation issues nothing', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const failureId = await reportFailure(memberId);
    await runOpenJobs();
    await reviewServiceFailure(at(T), { failureId, decision: 'DECLINE', note: 'fraudulent report', idempotencyKey: 'd-1' }, supervisor);
    expect(await failure(failureId)).toMatchObject({ status: 'NOT_ELIGIBLE', decidedBy: 'sup-1', decisionNote: 'fraudulent report' });
    await setStatus(memberId, 'ACTIVE', addDays(T, 1));
    expect(await runOpenJobs(addDays(T, 1))).toEqual([]);
    expect(await prisma.voucher.count()).toBe(0);
  });

  it('SUSPENDED → CLOSED declines held and reviewed compensation with the reason; nothing is issued', async () => {
    const memberId = await memberIn('PLATINUM');
    await setStatus(memberId, 'SUSPENDED');
    const released = await reportFailure(memberId, 'LOW', T);
    await runOpenJobs();
    await setStatus(memberId, 'ACTIVE');
    await runOpenJobs(); // 5 × 2 = 10.00, issued
    const reviewed = await reportFailure(memberId, 'CRITICAL', addDays(T, 1)); // 50 × 2 × 1.5 = 150.00: over the cap
    await runOpenJobs(addDays(T, 1));
    expect(await failure(reviewed)).toMatchObject({ status: 'NEEDS_REVIEW' });
    await setStatus(memberId, 'SUSPENDED', addDays(T, 1));
    const held = await reportFailure(memberId, 'MEDIUM', addDays(T, 2));
    await runOpenJobs(addDays(T, 2));
    expect(await failure(held)).toMatchObject({ status: 'HELD' });

    await setStatus(memberId, 'CLOSED', addDays(T, 3));
    for (const failureId of [reviewed, held]) {
      expect(await failure(failureId)).toMatchObject({ status: 'NOT_ELIGIBLE', decisionNote: expect.stringContaining('closed') });
    }
    expect(await failure(released)).toMatchObject({ status: 'COMPENSATED' });
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
    expect(await openEvents()).toBe(0);
    // Nothing is left for a supervisor to grant.
    await expect(
      reviewServiceFailure(at(T), { failureId: held, decision: 'GRANT', note: 'too late', idempotencyKey: 'late' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
  });

  it("an incident holds a suspended member's failure too (batch path); the reactivation compensates it once", async () => {
    const [active, suspended] = [await memberIn(), await memberIn()];
    await setStatus(suspended, 'SUSPENDED');
    const page = await reportServiceIncident(
      at(T),
      { type: 'OUTAGE', severity: 'MEDIUM', affected: [{ memberId: active }, { memberId: suspended }], idempotencyKey: 'incident-1' },
      storefront,
    );
    for (let open = await openEvents(); open > 0; open = await openEvents()) await runOpenJobs();
    const byMember = async (memberId: string) =>
      prisma.serviceFailure.findFirstOrThrow({ where: { incidentId: page.incidentId, memberId } });
    expect(await byMember(active)).toMatchObject({ status: 'COMPENSATED' });
    expect(await byMember(suspended)).toMatchObject({ status: 'HELD', decisionNote: expect.stringContaining('SUSPENDED') });
    expect(await prisma.voucher.count({ where: { memberId: suspended } })).toBe(0);

    await setStatus(suspended, 'ACTIVE', addDays(T, 1));
    await runOpenJobs(addDays(T, 1));
    expect(await byMember(suspended)).toMatchObject({ status: 'COMPENSATED' });
    expect(await prisma.voucher.count({ where: { memberId: suspended } })).toBe(1);
  });

  it('a closed member gets nothing: NOT_ELIGIBLE by the job, and a supervisor cannot grant', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'CLOSED');
    const failureId = await reportFailure(memberId);
    expect(await runOpenJobs()).toEqual([expect.objectContaining({ outcome: 'NOT_ELIGIBLE', reason: expect.stringContaining('CLOSED') })]);
    expect(await prisma.voucher.count()).toBe(0);
    await prisma.serviceFailure.update({
      where: { id: failureId },
      data: { status: 'NEEDS_REVIEW', compensationAmount: '10.00', compensationCurrency: 'EUR' },
    });
    await expect(
      reviewServiceFailure(at(T), { failureId, decision: 'GRANT', note: 'anyway', idempotencyKey: 'g' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'failureId', message: expect.stringContaining('CLOSED') });
    expect(await prisma.voucher.count()).toBe(0);
  });
});

describe('manual grants, earning and spending', () => {
  const gesture = (memberId: string, key: string, points = 100) => ({
    memberId,
    kind: 'POINTS' as const,
    points,
    reason: 'OTHER' as const,
    note: 'sorry',
    idempotencyKey: key,
  });

  it('a suspended member: goodwill, earning and spending are refused naming the status; nothing is written', async () => {
    const memberId = await memberIn();
    await earnPoints(at(T), { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' }, storefront);
    const pending = await issueGoodwill(at(T), gesture(memberId, 'g-big', 5000), agent);
    expect(pending.status).toBe('PENDING_APPROVAL');
    await setStatus(memberId, 'SUSPENDED');
    const entries = await prisma.ledgerEntry.count();
    const refusal = { code: 'VALIDATION', field: 'memberId', message: expect.stringContaining('SUSPENDED') };
    await expect(issueGoodwill(at(T), gesture(memberId, 'g-1'), agent)).rejects.toMatchObject(refusal);
    await expect(approveGoodwill(at(T), { gestureId: pending.gestureId, idempotencyKey: 'a-1' }, supervisor)).rejects.toMatchObject(
      refusal,
    );
    await expect(
      earnPoints(at(T), { memberId, orderRef: 'o-2', orderTotal: '10.00', idempotencyKey: 'e-2' }, storefront),
    ).rejects.toMatchObject(refusal);
    await expect(redeemPoints(at(addDays(T, 20)), { memberId, points: 10, idempotencyKey: 'r-1' }, storefront)).rejects.toMatchObject(
      refusal,
    );
    expect(await prisma.ledgerEntry.count()).toBe(entries);
    expect(await prisma.goodwillGesture.count()).toBe(1);
  });

  it('a suspended member: admin adjustments and refund reversals correct the ledger', async () => {
    const memberId = await memberIn();
    await earnPoints(at(T), { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'e-1' }, storefront);
    await setStatus(memberId, 'SUSPENDED');
    await adjustPoints(at(T), { memberId, points: 30, reason: 'missing points', idempotencyKey: 'a-1' }, admin);
    await adjustPoints(at(T), { memberId, points: -10, reason: 'double booking', idempotencyKey: 'a-2' }, admin);
    const refund = await refundOrder(at(T), { memberId, orderRef: 'o-1', idempotencyKey: 'rf-1' }, storefront);
    expect(refund.points).toBe(-100);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ availablePoints: 20, pendingPoints: 0 });
  });

  it('a closed member: credits are refused, corrections still post', async () => {
    const memberId = await memberIn();
    await adjustPoints(at(T), { memberId, points: 50, reason: 'welcome', idempotencyKey: 'a-1' }, admin);
    await setStatus(memberId, 'CLOSED');
    await expect(adjustPoints(at(T), { memberId, points: 30, reason: 'more', idempotencyKey: 'a-2' }, admin)).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringContaining('CLOSED'),
    });
    await expect(issueGoodwill(at(T), gesture(memberId, 'g-1'), agent)).rejects.toMatchObject({ code: 'VALIDATION' });
    await adjustPoints(at(T), { memberId, points: -50, reason: 'closing balance', idempotencyKey: 'a-3' }, admin);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ availablePoints: 0 });
  });
});

describe('the renewal bonus of a suspended member', () => {
  const billing = apiKeyCaller('billing', ['contracts:write']);
  let contracts = 0;

  /** A member's contract, up for renewal at T (it ends 30 days later), extended at T: its bonus job waits in the outbox. */
  async function extension(memberId: string): Promise<string> {
    contracts += 1;
    const startsAt = new Date(addDays(T, 30));
    startsAt.setUTCFullYear(startsAt.getUTCFullYear() - 1);
    const { contractId } = await registerContract(
      at(T),
      { memberId, externalRef: `C-${contracts}`, plan: 'mobile', startsAt, termMonths: 12 },
      billing,
    );
    const { renewalId } = await extendContract(at(T), { contractId, termMonths: 12, idempotencyKey: `x-${contracts}` }, billing);
    return renewalId;
  }

  const renewal = (id: string) => prisma.contractRenewal.findUniqueOrThrow({ where: { id } });
  const bonusEntries = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId, kind: 'RENEWAL_BONUS' } });

  it('is HELD with the computed points: no entry, the job done; renewals show it', async () => {
    const memberId = await memberIn('GOLD');
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    expect(await runOpenJobs()).toEqual([expect.objectContaining({ outcome: 'HELD', points: 750 })]);
    expect(await renewal(renewalId)).toMatchObject({
      bonusHeldAt: T,
      bonusPoints: 750,
      bonusGrantedAt: null,
      bonusEntryId: null,
      bonusDecisionNote: expect.stringContaining('SUSPENDED'),
    });
    expect(await bonusEntries(memberId)).toBe(0);
    expect(await openEvents()).toBe(0);
    // A duplicate of the job changes nothing.
    expect(await processRenewalBonus({ renewalId }, at(T))).toMatchObject({ outcome: 'ALREADY_DONE' });

    const token = await app.staffToken('SUPERVISOR');
    const read = await app.gql(
      `query($id: ID!) { member(id: $id) { contracts(first: 5) { edges { node { renewals(first: 5) { edges { node { bonusStatus bonusPoints bonusHeldAt } } } } } } } }`,
      { id: encodeGlobalID('Member', memberId) },
      token,
    );
    expect(read.data?.member.contracts.edges[0].node.renewals.edges[0].node).toEqual({
      bonusStatus: 'HELD',
      bonusPoints: 750,
      bonusHeldAt: T.toISOString(),
    });
  });

  it('is granted exactly once when a supervisor reactivates the member, computed again then', async () => {
    const memberId = await memberIn('GOLD');
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    await runOpenJobs();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
    const later = addDays(T, 5);
    await setStatus(memberId, 'ACTIVE', later);
    expect(await renewal(renewalId)).toMatchObject({ bonusHeldAt: null, bonusPoints: null });
    expect(await runOpenJobs(later)).toEqual([expect.objectContaining({ outcome: 'GRANTED', points: 1000 })]);
    expect(await renewal(renewalId)).toMatchObject({ bonusPoints: 1000, bonusGrantedAt: later, bonusDecidedBy: null });
    expect(await bonusEntries(memberId)).toBe(1);
    // The first job and the release's job again: nothing more.
    await processRenewalBonus({ renewalId }, at(later));
    for (const event of await prisma.outboxEvent.findMany({ where: { queue: 'renewal-bonus' } })) {
      await outboxProcessors['renewal-bonus'](event.payload, at(later));
    }
    expect(await bonusEntries(memberId)).toBe(1);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ availablePoints: 1000 });
  });

  it('10 concurrent reactivations racing the worker: one bonus per held renewal', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const held = [await extension(memberId), await extension(memberId)];
    await runOpenJobs();
    const later = addDays(T, 1);
    let reactivating = true;
    const worker = (async () => {
      while (reactivating || (await openEvents()) > 0) {
        await runOpenJobs(later);
        for (const renewalId of held) await processRenewalBonus({ renewalId }, at(later));
      }
    })();
    const reactivations = await Promise.allSettled(Array.from({ length: 10 }, () => setStatus(memberId, 'ACTIVE', later)));
    reactivating = false;
    await worker;
    await runOpenJobs(later);

    expect(reactivations.every((result) => result.status === 'fulfilled')).toBe(true);
    for (const renewalId of held) expect(await renewal(renewalId)).toMatchObject({ bonusPoints: 500, bonusEntryId: expect.any(String) });
    expect(await bonusEntries(memberId)).toBe(2);
    expect(await prisma.outboxEvent.count({ where: { queue: 'renewal-bonus' } })).toBe(2 + 2);
    expect(await openEvents()).toBe(0);
  });

  it('a supervisor may grant it while the member is still suspended: once, with the decision kept', async () => {
    const memberId = await memberIn('GOLD');
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    await runOpenJobs();
    const input = { renewalId, approve: true, note: 'loyal for ten years', idempotencyKey: 'decide-1' };
    await expect(decideRenewalBonus(at(T), input, agent)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await decideRenewalBonus(at(T), input, supervisor)).toMatchObject({ renewalId, status: 'GRANTED', replayed: false });
    expect(await renewal(renewalId)).toMatchObject({
      bonusPoints: 750,
      bonusEntryId: expect.any(String),
      bonusDecidedBy: 'sup-1',
      bonusDecisionNote: 'loyal for ten years',
    });
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ status: 'SUSPENDED', availablePoints: 750 });
    // The same key replays; another decision is refused; the reactivation releases nothing.
    expect(await decideRenewalBonus(at(T), input, supervisor)).toMatchObject({ status: 'GRANTED', replayed: true });
    await expect(decideRenewalBonus(at(T), { ...input, approve: false, idempotencyKey: 'decide-2' }, supervisor)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'renewalId',
    });
    await setStatus(memberId, 'ACTIVE', addDays(T, 1));
    expect(await runOpenJobs(addDays(T, 1))).toEqual([]);
    expect(await bonusEntries(memberId)).toBe(1);
  });

  it('10 supervisors approving at once, racing the reactivation and the worker: one bonus', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    await runOpenJobs();
    const results = await Promise.allSettled([
      ...Array.from({ length: 10 }, (_, i) =>
        decideRenewalBonus(at(T), { renewalId, approve: true, note: 'approved', idempotencyKey: `race-${i}` }, supervisor),
      ),
      setStatus(memberId, 'ACTIVE'),
    ]);
    await runOpenJobs();
    await runOpenJobs();
    expect(
      results.filter((result) => result.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'VALIDATION'),
    ).toBe(true);
    expect(await bonusEntries(memberId)).toBe(1);
    expect(await renewal(renewalId)).toMatchObject({ bonusEntryId: expect.any(String) });
  });

  it('a supervisor may decline it while suspended: NOT_ELIGIBLE, and the reactivation grants nothing', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    await runOpenJobs();
    const declined = await decideRenewalBonus(
      at(T),
      { renewalId, approve: false, note: 'contract fraud', idempotencyKey: 'd-1' },
      supervisor,
    );
    expect(declined.status).toBe('NOT_ELIGIBLE');
    expect(await renewal(renewalId)).toMatchObject({
      bonusPoints: 0,
      bonusEntryId: null,
      bonusDecidedBy: 'sup-1',
      bonusDecisionNote: 'contract fraud',
    });
    await setStatus(memberId, 'ACTIVE', addDays(T, 1));
    expect(await runOpenJobs(addDays(T, 1))).toEqual([]);
    expect(await bonusEntries(memberId)).toBe(0);
  });

  it('SUSPENDED → CLOSED declines it with the reason; nothing is granted', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    await runOpenJobs();
    await setStatus(memberId, 'CLOSED', addDays(T, 1));
    expect(await renewal(renewalId)).toMatchObject({
      bonusPoints: 0,
      bonusEntryId: null,
      bonusGrantedAt: addDays(T, 1),
      bonusDecisionNote: expect.stringContaining('closed'),
    });
    await expect(
      decideRenewalBonus(at(T), { renewalId, approve: true, note: 'too late', idempotencyKey: 'late' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'renewalId' });
    expect(await runOpenJobs()).toEqual([]);
    expect(await bonusEntries(memberId)).toBe(0);
  });

  it('a closed member gets nothing: the job finds the bonus NOT_ELIGIBLE', async () => {
    const memberId = await memberIn();
    const renewalId = await extension(memberId);
    await setStatus(memberId, 'CLOSED');
    expect(await runOpenJobs()).toEqual([expect.objectContaining({ outcome: 'NOT_ELIGIBLE', points: 0 })]);
    expect(await renewal(renewalId)).toMatchObject({ bonusPoints: 0, bonusDecisionNote: expect.stringContaining('CLOSED') });
    expect(await bonusEntries(memberId)).toBe(0);
  });

  it('a cancellation forfeits a held bonus; the reactivation then grants nothing', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'SUSPENDED');
    const renewalId = await extension(memberId);
    await runOpenJobs();
    const { contractId } = await renewal(renewalId);
    const cancelled = await cancelContract(at(addDays(T, 1)), { contractId, idempotencyKey: 'cancel-1' }, billing);
    expect(cancelled).toMatchObject({ bonusesForfeited: 1, pointsClawedBack: 0 });
    await setStatus(memberId, 'ACTIVE', addDays(T, 2));
    expect(await runOpenJobs(addDays(T, 2))).toEqual([]);
    expect(await bonusEntries(memberId)).toBe(0);
  });
});
