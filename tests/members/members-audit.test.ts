import { describe, expect, it } from 'vitest';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { reviewTiers } from '../../src/domain/tiers/tiers.service.js';
import pg from 'pg';
import { loyaltyMetrics } from '../../src/domain/metrics/loyalty-metrics.service.js';
import { testLogger, useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { tableRowCounts, testDatabaseUrl } from '../support/db.js';
import { untilWaitingForLocks } from '../support/until.js';

/**
 * An adversarial audit of the member lifecycle (enrol, update, suspend/close/reactivate) and the tiers (upgrade,
 * anniversary review, protection), called as production calls them: GraphQL through the test app, or the services.
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const supervisor = staffCaller('SUPERVISOR', 'sup-1');
const at = (date: Date): ServiceDeps => ({ prisma, logger: testLogger, now: () => date });

const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on EnrollMemberPayload { member { id } } ... on Error { message } ... on ValidationError { field } } }`;
const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) {
  __typename ... on UpdateMemberPayload { member { id name email locale status } } ... on Error { message } ... on ValidationError { field } } }`;

describe('enrolment', () => {
  it('the same external id enrolled 10 times at once: one member, nine AlreadyExistsError', async () => {
    const key = await app.apiKeyToken(['members:write', 'members:read']);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        app.gql(ENROLL, { i: { externalId: 'race-1', email: `race-${i}@example.com`, name: 'R' } }, key),
      ),
    );
    const kinds = answers.map((answer) => answer.errors?.[0]?.message ?? answer.data?.enrollMember.__typename);
    expect(kinds.filter((kind) => kind === 'EnrollMemberPayload')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'AlreadyExistsError')).toHaveLength(9);
    expect(await prisma.member.count({ where: { externalId: 'race-1' } })).toBe(1);
  });

  it('the same e-mail enrolled 10 times at once under different external ids: one member', async () => {
    const key = await app.apiKeyToken(['members:write', 'members:read']);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        app.gql(ENROLL, { i: { externalId: `race-m-${i}`, email: 'Same@Example.com', name: 'R' } }, key),
      ),
    );
    const kinds = answers.map((answer) => answer.errors?.[0]?.message ?? answer.data?.enrollMember.__typename);
    expect(kinds.filter((kind) => kind === 'EnrollMemberPayload')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'AlreadyExistsError')).toHaveLength(9);
  });

  it.each([
    ['externalId', { externalId: '' }],
    ['externalId', { externalId: '   ' }],
    ['externalId', { externalId: 'x'.repeat(121) }],
    ['externalId', { externalId: 'a\u202Eb' }],
    ['name', { name: '' }],
    ['name', { name: 'n'.repeat(201) }],
    ['name', { name: 'a\nb' }],
    ['email', { email: '' }],
    ['email', { email: 'not-an-address' }],
    ['email', { email: `${'a'.repeat(250)}@example.com` }],
    ['locale', { locale: '' }],
    ['locale', { locale: 'EN' }],
    ['locale', { locale: 'en_US' }],
    ['locale', { locale: 'e'.repeat(1000) }],
  ])('refuses a bad %s with a typed error and writes nothing (%j)', async (field, bad) => {
    const key = await app.apiKeyToken(['members:write', 'members:read']);
    const before = await tableRowCounts(prisma);
    const answer = await app.gql(ENROLL, { i: { externalId: 'hostile-1', email: 'h@example.com', name: 'H', ...bad } }, key);
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.enrollMember).toMatchObject({ __typename: 'ValidationError', field });
    expect(await tableRowCounts(prisma)).toEqual(before);
  });
});

describe('updateMember', () => {
  it.each([
    ['name', { name: '' }],
    ['name', { name: '\u202E' }],
    ['email', { email: 'nope' }],
    ['locale', { locale: 'xx-xx' }],
  ])('refuses a bad %s with a typed error and writes nothing (%j)', async (field, bad) => {
    const id = await app.enroll();
    const staff = await app.staffToken('SUPERVISOR');
    const before = await tableRowCounts(prisma);
    const row = await prisma.member.findUniqueOrThrow({ where: { id } });
    const answer = await app.gql(UPDATE, { i: { id, status: 'SUSPENDED', ...bad } }, staff);
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.updateMember).toMatchObject({ __typename: 'ValidationError', field });
    expect(await tableRowCounts(prisma)).toEqual(before);
    expect(await prisma.member.findUniqueOrThrow({ where: { id } })).toEqual(row);
  });

  it('an unknown member is a NotFoundError for staff and ForbiddenError for a member, nothing written', async () => {
    const staff = await app.staffToken('SUPERVISOR');
    const id = await app.enroll();
    const before = await tableRowCounts(prisma);
    const unknown = '00000000-0000-4000-8000-000000000001';
    const byStaff = await app.gql(UPDATE, { i: { id: unknown, status: 'SUSPENDED' } }, staff);
    expect(byStaff.data?.updateMember.__typename).toBe('NotFoundError');
    const byMember = await app.gql(UPDATE, { i: { id: unknown, name: 'x' } }, await app.memberToken(id));
    expect(byMember.data?.updateMember.__typename).toBe('ForbiddenError');
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('two members changed to the same free e-mail at once: one gets it, the other AlreadyExistsError', async () => {
    const staff = await app.staffToken('AGENT');
    const [a, b] = [await app.enroll(), await app.enroll()];
    const answers = await Promise.all([a, b].map((id) => app.gql(UPDATE, { i: { id, email: 'taken@example.com' } }, staff)));
    expect(answers.map((answer) => answer.data?.updateMember.__typename).sort()).toEqual(['AlreadyExistsError', 'UpdateMemberPayload']);
  });

  it('status changes raced from several supervisors chain: every event starts where the one before ended', async () => {
    const id = await app.enroll();
    const statuses = ['SUSPENDED', 'ACTIVE', 'CLOSED', 'PASSIVE', 'SUSPENDED', 'ACTIVE'] as const;
    for (let round = 0; round < 3; round++) {
      await Promise.all(statuses.map((status) => updateMember(app.deps, { id, status }, supervisor)));
    }
    const history = await prisma.$queryRaw<{ from_status: string | null; to_status: string }[]>`
      SELECT from_status::text, to_status::text FROM member_status_changes WHERE member_id = ${id}::uuid ORDER BY changed_at, id`;
    for (let i = 1; i < history.length; i++) expect(history[i]!.from_status).toBe(history[i - 1]!.to_status);
    const final = await prisma.member.findUniqueOrThrow({ where: { id } });
    expect(history.at(-1)!.to_status).toBe(final.status);
  });
});

/** The member's status history in time order, as the metrics count it. */
const statusHistory = (memberId: string) =>
  prisma.$queryRaw<{ from_status: string | null; to_status: string; changed_at: Date }[]>`
    SELECT from_status::text, to_status::text, changed_at FROM member_status_changes
    WHERE member_id = ${memberId}::uuid ORDER BY changed_at, id`;

/** Runs `requests` one after another into the queue behind a lock another connection holds on the member, then releases. */
async function queuedBehindMemberLock<T>(memberId: string, requests: (() => Promise<T>)[]): Promise<T[]> {
  const holder = new pg.Client({ connectionString: testDatabaseUrl() });
  await holder.connect();
  const sent: Promise<T>[] = [];
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM members WHERE id = $1 FOR UPDATE', [memberId]);
    for (const [index, request] of requests.entries()) {
      sent.push(request());
      await untilWaitingForLocks(prisma, index + 1);
    }
    await holder.query('COMMIT');
  } finally {
    await holder.end();
  }
  return Promise.all(sent);
}

