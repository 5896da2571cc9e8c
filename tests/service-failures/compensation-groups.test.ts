import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApprovalQueueChange, BusinessMeasures, MemberChange, ServiceDeps } from '../../src/domain/deps.js';
import { PermanentJobError } from '../../src/domain/errors.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import {
  CompensationGroups,
  compensateServiceFailures,
  type CompensationRequest,
} from '../../src/domain/service-failures/compensation-groups.js';
import {
  compensateServiceFailure,
  reportServiceFailure,
  type CompensationOutcome,
} from '../../src/domain/service-failures/service-failures.service.js';
import { addDays } from '../../src/domain/time.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import type { MemberStatus, Severity } from '../../src/generated/prisma/client.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { apiKeyCaller, STOREFRONT_SCOPES, staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { resetDatabase } from '../support/db.js';
import { subscribedEndpoint } from '../support/webhook-endpoints.js';

/**
 * Compensation jobs decided in groups (compensation-groups.ts): a group gives
 * every job the outcome the jobs would get one after the other, two groups
 * racing over the same failures issue one voucher each, and a group that
 * fails leaves each of its jobs to run alone.
 */
const { prisma, app } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const T = new Date('2026-06-01T12:00:00.000Z');

/** Deps at `when` that record what is reported after commit. */
function recordingDeps(when: Date) {
  const reported = { memberChanges: [] as MemberChange[], approvals: [] as ApprovalQueueChange[], decided: [] as string[] };
  const measures: BusinessMeasures = {
    pointsMoved: () => undefined,
    vouchersMoved: () => undefined,
    compensationDecided: (outcome, count = 1) => reported.decided.push(...Array<string>(count).fill(outcome)),
    renewalBonusDecided: () => undefined,
    webhookDeliveryFailed: () => undefined,
  };
  const deps: ServiceDeps = {
    prisma,
    logger: testLogger,
    now: () => when,
    memberChanges: { changed: (changes) => reported.memberChanges.push(...changes) },
    approvalQueue: { changed: (changes) => reported.approvals.push(...changes) },
    measures,
  };
  return { deps, reported };
}

async function memberWith(tier: string, status: MemberStatus = 'ACTIVE'): Promise<string> {
  // Enrolled before the failures of the test's clock T (a reported occurredAt is held to the enrolment).
  const id = await app.enroll({ enrolledAt: addDays(T, -365) });
  await prisma.member.update({ where: { id }, data: { tier, status } });
  return id;
}

let reports = 0;
async function failure(memberId: string, severity: Severity, occurredAt: Date): Promise<string> {
  reports += 1;
  const reported = await reportServiceFailure(
    { prisma, logger: testLogger, now: () => T },
    { memberId, type: 'LATE_DELIVERY', severity, occurredAt, orderRef: `order-${reports}`, idempotencyKey: `k-${reports}` },
    storefront,
  );
  return reported.failureId;
}

/**
 * The same situation each time it is built: failures waiting for their jobs, in
 * the order the jobs come, with labels to compare two runs by.
 */
async function situation(): Promise<{ requests: CompensationRequest[]; labels: Map<string, string> }> {
  // Every compensation and voucher is announced: the events are compared too.
  await subscribedEndpoint(prisma, ['service_failure.compensated', 'voucher.issued']);
  const labels = new Map<string, string>();
  const named = (label: string, id: string) => (labels.set(id, label), id);

  // A: 50 compensated 20 days ago; then three failures in the group, taken 4th, 2nd, 3rd in the repeat window.
  const a = await memberWith('BRONZE');
  await compensateServiceFailure({ prisma, logger: testLogger, now: () => addDays(T, -20) }, await failure(a, 'CRITICAL', addDays(T, -20)));
  const a2 = named('a2', await failure(a, 'HIGH', addDays(T, -3))); // 25 × 1.5 = 37.50
  const a3 = named('a3', await failure(a, 'MEDIUM', addDays(T, -2))); // 10 × 2 = 20
  const a4 = named('a4', await failure(a, 'LOW', addDays(T, -1))); // 5 × 2 = 10
  const held = named('held', await failure(await memberWith('GOLD', 'SUSPENDED'), 'HIGH', T));
  const closed = named('closed', await failure(await memberWith('SILVER', 'CLOSED'), 'LOW', T));
  const decided = named('decided', await failure(await memberWith('BRONZE'), 'LOW', T));
  await compensateServiceFailure({ prisma, logger: testLogger, now: () => T }, decided);
  const missing = named('missing', randomUUID());
  const twice = named('twice', await failure(await memberWith('SILVER'), 'MEDIUM', T));

  // A suspended member's held failure, released by the reactivation: its job completes an event of its own.
  const r = await memberWith('BRONZE', 'SUSPENDED');
  const released = named('released', await failure(r, 'MEDIUM', addDays(T, -1)));
  await compensateServiceFailure({ prisma, logger: testLogger, now: () => T }, released);
  await updateMember({ prisma, logger: testLogger, now: () => T }, { id: r, status: 'ACTIVE' }, staffCaller('SUPERVISOR'));
  const [release] = await prisma.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM outbox_events WHERE payload->>'failureId' = ${released} AND completed_at IS NULL`;
  named('release event', release!.id);

  return {
    requests: [
      { failureId: a4 },
      { failureId: held },
      { failureId: a2 },
      { failureId: closed },
      { failureId: decided },
      { failureId: missing },
      { failureId: twice },
      { failureId: twice },
      { failureId: released, eventId: release!.id },
      { failureId: a3 },
    ],
    labels,
  };
}

/** Everything the compensation wrote and reported, with ids as labels (voucher ids and codes differ from run to run). */
async function effects(
  labels: Map<string, string>,
  outcomes: CompensationOutcome[],
  reported: ReturnType<typeof recordingDeps>['reported'],
) {
  const label = (id: string) => labels.get(id) ?? (/^[0-9a-f-]{36}$/.test(id) ? 'other' : id);
  const text = (value: unknown) =>
    JSON.stringify(value)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => label(id))
      .replace(/"code":"[^"]+"/g, '"code":"…"');
  const failures = await prisma.$queryRaw<unknown[]>`
    SELECT f.id::text, f.status::text, f.repeat_index, f.compensation_amount::text, f.decision_note, f.review_reason::text,
           f.decided_at, v.amount::text AS voucher_amount, v.member_id = f.member_id AS voucher_of_member
    FROM service_failures f LEFT JOIN vouchers v ON v.id = f.voucher_id ORDER BY f.occurred_at, f.severity`;
  const vouchers = await prisma.$queryRaw<unknown[]>`
    SELECT cause_ref, amount::text, kind::text, issued_at, expires_at FROM vouchers ORDER BY amount, cause_ref`;
  const members = await prisma.$queryRaw<unknown[]>`SELECT tier, status::text, at_risk, at_risk_since FROM members`;
  const outbox = await prisma.$queryRaw<unknown[]>`
    SELECT id::text, completed_at FROM outbox_events WHERE queue = 'compensation' ORDER BY id`;
  const events = await prisma.$queryRaw<{ type: string; payload: unknown }[]>`SELECT type, payload FROM webhook_events`;
  return {
    outcomes: outcomes.map((outcome) => text(outcome).replace(/"voucherId":"[^"]+"/, '"voucherId":"…"')),
    failures: failures.map(text).sort(),
    vouchers: vouchers.map(text).sort(),
    members: members.map(text).sort(),
    outbox: outbox.map(text).sort(),
    events: events.map(text).sort(),
    memberChanges: reported.memberChanges.map(text).sort(),
    approvals: reported.approvals.map(text).sort(),
    decided: [...reported.decided].sort(),
  };
}

describe('a group decides as its jobs one after the other would', () => {
  it('mixed outcomes, one member three times over its cap, a missing, a decided and a doubled failure, a released hold', async () => {
    const one = await situation();
    const alone = recordingDeps(T);
    const outcomesAlone: CompensationOutcome[] = [];
    for (const { failureId, eventId } of one.requests) outcomesAlone.push(await compensateServiceFailure(alone.deps, failureId, eventId));
    const expected = await effects(one.labels, outcomesAlone, alone.reported);

    await resetDatabase(prisma);
    const other = await situation();
    const grouped = recordingDeps(T);
    const outcomesGrouped = await compensateServiceFailures(grouped.deps, other.requests);
    expect(await effects(other.labels, outcomesGrouped, grouped.reported)).toEqual(expected);

    // What the sequence decided, written out: the cap is reached inside the group by a4 and a2.
    expect(outcomesGrouped.map((outcome) => [other.labels.get(outcome.failureId), outcome.outcome])).toEqual([
      ['a4', 'COMPENSATED'],
      ['held', 'HELD'],
      ['a2', 'COMPENSATED'],
      ['closed', 'NOT_ELIGIBLE'],
      ['decided', 'ALREADY_DECIDED'],
      ['missing', 'MISSING'],
      ['twice', 'COMPENSATED'],
      ['twice', 'ALREADY_DECIDED'],
      ['released', 'COMPENSATED'],
      ['a3', 'NEEDS_REVIEW'],
    ]);
    expect(outcomesGrouped.slice(0, 3)).toMatchObject([
      { amount: '10.00', repeatIndex: 4 },
      { amount: '37.50' },
      { amount: '37.50', repeatIndex: 2 },
    ]);
    expect(outcomesGrouped[9]).toMatchObject({ amount: '20.00', repeatIndex: 3 });
    expect(await prisma.outboxEvent.count({ where: { queue: 'compensation', completedAt: null } })).toBe(0);
  });
});

describe('groups racing', () => {
  it('two groups and single jobs over the same failures: each failure decided once, one voucher each', async () => {
    const members = [await memberWith('BRONZE'), await memberWith('GOLD'), await memberWith('PLATINUM')];
    const failureIds: string[] = [];
    for (const [index, memberId] of members.entries()) {
      for (let n = 0; n < 3; n++) failureIds.push(await failure(memberId, n === 0 ? 'CRITICAL' : 'HIGH', addDays(T, -index - n)));
    }
    const deps = { prisma, logger: testLogger, now: () => T };
    const runs = await Promise.all([
      compensateServiceFailures(
        deps,
        failureIds.map((failureId) => ({ failureId })),
      ),
      compensateServiceFailures(
        deps,
        [...failureIds].reverse().map((failureId) => ({ failureId })),
      ),
      compensateServiceFailures(
        deps,
        failureIds.filter((_, i) => i % 2 === 0).map((failureId) => ({ failureId })),
      ),
      ...failureIds.map((failureId) => compensateServiceFailure(deps, failureId)),
    ]);
    const outcomes = runs.flat();
    for (const failureId of failureIds) {
      const decisions = outcomes.filter((outcome) => outcome.failureId === failureId && outcome.outcome !== 'ALREADY_DECIDED');
      expect(decisions, failureId).toHaveLength(1);
      const stored = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failureId } });
      expect(stored.status).toBe(decisions[0]!.outcome);
      expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(stored.status === 'COMPENSATED' ? 1 : 0);
    }
    // The cap held across the paths: no member over 100 in 30 days.
    for (const memberId of members) {
      const issued = await prisma.voucher.aggregate({ where: { memberId }, _sum: { amount: true } });
      expect(Number(issued._sum.amount)).toBeLessThanOrEqual(100);
    }
    expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
  });
});

describe('the worker collector', () => {
  /** Each job as the worker wiring runs it, with the process's collector. */
  const job = (groups: CompensationGroups, failureId: string, deps: ServiceDeps = { prisma, logger: testLogger, now: () => T }) =>
    processCompensation({ failureId }, { ...deps, compensationGroups: groups });

  it('gives each job of a group its own outcome, and fails only the job of a missing failure', async () => {
    const groups = new CompensationGroups(8);
    const failureIds = [
      await failure(await memberWith('BRONZE'), 'LOW', T),
      await failure(await memberWith('SILVER'), 'MEDIUM', T),
      await failure(await memberWith('GOLD'), 'HIGH', T),
    ];
    const settled = await Promise.allSettled([...failureIds, randomUUID()].map((failureId) => job(groups, failureId)));
    expect(settled.slice(0, 3).map((result) => result.status === 'fulfilled' && [result.value.failureId, result.value.outcome])).toEqual(
      failureIds.map((failureId) => [failureId, 'COMPENSATED']),
    );
    expect(
      settled.slice(0, 3).map((result) => result.status === 'fulfilled' && result.value.outcome === 'COMPENSATED' && result.value.amount),
    ).toEqual(['5.00', '12.00', '37.50']);
    expect(settled[3]).toMatchObject({ status: 'rejected', reason: expect.any(PermanentJobError) });
  });

  it('a group that fails leaves each job to run alone: the poisoned one does not fail the others', async () => {
    const warnings: unknown[] = [];
    const logger = Object.assign(Object.create(testLogger) as typeof testLogger, { warn: (...args: unknown[]) => warnings.push(args) });
    const failureIds = [
      await failure(await memberWith('BRONZE'), 'LOW', T),
      await failure(await memberWith('BRONZE'), 'MEDIUM', T),
      await failure(await memberWith('BRONZE'), 'HIGH', T),
    ];
    // A voucher for the second failure exists already (it cannot, but say it did): the group refuses
    // to grant it a second one and rolls back; alone, the failure gets the voucher it has.
    const poisoned = failureIds[1]!;
    const stored = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: poisoned } });
    const { voucher } = await prisma.$transaction((tx) =>
      issueVoucher(tx, {
        memberId: stored.memberId,
        kind: 'COMPENSATION',
        value: { type: 'FIXED', amount: '10.00' },
        causeType: 'FAILURE',
        causeRef: poisoned,
        now: T,
      }),
    );

    const groups = new CompensationGroups(8);
    const outcomes = await Promise.all(failureIds.map((failureId) => job(groups, failureId, { prisma, logger, now: () => T })));
    expect(warnings).toHaveLength(1);
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['COMPENSATED', 'COMPENSATED', 'COMPENSATED']);
    expect(outcomes[1]).toMatchObject({ voucherId: voucher.id });
    for (const failureId of failureIds) expect(await prisma.voucher.count({ where: { causeRef: failureId } })).toBe(1);
    expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
  });
});
