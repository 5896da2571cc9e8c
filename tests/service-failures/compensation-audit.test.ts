import { describe, expect, it } from 'vitest';
import { updateMember } from '../../src/domain/members/members.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { CompensationGroups } from '../../src/domain/service-failures/compensation-groups.js';
import { expandIncidentPage, reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { IdempotencyConflictError } from '../../src/domain/errors.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';

/**
 * An adversarial audit of "a bad experience is compensated fast, exactly once" across the paths that meet:
 * a failure reported alone and named by an incident, a compensation job delivered again after its hold was
 * released twice, the 30-day cap under the group path and an incident batch at once, one idempotency key
 * sent at once with different bodies. The processors are called as the worker calls them (no Redis).
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const supervisor = staffCaller('SUPERVISOR');
let keys = 0;
const key = (label = 'audit') => `${label}-${++keys}`;

async function compensationVouchers(memberId: string) {
  const vouchers = await prisma.voucher.findMany({ where: { memberId, kind: 'COMPENSATION' } });
  return { count: vouchers.length, total: vouchers.reduce((sum, voucher) => sum + Number(voucher.amount), 0) };
}

/** A member with an order `orderRef` (an incident entry may name the member by it). */
async function memberWithOrder(orderRef: string): Promise<string> {
  const memberId = await app.enroll();
  await earnPoints(app.deps, { memberId, orderRef, orderTotal: '50.00', idempotencyKey: key('earn') }, shop);
  return memberId;
}

describe('an incident entry that names an order already reported on its own', () => {
  it.each([
    ['by id first, then by the order', (memberId: string) => [{ memberId }, { orderRef: 'ORD-X' }]],
    ['by id first, then by id with the order', (memberId: string) => [{ memberId }, { memberId, orderRef: 'ORD-X' }]],
    ['by the order first, then by id', (memberId: string) => [{ orderRef: 'ORD-X' }, { memberId }]],
  ])('%s: a duplicate of the earlier failure, one voucher in all', async (_, entries) => {
    const memberId = await memberWithOrder('ORD-X');
    const alone = await reportServiceFailure(
      app.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'MEDIUM', orderRef: 'ORD-X', idempotencyKey: key() },
      shop,
    );
    expect(await processCompensation({ failureId: alone.failureId }, app.deps)).toMatchObject({ outcome: 'COMPENSATED' });

    const page = await reportServiceIncident(
      app.deps,
      { type: 'LATE_DELIVERY', severity: 'MEDIUM', affected: entries(memberId), idempotencyKey: key() },
      shop,
    );
    expect(page).toMatchObject({ named: 1, alreadyNamed: 1 });
    expect(await expandIncidentPage(app.deps, page.pageId)).toMatchObject({ recorded: 0, duplicates: 1, compensated: 0 });
    const affected = await prisma.serviceIncidentMember.findUniqueOrThrow({
      where: { incidentId_memberId: { incidentId: page.incidentId, memberId } },
    });
    expect(affected).toMatchObject({ orderRef: 'ORD-X', duplicate: true, failureId: alone.failureId });
    expect(await prisma.serviceFailure.count({ where: { memberId } })).toBe(1);
    expect((await compensationVouchers(memberId)).count).toBe(1);
  });

  it('an order named by a later entry is the failure’s: reported on its own afterwards, it is a duplicate', async () => {
    const memberId = await app.enroll();
    const page = await reportServiceIncident(
      app.deps,
      {
        type: 'LATE_DELIVERY',
        severity: 'MEDIUM',
        affected: [{ memberId }, { memberId, orderRef: 'ORD-Y' }],
        idempotencyKey: key(),
      },
      shop,
    );
    expect(await expandIncidentPage(app.deps, page.pageId)).toMatchObject({ recorded: 1, compensated: 1 });
    const later = await reportServiceFailure(
      app.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'MEDIUM', orderRef: 'ORD-Y', idempotencyKey: key() },
      shop,
    );
    expect(later).toMatchObject({ duplicate: true });
    expect(await prisma.serviceFailure.count({ where: { memberId } })).toBe(1);
    expect((await compensationVouchers(memberId)).count).toBe(1);
  });
});