describe('the status history under concurrent status changes', () => {
  it('a change that read its clock first but committed last is recorded after the one before it', async () => {
    const T = new Date('2026-03-01T09:00:00.000Z');
    const id = await app.enroll({ enrolledAt: addDays(T, -30) });
    // Both read their clock before they queue for the member; the one that read it later is served first.
    await queuedBehindMemberLock(id, [
      () => updateMember(at(new Date(T.getTime() + 2000)), { id, status: 'SUSPENDED' }, supervisor),
      () => updateMember(at(new Date(T.getTime() + 1000)), { id, status: 'CLOSED' }, supervisor),
    ]);
    expect((await prisma.member.findUniqueOrThrow({ where: { id } })).status).toBe('CLOSED');

    const history = await statusHistory(id);
    expect(history.map((row) => [row.from_status, row.to_status])).toEqual([
      [null, 'ACTIVE'],
      ['ACTIVE', 'SUSPENDED'],
      ['SUSPENDED', 'CLOSED'],
    ]);
    // Members by status at every moment in between are counts of real members: never below 0.
    const metrics = await loyaltyMetrics(at(T), { from: addDays(T, -1), to: new Date(T.getTime() + 1500) }, staffCaller('ADMIN'));
    for (const count of Object.values(metrics.total.members.counts)) expect(count).toBeGreaterThanOrEqual(0);
  });

  it('whichever writer changes the status (the maintenance job, the ledger kernel, any UPDATE), a change is never dated before the one it follows', async () => {
    const T = new Date('2026-03-01T09:00:00.000Z');
    const id = await app.enroll({ enrolledAt: addDays(T, -30) });
    // Two writers' clocks, the later one first: the history is written by the trigger on members, not the services.
    await prisma.$executeRaw`UPDATE members SET status = 'PASSIVE', updated_at = ${new Date(T.getTime() + 2000)} WHERE id = ${id}::uuid`;
    await prisma.$executeRaw`UPDATE members SET status = 'ACTIVE', updated_at = ${new Date(T.getTime() + 1000)} WHERE id = ${id}::uuid`;
    expect((await statusHistory(id)).map((row) => [row.to_status, row.changed_at.toISOString()])).toEqual([
      ['ACTIVE', addDays(T, -30).toISOString()],
      ['PASSIVE', '2026-03-01T09:00:02.000Z'],
      ['ACTIVE', '2026-03-01T09:00:02.001Z'],
    ]);
  });
});

