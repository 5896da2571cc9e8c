import { describe, expect, it } from 'vitest';
import { sqlTransaction } from '../../src/db/sql.js';
import type { ServiceChannel } from '../../src/generated/prisma/client.js';
import { fileOverdueSlaBreaches, fileSlaBreaches } from '../../src/domain/feedback/sla.service.js';
import { recordServiceCase, resolveServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { DEFAULT_SLA_SETTINGS } from '../../src/domain/program/program-settings.js';
import { processMaintenance } from '../../workers/maintenance.processor.js';
import { outboxProcessors } from '../../workers/registry.js';
import { staffCaller } from '../support/callers.js';
import { untilWaitingForLocks } from '../support/until.js';
import { testLogger, useTestApp } from '../support/app.js';

// A pool above the 11 transactions the concurrency tests run at once.
const { prisma, app } = useTestApp(14);

const MINUTE = 60_000;
const T0 = new Date('2026-06-01T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
/** Services on a clock the test sets: the sweep, recording and resolving all read time from here. */
const clockAt = (now: Date) => ({ prisma, logger: testLogger, now: () => now });
/** A member enrolled before T0: a case is never opened before its member enrolled. */
const enroll = () => app.enroll({ enrolledAt: new Date('2026-05-01T00:00:00.000Z') });

const agent = staffCaller('AGENT', 'agent-sla');
const admin = staffCaller('ADMIN', 'admin-sla');

async function openCase(memberId: string, channel: ServiceChannel, extra: { firstResponseAt?: Date; openedAt?: Date } = {}, now = T0) {
  return recordServiceCase(clockAt(now), { memberId, channel, category: 'delivery', ...extra }, agent);
}

/** What the system filed, per case: `CHANNEL:TYPE` sorted. */
async function filed() {
  const rows = await prisma.$queryRaw<{ channel: string; type: string }[]>`
    SELECT c.channel::text, f.type::text FROM service_failures f JOIN service_cases c ON c.id::text = f.case_ref
    ORDER BY 1, 2`;
  return rows.map((row) => `${row.channel}:${row.type}`);
}

const failuresOf = (caseId: string) => prisma.serviceFailure.findMany({ where: { caseRef: caseId }, orderBy: { type: 'asc' } });

describe('first-response and resolution targets', () => {
  it('a case past its first-response target files exactly one LONG_WAIT, however often the check runs', async () => {
    const memberId = await enroll();
    const serviceCase = await openCase(memberId, 'PHONE');
    expect(serviceCase.firstResponseDueAt).toEqual(at(5 * MINUTE));
    expect(serviceCase.resolutionDueAt).toEqual(at(24 * 60 * MINUTE));

    // Exactly at the target is still within it.
    expect(await fileOverdueSlaBreaches(clockAt(at(5 * MINUTE)))).toEqual({ casesChecked: 0, failuresFiled: 0 });
    expect(await failuresOf(serviceCase.id)).toEqual([]);

    expect((await fileOverdueSlaBreaches(clockAt(at(5 * MINUTE + 1000)))).failuresFiled).toBe(1);
    expect((await fileOverdueSlaBreaches(clockAt(at(6 * MINUTE)))).failuresFiled).toBe(0);
    expect((await fileOverdueSlaBreaches(clockAt(at(60 * MINUTE)))).failuresFiled).toBe(0);

    const [failure, ...more] = await failuresOf(serviceCase.id);
    expect(more).toEqual([]);
    expect(failure).toMatchObject({
      memberId,
      type: 'LONG_WAIT',
      severity: 'LOW',
      status: 'RECORDED',
      occurredAt: at(5 * MINUTE),
      orderRef: null,
      reporterType: 'SYSTEM',
    });
    expect(failure!.description).toContain('first-response target missed');
    // Its compensation job waits in the outbox, as for a reported failure.
    expect(await prisma.outboxEvent.findUnique({ where: { id: failure!.id } })).toMatchObject({
      queue: 'compensation',
      jobName: 'compensate',
      payload: { failureId: failure!.id },
      completedAt: null,
    });
    expect(await prisma.slaBreach.findMany()).toEqual([
      expect.objectContaining({ caseId: serviceCase.id, target: 'FIRST_RESPONSE', failureId: failure!.id, dueAt: at(5 * MINUTE) }),
    ]);
    // The sweep looks at the case again only when the resolution is due.
    expect((await prisma.serviceCase.findUniqueOrThrow({ where: { id: serviceCase.id } })).slaCheckAt).toEqual(at(24 * 60 * MINUTE));
  });

  it('a case past its resolution target files exactly one UNRESOLVED_CONTACT', async () => {
    const memberId = await enroll();
    const serviceCase = await openCase(memberId, 'PHONE', { openedAt: T0, firstResponseAt: at(MINUTE) }, at(MINUTE));
    const day = 24 * 60 * MINUTE;

    expect((await fileOverdueSlaBreaches(clockAt(at(day - MINUTE)))).failuresFiled).toBe(0);
    expect((await fileOverdueSlaBreaches(clockAt(at(day + 1000)))).failuresFiled).toBe(1);
    expect((await fileOverdueSlaBreaches(clockAt(at(2 * day)))).failuresFiled).toBe(0);

    const failures = await failuresOf(serviceCase.id);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ type: 'UNRESOLVED_CONTACT', severity: 'MEDIUM', occurredAt: at(day), reporterType: 'SYSTEM' });
    // Nothing is pending any more: the sweep never looks at it again, however long it stays open.
    expect((await prisma.serviceCase.findUniqueOrThrow({ where: { id: serviceCase.id } })).slaCheckAt).toBeNull();
  });

  it('resolving late files the breach in the same transaction, and a later sweep adds nothing', async () => {
    const memberId = await enroll();
    const answered = await openCase(memberId, 'CHAT', { openedAt: T0, firstResponseAt: at(MINUTE) }, at(MINUTE));
    const silent = await openCase(memberId, 'CHAT');
    const late = at(25 * 60 * MINUTE);

    // No sweep ran in between: the resolutions themselves file what they missed.
    await resolveServiceCase(clockAt(late), { caseId: answered.id }, agent);
    expect((await failuresOf(answered.id)).map((f) => f.type)).toEqual(['UNRESOLVED_CONTACT']);
    // Never answered before the late resolution: both targets were missed.
    const resolved = await resolveServiceCase(clockAt(late), { caseId: silent.id }, agent);
    expect(resolved.slaCheckAt).toBeNull();
    expect((await failuresOf(silent.id)).map((f) => f.type)).toEqual(['UNRESOLVED_CONTACT', 'LONG_WAIT']);

    expect((await fileOverdueSlaBreaches(clockAt(at(30 * 24 * 60 * MINUTE)))).failuresFiled).toBe(0);
    expect(await prisma.serviceFailure.count()).toBe(3);
    expect(await prisma.outboxEvent.count({ where: { queue: 'compensation' } })).toBe(3);
  });

  it('a first response recorded late files LONG_WAIT when the case is recorded', async () => {
    const memberId = await enroll();
    const serviceCase = await openCase(memberId, 'PHONE', { openedAt: T0, firstResponseAt: at(10 * MINUTE) }, at(10 * MINUTE));
    expect((await failuresOf(serviceCase.id)).map((f) => [f.type, f.occurredAt])).toEqual([['LONG_WAIT', at(5 * MINUTE)]]);
    expect((await fileOverdueSlaBreaches(clockAt(at(11 * MINUTE)))).failuresFiled).toBe(0);
    expect(await prisma.serviceFailure.count()).toBe(1);
  });

  it('a case answered and resolved within its targets files nothing, ever', async () => {
    const memberId = await enroll();
    const onTime = await openCase(memberId, 'PHONE', { openedAt: T0, firstResponseAt: at(4 * MINUTE) }, at(4 * MINUTE));
    // Resolved on the spot, without a separate first response: the resolution is the response.
    const onTheSpot = await openCase(memberId, 'STORE');
    await resolveServiceCase(clockAt(at(23 * 60 * MINUTE)), { caseId: onTime.id }, agent);
    await resolveServiceCase(clockAt(at(10 * MINUTE)), { caseId: onTheSpot.id }, agent);
    // Reported later, but resolved in time (resolvedAt given): judged by when it happened.
    const reportedLate = await openCase(memberId, 'EMAIL', { openedAt: T0, firstResponseAt: at(60 * MINUTE) }, at(60 * MINUTE));
    await resolveServiceCase(clockAt(at(4 * 24 * 60 * MINUTE)), { caseId: reportedLate.id, resolvedAt: at(2 * 24 * 60 * MINUTE) }, agent);

    for (const days of [1, 10, 100]) {
      expect((await fileOverdueSlaBreaches(clockAt(at(days * 24 * 60 * MINUTE)))).failuresFiled).toBe(0);
    }
    expect(await prisma.serviceFailure.count()).toBe(0);
    expect(await prisma.slaBreach.count()).toBe(0);
    expect(await prisma.serviceCase.count({ where: { slaCheckAt: { not: null } } })).toBe(0);
  });

  it('each channel is held to its own targets', async () => {
    const memberId = await enroll();
    const channels: ServiceChannel[] = ['PHONE', 'EMAIL', 'CHAT', 'SOCIAL', 'SELF_SERVICE', 'STORE'];
    for (const channel of channels) await openCase(memberId, channel);
    const sweepAt = async (minutes: number) => fileOverdueSlaBreaches(clockAt(at(minutes * MINUTE + 1000)));

    await sweepAt(2);
    expect(await filed()).toEqual(['CHAT:LONG_WAIT']);
    await sweepAt(5);
    expect(await filed()).toEqual(['CHAT:LONG_WAIT', 'PHONE:LONG_WAIT']);
    await sweepAt(15);
    expect(await filed()).toEqual(['CHAT:LONG_WAIT', 'PHONE:LONG_WAIT', 'STORE:LONG_WAIT']);
    await sweepAt(4 * 60);
    expect(await filed()).toHaveLength(4);
    expect(await filed()).toContain('SOCIAL:LONG_WAIT');
    // One day: EMAIL's first response, and the resolutions of PHONE, CHAT and STORE.
    await sweepAt(24 * 60);
    expect(await filed()).toEqual([
      'CHAT:LONG_WAIT',
      'CHAT:UNRESOLVED_CONTACT',
      'EMAIL:LONG_WAIT',
      'PHONE:LONG_WAIT',
      'PHONE:UNRESOLVED_CONTACT',
      'SOCIAL:LONG_WAIT',
      'STORE:LONG_WAIT',
      'STORE:UNRESOLVED_CONTACT',
    ]);
    await sweepAt(48 * 60);
    expect(await filed()).toContain('SELF_SERVICE:LONG_WAIT');
    expect(await filed()).toHaveLength(9);
    await sweepAt(3 * 24 * 60);
    expect(await filed()).toHaveLength(11); // EMAIL and SOCIAL resolutions
    await sweepAt(5 * 24 * 60);
    expect(await filed()).toHaveLength(12); // SELF_SERVICE's: every target of every channel, once
    expect(new Set(await filed()).size).toBe(12);
  });

  it('targets are program settings: validated, and a case keeps the targets in force when it was recorded', async () => {
    const memberId = await enroll();
    const before = await openCase(memberId, 'PHONE');
    await updateProgram(
      app.deps,
      { patch: { sla: { targets: { PHONE: { firstResponseMinutes: 30 } }, firstResponseBreachSeverity: 'HIGH' } } },
      admin,
    );
    const after = await openCase(memberId, 'PHONE');
    expect(after.firstResponseDueAt).toEqual(at(30 * MINUTE));
    expect(before.firstResponseDueAt).toEqual(at(5 * MINUTE));

    await fileOverdueSlaBreaches(clockAt(at(10 * MINUTE)));
    expect((await failuresOf(before.id)).map((f) => [f.type, f.severity])).toEqual([['LONG_WAIT', 'HIGH']]);
    expect(await failuresOf(after.id)).toEqual([]);

    for (const [patch, path] of [
      [{ PHONE: { firstResponseMinutes: 0 } }, 'sla.targets.PHONE.firstResponseMinutes'],
      [{ CHAT: { resolutionMinutes: 181 * 24 * 60 } }, 'sla.targets.CHAT.resolutionMinutes'],
      [{ EMAIL: { firstResponseMinutes: 60, resolutionMinutes: 59 } }, 'sla.targets.EMAIL.resolutionMinutes'],
      [{ STORE: { firstResponseMinutes: 1.5 } }, 'sla.targets.STORE.firstResponseMinutes'],
    ] as const) {
      await expect(updateProgram(app.deps, { patch: { sla: { targets: patch } } }, admin)).rejects.toMatchObject({ field: path });
    }
  });
});

