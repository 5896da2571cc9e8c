import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { API_KEY_SCOPES, type Caller } from '../../src/auth/principal.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { recordServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import { issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { createEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { createReward } from '../../src/domain/rewards/rewards.service.js';
import { expandIncidentPage, reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { generateVoucherCode } from '../../src/domain/vouchers/voucher-code.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { createWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { recordWebhookEvents } from '../../src/domain/webhooks/webhook-events.js';
import { testLogger } from './app.js';

/**
 * One probe per root field (some fields have more): a small valid operation aimed
 * at a subject — a member and, for goodwill authority, an agent — with the rows
 * it acts on created fresh for each run (`targets`), so that runs are independent
 * and an allowed mutation can really succeed. The permission matrix test runs the
 * first probe of each field for every kind of caller; the member-isolation test
 * runs them all with one member's token against another member.
 */

/** Whose data a probe aims at. */
export interface Subject {
  member: { id: string; externalId: string; email: string };
  /** The agent whose goodwill authority is read. */
  agentId: string;
  /**
   * The caller under test as the rows it reports name it, when it may report incidents: a key with `failures:report`
   * reads only the incidents it reported, so the incident it reads is its own. Absent: the probe shop reports them.
   */
  reporter?: Caller;
}

/** The ids and codes a probe acts on (raw UUIDs, voucher codes, references). */
export type Targets = Record<string, string>;

export interface Operation {
  query: string;
  variables?: Record<string, unknown>;
}

export interface Probe {
  /** Creates the rows this run acts on, owned by the subject. */
  targets(seed: Seeder, subject: Subject): Promise<Targets>;
  /**
   * The operation. `member`: the selection wherever a Member appears in the answer;
   * without it, members nested in other objects are not asked for (they have their
   * own rules: a key without `members:read` may earn points but not read the member).
   */
  operation(targets: Targets, member?: string): Operation;
  /**
   * For reads that answer without naming their subject (`me`): whether the answer
   * is the subject's. A read answering someone else's data has not reached it.
   */
  reached?(value: unknown, targets: Targets): boolean;
}

const STAFF: Caller = { actor: { type: 'STAFF', id: 'probe-seeder' }, role: 'AGENT' };
const ADMIN: Caller = { actor: { type: 'STAFF', id: 'probe-admin' }, role: 'ADMIN' };
/** A storefront key with every scope but admin. */
const SHOP: Caller = { actor: { type: 'API_KEY', id: 'probe-shop' }, scopes: new Set(API_KEY_SCOPES.filter((scope) => scope !== 'admin')) };
const DAY = 86_400_000;

/** Creates probe targets through the domain services (not through GraphQL: the caller under test must not be needed). */
export class Seeder {
  private count = 0;
  readonly deps;

  constructor(readonly prisma: PrismaClient) {
    this.deps = { prisma, logger: testLogger };
  }

  /** A value no other run uses. */
  unique(label: string): string {
    this.count += 1;
    return `${label}-${this.count}-${randomUUID().slice(0, 8)}`;
  }

  /** A storefront API key (its id), for the admins' key management to act on. */
  async apiKey() {
    const { apiKey } = await createApiKey(this.deps, { name: this.unique('probe-key'), scopes: ['members:read'] }, ADMIN);
    return { apiKeyId: apiKey.id };
  }

  async voucher(memberId: string) {
    const { voucher } = await this.prisma.$transaction((tx) =>
      issueVoucher(tx, {
        memberId,
        kind: 'GOODWILL',
        value: { type: 'FIXED', amount: '5.00' },
        causeType: 'GESTURE',
        causeRef: this.unique('probe-voucher'),
        now: new Date(),
      }),
    );
    return { voucherId: voucher.id, code: voucher.code };
  }

  /** An active contract that is up for renewal: it ends in 30 days. */
  async contract(memberId: string) {
    const externalRef = this.unique('probe-contract');
    const startsAt = new Date(Date.now() + 30 * DAY);
    startsAt.setUTCFullYear(startsAt.getUTCFullYear() - 1);
    const { contractId } = await registerContract(this.deps, { memberId, externalRef, plan: 'probe', startsAt, termMonths: 12 }, SHOP);
    return { contractId, externalRef };
  }

  /** A contract with one renewal, for reads of renewals. */
  async renewedContract(memberId: string) {
    const contract = await this.contract(memberId);
    const { renewalId } = await extendContract(
      this.deps,
      { contractId: contract.contractId, termMonths: 12, idempotencyKey: this.unique('probe-renewal') },
      SHOP,
    );
    return { ...contract, renewalId };
  }

  /** A renewal whose bonus is held (as the job holds a suspended member's), for a supervisor's decision. */
  async heldRenewal(memberId: string) {
    const renewed = await this.renewedContract(memberId);
    await this.prisma.contractRenewal.update({
      where: { id: renewed.renewalId },
      data: { bonusHeldAt: new Date(), bonusHeldReason: 'MEMBER_SUSPENDED', bonusPoints: 500 },
    });
    await this.prisma.outboxEvent.updateMany({ where: { id: renewed.renewalId }, data: { completedAt: new Date() } });
    return renewed;
  }

  /** An order that earned points (pending), for refunds. */
  async earnedOrder(memberId: string) {
    const orderRef = this.unique('probe-order');
    const { entryId } = await earnPoints(this.deps, { memberId, orderRef, orderTotal: '20', idempotencyKey: orderRef }, SHOP);
    return { orderRef, entryId: entryId! };
  }

  async failure(memberId: string) {
    const orderRef = this.unique('probe-failure');
    const { failureId } = await reportServiceFailure(
      this.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef, idempotencyKey: orderRef },
      SHOP,
    );
    return { failureId, orderRef };
  }

  /** A failure whose compensation waits for a supervisor (as over the cap). */
  async failureNeedingReview(memberId: string) {
    const failure = await this.failure(memberId);
    await this.prisma.serviceFailure.update({
      where: { id: failure.failureId },
      data: { status: 'NEEDS_REVIEW', repeatIndex: 1, compensationAmount: '5.00', compensationCurrency: 'EUR' },
    });
    return failure;
  }

  /** A service incident naming the member, reported by `reporter` (the probe shop by default). */
  async incident(memberId: string, budget?: string, reporter: Caller = SHOP) {
    const { incidentId, pageId } = await reportServiceIncident(
      this.deps,
      { type: 'OUTAGE', severity: 'LOW', budget, affected: [{ memberId }], idempotencyKey: this.unique('probe-incident') },
      reporter,
    );
    return { incidentId, pageId };
  }

  /** An incident whose failure waits for the decision on its budget (the budget is one cent). */
  async incidentOverBudget(memberId: string) {
    const { incidentId, pageId } = await this.incident(memberId, '0.01');
    await expandIncidentPage(this.deps, pageId);
    // Over the member's cap (other probes' compensations) it would wait for the cap instead: for the budget, then.
    await this.prisma.serviceFailure.updateMany({ where: { incidentId }, data: { reviewReason: 'INCIDENT_BUDGET' } });
    return { incidentId };
  }

  /** A gesture above the issuing agent's authority, waiting for a supervisor. */
  async pendingGesture(memberId: string) {
    const { gestureId } = await issueGoodwill(
      this.deps,
      {
        memberId,
        kind: 'POINTS',
        points: 5_000,
        reason: 'OTHER',
        note: 'probe gesture above authority',
        idempotencyKey: this.unique('probe-gesture'),
      },
      { actor: { type: 'STAFF', id: 'probe-issuing-agent' }, role: 'AGENT' },
    );
    return { gestureId };
  }

  async openCase(memberId: string) {
    const serviceCase = await recordServiceCase(this.deps, { memberId, channel: 'CHAT', category: 'probe' }, STAFF);
    return { caseId: serviceCase.id };
  }

  /** A webhook endpoint (https, never called: no worker runs in these tests). */
  async webhookEndpoint() {
    const { endpoint } = await createWebhookEndpoint(
      this.deps,
      { url: `https://hooks.example.com/${this.unique('probe')}`, eventTypes: ['member.enrolled'] },
      ADMIN,
    );
    return { endpointId: endpoint.id };
  }

  /** A dead-lettered delivery of an endpoint that subscribes only to it (an event of a type of its own). */
  async deadWebhookDelivery() {
    const { endpoint } = await createWebhookEndpoint(
      this.deps,
      { url: `https://hooks.example.com/${this.unique('probe')}`, eventTypes: ['webhook_endpoint.disabled'] },
      ADMIN,
    );
    await recordWebhookEvents(this.prisma, [{ type: 'webhook_endpoint.disabled', data: { probe: true } }], new Date());
    const [delivery] = await this.prisma.$queryRaw<{ id: string }[]>`
      UPDATE webhook_deliveries SET status = 'DEAD', last_error = 'probe' WHERE endpoint_id = ${endpoint.id}::uuid RETURNING id::text`;
    await this.prisma.$executeRaw`UPDATE outbox_events SET completed_at = now() WHERE id = ${delivery!.id}::uuid`;
    return { endpointId: endpoint.id, deliveryId: delivery!.id };
  }

  /** A double-points rule, for the admins' rule management to act on. */
  async earningRule() {
    const rule = await createEarningRule(
      this.deps,
      { name: this.unique('Probe rule'), effect: { lineMultiplier: { multiplier: '2' } }, conditions: { channels: ['probe'] } },
      ADMIN,
    );
    return { ruleId: rule.id };
  }

  async reward() {
    const reward = await createReward(this.deps, { name: this.unique('Probe reward'), pointsCost: 1, voucherValue: '1.00' }, ADMIN);
    return { rewardId: reward.id };
  }
}

