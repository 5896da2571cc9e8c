// No useTestApp(): the policy table shares one reset across its rows (each row has a member of its own); the other blocks reset per test.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { ForbiddenError, PermanentJobError } from '../../src/domain/errors.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import {
  reportServiceFailure,
  reviewServiceFailure,
  type ReportServiceFailureInput,
} from '../../src/domain/service-failures/service-failures.service.js';
import { addDays } from '../../src/domain/time.js';
import type { Severity } from '../../src/generated/prisma/client.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createTestApp, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';

/**
 * The compensation policy, through the queue processor called directly (no
 * Redis): base by severity × tier factor × repeat escalation, the 30-day cap,
 * the at-risk flag, and exactly one voucher per failure.
 */
let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const supervisor = { actor: { type: 'STAFF' as const, id: 'sup-1' }, role: 'SUPERVISOR' as const };

const T = new Date('2026-06-01T12:00:00.000Z');
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
});
afterAll(async () => prisma.$disconnect());

async function memberIn(tier: Tier): Promise<string> {
  // Enrolled before the failures of the test's clock T (a reported occurredAt is held to the enrolment).
  const id = await app.enroll({ enrolledAt: addDays(T, -365) });
  await prisma.member.update({ where: { id }, data: { tier } });
  return id;
}

let reports = 0;
/** Reports a failure at `when` and runs its compensation job at `when`. */
async function failAndCompensate(memberId: string, severity: Severity, when: Date, extra: Partial<ReportServiceFailureInput> = {}) {
  reports += 1;
  const reported = await reportServiceFailure(
    at(when),
    { memberId, type: 'LATE_DELIVERY', severity, orderRef: `order-${reports}`, idempotencyKey: `k-${reports}`, ...extra },
    storefront,
  );
  const outcome = await processCompensation({ failureId: reported.failureId }, at(when));
  return { failureId: reported.failureId, outcome };
}

// The defaults of the program (../shared/DESIGN.md), written out independently of the code.
const BASE: Record<Severity, number> = { LOW: 5, MEDIUM: 10, HIGH: 25, CRITICAL: 50 };
type Tier = 'BRONZE' | 'SILVER' | 'GOLD' | 'PLATINUM';
const TIER_FACTOR: Record<Tier, number> = { BRONZE: 1, SILVER: 1.2, GOLD: 1.5, PLATINUM: 2 };
const REPEAT_FACTOR: Record<number, number> = { 1: 1, 2: 1.5, 3: 2, 4: 2 };
const CAP = 100;

const table = (['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const).flatMap((severity) =>
  (['BRONZE', 'SILVER', 'GOLD', 'PLATINUM'] as const).flatMap((tier) =>
    [1, 2, 3, 4].map((repeat) => {
      const value = Math.round(BASE[severity] * TIER_FACTOR[tier] * REPEAT_FACTOR[repeat]! * 100) / 100;
      return { severity, tier, repeat, value: value.toFixed(2), status: value > CAP ? 'NEEDS_REVIEW' : 'COMPENSATED' };
    }),
  ),
);

describe('the voucher value follows the policy for every severity × tier × repeat', () => {
  // Every row has its own member: one reset for the whole table.
  beforeAll(async () => resetDatabase(prisma));
  it.each(table)(
    '$severity, $tier, failure #$repeat in the window → $value ($status)',
    async ({ severity, tier, repeat, value, status }) => {
      const memberId = await memberIn(tier);
      // Earlier failures inside the 90-day repeat window but with vouchers outside the 30-day cap window.
      for (let earlier = repeat - 1; earlier >= 1; earlier--) {
        await failAndCompensate(memberId, 'LOW', addDays(T, -30 - 15 * earlier));
      }
      const { failureId, outcome } = await failAndCompensate(memberId, severity, T);

      const failure = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } });
      expect(failure.status).toBe(status);
      expect(failure.repeatIndex).toBe(repeat);
      expect(failure.compensationAmount?.toFixed(2)).toBe(value);
      expect(outcome.outcome).toBe(status);
      const vouchers = await prisma.voucher.findMany({ where: { causeType: 'FAILURE', causeRef: failureId } });
      if (status === 'COMPENSATED') {
        expect(vouchers).toHaveLength(1);
        expect(vouchers[0]).toMatchObject({ kind: 'COMPENSATION', valueType: 'FIXED', currency: 'EUR', memberId });
        expect(vouchers[0]!.amount?.toFixed(2)).toBe(value);
        expect(failure.voucherId).toBe(vouchers[0]!.id);
      } else {
        expect(vouchers).toHaveLength(0);
        expect(failure.voucherId).toBeNull();
      }
      const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
      expect(member.atRisk).toBe(repeat >= 2);
      expect(await prisma.outboxEvent.count({ where: { id: failureId, completedAt: { not: null } } })).toBe(1);
    },
  );
});

