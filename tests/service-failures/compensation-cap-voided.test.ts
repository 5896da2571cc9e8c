import { decodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { processCompensation } from '../../workers/compensation.processor.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { holdMember, whileHolding } from '../support/holding.js';

/**
 * The member's 30-day compensation cap and voided vouchers (stop 53): staff void a COMPENSATION voucher issued in
 * error before the member used it (a redeemed one cannot be voided), so it gave the member nothing and takes none of
 * the cap. A real failure afterwards is compensated, not held for review for money never given. Failures go in over
 * GraphQL and are compensated by the worker's processor (the single job, and an incident's batch); the voucher is
 * voided over GraphQL. Defaults: cap 100.00 over 30 days; CRITICAL 50.00 × PLATINUM 2 = 100.00, the whole cap; a
 * LOW second failure 5.00 × 2 × 1.5 (the repeat) = 15.00.
 */
const { prisma, app } = useTestApp();

const REPORT = `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) {
  __typename ... on ReportServiceFailurePayload { failure { id } } ... on Error { code message } } }`;
const FAILURE = `query($id: ID!) { node(id: $id) { ... on ServiceFailure {
  status reviewReason compensation { amount } voucher { code status value { amount } } } } }`;
const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status } } ... on ValidationError { field } ... on Error { code } } }`;
const INCIDENT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
  __typename ... on ReportServiceIncidentPayload { incident { id } } ... on Error { code message } } }`;

let keys = 0;
const key = (prefix: string) => `${prefix}-${++keys}`;

async function platinumMember(): Promise<string> {
  const memberId = await app.enroll();
  await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
  return memberId;
}

/** A failure reported by the shop over GraphQL; its global id. */
async function report(token: string, memberId: string, severity: string, orderRef: string): Promise<string> {
  const answer = await app.gql(
    REPORT,
    { i: { memberId, type: 'LATE_DELIVERY', severity, orderRef, idempotencyKey: key('report') } },
    token,
  );
  expect(answer.data?.reportServiceFailure.__typename, JSON.stringify(answer)).toBe('ReportServiceFailurePayload');
  return answer.data!.reportServiceFailure.failure.id as string;
}

/** Every compensation job waiting, run once by the worker's processor. */
async function drainCompensation(): Promise<void> {
  const events = await prisma.outboxEvent.findMany({ where: { queue: 'compensation', completedAt: null } });
  for (const event of events) await processCompensation(event.payload as { failureId: string }, app.deps);
}

async function drainIncidents(): Promise<void> {
  for (;;) {
    const events = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null }, orderBy: { createdAt: 'asc' } });
    if (events.length === 0) return;
    for (const event of events) await processIncidentJob(event.payload as never, app.deps);
  }
}

async function failure(token: string, globalId: string) {
  const answer = await app.gql(FAILURE, { id: globalId }, token);
  expect(answer.errors).toBeUndefined();
  return answer.data!.node as {
    status: string;
    reviewReason: string | null;
    compensation: { amount: string } | null;
    voucher: { code: string; status: string; value: { amount: string } } | null;
  };
}

async function voidCode(token: string, code: string) {
  const answer = await app.gql(VOID, { i: { code, reason: 'issued in error', idempotencyKey: key('void') } }, token);
  return answer.data?.voidVoucher as { __typename: string; voucher?: { status: string } };
}

/** The member's compensation that stands: COMPENSATION vouchers not voided, their count and sum. */
async function standing(memberId: string): Promise<{ count: number; sum: string }> {
  const live = await prisma.voucher.aggregate({
    where: { memberId, kind: 'COMPENSATION', status: { not: 'VOIDED' } },
    _count: { _all: true },
    _sum: { amount: true },
  });
  return { count: live._count._all, sum: (live._sum.amount ?? 0).toString() };
}