describe('once, also when the check runs concurrently', () => {
  async function overdueCases(count: number) {
    const memberId = await enroll();
    const cases = [];
    for (let i = 0; i < count; i++) cases.push(await openCase(memberId, i % 2 === 0 ? 'PHONE' : 'CHAT'));
    return cases;
  }
  const twoDaysLater = at(2 * 24 * 60 * MINUTE);

  async function expectOneFailurePerTarget(caseIds: string[]) {
    const rows = await prisma.$queryRaw<{ case_ref: string; type: string; n: number }[]>`
      SELECT case_ref, type::text, count(*)::int AS n FROM service_failures GROUP BY 1, 2`;
    expect(rows).toHaveLength(caseIds.length * 2);
    expect(rows.every((row) => row.n === 1)).toBe(true);
    expect(new Set(rows.map((row) => row.case_ref))).toEqual(new Set(caseIds));
    expect(await prisma.outboxEvent.count({ where: { queue: 'compensation' } })).toBe(caseIds.length * 2);
    expect(await prisma.slaBreach.count()).toBe(caseIds.length * 2);
  }

  it('the sweep twice, then 10× concurrently together with late resolutions: one failure per case and target', async () => {
    const first = await overdueCases(6);
    await fileOverdueSlaBreaches(clockAt(at(10 * MINUTE)));
    await fileOverdueSlaBreaches(clockAt(at(10 * MINUTE)));
    expect(await prisma.serviceFailure.count()).toBe(6);

    const cases = [...first, ...(await overdueCases(24))];
    const resolving = cases.filter((_, i) => i % 3 === 0);
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => fileOverdueSlaBreaches(clockAt(twoDaysLater), 5)),
      ...resolving.map((c) => resolveServiceCase(clockAt(twoDaysLater), { caseId: c.id }, agent)),
    ]);
    const swept = results.slice(0, 10) as Awaited<ReturnType<typeof fileOverdueSlaBreaches>>[];
    // Every breach was filed by exactly one of them: a sweep or a resolution.
    const bySweeps = swept.reduce((sum, report) => sum + report.failuresFiled, 0);
    const byResolutions = (await prisma.serviceFailure.count()) - 6 - bySweeps;
    expect(byResolutions).toBeGreaterThanOrEqual(0);
    await expectOneFailurePerTarget(cases.map((c) => c.id));
    expect((await fileOverdueSlaBreaches(clockAt(twoDaysLater))).failuresFiled).toBe(0);
  });

  it('checks whose callers lock nothing first still file each failure once (10 at once)', async () => {
    const ids = (await overdueCases(8)).map((c) => c.id);
    // The judging step on its own, as ten transactions that lock no case first: it takes the cases' locks itself,
    // so they take turns (the test below shows the deadlock that stopped), and the primary key of sla_breaches
    // stands behind that.
    const check = async () => (await sqlTransaction(prisma, (tx) => fileSlaBreaches(tx, ids, twoDaysLater, DEFAULT_SLA_SETTINGS))).length;
    const filedPerCheck = await Promise.all(Array.from({ length: 10 }, check));
    expect(filedPerCheck.reduce((a, b) => a + b, 0)).toBe(16);
    await expectOneFailurePerTarget(ids);
  });

  it('a check by a caller that holds no case lock waits for one that does, instead of deadlocking with it', async () => {
    // The deadlock CI saw, in two parties: a caller holding the case's lock (as the case mutations and the sweep
    // do) files its breach while a caller without locks files the same case's. Before fileSlaBreaches took the
    // cases' locks itself, the second took the breach keys and then waited for the case row, while the first
    // waited for those keys: PostgreSQL aborted one. Now the second waits for the case first and finds the keys taken.
    const [held] = await overdueCases(1);
    let lockFree: Promise<number> | undefined;
    const filedWithLock = await sqlTransaction(prisma, async (tx) => {
      await tx.$queryRaw`SELECT id FROM service_cases WHERE id = ${held!.id}::uuid FOR NO KEY UPDATE`;
      lockFree = sqlTransaction(prisma, (other) => fileSlaBreaches(other, [held!.id], twoDaysLater, DEFAULT_SLA_SETTINGS)).then(
        (events) => events.length,
      );
      await untilWaitingForLocks(prisma);
      return (await fileSlaBreaches(tx, [held!.id], twoDaysLater, DEFAULT_SLA_SETTINGS)).length;
    });
    expect([filedWithLock, await lockFree!]).toEqual([2, 0]);
    await expectOneFailurePerTarget([held!.id]);
  });

  it('the database refuses a second breach of the same case and target', async () => {
    const [serviceCase] = await overdueCases(1);
    await fileOverdueSlaBreaches(clockAt(twoDaysLater));
    const breach = await prisma.slaBreach.findFirstOrThrow({ where: { caseId: serviceCase!.id, target: 'RESOLUTION' } });
    const other = await prisma.serviceFailure.findFirstOrThrow({ where: { caseRef: serviceCase!.id, type: 'LONG_WAIT' } });
    await expect(
      prisma.$executeRaw`INSERT INTO sla_breaches (case_id, target, due_at, failure_id)
        VALUES (${breach.caseId}::uuid, 'RESOLUTION', ${breach.dueAt}, ${other.id}::uuid)`,
    ).rejects.toThrow(/sla_breaches_pkey|unique/i);
  });
});