describe('repeat window', () => {
  beforeEach(async () => resetDatabase(prisma));

  it('a failure more than 90 days before does not escalate, nor flag the member', async () => {
    const memberId = await memberIn('BRONZE');
    await failAndCompensate(memberId, 'LOW', addDays(T, -91));
    const { outcome } = await failAndCompensate(memberId, 'MEDIUM', T);
    expect(outcome).toMatchObject({ outcome: 'COMPENSATED', amount: '10.00', repeatIndex: 1 });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).atRisk).toBe(false);
  });

  it('counts by when the failures occurred, not when they were reported', async () => {
    const memberId = await memberIn('BRONZE');
    // Reported at T (the second report), but it occurred 10 days before the first one.
    await failAndCompensate(memberId, 'LOW', addDays(T, -5));
    const { outcome } = await failAndCompensate(memberId, 'LOW', T, { occurredAt: addDays(T, -15) });
    expect(outcome).toMatchObject({ outcome: 'COMPENSATED', repeatIndex: 1, amount: '5.00' });
    // Two failures 10 days apart all the same: the member is at risk, whichever was reported first.
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).atRisk).toBe(true);
  });

  it('follows a changed policy at once', async () => {
    await updateProgram(
      { prisma, logger: testLogger },
      { patch: { compensation: { baseBySeverity: { HIGH: '40.00' }, secondFailureFactor: 3 } } },
      { actor: { type: 'STAFF', id: 'admin' }, role: 'ADMIN' },
    );
    const memberId = await memberIn('GOLD');
    await failAndCompensate(memberId, 'LOW', addDays(T, -40));
    const { outcome } = await failAndCompensate(memberId, 'HIGH', T);
    expect(outcome).toMatchObject({ outcome: 'NEEDS_REVIEW', amount: '180.00', repeatIndex: 2 });
  });
});

describe('the 30-day cap', () => {
  beforeEach(async () => resetDatabase(prisma));

  it('a grant that would take the member over 100 in 30 days waits for review, without a voucher', async () => {
    const memberId = await memberIn('BRONZE');
    await failAndCompensate(memberId, 'CRITICAL', addDays(T, -20)); // 50
    await failAndCompensate(memberId, 'HIGH', addDays(T, -10)); // 25 × 1.5 = 37.50 → 87.50 in the window
    const { failureId, outcome } = await failAndCompensate(memberId, 'LOW', T); // 5 × 2 = 10 → 97.50: still fine
    expect(outcome).toMatchObject({ outcome: 'COMPENSATED', amount: '10.00' });
    const over = await failAndCompensate(memberId, 'LOW', addDays(T, 1)); // 10 more → 107.50 > 100
    expect(over.outcome).toMatchObject({ outcome: 'NEEDS_REVIEW', amount: '10.00', repeatIndex: 4 });
    expect(await prisma.voucher.count({ where: { causeRef: over.failureId } })).toBe(0);
    expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(1);
    // 31 days after the first voucher, its 50 has left the window.
    const later = await failAndCompensate(memberId, 'LOW', addDays(T, 12));
    expect(later.outcome).toMatchObject({ outcome: 'COMPENSATED', amount: '10.00' });
  });

  it('holds under concurrency: the failures of one member are decided one after the other', async () => {
    const memberId = await memberIn('BRONZE');
    const failureIds: string[] = [];
    for (let i = 0; i < 8; i++) {
      const reported = await reportServiceFailure(
        at(addDays(T, -60 - i)),
        { memberId, type: 'BILLING_ERROR', severity: 'HIGH', orderRef: `o-${i}`, idempotencyKey: `c-${i}` },
        storefront,
      );
      failureIds.push(reported.failureId);
    }
    await Promise.all(failureIds.map((failureId) => processCompensation({ failureId }, at(T))));
    const issued = await prisma.voucher.findMany({ where: { memberId, kind: 'COMPENSATION' } });
    const total = issued.reduce((sum, voucher) => sum + Number(voucher.amount), 0);
    expect(total).toBeLessThanOrEqual(CAP);
    expect(issued.length).toBeGreaterThan(0);
    const held = await prisma.serviceFailure.count({ where: { memberId, status: 'NEEDS_REVIEW' } });
    expect(held + issued.length).toBe(8);
  });
});