const nestedMember = (selection: string | undefined) => (selection ? `member { ${selection} }` : '');
const member = (subject: Subject) => ({ memberId: subject.member.id });
const none = async () => ({});

/** A target of the same kind that does not exist: what a member must not be able to tell from another's. */
export function missingTargets(targets: Targets): Targets {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  return Object.fromEntries(
    Object.entries(targets).map(([key, value]) => {
      if (uuid.test(value)) return [key, randomUUID()];
      if (key === 'code') return [key, generateVoucherCode()];
      return [key, `absent-${randomUUID().slice(0, 8)}`];
    }),
  );
}

const NODE_TYPES = [
  'Member',
  'Voucher',
  'LedgerEntry',
  'ServiceFailure',
  'ServiceIncident',
  'Contract',
  'ContractRenewal',
  'Reward',
  'EarningRule',
];

/** Every way a target can appear in an answer: raw, and as a global id of each type. */
export function targetForms(value: string): string[] {
  return [value, ...NODE_TYPES.map((type) => encodeGlobalID(type, value))];
}

const IN_WINDOW = { termMonths: 12 };

export const QUERY_PROBES: Record<string, Probe[]> = {
  apiKeys: [{ targets: none, operation: () => ({ query: '{ apiKeys(first: 5) { edges { node { id name prefix scopes } } } }' }) }],
  agentAuthority: [
    {
      targets: async (_seed, subject) => ({ agentId: subject.agentId }),
      operation: (t) => ({
        query: 'query($a: String) { agentAuthority(agentId: $a) { agentId monthlyBudget { amount } } }',
        variables: { a: t.agentId },
      }),
    },
  ],
  atRiskMembers: [
    {
      // A failure puts the subject on the save desk.
      targets: async (seed, subject) => ({ ...(await seed.failure(subject.member.id)), ...member(subject) }),
      operation: (_t, m) => ({
        query: `{ atRiskMembers(first: 5) { edges { node { score reasons { kind points } goodwillAuthority { agentId } ${nestedMember(m)} } } } }`,
      }),
    },
  ],
  contractByExternalRef: [
    {
      targets: async (seed, subject) => seed.contract(subject.member.id),
      operation: (t, m) => ({
        query: `query($r: String!) { contractByExternalRef(externalRef: $r) { id externalRef ${nestedMember(m)} } }`,
        variables: { r: t.externalRef },
      }),
    },
  ],
  goodwillGestures: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `query($m: ID) { goodwillGestures(filter: { memberId: $m }) { edges { node { id points ${nestedMember(m)} } } } }`,
        variables: { m: t.memberId },
      }),
    },
  ],
  loyaltyMetrics: [
    {
      targets: none,
      operation: () => ({
        query: `{ loyaltyMetrics(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") {
          __typename ... on LoyaltyMetrics { totals { nps { numerator denominator } members { active } } } } }`,
      }),
      // A refusal is a typed ForbiddenError (or UnauthenticatedError) in the result union.
      reached: (value) => (value as { __typename?: string }).__typename === 'LoyaltyMetrics',
    },
  ],
  me: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (_t, m) => ({ query: `{ me { id ${m ?? ''} } }` }),
      reached: (value, t) => (value as { id?: string }).id === encodeGlobalID('Member', t.memberId!),
    },
  ],
  member: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({ query: `query($id: ID!) { member(id: $id) { ${m ?? 'id'} } }`, variables: { id: t.memberId } }),
    },
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `query($id: ID!) { member(id: $id) { ${m ?? 'id'} } }`,
        variables: { id: encodeGlobalID('Member', t.memberId!) },
      }),
    },
  ],
  order: [
    {
      targets: async (seed, subject) => ({ ...member(subject), ...(await seed.earnedOrder(subject.member.id)) }),
      operation: (t, m) => ({
        query: `query($m: ID!, $r: String!) { order(memberId: $m, reference: $r) { reference ${nestedMember(m)} } }`,
        variables: { m: t.memberId, r: t.orderRef },
      }),
    },
  ],
  memberByExternalId: [
    {
      targets: async (_seed, subject) => ({ externalId: subject.member.externalId }),
      operation: (t, m) => ({
        query: `query($e: String!) { memberByExternalId(externalId: $e) { ${m ?? 'id'} } }`,
        variables: { e: t.externalId },
      }),
    },
  ],
  members: [{ targets: none, operation: (_t, m) => ({ query: `{ members(first: 50) { edges { node { ${m ?? 'id'} } } } }` }) }],
  node: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `query($id: ID!) { node(id: $id) { id ... on Member { ${m ?? 'id'} } } }`,
        variables: { id: encodeGlobalID('Member', t.memberId!) },
      }),
    },
    {
      targets: async (seed, subject) => seed.earnedOrder(subject.member.id),
      operation: (t, m) => ({
        query: `query($id: ID!) { node(id: $id) { id ... on LedgerEntry { amount ${nestedMember(m)} } } }`,
        variables: { id: encodeGlobalID('LedgerEntry', t.entryId!) },
      }),
    },
    {
      targets: async (seed, subject) => seed.voucher(subject.member.id),
      operation: (t, m) => ({
        query: `query($id: ID!) { node(id: $id) { id ... on Voucher { code ${nestedMember(m)} } } }`,
        variables: { id: encodeGlobalID('Voucher', t.voucherId!) },
      }),
    },
    {
      targets: async (seed, subject) => seed.failure(subject.member.id),
      operation: (t, m) => ({
        query: `query($id: ID!) { node(id: $id) { id ... on ServiceFailure { orderRef status ${nestedMember(m)} } } }`,
        variables: { id: encodeGlobalID('ServiceFailure', t.failureId!) },
      }),
    },
    {
      targets: async (seed, subject) => seed.renewedContract(subject.member.id),
      operation: (t, m) => ({
        query: `query($id: ID!) { node(id: $id) { id ... on Contract { externalRef ${nestedMember(m)} renewals { edges { node { id } } } } } }`,
        variables: { id: encodeGlobalID('Contract', t.contractId!) },
      }),
    },
    {
      targets: async (seed, subject) => seed.renewedContract(subject.member.id),
      operation: (t) => ({
        query: `query($id: ID!) { node(id: $id) { id ... on ContractRenewal { bonusPoints contract { externalRef } } } }`,
        variables: { id: encodeGlobalID('ContractRenewal', t.renewalId!) },
      }),
    },
  ],
  earningRules: [
    {
      targets: async (seed) => seed.earningRule(),
      operation: () => ({ query: '{ earningRules(first: 5) { edges { node { id name kind multiplier } } } }' }),
    },
  ],
  previewEarn: [
    {
      targets: async (seed, subject) => ({ ...member(subject), orderRef: seed.unique('probe-preview') }),
      operation: (t) => ({
        query: `query($i: PreviewEarnInput!) { previewEarn(input: $i) { __typename ... on EarnPreview { points breakdown { points } } } }`,
        variables: { i: { memberId: t.memberId, order: { reference: t.orderRef, total: { amount: '10.00', currency: 'EUR' } } } },
      }),
      reached: (value) => (value as { __typename?: string }).__typename === 'EarnPreview',
    },
  ],
  heldRenewalBonuses: [
    {
      targets: async (seed, subject) => seed.heldRenewal(subject.member.id),
      operation: (_t, m) => ({
        query: `{ heldRenewalBonuses(first: 5) { totalCount edges { node { id bonusPoints bonusHeldReason contract { id ${nestedMember(m)} } } } } }`,
      }),
    },
  ],
  program: [{ targets: none, operation: () => ({ query: '{ program { version currency } }' }) }],
  rewards: [{ targets: none, operation: () => ({ query: '{ rewards(first: 5) { edges { node { id name stock } } } }' }) }],
  serviceFailures: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `query($m: ID) { serviceFailures(filter: { memberId: $m }) { edges { node { id orderRef ${nestedMember(m)} } } } }`,
        variables: { m: t.memberId },
      }),
    },
  ],
  serviceIncident: [
    {
      targets: async (seed, subject) => seed.incident(subject.member.id, undefined, subject.reporter),
      operation: (t) => ({
        query: `query($id: ID!) { serviceIncident(id: $id) { id affected recorded spent { amount } } }`,
        variables: { id: t.incidentId },
      }),
    },
  ],
  serviceIncidents: [
    {
      targets: async (seed, subject) => seed.incident(subject.member.id, undefined, subject.reporter),
      operation: () => ({ query: '{ serviceIncidents(first: 5) { totalCount edges { node { id affected spent { amount } } } } }' }),
    },
  ],
  tiers: [{ targets: none, operation: () => ({ query: '{ tiers { key threshold multiplier } }' }) }],
  validateVoucher: [
    {
      targets: async (seed, subject) => seed.voucher(subject.member.id),
      operation: (t, m) => ({
        query: `query($c: String!) { validateVoucher(code: $c, orderTotal: "100.00") { valid reason voucher { id code ${nestedMember(m)} } } }`,
        variables: { c: t.code },
      }),
      // A member asking about another member's code must learn nothing about it.
      reached: (value) => (value as { reason?: string }).reason !== 'NOT_FOUND',
    },
    {
      targets: async (seed, subject) => ({ ...(await seed.voucher(subject.member.id)), ...member(subject) }),
      operation: (t, m) => ({
        query: `query($c: String!, $m: ID) { validateVoucher(code: $c, orderTotal: "100.00", memberId: $m) {
          valid reason discount { amount } voucher { id code ${nestedMember(m)} } } }`,
        variables: { c: t.code, m: t.memberId },
      }),
      reached: (value) => (value as { reason?: string }).reason !== 'NOT_FOUND',
    },
  ],
  voucher: [
    {
      targets: async (seed, subject) => seed.voucher(subject.member.id),
      operation: (t, m) => ({
        query: `query($c: String!) { voucher(code: $c) { id code status ${nestedMember(m)} } }`,
        variables: { c: t.code },
      }),
    },
  ],
  webhookEndpoints: [
    { targets: none, operation: () => ({ query: '{ webhookEndpoints(first: 5) { edges { node { id url eventTypes enabled } } } }' }) },
  ],
  webhookDeliveries: [
    {
      targets: none,
      operation: () => ({ query: '{ webhookDeliveries(first: 5) { edges { node { id status attempts history { statusCode } } } } }' }),
    },
  ],
};

