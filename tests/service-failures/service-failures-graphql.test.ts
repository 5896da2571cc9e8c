import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { processCompensation } from '../../workers/compensation.processor.js';
import { useTestApp } from '../support/app.js';

/**
 * Service failures over GraphQL: who may report and review, duplicates,
 * idempotency, and who sees what. Compensation jobs run through the processor
 * directly here (tests/workers/ runs them through real BullMQ workers).
 */
const { prisma, app } = useTestApp();
let storefrontToken: string;
let readerToken: string;

const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename
  ... on ReportServiceFailurePayload { duplicate failure { id status type severity orderRef reporterId member { id } } }
  ... on Error { code message }
  ... on ValidationError { field } } }`;

const REVIEW = `mutation($i: ReviewServiceFailureInput!) { reviewServiceFailure(input: $i) {
  __typename
  ... on ReviewServiceFailurePayload { failure { id status decision decidedBy decisionNote voucher { kind value { amount currency } } } }
  ... on Error { code message }
  ... on ValidationError { field } } }`;

beforeEach(async () => {
  storefrontToken = await app.apiKeyToken(['failures:report', 'members:read']);
  readerToken = await app.apiKeyToken(['members:read']);
});

/** Runs every pending compensation job once, as a worker would. */
async function drainCompensation() {
  const events = await prisma.outboxEvent.findMany({ where: { queue: 'compensation', completedAt: null } });
  await Promise.all(events.map((event) => processCompensation(event.payload as { failureId: string }, app.deps)));
}

const reportInput = (memberId: string, extra: Record<string, unknown> = {}) => ({
  memberId,
  type: 'LATE_DELIVERY',
  severity: 'HIGH',
  orderRef: 'order-1',
  idempotencyKey: `k-${Math.random()}`,
  ...extra,
});

describe('reportServiceFailure', () => {
  it('a storefront key records the failure and queues its compensation; the voucher follows', async () => {
    const memberId = await app.enroll();
    const response = await app.gql(REPORT, { i: reportInput(memberId) }, storefrontToken);
    expect(response.errors).toBeUndefined();
    const payload = response.data!.reportServiceFailure;
    expect(payload).toMatchObject({
      __typename: 'ReportServiceFailurePayload',
      duplicate: false,
      failure: { status: 'RECORDED', type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'order-1', reporterId: null },
    });
    expect(payload.failure.member.id).toBe(encodeGlobalID('Member', memberId));
    expect(await prisma.outboxEvent.count({ where: { queue: 'compensation', completedAt: null } })).toBe(1);

    await drainCompensation();
    const failure = await app.gql(
      `query($id: ID!) { node(id: $id) { ... on ServiceFailure { status repeatIndex compensation { amount currency } voucher { kind status value { amount } } } } }`,
      { id: payload.failure.id },
      storefrontToken,
    );
    expect(failure.data!.node).toMatchObject({
      status: 'COMPENSATED',
      repeatIndex: 1,
      compensation: { amount: '25.00', currency: 'EUR' },
    });
  });

  it('agents may report; members may not (ForbiddenError), not even for themselves', async () => {
    const memberId = await app.enroll();
    const agent = await app.gql(REPORT, { i: reportInput(memberId) }, await app.staffToken('AGENT'));
    expect(agent.data!.reportServiceFailure).toMatchObject({
      __typename: 'ReportServiceFailurePayload',
      failure: { reporterId: 'staff-agent' },
    });
    const member = await app.gql(REPORT, { i: reportInput(memberId, { orderRef: 'order-2' }) }, await app.memberToken(memberId));
    expect(member.data!.reportServiceFailure.__typename).toBe('ForbiddenError');
    const reader = await app.gql(REPORT, { i: reportInput(memberId, { orderRef: 'order-3' }) }, readerToken);
    expect(reader.data!.reportServiceFailure.__typename).toBe('ForbiddenError');
    expect(await prisma.serviceFailure.count()).toBe(1);
  });

  it('the same failure reported 5× concurrently: one failure row, one voucher', async () => {
    const memberId = await app.enroll();
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) => app.gql(REPORT, { i: reportInput(memberId, { idempotencyKey: `dup-${i}` }) }, storefrontToken)),
    );
    const payloads = responses.map((response) => response.data!.reportServiceFailure);
    expect(payloads.every((payload) => payload.__typename === 'ReportServiceFailurePayload')).toBe(true);
    expect(new Set(payloads.map((payload) => payload.failure.id)).size).toBe(1);
    expect(payloads.filter((payload) => !payload.duplicate)).toHaveLength(1);
    expect(await prisma.serviceFailure.count()).toBe(1);
    expect(await prisma.outboxEvent.count()).toBe(1);

    await drainCompensation();
    await drainCompensation();
    expect(await prisma.voucher.count({ where: { memberId } })).toBe(1);
  });

  it('the same idempotency key replays the first answer; with another request it is a conflict', async () => {
    const memberId = await app.enroll();
    const input = reportInput(memberId, { idempotencyKey: 'same-key' });
    const [first, second] = await Promise.all([
      app.gql(REPORT, { i: input }, storefrontToken),
      app.gql(REPORT, { i: input }, storefrontToken),
    ]);
    expect(second.data!.reportServiceFailure.failure.id).toBe(first.data!.reportServiceFailure.failure.id);
    const conflict = await app.gql(REPORT, { i: { ...input, severity: 'LOW' } }, storefrontToken);
    expect(conflict.data!.reportServiceFailure.__typename).toBe('IdempotencyConflictError');
    expect(await prisma.serviceFailure.count()).toBe(1);
  });

  it('bad input is a typed error and records nothing', async () => {
    const memberId = await app.enroll();
    const cases: [Record<string, unknown>, string][] = [
      [reportInput('not-an-id'), 'memberId'],
      [reportInput(memberId, { occurredAt: new Date(Date.now() + 86_400_000).toISOString() }), 'occurredAt'],
      [reportInput(memberId, { orderRef: '   ' }), 'orderRef'],
      // References name something: no control characters (they were stored).
      [reportInput(memberId, { orderRef: 'order\u00071' }), 'orderRef'],
      [reportInput(memberId, { caseRef: 'case\n1' }), 'caseRef'],
      // The DateTime scalar reads the year 0000; raw SQL stored it as 1 BC and the failure was compensated.
      [reportInput(memberId, { occurredAt: '0000-06-01T00:00:00Z' }), 'occurredAt'],
      [reportInput(memberId, { idempotencyKey: 'has spaces' }), 'idempotencyKey'],
    ];
    for (const [input, field] of cases) {
      const response = await app.gql(REPORT, { i: input }, storefrontToken);
      expect(response.data!.reportServiceFailure).toMatchObject({ __typename: 'ValidationError', field });
    }
    const unknown = await app.gql(REPORT, { i: reportInput('00000000-0000-4000-8000-000000000000') }, storefrontToken);
    expect(unknown.data!.reportServiceFailure.__typename).toBe('NotFoundError');
    expect(await prisma.serviceFailure.count()).toBe(0);
    expect(await prisma.outboxEvent.count()).toBe(0);
    expect(await prisma.idempotencyRecord.count()).toBe(0);
  });

  it('a failure that occurred before the member enrolled is a ValidationError on occurredAt and records nothing', async () => {
    const enrolledAt = new Date('2026-06-01T12:00:00.000Z');
    const memberId = await app.enroll({ enrolledAt });
    const before = await app.gql(
      REPORT,
      { i: reportInput(memberId, { occurredAt: '2026-06-01T11:59:59.999Z', idempotencyKey: 'early' }) },
      storefrontToken,
    );
    expect(before.data!.reportServiceFailure).toMatchObject({ __typename: 'ValidationError', field: 'occurredAt' });
    expect([await prisma.serviceFailure.count(), await prisma.outboxEvent.count(), await prisma.idempotencyRecord.count()]).toEqual([
      0, 0, 0,
    ]);

    // From the moment of the enrolment on it is the member's failure; the key refused above was not taken.
    const at = await app.gql(
      REPORT,
      { i: reportInput(memberId, { occurredAt: enrolledAt.toISOString(), orderRef: 'o-at', idempotencyKey: 'early' }) },
      storefrontToken,
    );
    expect(at.data!.reportServiceFailure).toMatchObject({ __typename: 'ReportServiceFailurePayload', duplicate: false });
    const omitted = await app.gql(REPORT, { i: reportInput(memberId, { orderRef: 'o-now' }) }, storefrontToken);
    expect(omitted.data!.reportServiceFailure.__typename).toBe('ReportServiceFailurePayload');
    expect(await prisma.serviceFailure.count({ where: { memberId } })).toBe(2);
  });

  it('a description is free text: a line break in it is kept', async () => {
    const memberId = await app.enroll();
    const response = await app.gql(REPORT, { i: reportInput(memberId, { description: 'late\nand damaged' }) }, storefrontToken);
    expect(response.data!.reportServiceFailure.__typename).toBe('ReportServiceFailurePayload');
    expect((await prisma.serviceFailure.findFirstOrThrow({ where: { memberId } })).description).toBe('late\nand damaged');
  });
});

describe('reviewServiceFailure', () => {
  /** A PLATINUM member whose second failure goes over the cap. */
  async function heldFailureId(): Promise<string> {
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
    await app.gql(REPORT, { i: reportInput(memberId, { severity: 'CRITICAL', orderRef: 'o-1' }) }, storefrontToken);
    await drainCompensation(); // 100.00: the cap is used up
    const held = await app.gql(REPORT, { i: reportInput(memberId, { severity: 'LOW', orderRef: 'o-2' }) }, storefrontToken);
    await drainCompensation();
    const id = held.data!.reportServiceFailure.failure.id as string;
    const status = await app.gql(`query($id: ID!) { node(id: $id) { ... on ServiceFailure { status } } }`, { id }, storefrontToken);
    expect(status.data!.node.status).toBe('NEEDS_REVIEW');
    return id;
  }

  it('only supervisors and admins may review', async () => {
    const failureId = await heldFailureId();
    const input = { failureId, decision: 'GRANT', note: 'goodwill', idempotencyKey: 'rev-1' };
    for (const token of [await app.staffToken('AGENT'), storefrontToken, await app.apiKeyToken(['members:read', 'members:write'])]) {
      const response = await app.gql(REVIEW, { i: input }, token);
      expect(response.data!.reviewServiceFailure.__typename).toBe('ForbiddenError');
    }
    const member = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: decodeFailureId(failureId) } });
    const asMember = await app.gql(REVIEW, { i: input }, await app.memberToken(member.memberId));
    expect(asMember.data!.reviewServiceFailure.__typename).toBe('ForbiddenError');
    expect(await prisma.voucher.count({ where: { causeRef: decodeFailureId(failureId) } })).toBe(0);

    const granted = await app.gql(REVIEW, { i: input }, await app.staffToken('SUPERVISOR', 'sup-7'));
    expect(granted.data!.reviewServiceFailure).toMatchObject({
      __typename: 'ReviewServiceFailurePayload',
      failure: {
        status: 'COMPENSATED',
        decision: 'GRANT',
        decidedBy: 'sup-7',
        decisionNote: 'goodwill',
        voucher: { kind: 'COMPENSATION', value: { amount: '15.00', currency: 'EUR' } },
      },
    });
    const again = await app.gql(REVIEW, { i: { ...input, decision: 'DECLINE', idempotencyKey: 'rev-2' } }, await app.staffToken('ADMIN'));
    expect(again.data!.reviewServiceFailure).toMatchObject({ __typename: 'ValidationError', field: 'failureId' });
  });

  it('DECLINE: NOT_ELIGIBLE, no voucher; the decision is kept', async () => {
    const failureId = await heldFailureId();
    const response = await app.gql(
      REVIEW,
      { i: { failureId, decision: 'DECLINE', note: 'refunded instead', idempotencyKey: 'rev-1' } },
      await app.staffToken('ADMIN', 'boss'),
    );
    expect(response.data!.reviewServiceFailure.failure).toMatchObject({
      status: 'NOT_ELIGIBLE',
      decision: 'DECLINE',
      decidedBy: 'boss',
      voucher: null,
    });
  });

  it('a failure that is not held, or does not exist, cannot be reviewed', async () => {
    const memberId = await app.enroll();
    const reported = await app.gql(REPORT, { i: reportInput(memberId) }, storefrontToken);
    const failureId = reported.data!.reportServiceFailure.failure.id;
    const supervisor = await app.staffToken('SUPERVISOR');
    const recorded = await app.gql(REVIEW, { i: { failureId, decision: 'GRANT', note: 'why not', idempotencyKey: 'r' } }, supervisor);
    expect(recorded.data!.reviewServiceFailure).toMatchObject({ __typename: 'ValidationError', field: 'failureId' });
    const missing = await app.gql(
      REVIEW,
      {
        i: {
          failureId: encodeGlobalID('ServiceFailure', '00000000-0000-4000-8000-000000000000'),
          decision: 'GRANT',
          note: 'why not',
          idempotencyKey: 'r',
        },
      },
      supervisor,
    );
    expect(missing.data!.reviewServiceFailure.__typename).toBe('NotFoundError');
  });
});

const decodeFailureId = (globalId: string): string => decodeGlobalID(globalId).id;

describe('reading failures', () => {
  it('serviceFailures lists and filters for staff; member.serviceFailures and atRisk', async () => {
    const now = Date.now();
    const at = (daysAgo: number) => new Date(now - daysAgo * 86_400_000).toISOString();
    // Enrolled before the failures they report (a given occurredAt is held to the enrolment).
    const ann = await app.enroll({ enrolledAt: new Date(at(30)) });
    const bob = await app.enroll({ enrolledAt: new Date(at(30)) });
    await app.gql(REPORT, { i: reportInput(ann, { orderRef: 'a1', severity: 'LOW', occurredAt: at(10) }) }, storefrontToken);
    await app.gql(
      REPORT,
      { i: reportInput(ann, { orderRef: 'a2', severity: 'HIGH', type: 'BILLING_ERROR', occurredAt: at(5) }) },
      storefrontToken,
    );
    await app.gql(REPORT, { i: reportInput(bob, { orderRef: 'b1', severity: 'HIGH', occurredAt: at(1) }) }, storefrontToken);
    await drainCompensation();

    const LIST = `query($f: ServiceFailureFilter, $first: Int, $after: String) { serviceFailures(filter: $f, first: $first, after: $after) {
      edges { node { orderRef status member { id } } } pageInfo { hasNextPage endCursor } } }`;
    const agent = await app.staffToken('AGENT');
    const all = await app.gql(LIST, {}, agent);
    expect(all.data!.serviceFailures.edges.map((edge: any) => edge.node.orderRef)).toEqual(['b1', 'a2', 'a1']);
    const page1 = await app.gql(LIST, { first: 2 }, agent);
    expect(page1.data!.serviceFailures.pageInfo.hasNextPage).toBe(true);
    const page2 = await app.gql(LIST, { first: 2, after: page1.data!.serviceFailures.pageInfo.endCursor }, agent);
    expect(page2.data!.serviceFailures.edges.map((edge: any) => edge.node.orderRef)).toEqual(['a1']);

    const filtered = async (f: Record<string, unknown>) =>
      (await app.gql(LIST, { f }, agent)).data!.serviceFailures.edges.map((edge: any) => edge.node.orderRef);
    expect(await filtered({ memberId: ann })).toEqual(['a2', 'a1']);
    expect(await filtered({ memberId: encodeGlobalID('Member', bob) })).toEqual(['b1']);
    expect(await filtered({ severity: 'HIGH' })).toEqual(['b1', 'a2']);
    expect(await filtered({ type: 'BILLING_ERROR' })).toEqual(['a2']);
    expect(await filtered({ status: 'COMPENSATED' })).toEqual(['b1', 'a2', 'a1']);
    expect(await filtered({ from: at(7), to: at(2) })).toEqual(['a2']);
    // The DateTime scalar reads the year 0000, which PostgreSQL does not (it was an unexpected error, INTERNAL).
    for (const f of [{ from: '0000-06-01T00:00:00Z' }, { to: '0000-06-01T00:00:00Z' }]) {
      const refused = await app.gql(LIST, { f }, agent);
      expect(refused.errors?.[0], JSON.stringify(f)).toMatchObject({
        message: 'must be in the year 0001 or later',
        extensions: { code: 'VALIDATION' },
      });
    }

    // Only staff list failures across members.
    for (const token of [storefrontToken, readerToken, await app.memberToken(ann)]) {
      const refused = await app.gql(LIST, {}, token);
      expect(refused.data?.serviceFailures ?? null).toBeNull();
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }

    const MEMBER = `query($id: ID!) { member(id: $id) { atRisk atRiskSince serviceFailures { edges { node { orderRef repeatIndex } } } } }`;
    const asAgent = await app.gql(MEMBER, { id: ann }, agent);
    expect(asAgent.data!.member.atRisk).toBe(true);
    expect(asAgent.data!.member.atRiskSince).not.toBeNull();
    expect(asAgent.data!.member.serviceFailures.edges.map((edge: any) => edge.node)).toEqual([
      { orderRef: 'a2', repeatIndex: 2 },
      { orderRef: 'a1', repeatIndex: 1 },
    ]);
    expect((await app.gql(MEMBER, { id: bob }, agent)).data!.member.atRisk).toBe(false);

    // The member sees their own failures (not the at-risk flag); another member sees nothing of them.
    const own = await app.gql(MEMBER, { id: ann }, await app.memberToken(ann));
    expect(own.errors).toBeUndefined();
    expect(own.data!.member.atRisk).toBeNull();
    expect(own.data!.member.serviceFailures.edges).toHaveLength(2);
    const other = await app.gql(MEMBER, { id: ann }, await app.memberToken(bob));
    expect(JSON.stringify(other.data)).not.toContain('a1');
  });
});
