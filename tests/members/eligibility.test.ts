import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { approveGoodwill, issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { eligibility, type ValueMovement } from '../../src/domain/members/eligibility.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { adjustPoints, earnPoints, redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { reportServiceFailure, reviewServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays } from '../../src/domain/time.js';
import type { MemberStatus, Severity, Tier } from '../../src/generated/prisma/client.js';
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

async function memberIn(tier: Tier = 'BRONZE'): Promise<string> {
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

describe('the rule', () => {
  const MOVEMENTS: ValueMovement[] = [
    'EARN',
    'SPEND',
    'AUTOMATIC_GRANT',
    'DECIDED_GRANT',
    'GOODWILL',
    'ADJUSTMENT',
    'CORRECTION',
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
      CONTRACT: 'ALLOW',
    });
    expect(eligibility('SUSPENDED', 'EARN')).toMatchObject({ reason: expect.stringContaining('SUSPENDED') });
  });

  it('a closed member receives nothing; only corrections of the ledger still post', () => {
    for (const movement of MOVEMENTS) {
      expect(eligibility('CLOSED', movement).decision, movement).toBe(movement === 'CORRECTION' ? 'ALLOW' : 'REFUSE');
    }
  });
});

describe('compensation of a closed member', () => {
  it('a closed member gets nothing: NOT_ELIGIBLE by the job, and a supervisor cannot grant', async () => {
    const memberId = await memberIn();
    await setStatus(memberId, 'CLOSED');
    const failureId = await reportFailure(memberId);
    expect(await runOpenJobs()).toEqual([expect.objectContaining({ outcome: 'NOT_ELIGIBLE', reason: expect.stringContaining('CLOSED') })]);
    expect(await prisma.voucher.count()).toBe(0);
    await prisma.serviceFailure.update({ where: { id: failureId }, data: { status: 'NEEDS_REVIEW', compensationAmount: '10.00' } });
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