describe('held, released, held and released again', () => {
  it('a stale delivery of the first release’s job, the second release’s job twice and the first job, at once: one voucher', async () => {
    const memberId = await app.enroll();
    await updateMember(app.deps, { id: memberId, status: 'SUSPENDED' }, supervisor);
    const reported = await reportServiceFailure(
      app.deps,
      { memberId, type: 'WRONG_ITEM', severity: 'LOW', orderRef: 'o-1', idempotencyKey: key() },
      shop,
    );
    expect(await processCompensation({ failureId: reported.failureId }, app.deps)).toMatchObject({ outcome: 'HELD' });
    const releasedJob = async () => (await prisma.outboxEvent.findFirstOrThrow({ where: { completedAt: null } })).payload as never;

    await updateMember(app.deps, { id: memberId, status: 'ACTIVE' }, supervisor);
    const first = await releasedJob();
    await updateMember(app.deps, { id: memberId, status: 'SUSPENDED' }, supervisor);
    expect(await processCompensation(first, app.deps)).toMatchObject({ outcome: 'HELD' });
    await updateMember(app.deps, { id: memberId, status: 'ACTIVE' }, supervisor);
    const second = await releasedJob();

    const groups = new CompensationGroups(8);
    const outcomes = await Promise.all([
      processCompensation(first, app.deps),
      processCompensation(second, app.deps),
      processCompensation({ failureId: reported.failureId }, { ...app.deps, compensationGroups: groups }),
      processCompensation(second, { ...app.deps, compensationGroups: groups }),
    ]);
    expect(outcomes.filter((outcome) => outcome.outcome === 'COMPENSATED')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.outcome === 'ALREADY_DECIDED')).toHaveLength(3);
    expect((await compensationVouchers(memberId)).count).toBe(1);
    expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
  });
});

describe('the 30-day cap', () => {
  it('holds when a group of the member’s jobs and an incident batch naming the member run at once', async () => {
    for (let round = 0; round < 5; round++) {
      const memberId = await app.enroll();
      const failures: string[] = [];
      for (let i = 0; i < 4; i++) {
        const reported = await reportServiceFailure(
          app.deps,
          { memberId, type: 'BILLING_ERROR', severity: 'HIGH', orderRef: `o-${round}-${i}`, idempotencyKey: key() },
          shop,
        );
        failures.push(reported.failureId);
      }
      const page = await reportServiceIncident(
        app.deps,
        { type: 'OUTAGE', severity: 'HIGH', affected: [{ memberId }], idempotencyKey: key() },
        shop,
      );
      const groups = new CompensationGroups(8);
      await Promise.all([
        ...failures.map((failureId) => processCompensation({ failureId }, { ...app.deps, compensationGroups: groups })),
        expandIncidentPage(app.deps, page.pageId),
      ]);
      // Five failures of 25.00 (bronze), escalated from the second on: the cap of 100 stops them.
      const issued = await compensationVouchers(memberId);
      expect(issued.total).toBeLessThanOrEqual(100);
      expect(issued.count).toBeGreaterThan(0);
      expect(await prisma.serviceFailure.count({ where: { memberId, status: { in: ['COMPENSATED', 'NEEDS_REVIEW'] } } })).toBe(5);
    }
  });
});

describe('one idempotency key', () => {
  it('sent at once with six different orders: one failure, one job; the others are conflicts', async () => {
    const memberId = await app.enroll();
    const sameKey = key();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        reportServiceFailure(
          app.deps,
          { memberId, type: 'WRONG_ITEM', severity: 'LOW', orderRef: `o-${i}`, idempotencyKey: sameKey },
          shop,
        ),
      ),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(IdempotencyConflictError);
    }
    expect(await prisma.serviceFailure.count({ where: { memberId } })).toBe(1);
    expect(await prisma.outboxEvent.count()).toBe(1);
  });
});
