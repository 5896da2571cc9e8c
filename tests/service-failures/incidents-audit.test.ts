import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ForbiddenError, NotFoundError, ValidationError } from '../../src/domain/errors.js';
import { fileOverdueSlaBreaches } from '../../src/domain/feedback/sla.service.js';
import { recordServiceCase, resolveServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import {
  expandIncidentPage,
  type AffectedMemberInput,
  reportServiceIncident,
  serviceIncidentProgress,
} from '../../src/domain/service-failures/incidents.service.js';
import { apiKeyCaller, memberCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { whileHolding } from '../support/holding.js';
import { enrolMembers, incidentPages } from '../support/incidents.js';

/**
 * An adversarial audit of service incidents: the budget under a raced duplicate report, hostile and repeated
 * member lists, budgets met exactly, members who are closed or suspended, every caller. The incidents processor
 * is called as the worker calls it (no Redis).
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const agent = staffCaller('AGENT');

const { key, firstPage } = incidentPages('incident-audit');
const members = (count: number) => enrolMembers(() => app.enroll(), count);

const progress = (incidentId: string) => serviceIncidentProgress(app.deps, incidentId, agent);
const incidentRow = (incidentId: string) => prisma.serviceIncident.findUniqueOrThrow({ where: { id: incidentId } });

/** Another transaction records the member's failure of this type and order (as reportServiceFailure does), uncommitted. */
const reportedMeanwhile =
  (memberId: string, orderRef: string) => (other: { query: (sql: string, values: unknown[]) => Promise<unknown> }) =>
    other.query(
      `INSERT INTO service_failures (member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id)
     VALUES ($1, 'LATE_DELIVERY', 'LOW', now(), $2, 'API_KEY', 'other')`,
      [memberId, orderRef],
    );

describe('the incident budget when a report of the same member and order races the batch', () => {
  it('a failure the batch could not record spends none of the budget: the next member is compensated, nothing waits', async () => {
    // MEDIUM, BRONZE: 10.00 each. A budget of 10.00 pays one of the two members; the first one's failure was
    // reported on its own (same type and order) while the batch ran, so the second one is the incident's only failure.
    const [raced, second] = await members(2);
    const page = await reportServiceIncident(
      app.deps,
      firstPage([{ memberId: raced!, orderRef: 'ORD-RACE' }, { memberId: second! }], { budget: '10.00' }),
      shop,
    );
    const expansion = await whileHolding(prisma, reportedMeanwhile(raced!, 'ORD-RACE'), () => expandIncidentPage(app.deps, page.pageId));
    expect(expansion).toMatchObject({ recorded: 1, duplicates: 1, compensated: 1, needsReview: 0 });
    expect(await progress(page.incidentId)).toMatchObject({
      recorded: 1,
      duplicates: 1,
      compensated: 1,
      awaitingDecision: 0,
      spent: '10.00',
    });
    const incident = await incidentRow(page.incidentId);
    expect(incident.budgetUsed.toFixed(2)).toBe('10.00');
    expect(incident.overBudgetAt).toBeNull();
    expect(await prisma.voucher.count({ where: { memberId: second!, kind: 'COMPENSATION' } })).toBe(1);
  });

  it('a raced failure that alone would have exceeded the budget does not mark the incident over it', async () => {
    // A SILVER member's 12.00 would exceed a budget of 10.00 — but their failure is reported on its own meanwhile.
    const [raced, later] = await members(2);
    await prisma.member.update({ where: { id: raced! }, data: { tier: 'SILVER' } });
    const page = await reportServiceIncident(
      app.deps,
      firstPage([{ memberId: raced!, orderRef: 'ORD-RACE-2' }], { budget: '10.00' }),
      shop,
    );
    await whileHolding(prisma, reportedMeanwhile(raced!, 'ORD-RACE-2'), () => expandIncidentPage(app.deps, page.pageId));
    expect((await incidentRow(page.incidentId)).overBudgetAt).toBeNull();
    // A later page's BRONZE member (10.00) fits the untouched budget.
    const next = await reportServiceIncident(
      app.deps,
      { incidentId: page.incidentId, affected: [{ memberId: later! }], idempotencyKey: key() },
      shop,
    );
    await expandIncidentPage(app.deps, next.pageId);
    expect(await progress(page.incidentId)).toMatchObject({
      recorded: 1,
      duplicates: 1,
      compensated: 1,
      awaitingDecision: 0,
      spent: '10.00',
    });
  });
});

describe('the incident budget at its edge', () => {
  it('a budget met exactly pays every compensation it covers and is not over; the next cent of need waits', async () => {
    const ids = await members(3);
    // MEDIUM, BRONZE: 10.00 each. 20.00 pays exactly two.
    const page = await reportServiceIncident(
      app.deps,
      firstPage([{ memberId: ids[0]! }, { memberId: ids[1]! }], { budget: '20.00' }),
      shop,
    );
    await expandIncidentPage(app.deps, page.pageId);
    let incident = await incidentRow(page.incidentId);
    expect(incident.budgetUsed.toFixed(2)).toBe('20.00');
    expect(incident.overBudgetAt).toBeNull();
    expect(await progress(page.incidentId)).toMatchObject({ compensated: 2, awaitingDecision: 0 });

    const next = await reportServiceIncident(
      app.deps,
      { incidentId: page.incidentId, affected: [{ memberId: ids[2]! }], idempotencyKey: key() },
      shop,
    );
    await expandIncidentPage(app.deps, next.pageId);
    incident = await incidentRow(page.incidentId);
    expect(incident.budgetUsed.toFixed(2)).toBe('20.00');
    expect(incident.overBudgetAt).not.toBeNull();
    expect(await progress(page.incidentId)).toMatchObject({ compensated: 2, awaitingDecision: 1, spent: '20.00' });
  });

  it('a suspended member’s held compensation and a closed member’s nothing spend none of the budget', async () => {
    const [suspended, closed, active] = await members(3);
    await prisma.member.update({ where: { id: suspended! }, data: { status: 'SUSPENDED' } });
    await prisma.member.update({ where: { id: closed! }, data: { status: 'CLOSED' } });
    const page = await reportServiceIncident(
      app.deps,
      firstPage([{ memberId: suspended! }, { memberId: closed! }, { memberId: active! }], { budget: '10.00' }),
      shop,
    );
    expect(await expandIncidentPage(app.deps, page.pageId)).toMatchObject({ recorded: 3, held: 1, notEligible: 1, compensated: 1 });
    const held = await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId: page.incidentId, memberId: suspended! } });
    // Held, never lost: the amount the policy computed is kept for its release.
    expect(held).toMatchObject({ status: 'HELD' });
    expect(held.compensationAmount?.toFixed(2)).toBe('10.00');
    expect((await incidentRow(page.incidentId)).overBudgetAt).toBeNull();
  });

  it.each([
    ['0', 'budget'],
    ['0.00', 'budget'],
    ['-5.00', 'budget'],
    ['10.001', 'budget'],
    ['1e3', 'budget'],
    ['99999999999.00', 'budget'],
    ['NaN', 'budget'],
  ])('a budget of %s is a ValidationError and writes nothing', async (budget, field) => {
    const [m] = await members(1);
    const before = await tableRowCounts(prisma);
    await expect(reportServiceIncident(app.deps, firstPage([{ memberId: m! }], { budget }), shop)).rejects.toMatchObject({
      constructor: ValidationError,
      field,
    });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('hostile and repeated member lists', () => {
  it('1 000 entries — one member 400 times in every spelling of its id, unknown ids and external ids — name each member once', async () => {
    const ids = await members(5);
    const affected: AffectedMemberInput[] = [];
    for (let i = 0; i < 400; i++) affected.push({ memberId: i % 2 === 0 ? ids[0]! : ids[0]!.toUpperCase() });
    for (let i = 0; i < 300; i++) affected.push({ memberId: randomUUID() });
    for (let i = 0; i < 296; i++) affected.push({ externalId: `ghost-${i}-Ώ-👩‍👩‍👧` });
    affected.push({ memberId: '00000000-0000-0000-0000-000000000000' });
    for (const id of ids.slice(1)) affected.push({ memberId: id });
    expect(affected).toHaveLength(1_001);
    await expect(reportServiceIncident(app.deps, firstPage(affected), shop)).rejects.toMatchObject({ field: 'affected' });
    affected.splice(400, 1);

    const page = await reportServiceIncident(app.deps, firstPage(affected), shop);
    expect(page).toMatchObject({ entries: 1_000, named: 5, alreadyNamed: 399 });
    expect(page.unresolved).toHaveLength(596);
    expect(page.unresolved.every((entry) => entry.reason === 'UNKNOWN_MEMBER')).toBe(true);
    expect(await expandIncidentPage(app.deps, page.pageId)).toMatchObject({ recorded: 5, compensated: 5 });
    expect(await prisma.voucher.count({ where: { kind: 'COMPENSATION' } })).toBe(5);
    expect(await progress(page.incidentId)).toMatchObject({ affected: 5, unresolved: 596, compensated: 5 });
  });

  it.each([
    ['an external id with NUL, which no stored key holds', { externalId: 'a\u0000b' }, 'affected[1].externalId'],
    ['an external id with a lone surrogate', { externalId: 'a\uD800b' }, 'affected[1].externalId'],
    // With a member, the reference the failure records (alone it is a key looked up: tests/service-failures/incident-audit-2.test.ts).
    ['an order reference with a right-to-left override', { memberId: randomUUID(), orderRef: 'evil\u202Egnp.exe' }, 'affected[1].orderRef'],
    ['an order reference of 201 characters', { orderRef: 'x'.repeat(201) }, 'affected[1].orderRef'],
    ['a global id of another type', { memberId: 'Vm91Y2hlcjox' }, 'affected[1].memberId'],
    ['a member id and an external id', { memberId: randomUUID(), externalId: 'both' }, 'affected[1]'],
    ['an empty entry', {}, 'affected[1]'],
  ])('%s refuses the whole page with a typed error and writes nothing', async (_, entry, field) => {
    const [m] = await members(1);
    const before = await tableRowCounts(prisma);
    await expect(reportServiceIncident(app.deps, firstPage([{ memberId: m! }, entry]), shop)).rejects.toMatchObject({
      constructor: ValidationError,
      field,
    });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('a member whose stored external id predates the naming rules is named by it, as memberByExternalId finds them', async () => {
    const [m, other] = await members(2);
    // Written by SQL, as a row stored before the text rules would be: no write through the API accepts U+202E.
    await prisma.$executeRaw`UPDATE members SET external_id = ${'evil\u202Egnp.exe'} WHERE id = ${m!}::uuid`;
    const page = await reportServiceIncident(app.deps, firstPage([{ externalId: 'evil\u202Egnp.exe' }, { memberId: other! }]), shop);
    expect(page).toMatchObject({ entries: 2, named: 2, unresolved: [] });
    expect(await expandIncidentPage(app.deps, page.pageId)).toMatchObject({ recorded: 2, compensated: 2 });
    expect(await prisma.serviceFailure.count({ where: { memberId: m!, incidentId: page.incidentId } })).toBe(1);
  });

  it('a later page of an incident that does not exist is NotFound; one that restates the incident’s fields is refused', async () => {
    const [m] = await members(1);
    const before = await tableRowCounts(prisma);
    await expect(
      reportServiceIncident(app.deps, { incidentId: randomUUID(), affected: [{ memberId: m! }], idempotencyKey: key() }, shop),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(await tableRowCounts(prisma)).toEqual(before);
    const page = await reportServiceIncident(app.deps, firstPage([{ memberId: m! }]), shop);
    for (const restated of [{ type: 'OUTAGE' as const }, { budget: '1.00' }, { severity: 'LOW' as const }]) {
      await expect(
        reportServiceIncident(
          app.deps,
          { incidentId: page.incidentId, affected: [{ memberId: m! }], idempotencyKey: key(), ...restated },
          shop,
        ),
      ).rejects.toMatchObject({ field: Object.keys(restated)[0] });
    }
  });
});

describe('two incidents naming the same member and order at once', () => {
  it('expanded at once, they record one failure for the order and one voucher; the other incident’s member is a duplicate', async () => {
    for (let round = 0; round < 5; round++) {
      const [m] = await members(1);
      const orderRef = `ORD-BOTH-${round}`;
      const pages = await Promise.all(
        [0, 1].map(() => reportServiceIncident(app.deps, firstPage([{ memberId: m!, orderRef }], { budget: '10.00' }), shop)),
      );
      const reports = await Promise.all(pages.map((page) => expandIncidentPage(app.deps, page.pageId)));
      expect(reports.map((report) => report.recorded).sort()).toEqual([0, 1]);
      expect(await prisma.serviceFailure.count({ where: { memberId: m! } })).toBe(1);
      expect(await prisma.voucher.count({ where: { memberId: m!, kind: 'COMPENSATION' } })).toBe(1);
      for (const page of pages) expect((await incidentRow(page.incidentId)).overBudgetAt).toBeNull();
    }
  });
});

describe('who may report an incident', () => {
  it('agents, supervisors, admins and keys with failures:report may; members and keys without the scope are refused, writing nothing', async () => {
    const [m, other] = await members(2);
    for (const caller of [agent, staffCaller('SUPERVISOR'), staffCaller('ADMIN'), apiKeyCaller('reporter', ['failures:report'])]) {
      expect(await reportServiceIncident(app.deps, firstPage([{ memberId: m! }]), caller)).toMatchObject({ named: 1 });
    }
    const before = await tableRowCounts(prisma);
    for (const caller of [
      memberCaller(m!),
      memberCaller(other!),
      apiKeyCaller('no-scope', []),
      apiKeyCaller(
        'shop-without',
        STOREFRONT_SCOPES.filter((scope) => scope !== 'failures:report'),
      ),
    ]) {
      await expect(reportServiceIncident(app.deps, firstPage([{ memberId: m! }]), caller)).rejects.toBeInstanceOf(ForbiddenError);
      await expect(serviceIncidentProgress(app.deps, randomUUID(), caller)).rejects.toBeInstanceOf(ForbiddenError);
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('SLA targets at their exact instant', () => {
  const MINUTE = 60_000;
  const T0 = new Date('2026-06-01T08:00:00.000Z');
  const at = (ms: number) => new Date(T0.getTime() + ms);
  const clockAt = (now: Date) => ({ prisma, logger: testLogger, now: () => now });
  const filedFor = (caseId: string) => prisma.serviceFailure.findMany({ where: { caseRef: caseId }, select: { type: true } });

  it('a first response or resolution at the due instant meets the target; a millisecond later files one failure', async () => {
    const memberId = await app.enroll({ enrolledAt: new Date('2026-05-01T00:00:00.000Z') });
    // PHONE: first response within 5 minutes, resolution within a day.
    const due = 5 * MINUTE;
    const onTime = await recordServiceCase(
      clockAt(at(due)),
      { memberId, channel: 'PHONE', category: 'x', openedAt: T0, firstResponseAt: at(due) },
      agent,
    );
    const late = await recordServiceCase(
      clockAt(at(due + 1)),
      { memberId, channel: 'PHONE', category: 'x', openedAt: T0, firstResponseAt: at(due + 1) },
      agent,
    );
    expect(await filedFor(onTime.id)).toEqual([]);
    expect(await filedFor(late.id)).toEqual([{ type: 'LONG_WAIT' }]);

    const day = 24 * 60 * MINUTE;
    await resolveServiceCase(clockAt(at(day)), { caseId: onTime.id, resolvedAt: at(day) }, agent);
    await resolveServiceCase(clockAt(at(day + 1)), { caseId: late.id, resolvedAt: at(day + 1) }, agent);
    expect(await filedFor(onTime.id)).toEqual([]);
    expect((await filedFor(late.id)).map((f) => f.type).sort()).toEqual(['LONG_WAIT', 'UNRESOLVED_CONTACT']);
  });

  it('the sweep at the due instant files nothing; a millisecond later it files once, however many sweeps race', async () => {
    const memberId = await app.enroll({ enrolledAt: new Date('2026-05-01T00:00:00.000Z') });
    const silent = await recordServiceCase(clockAt(T0), { memberId, channel: 'CHAT', category: 'x', openedAt: T0 }, agent);
    expect((await fileOverdueSlaBreaches(clockAt(at(2 * MINUTE)))).failuresFiled).toBe(0);
    const sweeps = await Promise.all(Array.from({ length: 6 }, () => fileOverdueSlaBreaches(clockAt(at(2 * MINUTE + 1)))));
    expect(sweeps.reduce((sum, sweep) => sum + sweep.failuresFiled, 0)).toBe(1);
    expect(await filedFor(silent.id)).toEqual([{ type: 'LONG_WAIT' }]);
  });

  it('a resolution before the case opened, or before its first response, is refused and writes nothing', async () => {
    const memberId = await app.enroll({ enrolledAt: new Date('2026-05-01T00:00:00.000Z') });
    const serviceCase = await recordServiceCase(
      clockAt(at(MINUTE)),
      { memberId, channel: 'EMAIL', category: 'x', openedAt: T0, firstResponseAt: at(MINUTE) },
      agent,
    );
    const before = await tableRowCounts(prisma);
    for (const [resolvedAt, field] of [
      [at(-1), 'resolvedAt'],
      [at(MINUTE - 1), 'resolvedAt'],
    ] as const) {
      await expect(resolveServiceCase(clockAt(at(2 * MINUTE)), { caseId: serviceCase.id, resolvedAt }, agent)).rejects.toMatchObject({
        constructor: ValidationError,
        field,
      });
    }
    for (const caller of [memberCaller(memberId), apiKeyCaller('reporter', ['failures:report'])]) {
      await expect(resolveServiceCase(clockAt(at(2 * MINUTE)), { caseId: serviceCase.id }, caller)).rejects.toBeInstanceOf(ForbiddenError);
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});