export const MUTATION_PROBES: Record<string, Probe[]> = {
  adjustPoints: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t) => ({
        query: `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { __typename ... on AdjustPointsPayload { points } } }`,
        variables: { i: { memberId: t.memberId, points: 1, reason: 'probe', idempotencyKey: randomUUID() } },
      }),
    },
  ],
  approveGoodwill: [
    {
      targets: async (seed, subject) => seed.pendingGesture(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: ApproveGoodwillInput!) { approveGoodwill(input: $i) { __typename ... on ApproveGoodwillPayload { status } } }`,
        variables: { i: { gestureId: t.gestureId, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  cancelContract: [
    {
      targets: async (seed, subject) => seed.contract(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: CancelContractInput!) { cancelContract(input: $i) { __typename ... on CancelContractPayload { contract { id } } } }`,
        variables: { i: { contractId: encodeGlobalID('Contract', t.contractId!), idempotencyKey: randomUUID() } },
      }),
    },
  ],
  revokeApiKey: [
    {
      targets: (seed) => seed.apiKey(),
      operation: (t) => ({
        query: `mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { __typename ... on RevokeApiKeyPayload { apiKey { id revokedAt } } } }`,
        variables: { i: { id: t.apiKeyId } },
      }),
    },
  ],
  createApiKey: [
    {
      targets: none,
      operation: () => ({
        query: `mutation { createApiKey(input: { name: "probe", scopes: ["members:read"] }) { __typename ... on CreateApiKeyPayload { apiKey { id } } } }`,
      }),
    },
  ],
  createEarningRule: [
    {
      targets: none,
      operation: () => ({
        query: `mutation { createEarningRule(input: { name: "probe", conditions: { channels: ["probe"] }, effect: { orderBonus: { points: 5 } } }) { __typename ... on CreateEarningRulePayload { earningRule { id } } } }`,
      }),
    },
  ],
  createReward: [
    {
      targets: none,
      operation: () => ({
        query: `mutation { createReward(input: { name: "probe", pointsCost: 1, voucherValue: "1.00" }) { __typename ... on CreateRewardPayload { reward { id } } } }`,
      }),
    },
  ],
  earnPoints: [
    {
      targets: async (seed, subject) => ({ ...member(subject), orderRef: seed.unique('probe-earn') }),
      operation: (t, m) => ({
        query: `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points ${nestedMember(m)} } } }`,
        variables: { i: { memberId: t.memberId, orderRef: t.orderRef, orderTotal: '10', idempotencyKey: t.orderRef } },
      }),
    },
  ],
  enrollMember: [
    {
      targets: async (seed) => ({ externalId: seed.unique('probe-cust') }),
      operation: (t, m) => ({
        query: `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename ... on EnrollMemberPayload { __typename ${nestedMember(m)} } } }`,
        variables: { i: { externalId: t.externalId, email: `${t.externalId}@example.com`, name: 'Probe' } },
      }),
    },
  ],
  extendContract: [
    {
      targets: async (seed, subject) => seed.contract(subject.member.id),
      operation: (t, m) => ({
        query: `mutation($i: ExtendContractInput!) { extendContract(input: $i) { __typename ... on ExtendContractPayload { contract { id ${nestedMember(m)} } } } }`,
        variables: { i: { externalRef: t.externalRef, ...IN_WINDOW, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  issueGoodwill: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) { __typename ... on IssueGoodwillPayload { status gesture { id ${nestedMember(m)} } } } }`,
        variables: {
          i: { memberId: t.memberId, kind: 'POINTS', points: 10, reason: 'OTHER', note: 'probe', idempotencyKey: randomUUID() },
        },
      }),
    },
  ],
  recordServiceCase: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) { __typename ... on RecordServiceCasePayload { serviceCase { id ${nestedMember(m)} } } } }`,
        variables: { i: { memberId: t.memberId, channel: 'CHAT', category: 'delivery' } },
      }),
    },
  ],
  redeemPoints: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t) => ({
        query: `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename ... on RedeemPointsPayload { points } } }`,
        variables: { i: { memberId: t.memberId, points: 1, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  redeemReward: [
    {
      targets: async (seed, subject) => ({ ...member(subject), ...(await seed.reward()) }),
      operation: (t, m) => ({
        query: `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename
          ... on RedeemRewardPayload { pointsSpent ${m ? `voucher { code } ${nestedMember(m)}` : ''} } } }`,
        variables: { i: { memberId: t.memberId, rewardId: t.rewardId, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  redeemVoucher: [
    {
      targets: async (seed, subject) => ({ ...(await seed.voucher(subject.member.id)), ...member(subject) }),
      operation: (t, m) => ({
        query: `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
          ... on RedeemVoucherPayload { orderRef voucher { code ${nestedMember(m)} } } } }`,
        variables: { i: { code: t.code, orderRef: 'probe', orderTotal: '100.00', memberId: t.memberId, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  cancelOrder: [
    {
      targets: async (seed, subject) => ({ ...member(subject), ...(await seed.earnedOrder(subject.member.id)) }),
      operation: (t) => ({
        query: `mutation($i: CancelOrderInput!) { cancelOrder(input: $i) { __typename ... on CancelOrderPayload { pointsReversed } } }`,
        variables: { i: { memberId: t.memberId, orderReference: t.orderRef, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  returnOrderItems: [
    {
      targets: async (seed, subject) => ({ ...member(subject), ...(await seed.earnedOrder(subject.member.id)) }),
      operation: (t) => ({
        query: `mutation($i: ReturnOrderItemsInput!) { returnOrderItems(input: $i) { __typename ... on ReturnOrderItemsPayload { pointsReversed } } }`,
        variables: {
          i: {
            memberId: t.memberId,
            orderReference: t.orderRef,
            amount: { amount: '5.00', currency: 'EUR' },
            idempotencyKey: randomUUID(),
          },
        },
      }),
    },
  ],
  refundOrder: [
    {
      targets: async (seed, subject) => ({ ...member(subject), ...(await seed.earnedOrder(subject.member.id)) }),
      operation: (t) => ({
        query: `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { __typename ... on RefundOrderPayload { points } } }`,
        variables: { i: { memberId: t.memberId, orderRef: t.orderRef, idempotencyKey: randomUUID() } },
      }),
    },
  ],
  registerContract: [
    {
      targets: async (seed, subject) => ({ ...member(subject), externalRef: seed.unique('probe-register') }),
      operation: (t, m) => ({
        query: `mutation($i: RegisterContractInput!) { registerContract(input: $i) { __typename ... on RegisterContractPayload { contract { id ${nestedMember(m)} } } } }`,
        variables: {
          i: { memberId: t.memberId, externalRef: t.externalRef, plan: 'p', startsAt: '2026-01-01T00:00:00.000Z', termMonths: 12 },
        },
      }),
    },
  ],
  rejectGoodwill: [
    {
      targets: async (seed, subject) => seed.pendingGesture(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: RejectGoodwillInput!) { rejectGoodwill(input: $i) { __typename ... on RejectGoodwillPayload { status } } }`,
        variables: { i: { gestureId: t.gestureId, note: 'no' } },
      }),
    },
  ],
  reportServiceFailure: [
    {
      targets: async (seed, subject) => ({ ...member(subject), orderRef: seed.unique('probe-report') }),
      operation: (t, m) => ({
        query: `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) { __typename ... on ReportServiceFailurePayload { failure { id ${nestedMember(m)} } } } }`,
        variables: {
          i: { memberId: t.memberId, type: 'LATE_DELIVERY', severity: 'CRITICAL', orderRef: t.orderRef, idempotencyKey: randomUUID() },
        },
      }),
    },
  ],
  resolveServiceCase: [
    {
      targets: async (seed, subject) => seed.openCase(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) { __typename ... on ResolveServiceCasePayload { serviceCase { id } } } }`,
        variables: { i: { caseId: t.caseId } },
      }),
    },
  ],
  retireEarningRule: [
    {
      targets: async (seed) => seed.earningRule(),
      operation: (t) => ({
        query: `mutation($i: RetireEarningRuleInput!) { retireEarningRule(input: $i) { __typename ... on RetireEarningRulePayload { earningRule { id } } } }`,
        variables: { i: { id: t.ruleId } },
      }),
    },
  ],
  retireReward: [
    {
      targets: async (seed) => seed.reward(),
      operation: (t) => ({
        query: `mutation($i: RetireRewardInput!) { retireReward(input: $i) { __typename ... on RetireRewardPayload { reward { id } } } }`,
        variables: { i: { id: t.rewardId } },
      }),
    },
  ],
  reportServiceIncident: [
    {
      targets: async (seed, subject) => ({ ...member(subject), orderRef: seed.unique('probe-incident-order') }),
      operation: (t) => ({
        query: `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) { __typename ... on ReportServiceIncidentPayload { named incident { id } } } }`,
        variables: {
          i: { type: 'OUTAGE', severity: 'LOW', affected: [{ memberId: t.memberId, orderRef: t.orderRef }], idempotencyKey: randomUUID() },
        },
      }),
    },
  ],
  decideServiceIncident: [
    {
      targets: async (seed, subject) => seed.incidentOverBudget(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: DecideServiceIncidentInput!) { decideServiceIncident(input: $i) { __typename ... on DecideServiceIncidentPayload { decided } } }`,
        variables: { i: { incidentId: t.incidentId, decision: 'DECLINE', note: 'probe decision', idempotencyKey: randomUUID() } },
      }),
    },
  ],
  decideRenewalBonus: [
    {
      targets: async (seed, subject) => seed.heldRenewal(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: DecideRenewalBonusInput!) { decideRenewalBonus(input: $i) { __typename ... on DecideRenewalBonusPayload { renewal { id bonusStatus } } } }`,
        variables: {
          i: {
            renewalId: encodeGlobalID('ContractRenewal', t.renewalId!),
            approve: true,
            note: 'probe decision',
            idempotencyKey: randomUUID(),
          },
        },
      }),
    },
  ],
  reviewServiceFailure: [
    {
      targets: async (seed, subject) => seed.failureNeedingReview(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: ReviewServiceFailureInput!) { reviewServiceFailure(input: $i) { __typename ... on ReviewServiceFailurePayload { failure { id status } } } }`,
        variables: { i: { failureId: t.failureId, decision: 'GRANT', note: 'probe decision', idempotencyKey: randomUUID() } },
      }),
    },
  ],
  setAgentAuthority: [
    {
      // Another agent than any caller: supervisors may not set their own.
      targets: async (seed) => ({ agentId: seed.unique('probe-agent') }),
      operation: (t) => ({
        query: `mutation($i: SetAgentAuthorityInput!) { setAgentAuthority(input: $i) { __typename ... on SetAgentAuthorityPayload { authority { agentId } } } }`,
        variables: { i: { agentId: t.agentId, monthlyBudget: '100.00' } },
      }),
    },
  ],
  submitFeedback: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `mutation($i: SubmitFeedbackInput!) { submitFeedback(input: $i) { __typename ... on SubmitFeedbackPayload { feedback { id ${nestedMember(m)} } } } }`,
        variables: { i: { memberId: t.memberId, nps: 9, comment: 'probe' } },
      }),
    },
  ],
  updateMember: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `mutation($i: UpdateMemberInput!) { updateMember(input: $i) { __typename ... on UpdateMemberPayload { __typename ${nestedMember(m)} } } }`,
        variables: { i: { id: t.memberId, name: 'Renamed by probe' } },
      }),
    },
  ],
  updateProgram: [
    {
      targets: none,
      operation: () => ({
        query: `mutation { updateProgram(input: { voucherValidityDays: 90 }) { __typename ... on UpdateProgramPayload { program { version } } } }`,
      }),
    },
  ],
  trackEvent: [
    {
      targets: async (seed, subject) => ({ ...member(subject), key: seed.unique('probe-event') }),
      operation: (t, m) => ({
        query: `mutation($i: TrackEventInput!) { trackEvent(input: $i) { __typename ... on TrackEventPayload { points ${nestedMember(m)} } } }`,
        variables: { i: { memberId: t.memberId, type: 'probe', idempotencyKey: t.key } },
      }),
    },
  ],
  updateEarningRule: [
    {
      targets: async (seed) => seed.earningRule(),
      operation: (t) => ({
        query: `mutation($i: UpdateEarningRuleInput!) { updateEarningRule(input: $i) { __typename ... on UpdateEarningRulePayload { earningRule { id version } } } }`,
        variables: { i: { id: t.ruleId, name: 'probe renamed' } },
      }),
    },
  ],
  updateReward: [
    {
      targets: async (seed) => seed.reward(),
      operation: (t) => ({
        query: `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename ... on UpdateRewardPayload { reward { id } } } }`,
        variables: { i: { id: t.rewardId, pointsCost: 2 } },
      }),
    },
  ],
  voidVoucher: [
    {
      targets: async (seed, subject) => seed.voucher(subject.member.id),
      operation: (t) => ({
        query: `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename ... on VoidVoucherPayload { voucher { status } } } }`,
        variables: { i: { code: t.code, reason: 'probe', idempotencyKey: randomUUID() } },
      }),
    },
  ],
  createWebhookEndpoint: [
    {
      targets: none,
      operation: () => ({
        query: `mutation { createWebhookEndpoint(input: { url: "https://hooks.example.com/probe", eventTypes: ["points.earned"] }) { __typename ... on CreateWebhookEndpointPayload { endpoint { id } } } }`,
      }),
    },
  ],
  updateWebhookEndpoint: [
    {
      targets: (seed) => seed.webhookEndpoint(),
      operation: (t) => ({
        query: `mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { __typename ... on UpdateWebhookEndpointPayload { endpoint { id } } } }`,
        variables: { i: { id: t.endpointId, rotateSecret: true } },
      }),
    },
  ],
  deleteWebhookEndpoint: [
    {
      targets: (seed) => seed.webhookEndpoint(),
      operation: (t) => ({
        query: `mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { __typename ... on DeleteWebhookEndpointPayload { endpoint { id } } } }`,
        variables: { i: { id: t.endpointId } },
      }),
    },
  ],
  replayWebhookDelivery: [
    {
      targets: (seed) => seed.deadWebhookDelivery(),
      operation: (t) => ({
        query: `mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) { __typename ... on ReplayWebhookDeliveryPayload { delivery { id status } } } }`,
        variables: { i: { deliveryId: t.deliveryId } },
      }),
    },
  ],
  replayWebhookDeliveries: [
    {
      targets: (seed) => seed.deadWebhookDelivery(),
      operation: (t) => ({
        query: `mutation($i: ReplayWebhookDeliveriesInput!) { replayWebhookDeliveries(input: $i) { __typename ... on ReplayWebhookDeliveriesPayload { replayed } } }`,
        variables: { i: { endpointId: t.endpointId, since: '2000-01-01T00:00:00.000Z' } },
      }),
    },
  ],
};

/** Subscriptions are probed through real SSE requests: the first event (or the refusal) is the answer. */
export const SUBSCRIPTION_PROBES: Record<string, Probe[]> = {
  approvalQueueChanged: [
    { targets: none, operation: () => ({ query: 'subscription { approvalQueueChanged { change { kind reference } } }' }) },
  ],
  memberStatusChanged: [
    {
      targets: async (_seed, subject) => member(subject),
      operation: (t, m) => ({
        query: `subscription($m: ID) { memberStatusChanged(memberId: $m) { change { kind } member { ${m ?? 'id'} } } }`,
        variables: { m: t.memberId },
      }),
    },
  ],
};

export const PROBES = { Query: QUERY_PROBES, Mutation: MUTATION_PROBES, Subscription: SUBSCRIPTION_PROBES } as const;