describe('tier reviews', () => {
  const T0 = new Date('2026-01-10T10:00:00.000Z');
  let orders = 0;
  async function goldMember(): Promise<string> {
    const id = await app.enroll({ enrolledAt: addMonths(T0, -1) });
    await earnPoints(at(T0), { memberId: id, orderRef: `ao-${++orders}`, orderTotal: '5000.00', idempotencyKey: `ak-${orders}` }, shop);
    return id;
  }

  it('five reviews at once review each member once', async () => {
    const ids = [await goldMember(), await goldMember(), await goldMember()];
    const when = addMonths(addDays(T0, 1), 12);
    const reports = await Promise.all(Array.from({ length: 5 }, () => reviewTiers(at(when))));
    expect(reports.reduce((sum, report) => sum + report.membersReviewed, 0)).toBe(3);
    for (const id of ids) expect(await prisma.tierChange.count({ where: { memberId: id, reason: { not: 'UPGRADE' } } })).toBe(1);
  });

  it('reviews at the exact instant reviewAt names, not before', async () => {
    const id = await goldMember();
    const member = await prisma.member.findUniqueOrThrow({ where: { id } });
    const reviewAt = addMonths(member.tierSince, 12);
    expect((await reviewTiers(at(new Date(reviewAt.getTime() - 1)))).membersReviewed).toBe(0);
    expect((await reviewTiers(at(reviewAt))).membersReviewed).toBe(1);
  });

  it('a failure exactly tierProtectionDays before the review protects', async () => {
    const id = await goldMember();
    const member = await prisma.member.findUniqueOrThrow({ where: { id } });
    const reviewAt = addMonths(member.tierSince, 12);
    await reportServiceFailure(
      at(reviewAt),
      { memberId: id, type: 'LATE_DELIVERY', severity: 'LOW', occurredAt: addDays(reviewAt, -90), idempotencyKey: 'f-edge' },
      shop,
    );
    expect(await reviewTiers(at(reviewAt))).toMatchObject({ membersProtected: 1 });
  });
});
