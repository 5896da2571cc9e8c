import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { adjustPoints, earnPoints } from '../../src/domain/points/points.service.js';
import { createReward } from '../../src/domain/rewards/rewards.service.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { addMonths } from '../../src/domain/time.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { createTestApp, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';

/**
 * A member token must never reach another member. Every root field of Query and
 * Mutation needs a probe here (the first test fails when a field is added
 * without one); each probe aims at member B with member A's token, and B's data
 * must not appear anywhere in the answer, nor may anything of B change.
 */
let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
let a: { id: string; token: string };
let b: { id: string; externalId: string; email: string; entryId: string };
/** Member B's voucher, and a reward anyone could buy. */
let bVoucher: { id: string; code: string };
let rewardId: string;
/** Member B's service failure. */
let bFailureId: string;
/** Member B's contract, extended once. */
let bContract: { id: string; externalRef: string; renewalId: string };

const MEMBER_FIELDS = 'id externalId email name balance { available pending } ledger { edges { node { id amount member { id email } } } } tierProgress { qualifyingPoints } tierHistory { edges { node { id } } } vouchers { edges { node { id code } } } activeVouchers { id code } atRisk serviceFailures { edges { node { id orderRef } } }';

type Probe = (ctx: { b: typeof b }) => { query: string; variables?: Record<string, unknown> };

const queryProbes: Record<string, Probe[]> = {
  me: [() => ({ query: `{ me { ${MEMBER_FIELDS} } }` })],
  member: [
    ({ b }) => ({ query: `query($id: ID!) { member(id: $id) { ${MEMBER_FIELDS} } }`, variables: { id: b.id } }),
    ({ b }) => ({
      query: `query($id: ID!) { member(id: $id) { ${MEMBER_FIELDS} } }`,
      variables: { id: encodeGlobalID('Member', b.id) },
    }),
  ],
  memberByExternalId: [
    ({ b }) => ({
      query: `query($e: String!) { memberByExternalId(externalId: $e) { ${MEMBER_FIELDS} } }`,
      variables: { e: b.externalId },
    }),
  ],
  members: [() => ({ query: `{ members(first: 50) { edges { node { ${MEMBER_FIELDS} } } } }` })],
  node: [
    ({ b }) => ({
      query: `query($id: ID!) { node(id: $id) { id ... on Member { ${MEMBER_FIELDS} } } }`,
      variables: { id: encodeGlobalID('Member', b.id) },
    }),
    ({ b }) => ({
      query: `query($id: ID!) { node(id: $id) { id ... on LedgerEntry { amount member { id email } } } }`,
      variables: { id: encodeGlobalID('LedgerEntry', b.entryId) },
    }),
    () => ({
      query: `query($id: ID!) { node(id: $id) { id ... on Voucher { code member { id email } } } }`,
      variables: { id: encodeGlobalID('Voucher', bVoucher.id) },
    }),
    () => ({
      query: `query($id: ID!) { node(id: $id) { id ... on ServiceFailure { orderRef status member { id email } } } }`,
      variables: { id: encodeGlobalID('ServiceFailure', bFailureId) },
    }),
    () => ({
      query: `query($id: ID!) { node(id: $id) { id ... on Contract { externalRef member { id email } renewals { edges { node { id } } } } } }`,
      variables: { id: encodeGlobalID('Contract', bContract.id) },
    }),
    () => ({
      query: `query($id: ID!) { node(id: $id) { id ... on ContractRenewal { bonusPoints contract { externalRef } } } }`,
      variables: { id: encodeGlobalID('ContractRenewal', bContract.renewalId) },
    }),
  ],
  voucher: [
    () => ({
      query: `query($c: String!) { voucher(code: $c) { id code status member { id email } } }`,
      variables: { c: bVoucher.code },
    }),
  ],
  validateVoucher: [
    ({ b }) => ({
      query: `query($c: String!, $m: ID) { validateVoucher(code: $c, orderTotal: "100.00", memberId: $m) {
        valid reason discount { amount } voucher { id code member { id email } } } }`,
      variables: { c: bVoucher.code, m: b.id },
    }),
    () => ({
      query: `query($c: String!) { validateVoucher(code: $c, orderTotal: "100.00") { valid reason voucher { id code } } }`,
      variables: { c: bVoucher.code },
    }),
  ],
  rewards: [() => ({ query: '{ rewards(includeRetired: true) { edges { node { id name stock } } } }' })],
  program: [() => ({ query: '{ program { version currency } }' })],
  tiers: [() => ({ query: '{ tiers { tier threshold multiplier } }' })],
  goodwillGestures: [
    ({ b }) => ({
      query: `query($m: ID) { goodwillGestures(filter: { memberId: $m }) { edges { node { id points member { ${MEMBER_FIELDS} } } } } }`,
      variables: { m: b.id },
    }),
  ],
  contractByExternalRef: [
    () => ({
      query: `query($r: String!) { contractByExternalRef(externalRef: $r) { id externalRef member { id email } } }`,
      variables: { r: bContract.externalRef },
    }),
  ],
  agentAuthority: [() => ({ query: '{ agentAuthority { agentId monthlyBudget { amount } } }' })],
  serviceFailures: [
    ({ b }) => ({
      query: `query($m: ID) { serviceFailures(filter: { memberId: $m }) { edges { node { id orderRef member { ${MEMBER_FIELDS} } } } } }`,
      variables: { m: b.id },
    }),
  ],
};

const mutationProbes: Record<string, Probe[]> = {
  updateProgram: [
    () => ({
      query: `mutation { updateProgram(input: { pointsPerCurrencyUnit: 100 }) { __typename ... on UpdateProgramPayload { program { version } } } }`,
    }),
  ],
  enrollMember: [
    ({ b }) => ({
      query: `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename ... on EnrollMemberPayload { member { id } } } }`,
      variables: { i: { externalId: b.externalId, email: 'x@example.com', name: 'X' } },
    }),
  ],
  updateMember: [
    ({ b }) => ({
      query: `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename ... on UpdateMemberPayload { member { ${MEMBER_FIELDS} } } } }`,
      variables: { i: { id: b.id, name: 'Hijacked' } },
    }),
  ],
  earnPoints: [
    ({ b }) => ({
      query: `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { member { ${MEMBER_FIELDS} } } } }`,
      variables: { i: { memberId: b.id, orderRef: 'x', orderTotal: '10', idempotencyKey: 'iso-1' } },
    }),
  ],
  redeemPoints: [
    ({ b }) => ({
      query: `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename } }`,
      variables: { i: { memberId: b.id, points: 1, idempotencyKey: 'iso-2' } },
    }),
  ],
  adjustPoints: [
    ({ b }) => ({
      query: `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename } }`,
      variables: { i: { memberId: b.id, points: -1, reason: 'steal', idempotencyKey: 'iso-3' } },
    }),
  ],
  refundOrder: [
    ({ b }) => ({
      query: `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { __typename } }`,
      variables: { i: { memberId: b.id, orderRef: 'b-order', idempotencyKey: 'iso-4' } },
    }),
  ],
  redeemVoucher: [
    ({ b }) => ({
      query: `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
        ... on RedeemVoucherPayload { voucher { code member { id } } } } }`,
      variables: { i: { code: bVoucher.code, orderRef: 'x', orderTotal: '100.00', memberId: b.id, idempotencyKey: 'iso-v1' } },
    }),
  ],
  voidVoucher: [
    () => ({
      query: `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename } }`,
      variables: { i: { code: bVoucher.code, reason: 'spite', idempotencyKey: 'iso-v2' } },
    }),
  ],
  redeemReward: [
    ({ b }) => ({
      query: `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename
        ... on RedeemRewardPayload { voucher { code } member { id } } } }`,
      variables: { i: { memberId: b.id, rewardId, idempotencyKey: 'iso-r1' } },
    }),
  ],
  createReward: [
    () => ({
      query: `mutation { createReward(input: { name: "x", pointsCost: 1, voucherValue: "1.00" }) { __typename } }`,
    }),
  ],
  updateReward: [
    () => ({
      query: `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename } }`,
      variables: { i: { id: rewardId, pointsCost: 1 } },
    }),
  ],
  retireReward: [
    () => ({
      query: `mutation($i: RetireRewardInput!) { retireReward(input: $i) { __typename } }`,
      variables: { i: { id: rewardId } },
    }),
  ],
  createApiKey: [
    () => ({
      query: `mutation { createApiKey(input: { name: "x", scopes: ["admin"] }) { __typename ... on CreateApiKeyPayload { token } } }`,
    }),
  ],
  issueGoodwill: [
    ({ b }) => ({
      query: `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) { __typename ... on IssueGoodwillPayload { gesture { id member { ${MEMBER_FIELDS} } } } } }`,
      variables: { i: { memberId: b.id, kind: 'POINTS', points: 100, reason: 'OTHER', note: 'gift', idempotencyKey: 'iso-gw' } },
    }),
  ],
  approveGoodwill: [
    () => ({
      query: `mutation($i: ApproveGoodwillInput!) { approveGoodwill(input: $i) { __typename } }`,
      variables: { i: { gestureId: '00000000-0000-4000-8000-000000000001', idempotencyKey: 'iso-gw-a' } },
    }),
  ],
  rejectGoodwill: [
    () => ({
      query: `mutation($i: RejectGoodwillInput!) { rejectGoodwill(input: $i) { __typename } }`,
      variables: { i: { gestureId: '00000000-0000-4000-8000-000000000001', note: 'no' } },
    }),
  ],
  setAgentAuthority: [
    () => ({
      query: `mutation($i: SetAgentAuthorityInput!) { setAgentAuthority(input: $i) { __typename } }`,
      variables: { i: { agentId: 'staff-agent', monthlyBudget: '100000.00' } },
    }),
  ],
  recordServiceCase: [
    ({ b }) => ({
      query: `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) { __typename ... on RecordServiceCasePayload { serviceCase { id member { ${MEMBER_FIELDS} } } } } }`,
      variables: { i: { memberId: b.id, channel: 'CHAT', category: 'delivery' } },
    }),
  ],
  resolveServiceCase: [
    () => ({
      query: `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) { __typename } }`,
      variables: { i: { caseId: '00000000-0000-4000-8000-000000000001' } },
    }),
  ],
  registerContract: [
    ({ b }) => ({
      query: `mutation($i: RegisterContractInput!) { registerContract(input: $i) { __typename ... on RegisterContractPayload { contract { id member { id } } } } }`,
      variables: { i: { memberId: b.id, externalRef: bContract.externalRef, plan: 'p', startsAt: '2026-01-01T00:00:00.000Z', termMonths: 12 } },
    }),
  ],
  extendContract: [
    () => ({
      query: `mutation($i: ExtendContractInput!) { extendContract(input: $i) { __typename ... on ExtendContractPayload { contract { id member { id } } } } }`,
      variables: { i: { externalRef: bContract.externalRef, termMonths: 12, idempotencyKey: 'iso-c1' } },
    }),
  ],
  cancelContract: [
    () => ({
      query: `mutation($i: CancelContractInput!) { cancelContract(input: $i) { __typename ... on CancelContractPayload { contract { id } } } }`,
      variables: { i: { contractId: encodeGlobalID('Contract', bContract.id), idempotencyKey: 'iso-c2' } },
    }),
  ],
  submitFeedback: [
    ({ b }) => ({
      query: `mutation($i: SubmitFeedbackInput!) { submitFeedback(input: $i) { __typename ... on SubmitFeedbackPayload { feedback { id member { ${MEMBER_FIELDS} } } } } }`,
      variables: { i: { memberId: b.id, nps: 0, comment: 'as B' } },
    }),
  ],
  reportServiceFailure: [
    ({ b }) => ({
      query: `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) { __typename ... on ReportServiceFailurePayload { failure { id member { ${MEMBER_FIELDS} } } } } }`,
      variables: { i: { memberId: b.id, type: 'LATE_DELIVERY', severity: 'CRITICAL', orderRef: 'iso-f', idempotencyKey: 'iso-f1' } },
    }),
  ],
  reviewServiceFailure: [
    () => ({
      query: `mutation($i: ReviewServiceFailureInput!) { reviewServiceFailure(input: $i) { __typename ... on ReviewServiceFailurePayload { failure { id status } } } }`,
      variables: { i: { failureId: bFailureId, decision: 'GRANT', note: 'as B', idempotencyKey: 'iso-f2' } },
    }),
  ],
};

/** B's vouchers and redemptions, and the catalogue (which a member token must not change either). */
async function vouchersAndRewards() {
  return {
    vouchers: await prisma.voucher.findMany({ where: { memberId: b.id }, orderBy: { id: 'asc' } }),
    voucherRedemptions: await prisma.voucherRedemption.count(),
    rewards: await prisma.reward.findMany({ orderBy: { id: 'asc' } }),
    rewardRedemptions: await prisma.rewardRedemption.count(),
  };
}

async function snapshotOfB() {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: b.id } });
  const entries = await prisma.ledgerEntry.count({ where: { memberId: b.id } });
  const recovery = {
    gestures: await prisma.goodwillGesture.count({ where: { memberId: b.id } }),
    cases: await prisma.serviceCase.count({ where: { memberId: b.id } }),
    feedback: await prisma.feedback.count({ where: { memberId: b.id } }),
    authorities: await prisma.agentAuthority.count(),
    contracts: await prisma.contract.findMany({ where: { memberId: b.id }, include: { renewals: true } }),
    failures: await prisma.serviceFailure.findMany({ where: { memberId: b.id } }),
  };
  return { ...member, entries, keys: await prisma.apiKey.count(), ...(await vouchersAndRewards()), ...recovery };
}

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
  await resetDatabase(prisma);
  const aId = await app.enroll({ externalId: 'cust-a', email: 'a@example.com' });
  const bId = await app.enroll({ externalId: 'cust-b', email: 'b@example.com' });
  const storefront = { actor: { type: 'API_KEY' as const, id: 'shop' } };
  const deps = { prisma, logger: testLogger };
  await earnPoints(deps, { memberId: aId, orderRef: 'a-order', orderTotal: '10', idempotencyKey: 'a1' }, storefront);
  const earned = await earnPoints(
    deps,
    { memberId: bId, orderRef: 'b-order', orderTotal: '20', idempotencyKey: 'b1' },
    storefront,
  );
  a = { id: aId, token: await app.memberToken(aId) };
  b = { id: bId, externalId: 'cust-b', email: 'b@example.com', entryId: earned.entryId! };
  // Available points, a voucher and a reward for B, so that the voucher and reward probes have a target.
  const admin = { actor: { type: 'STAFF' as const, id: 'admin' }, role: 'ADMIN' as const };
  await adjustPoints(deps, { memberId: bId, points: 100, reason: 'probe target', idempotencyKey: 'b2' }, admin);
  const voucher = await prisma.$transaction(async (tx) =>
    issueVoucher(tx, {
      memberId: bId,
      kind: 'GOODWILL',
      value: { type: 'FIXED', amount: '10.00' },
      causeType: 'GESTURE',
      causeRef: 'gesture-b',
      now: new Date(),
    }),
  );
  bVoucher = { id: voucher.voucher.id, code: voucher.voucher.code };
  const contract = await registerContract(
    deps,
    // Started 23 months ago: up for renewal now.
    { memberId: bId, externalRef: 'contract-b', plan: 'p', startsAt: addMonths(new Date(), -23), termMonths: 24 },
    storefront,
  );
  const renewal = await extendContract(deps, { contractId: contract.contractId, termMonths: 12, idempotencyKey: 'b3' }, storefront);
  bContract = { id: contract.contractId, externalRef: 'contract-b', renewalId: renewal.renewalId };
  rewardId = (await createReward(deps, { name: 'Probe reward', pointsCost: 1, voucherValue: '1.00', stock: 5 }, admin)).id;
  bFailureId = (
    await reportServiceFailure(
      deps,
      { memberId: bId, type: 'BILLING_ERROR', severity: 'LOW', orderRef: 'b-failure', idempotencyKey: 'b4' },
      storefront,
    )
  ).failureId;
});
afterAll(async () => prisma.$disconnect());