describe('the compensation path', () => {
  it('the maintenance job files the breach and the compensation job turns it into one voucher, once', async () => {
    const memberId = await enroll();
    const serviceCase = await openCase(memberId, 'PHONE');
    const deps = clockAt(at(6 * MINUTE));
    const report = await processMaintenance(deps);
    expect(report.slaBreaches).toEqual({ casesChecked: 1, failuresFiled: 1 });

    // The job as the relay hands it over: the outbox event's payload to the compensation processor.
    const [failure] = await failuresOf(serviceCase.id);
    const event = await prisma.outboxEvent.findUniqueOrThrow({ where: { id: failure!.id } });
    const outcome = await outboxProcessors.compensation(event.payload as Record<string, unknown>, deps);
    expect(outcome).toMatchObject({ outcome: 'COMPENSATED', failureId: failure!.id, amount: '5.00' });
    // A duplicated job changes nothing.
    expect(await outboxProcessors.compensation(event.payload as Record<string, unknown>, deps)).toMatchObject({
      outcome: 'ALREADY_DECIDED',
    });

    const vouchers = await prisma.voucher.findMany({ where: { memberId } });
    expect(vouchers).toHaveLength(1);
    expect(vouchers[0]).toMatchObject({ kind: 'COMPENSATION', causeType: 'FAILURE', causeRef: failure!.id });
    expect(vouchers[0]!.amount?.toFixed(2)).toBe('5.00');
    expect(await prisma.serviceFailure.findUniqueOrThrow({ where: { id: failure!.id } })).toMatchObject({
      status: 'COMPENSATED',
      voucherId: vouchers[0]!.id,
    });
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: failure!.id } })).completedAt).not.toBeNull();
  });
});