describe('exactly one voucher per failure', () => {
  beforeEach(async () => resetDatabase(prisma));

  it('a repeated, duplicated or raced job is a no-op', async () => {
    const memberId = await memberIn('SILVER');
    const reported = await reportServiceFailure(
      at(T),
      { memberId, type: 'WRONG_ITEM', severity: 'MEDIUM', orderRef: 'o-1', idempotencyKey: 'k1' },
      storefront,
    );
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => processCompensation({ failureId: reported.failureId }, at(T))));
    expect(outcomes.filter((outcome) => outcome.outcome === 'COMPENSATED')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.outcome === 'ALREADY_DECIDED')).toHaveLength(4);
    expect(await processCompensation({ failureId: reported.failureId }, at(addDays(T, 1)))).toMatchObject({
      outcome: 'ALREADY_DECIDED',
      status: 'COMPENSATED',
    });
    expect(await prisma.voucher.count({ where: { causeRef: reported.failureId } })).toBe(1);
  });

  it('a duplicate report records nothing new and queues nothing', async () => {
    const memberId = await memberIn('BRONZE');
    const input = { memberId, type: 'LATE_DELIVERY' as const, severity: 'LOW' as const, orderRef: 'o-9' };
    const first = await reportServiceFailure(at(T), { ...input, idempotencyKey: 'a' }, storefront);
    const second = await reportServiceFailure(at(T), { ...input, severity: 'HIGH', idempotencyKey: 'b' }, storefront);
    expect(second).toMatchObject({ failureId: first.failureId, duplicate: true, replayed: false });
    expect(await prisma.serviceFailure.count()).toBe(1);
    expect(await prisma.outboxEvent.count()).toBe(1);
  });

  it('a job for a failure that does not exist fails permanently', async () => {
    await expect(processCompensation({ failureId: '00000000-0000-4000-8000-000000000000' }, at(T))).rejects.toBeInstanceOf(
      PermanentJobError,
    );
    await expect(processCompensation({} as never, at(T))).rejects.toBeInstanceOf(PermanentJobError);
  });

  it('a closed member gets no voucher: NOT_ELIGIBLE', async () => {
    const memberId = await memberIn('GOLD');
    await prisma.member.update({ where: { id: memberId }, data: { status: 'CLOSED' } });
    const { outcome, failureId } = await failAndCompensate(memberId, 'HIGH', T);
    expect(outcome.outcome).toBe('NOT_ELIGIBLE');
    expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(0);
  });
});

describe('review of a held failure', () => {
  beforeEach(async () => resetDatabase(prisma));

  async function heldFailure() {
    const memberId = await memberIn('PLATINUM');
    const { failureId } = await failAndCompensate(memberId, 'CRITICAL', T); // 50 × 2 = 100: at the cap, fine
    const held = await failAndCompensate(memberId, 'LOW', new Date(T.getTime() + 60_000)); // 5 × 2 × 1.5 = 15 → over
    expect(held.outcome.outcome).toBe('NEEDS_REVIEW');
    expect(failureId).not.toBe(held.failureId);
    return { memberId, failureId: held.failureId };
  }

  it('GRANT issues the computed voucher and records the decision; a second decision is refused', async () => {
    const { memberId, failureId } = await heldFailure();
    const input = { failureId, decision: 'GRANT' as const, note: 'long-standing customer', idempotencyKey: 'r1' };
    await reviewServiceFailure(at(T), input, supervisor);
    const failure = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } });
    expect(failure).toMatchObject({ status: 'COMPENSATED', decidedBy: 'sup-1', decisionNote: 'long-standing customer' });
    const voucher = await prisma.voucher.findUniqueOrThrow({ where: { id: failure.voucherId! } });
    expect(voucher).toMatchObject({ memberId, kind: 'COMPENSATION', causeType: 'FAILURE', causeRef: failureId });
    expect(voucher.amount?.toFixed(2)).toBe('15.00');
    // The same request replays; another decision is refused.
    expect(await reviewServiceFailure(at(T), input, supervisor)).toMatchObject({ failureId, replayed: true });
    await expect(reviewServiceFailure(at(T), { ...input, decision: 'DECLINE', idempotencyKey: 'r2' }, supervisor)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'failureId',
    });
    expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(1);
  });

  it('DECLINE makes it NOT_ELIGIBLE without a voucher', async () => {
    const { failureId } = await heldFailure();
    await reviewServiceFailure(at(T), { failureId, decision: 'DECLINE', note: 'already refunded', idempotencyKey: 'r1' }, supervisor);
    const failure = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } });
    expect(failure).toMatchObject({ status: 'NOT_ELIGIBLE', voucherId: null, decidedBy: 'sup-1' });
    expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(0);
  });

  it('the service itself refuses an agent and a storefront key: the failure stays held, no voucher', async () => {
    const { failureId } = await heldFailure();
    const agent = { actor: { type: 'STAFF' as const, id: 'agent-1' }, role: 'AGENT' as const };
    for (const caller of [agent, storefront]) {
      await expect(
        reviewServiceFailure(at(T), { failureId, decision: 'GRANT', note: 'let me through', idempotencyKey: 'r1' }, caller),
      ).rejects.toBeInstanceOf(ForbiddenError);
    }
    expect(await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } })).toMatchObject({
      status: 'NEEDS_REVIEW',
      decidedBy: null,
    });
    expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(0);
  });

  it('two supervisors deciding at once: one decision wins', async () => {
    const { failureId } = await heldFailure();
    const results = await Promise.allSettled([
      reviewServiceFailure(at(T), { failureId, decision: 'GRANT', note: 'yes please', idempotencyKey: 'a' }, supervisor),
      reviewServiceFailure(at(T), { failureId, decision: 'DECLINE', note: 'no thanks', idempotencyKey: 'b' }, supervisor),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const failure = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } });
    expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(failure.status === 'COMPENSATED' ? 1 : 0);
  });
});