describe('the compensation cap leaves voided vouchers out', () => {
  it('a compensation voided by an agent takes none of the cap: the next failure is compensated, not held', async () => {
    const shop = await app.apiKeyToken(['failures:report', 'members:read']);
    const agent = await app.staffToken('AGENT');
    const [voided, kept] = [await platinumMember(), await platinumMember()];

    const first = { voided: await report(shop, voided, 'CRITICAL', 'order-1'), kept: await report(shop, kept, 'CRITICAL', 'order-1') };
    await drainCompensation();
    for (const id of Object.values(first)) {
      expect(await failure(shop, id)).toMatchObject({ status: 'COMPENSATED', compensation: { amount: '100.00' } });
    }
    const code = (await failure(shop, first.voided)).voucher!.code;
    expect(await voidCode(agent, code)).toEqual({ __typename: 'VoidVoucherPayload', voucher: { status: 'VOIDED' } });

    const second = { voided: await report(shop, voided, 'LOW', 'order-2'), kept: await report(shop, kept, 'LOW', 'order-2') };
    await drainCompensation();
    // The voided 100.00 gave nothing: 15.00 fits the cap.
    expect(await failure(shop, second.voided)).toMatchObject({
      status: 'COMPENSATED',
      reviewReason: null,
      voucher: { status: 'ISSUED', value: { amount: '15.00' } },
    });
    expect(await standing(voided)).toEqual({ count: 1, sum: '15' });
    // A compensation that stands still fills the cap: the other member's second failure waits for a supervisor.
    expect(await failure(shop, second.kept)).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'CAP', voucher: null });
    expect(await standing(kept)).toEqual({ count: 1, sum: '100' });
    // The voided failure stays COMPENSATED: the policy decided, staff took the voucher back.
    expect(await failure(shop, first.voided)).toMatchObject({ status: 'COMPENSATED', voucher: { status: 'VOIDED' } });
  });

  it("an incident's batch measures the cap the same way", async () => {
    const shop = await app.apiKeyToken(['failures:report', 'members:read']);
    const agent = await app.staffToken('AGENT');
    const [voided, kept] = [await platinumMember(), await platinumMember()];
    for (const memberId of [voided, kept]) await report(shop, memberId, 'CRITICAL', 'order-1');
    await drainCompensation();
    const code = (await prisma.voucher.findFirstOrThrow({ where: { memberId: voided, kind: 'COMPENSATION' } })).code;
    expect((await voidCode(agent, code)).__typename).toBe('VoidVoucherPayload');

    // An OUTAGE, LOW, for both: 5.00 × 2 × 1.5 = 15.00 each.
    const answer = await app.gql(
      INCIDENT,
      { i: { type: 'OUTAGE', severity: 'LOW', affected: [{ memberId: voided }, { memberId: kept }], idempotencyKey: key('incident') } },
      shop,
    );
    expect(answer.data?.reportServiceIncident.__typename, JSON.stringify(answer)).toBe('ReportServiceIncidentPayload');
    await drainIncidents();
    const decided = await prisma.serviceFailure.findMany({
      where: { type: 'OUTAGE' },
      select: { memberId: true, status: true, reviewReason: true },
    });
    expect(decided.find((f) => f.memberId === voided)).toMatchObject({ status: 'COMPENSATED', reviewReason: null });
    expect(decided.find((f) => f.memberId === kept)).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'CAP' });
    expect(await standing(voided)).toEqual({ count: 1, sum: '15' });
    expect(await standing(kept)).toEqual({ count: 1, sum: '100' });
  });

  it('a refused void (a redeemed voucher) frees nothing and writes nothing', async () => {
    const shop = await app.apiKeyToken(['failures:report', 'members:read']);
    const redeemer = await app.apiKeyToken(['vouchers:redeem']);
    const agent = await app.staffToken('AGENT');
    const memberId = await platinumMember();
    const first = await report(shop, memberId, 'CRITICAL', 'order-1');
    await drainCompensation();
    const code = (await failure(shop, first)).voucher!.code;
    const redeemed = await app.gql(
      `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename } }`,
      {
        i: {
          code,
          orderRef: 'shop-order-1',
          orderTotalMoney: { amount: '150.00', currency: 'EUR' },
          memberId,
          idempotencyKey: key('redeem'),
        },
      },
      redeemer,
    );
    expect(redeemed.data?.redeemVoucher.__typename, JSON.stringify(redeemed)).toBe('RedeemVoucherPayload');

    const before = await tableRowCounts(prisma);
    expect(await voidCode(agent, code)).toMatchObject({ __typename: 'ValidationError', field: 'code' });
    expect(await tableRowCounts(prisma)).toEqual(before);

    const second = await report(shop, memberId, 'LOW', 'order-2');
    await drainCompensation();
    expect(await failure(shop, second)).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'CAP' });
  });

  it('a void and a new compensation of the same member at once: one of the two serial outcomes, never over the cap', async () => {
    const shop = await app.apiKeyToken(['failures:report', 'members:read']);
    const agent = await app.staffToken('AGENT');
    const members = await Promise.all(Array.from({ length: 6 }, () => platinumMember()));
    for (const memberId of members) await report(shop, memberId, 'CRITICAL', 'order-1');
    await drainCompensation();
    const codes = new Map<string, string>();
    for (const memberId of members) {
      codes.set(memberId, (await prisma.voucher.findFirstOrThrow({ where: { memberId, kind: 'COMPENSATION' } })).code);
    }
    const seconds = new Map<string, string>();
    for (const memberId of members) seconds.set(memberId, await report(shop, memberId, 'LOW', 'order-2'));
    const jobs = await prisma.outboxEvent.findMany({ where: { queue: 'compensation', completedAt: null } });
    expect(jobs).toHaveLength(members.length);

    // Each member's void and their second failure's job, all at once.
    const voids = await Promise.all([
      ...members.map((memberId) => voidCode(agent, codes.get(memberId)!)),
      ...jobs.map((job) => processCompensation(job.payload as { failureId: string }, app.deps).then(() => null)),
    ]);
    expect(voids.slice(0, members.length).every((answer) => answer?.__typename === 'VoidVoucherPayload')).toBe(true);

    for (const memberId of members) {
      const second = await failure(shop, seconds.get(memberId)!);
      const vouchers = await prisma.voucher.findMany({ where: { memberId }, orderBy: { issuedAt: 'asc' } });
      // The void first: 15.00 issued; the compensation first: held over the cap, then the 100.00 voided.
      if (second.status === 'COMPENSATED') {
        expect(vouchers.map((v) => `${v.amount!.toFixed(2)} ${v.status}`)).toEqual(['100.00 VOIDED', '15.00 ISSUED']);
        expect(await standing(memberId)).toEqual({ count: 1, sum: '15' });
      } else {
        expect(second).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'CAP', voucher: null });
        expect(vouchers.map((v) => `${v.amount!.toFixed(2)} ${v.status}`)).toEqual(['100.00 VOIDED']);
        expect(await standing(memberId)).toEqual({ count: 0, sum: '0' });
      }
      expect(await prisma.serviceFailure.count({ where: { memberId } })).toBe(2);
    }
    expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
  });

  it('both serial orders, made deterministic: a void committed while the job waits for the member counts; a job decided before the void does not see it', async () => {
    const shop = await app.apiKeyToken(['failures:report', 'members:read']);
    const agent = await app.staffToken('AGENT');
    const [voidFirst, jobFirst] = [await platinumMember(), await platinumMember()];
    for (const memberId of [voidFirst, jobFirst]) await report(shop, memberId, 'CRITICAL', 'order-1');
    await drainCompensation();
    const codeOf = async (memberId: string) => (await prisma.voucher.findFirstOrThrow({ where: { memberId, kind: 'COMPENSATION' } })).code;
    const jobOf = async (globalId: string) => {
      const { id } = await prisma.serviceFailure.findFirstOrThrow({ where: { id: decodeGlobalID(globalId).id } });
      return () => processCompensation({ failureId: id }, app.deps);
    };

    // The job waits for the member's lock; the void (which needs no member lock) commits meanwhile: the job reads the
    // cap after its lock, in a statement of its own, and finds the 100.00 voided.
    const second = await report(shop, voidFirst, 'LOW', 'order-2');
    const code = await codeOf(voidFirst);
    const decided = await whileHolding(prisma, holdMember(voidFirst), await jobOf(second), {
      meanwhile: async () => expect((await voidCode(agent, code)).__typename).toBe('VoidVoucherPayload'),
    });
    expect(decided).toMatchObject({ outcome: 'COMPENSATED', amount: '15.00' });
    expect(await standing(voidFirst)).toEqual({ count: 1, sum: '15' });

    // The void waits for the voucher's row; the job decides meanwhile with the 100.00 standing: held over the cap.
    const other = await report(shop, jobFirst, 'LOW', 'order-2');
    const otherCode = await codeOf(jobFirst);
    const held = await jobOf(other);
    const voided = await whileHolding(
      prisma,
      (holder) => holder.query('SELECT 1 FROM vouchers WHERE code = $1 FOR UPDATE', [otherCode]),
      () => voidCode(agent, otherCode),
      { meanwhile: async () => expect(await held()).toMatchObject({ outcome: 'NEEDS_REVIEW', amount: '15.00' }) },
    );
    expect(voided.__typename).toBe('VoidVoucherPayload');
    expect(await failure(shop, other)).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'CAP', voucher: null });
    expect(await standing(jobFirst)).toEqual({ count: 0, sum: '0' });
  });
});