describe('over GraphQL', () => {
  const PROGRAM = `{ program { sla { firstResponseBreachSeverity resolutionBreachSeverity
    targets { channel firstResponseMinutes resolutionMinutes } } } }`;
  const UPDATE = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) { __typename
    ... on UpdateProgramPayload { program { sla { targets { channel firstResponseMinutes resolutionMinutes } } } }
    ... on ValidationError { field message } } }`;

  it('program shows the targets per channel; updateProgram changes them and names an invalid one', async () => {
    const token = await app.staffToken('ADMIN');
    const shown = await app.gql(PROGRAM, {}, token);
    expect(shown.data!.program.sla).toEqual({
      firstResponseBreachSeverity: 'LOW',
      resolutionBreachSeverity: 'MEDIUM',
      targets: [
        { channel: 'PHONE', firstResponseMinutes: 5, resolutionMinutes: 1440 },
        { channel: 'EMAIL', firstResponseMinutes: 1440, resolutionMinutes: 4320 },
        { channel: 'CHAT', firstResponseMinutes: 2, resolutionMinutes: 1440 },
        { channel: 'SOCIAL', firstResponseMinutes: 240, resolutionMinutes: 4320 },
        { channel: 'SELF_SERVICE', firstResponseMinutes: 2880, resolutionMinutes: 7200 },
        { channel: 'STORE', firstResponseMinutes: 15, resolutionMinutes: 1440 },
      ],
    });

    const changed = await app.gql(UPDATE, { i: { sla: { targets: [{ channel: 'CHAT', firstResponseMinutes: 3 }] } } }, token);
    expect(changed.data!.updateProgram.program.sla.targets).toContainEqual({
      channel: 'CHAT',
      firstResponseMinutes: 3,
      resolutionMinutes: 1440,
    });

    const twice = await app.gql(
      UPDATE,
      {
        i: {
          sla: {
            targets: [
              { channel: 'CHAT', firstResponseMinutes: 4 },
              { channel: 'CHAT', resolutionMinutes: 60 },
            ],
          },
        },
      },
      token,
    );
    expect(twice.data!.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'sla.targets.1.channel' });
    const inverted = await app.gql(UPDATE, { i: { sla: { targets: [{ channel: 'PHONE', resolutionMinutes: 1 }] } } }, token);
    expect(inverted.data!.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'sla.targets.PHONE.resolutionMinutes' });
    const unchanged = await app.gql(PROGRAM, {}, token);
    expect(unchanged.data!.program.sla.targets[0]).toEqual({ channel: 'PHONE', firstResponseMinutes: 5, resolutionMinutes: 1440 });
  });

  it('a case shows its due times', async () => {
    const memberId = await enroll();
    const token = await app.staffToken('AGENT');
    const result = await app.gql(
      `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) {
        ... on RecordServiceCasePayload { serviceCase { openedAt firstResponseDueAt resolutionDueAt } } } }`,
      { i: { memberId, channel: 'SOCIAL', category: 'tweet', openedAt: T0.toISOString() } },
      token,
    );
    expect(result.data!.recordServiceCase.serviceCase).toEqual({
      openedAt: T0.toISOString(),
      firstResponseDueAt: at(4 * 60 * MINUTE).toISOString(),
      resolutionDueAt: at(3 * 24 * 60 * MINUTE).toISOString(),
    });
  });
});