function expectNoTraceOfB(response: unknown) {
  const text = JSON.stringify(response);
  const voucherSecrets = [bVoucher.code, bVoucher.id, encodeGlobalID('Voucher', bVoucher.id)];
  const contractSecrets = [bContract.externalRef, bContract.id, encodeGlobalID('Contract', bContract.id), bContract.renewalId];
  const failureSecrets = [bFailureId, encodeGlobalID('ServiceFailure', bFailureId), 'b-failure'];
  for (const secret of [b.id, encodeGlobalID('Member', b.id), b.email, b.externalId, b.entryId, ...voucherSecrets, ...contractSecrets, ...failureSecrets]) {
    expect(text).not.toContain(secret);
  }
}

describe('a member token cannot reach another member', () => {
  it('every root field of Query and Mutation has a probe', () => {
    const schema = getSchema();
    expect(Object.keys(schema.getQueryType()!.getFields()).sort()).toEqual(Object.keys(queryProbes).sort());
    expect(Object.keys(schema.getMutationType()!.getFields()).sort()).toEqual(Object.keys(mutationProbes).sort());
  });

  it('no query field returns anything of member B', async () => {
    for (const [field, probes] of Object.entries(queryProbes)) {
      for (const probe of probes) {
        const { query, variables } = probe({ b });
        const response = await app.gql(query, variables, a.token);
        expectNoTraceOfB(response);
        if (field === 'me') expect(response.data?.me.id).toBe(encodeGlobalID('Member', a.id));
      }
    }
  });

  it('no mutation changes or returns member B', async () => {
    const before = await snapshotOfB();
    for (const probes of Object.values(mutationProbes)) {
      for (const probe of probes) {
        const { query, variables } = probe({ b });
        const response = await app.gql(query, variables, a.token);
        expectNoTraceOfB(response);
        const typename = Object.values(response.data ?? {})[0] as { __typename?: string } | null | undefined;
        if (typename) expect(['ForbiddenError', 'NotFoundError']).toContain(typename.__typename);
      }
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("a member sees their own ledger and balance through `me`", async () => {
    const response = await app.gql(`{ me { balance { pending } ledger { edges { node { amount member { email } } } } } }`, {}, a.token);
    expect(response.errors).toBeUndefined();
    expect(response.data?.me.balance.pending).toBe(10);
    expect(response.data?.me.ledger.edges[0].node.member.email).toBe('a@example.com');
  });
});
