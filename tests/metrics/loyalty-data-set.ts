import { cancelContract, extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { recordServiceCase, resolveServiceCase, SERVICE_CHANNELS } from '../../src/domain/feedback/service-cases.service.js';
import { approveGoodwill, issueGoodwill, rejectGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { enrollMember, updateMember } from '../../src/domain/members/members.service.js';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { adjustPoints, earnPoints } from '../../src/domain/points/points.service.js';
import { createReward, redeemReward } from '../../src/domain/rewards/rewards.service.js';
import {
  compensateServiceFailure,
  reportServiceFailure,
  reviewServiceFailure,
} from '../../src/domain/service-failures/service-failures.service.js';
import { addMonths } from '../../src/domain/time.js';
import { redeemVoucher, voidVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import type {
  GoodwillReason,
  MemberStatus,
  ServiceChannel,
  ServiceFailureType,
  Severity,
  VoucherKind,
} from '../../src/generated/prisma/enums.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { testLogger } from '../support/app.js';

/**
 * A fixed data set for loyaltyMetrics, made through the services with a moving clock, and what
 * the test knows about it: every event is recorded here as it is made (the world), so that the
 * figures can be computed from these arrays alone (loyalty-model.ts), never from the database.
 */

export interface MemberModel {
  name: string;
  id: string;
  status: MemberStatus;
  lastActivity: Date;
  changes: { at: Date; from: MemberStatus | null; to: MemberStatus }[];
}

export interface World {
  members: Map<string, MemberModel>;
  feedback: { member: string; at: Date; nps: number | null; csat: number | null; channel: ServiceChannel | null }[];
  cases: Map<
    string,
    {
      id: string;
      member: string;
      channel: ServiceChannel;
      openedAt: Date;
      firstResponseAt: Date | null;
      resolvedAt: Date | null;
      firstContact: boolean | null;
    }
  >;
  /** `voucher`: the name of the voucher that compensated it, if one did. */
  failures: Map<string, { id: string; member: string; at: Date; type: ServiceFailureType; compensated: boolean; voucher: string | null }>;
  vouchers: Map<
    string,
    {
      id: string;
      member: string;
      kind: VoucherKind;
      issuedAt: Date;
      cents: number;
      redeemed: boolean;
      failureType: ServiceFailureType | null;
      /** When staff voided it (voidVoucher); null while not voided. */
      voidedAt: Date | null;
    }
  >;
  /** `voucher`: the name of the voucher a granted VOUCHER gesture issued, when the data set named it. */
  gestures: Map<
    string,
    { id: string; member: string; reason: GoodwillReason; grantedAt: Date | null; cents: number; voucher: string | null }
  >;
  contracts: Map<
    string,
    { id: string; member: string; endsAt: Date; renewals: { previousEndsAt: Date; at: Date }[]; cancelledAt: Date | null }
  >;
  earns: { member: string; at: Date }[];
}

const SHOP = apiKeyCaller('metrics-shop', [
  'members:write',
  'points:earn',
  'points:redeem',
  'vouchers:redeem',
  'failures:report',
  'contracts:write',
]);
const AGENT = staffCaller('AGENT', 'agent-olga');
const SUPERVISOR = staffCaller('SUPERVISOR', 'supervisor-sam');
const ADMIN = staffCaller('ADMIN', 'admin-ada');

const cents = (amount: string) => Math.round(Number(amount) * 100);
const t = (iso: string) => new Date(iso);

/** Makes the data set's events through the services, each at its time, and records them in the world. */
export class LoyaltyDataSet {
  readonly world: World = {
    members: new Map(),
    feedback: [],
    cases: new Map(),
    failures: new Map(),
    vouchers: new Map(),
    gestures: new Map(),
    contracts: new Map(),
    earns: [],
  };
  private counter = 0;
  private rewardId = '';

  constructor(private readonly prisma: PrismaClient) {}

  private at(iso: string) {
    const now = t(iso);
    return { prisma: this.prisma, logger: testLogger, now: () => now };
  }

  private key(label: string) {
    this.counter += 1;
    return `${label}-${this.counter}`;
  }

  private member(name: string): MemberModel {
    const member = this.world.members.get(name);
    if (!member) throw new Error(`no member ${name}`);
    return member;
  }

  private changeStatus(member: MemberModel, at: Date, to: MemberStatus) {
    if (member.status === to) return;
    member.changes.push({ at, from: member.status, to });
    member.status = to;
  }

  /** Activity (an EARN or REDEEM entry): reactivates a PASSIVE member. */
  private activity(member: MemberModel, at: Date) {
    member.lastActivity = at;
    if (member.status === 'PASSIVE') this.changeStatus(member, at, 'ACTIVE');
  }

  async relaxServiceLevels() {
    const target = { firstResponseMinutes: 30 * 1440, resolutionMinutes: 180 * 1440 };
    const targets = Object.fromEntries(SERVICE_CHANNELS.map((channel) => [channel, target]));
    await updateProgram(this.at('2024-01-01T00:00:00.000Z'), { patch: { sla: { targets } } }, ADMIN);
  }

  async enroll(name: string, iso: string) {
    const member = await enrollMember(this.at(iso), { externalId: `ext-${name}`, email: `${name}@example.com`, name }, SHOP);
    this.world.members.set(name, {
      name,
      id: member.id,
      status: 'ACTIVE',
      lastActivity: t(iso),
      changes: [{ at: t(iso), from: null, to: 'ACTIVE' }],
    });
  }

  async earn(name: string, iso: string) {
    const member = this.member(name);
    const orderRef = this.key('order');
    await earnPoints(this.at(iso), { memberId: member.id, orderRef, orderTotal: '20.00', idempotencyKey: orderRef }, SHOP);
    this.world.earns.push({ member: name, at: t(iso) });
    this.activity(member, t(iso));
  }

  /** An admin's adjustment: available points, not activity. */
  async adjust(name: string, iso: string, points: number) {
    await adjustPoints(
      this.at(iso),
      { memberId: this.member(name).id, points, reason: 'metrics', idempotencyKey: this.key('adjust') },
      ADMIN,
    );
  }

  /** Buys the 500-point reward: a REWARD voucher, and a REDEEM entry (activity). */
  async buyReward(voucher: string, name: string, iso: string) {
    const member = this.member(name);
    if (!this.rewardId) {
      this.rewardId = (await createReward(this.at(iso), { name: 'Five off', pointsCost: 500, voucherValue: '5.00' }, ADMIN)).id;
    }
    const { voucherId } = await redeemReward(
      this.at(iso),
      { memberId: member.id, rewardId: this.rewardId, idempotencyKey: this.key('reward') },
      SHOP,
    );
    this.world.vouchers.set(voucher, {
      id: voucherId,
      member: name,
      kind: 'REWARD',
      issuedAt: t(iso),
      cents: 500,
      redeemed: false,
      failureType: null,
      voidedAt: null,
    });
    this.activity(member, t(iso));
  }

  async feedback(name: string, iso: string, answer: { nps?: number; csat?: number; channel?: ServiceChannel; about?: string }) {
    const about = answer.about === undefined ? undefined : this.world.cases.get(answer.about);
    await submitFeedback(
      this.at(iso),
      { memberId: this.member(name).id, nps: answer.nps, csat: answer.csat, channel: answer.channel, caseId: about?.id },
      AGENT,
    );
    this.world.feedback.push({
      member: name,
      at: t(iso),
      nps: answer.nps ?? null,
      csat: answer.csat ?? null,
      channel: answer.channel ?? about?.channel ?? null,
    });
  }

  async openCase(name: string, member: string, iso: string, channel: ServiceChannel, openedAt: string, firstResponseAt?: string) {
    const serviceCase = await recordServiceCase(
      this.at(iso),
      {
        memberId: this.member(member).id,
        channel,
        category: 'delivery',
        openedAt: t(openedAt),
        firstResponseAt: firstResponseAt === undefined ? null : t(firstResponseAt),
      },
      AGENT,
    );
    this.world.cases.set(name, {
      id: serviceCase.id,
      member,
      channel,
      openedAt: t(openedAt),
      firstResponseAt: firstResponseAt === undefined ? null : t(firstResponseAt),
      resolvedAt: null,
      firstContact: null,
    });
  }

  async resolveCase(name: string, iso: string, contacts: number) {
    const serviceCase = this.world.cases.get(name)!;
    await resolveServiceCase(this.at(iso), { caseId: serviceCase.id, contacts }, AGENT);
    serviceCase.resolvedAt = t(iso);
    serviceCase.firstContact = contacts === 1;
  }

  async failure(name: string, member: string, iso: string, type: ServiceFailureType, severity: Severity) {
    const orderRef = this.key('failed-order');
    const { failureId } = await reportServiceFailure(
      this.at(iso),
      { memberId: this.member(member).id, type, severity, orderRef, idempotencyKey: orderRef },
      SHOP,
    );
    this.world.failures.set(name, { id: failureId, member, at: t(iso), type, compensated: false, voucher: null });
  }

  /** Runs the compensation job of a failure at `iso`; returns what the policy decided. */
  async compensate(name: string, iso: string, voucher?: string) {
    const failure = this.world.failures.get(name)!;
    const outcome = await compensateServiceFailure(this.at(iso), failure.id);
    if (outcome.outcome === 'COMPENSATED') this.compensated(failure, voucher ?? name, outcome.voucherId, iso, outcome.amount);
    return outcome;
  }

  /** A supervisor grants a failure held for review. */
  async grantReview(name: string, iso: string, voucher: string) {
    const failure = this.world.failures.get(name)!;
    await reviewServiceFailure(
      this.at(iso),
      { failureId: failure.id, decision: 'GRANT', note: 'over the cap, but fair', idempotencyKey: this.key('review') },
      SUPERVISOR,
    );
    const row = await this.prisma.serviceFailure.findUniqueOrThrow({ where: { id: failure.id }, include: { member: false } });
    const issued = await this.prisma.voucher.findUniqueOrThrow({ where: { id: row.voucherId! } });
    this.compensated(failure, voucher, issued.id, iso, issued.amount!.toFixed(2));
  }

  private compensated(
    failure: { member: string; type: ServiceFailureType; compensated: boolean; voucher: string | null },
    voucher: string,
    id: string,
    iso: string,
    amount: string,
  ) {
    failure.compensated = true;
    failure.voucher = voucher;
    this.world.vouchers.set(voucher, {
      id,
      member: failure.member,
      kind: 'COMPENSATION',
      issuedAt: t(iso),
      cents: cents(amount),
      redeemed: false,
      failureType: failure.type,
      voidedAt: null,
    });
  }

  async redeem(voucher: string, iso: string) {
    const model = this.world.vouchers.get(voucher)!;
    const { code } = await this.prisma.voucher.findUniqueOrThrow({ where: { id: model.id } });
    await redeemVoucher(
      this.at(iso),
      {
        code,
        orderRef: this.key('voucher-order'),
        orderTotal: '200.00',
        memberId: this.member(model.member).id,
        idempotencyKey: this.key('redeem'),
      },
      SHOP,
    );
    model.redeemed = true;
  }

  /** Staff void a voucher (issued in error, or the compensation taken back): a supervisor unless `by` says otherwise. */
  async voidVoucher(voucher: string, iso: string, by: 'AGENT' | 'SUPERVISOR' = 'SUPERVISOR') {
    const model = this.world.vouchers.get(voucher)!;
    const { code } = await this.prisma.voucher.findUniqueOrThrow({ where: { id: model.id } });
    await voidVoucher(
      this.at(iso),
      { code, reason: 'issued in error', idempotencyKey: this.key('void') },
      by === 'AGENT' ? AGENT : SUPERVISOR,
    );
    model.voidedAt = t(iso);
  }

  /** A goodwill gesture by an agent: granted at once within authority, else pending. */
  async goodwill(
    name: string,
    member: string,
    iso: string,
    reason: GoodwillReason,
    value: { points: number } | { amount: string },
    voucher?: string,
  ) {
    const { gestureId, status } = await issueGoodwill(
      this.at(iso),
      {
        memberId: this.member(member).id,
        kind: 'points' in value ? 'POINTS' : 'VOUCHER',
        points: 'points' in value ? value.points : null,
        amount: 'amount' in value ? value.amount : null,
        reason,
        note: 'sorry about that',
        idempotencyKey: this.key('gesture'),
      },
      AGENT,
    );
    // Points are worth the program's point value (0.01).
    const worth = 'points' in value ? value.points : cents(value.amount);
    this.world.gestures.set(name, { id: gestureId, member, reason, grantedAt: null, cents: worth, voucher: null });
    if (status === 'GRANTED') await this.granted(name, iso, voucher);
    return status;
  }

  async approve(name: string, iso: string, voucher?: string) {
    await approveGoodwill(this.at(iso), { gestureId: this.world.gestures.get(name)!.id, idempotencyKey: this.key('approve') }, SUPERVISOR);
    await this.granted(name, iso, voucher);
  }

  async reject(name: string, iso: string) {
    await rejectGoodwill(this.at(iso), { gestureId: this.world.gestures.get(name)!.id, note: 'too much' }, SUPERVISOR);
  }

  private async granted(name: string, iso: string, voucher?: string) {
    const gesture = this.world.gestures.get(name)!;
    gesture.grantedAt = t(iso);
    if (voucher === undefined) return;
    gesture.voucher = voucher;
    const row = await this.prisma.goodwillGesture.findUniqueOrThrow({ where: { id: gesture.id } });
    this.world.vouchers.set(voucher, {
      id: row.voucherId!,
      member: gesture.member,
      kind: 'GOODWILL',
      issuedAt: t(iso),
      cents: gesture.cents,
      redeemed: false,
      failureType: null,
      voidedAt: null,
    });
  }

  async contract(name: string, member: string, iso: string, startsAt: string, termMonths: 12 | 24) {
    const { contractId } = await registerContract(
      this.at(iso),
      { memberId: this.member(member).id, externalRef: `contract-${name}`, plan: 'mobile', startsAt: t(startsAt), termMonths },
      SHOP,
    );
    this.world.contracts.set(name, { id: contractId, member, endsAt: addMonths(t(startsAt), termMonths), renewals: [], cancelledAt: null });
  }

  async extend(name: string, iso: string) {
    const contract = this.world.contracts.get(name)!;
    await extendContract(this.at(iso), { contractId: contract.id, termMonths: 12, idempotencyKey: this.key('extend') }, SHOP);
    contract.renewals.push({ previousEndsAt: contract.endsAt, at: t(iso) });
    contract.endsAt = addMonths(contract.endsAt, 12);
  }

  async cancel(name: string, iso: string) {
    const contract = this.world.contracts.get(name)!;
    await cancelContract(this.at(iso), { contractId: contract.id, idempotencyKey: this.key('cancel') }, SHOP);
    contract.cancelledAt = t(iso);
  }

  async setStatus(name: string, iso: string, status: MemberStatus) {
    const member = this.member(name);
    await updateMember(this.at(iso), { id: member.id, status }, SUPERVISOR);
    this.changeStatus(member, t(iso), status);
  }

  /** The maintenance job: ACTIVE members without activity for 12 months become PASSIVE. */
  async maintenance(iso: string) {
    const report = await runPointsMaintenance(this.at(iso));
    const cutoff = addMonths(t(iso), -12);
    let marked = 0;
    for (const member of this.world.members.values()) {
      if (member.status === 'ACTIVE' && member.lastActivity < cutoff) {
        this.changeStatus(member, t(iso), 'PASSIVE');
        marked += 1;
      }
    }
    if (report.membersMarkedPassive !== marked) {
      throw new Error(`maintenance marked ${report.membersMarkedPassive} members passive, the data set expects ${marked}`);
    }
  }
}

/**
 * The data set: thirteen members from late 2024 to spring 2026, in time order. The period the
 * tests ask for is the first quarter of 2026; events before and after it are there on purpose
 * (previous answers, terms renewed earlier, follow-ups after the period, boundaries to the
 * millisecond).
 */
export async function buildLoyaltyDataSet(prisma: PrismaClient): Promise<World> {
  const s = new LoyaltyDataSet(prisma);
  // Missed service-level targets file failures by themselves (tests/feedback/sla-breaches.test.ts);
  // here the targets are out of reach, so that every failure is one this data set reports.
  await s.relaxServiceLevels();
  await s.enroll('ivo', '2024-10-10T09:00:00.000Z');
  await s.enroll('ben', '2024-11-01T09:00:00.000Z');
  await s.contract('k5', 'ben', '2024-12-01T09:00:00.000Z', '2024-12-20T00:00:00.000Z', 12);
  await s.enroll('emil', '2025-01-05T09:00:00.000Z');
  // A term ending exactly when the period starts: in it.
  await s.contract('k3', 'emil', '2025-01-05T10:00:00.000Z', '2025-01-01T00:00:00.000Z', 12);
  await s.enroll('dora', '2025-01-10T09:00:00.000Z');
  await s.enroll('hana', '2025-02-02T09:00:00.000Z');
  await s.contract('k1', 'dora', '2025-02-15T09:00:00.000Z', '2025-02-15T00:00:00.000Z', 12);
  await s.contract('k6', 'hana', '2025-02-20T09:00:00.000Z', '2024-03-01T00:00:00.000Z', 24);
  await s.enroll('cem', '2025-03-01T09:00:00.000Z');
  await s.contract('k2', 'emil', '2025-03-10T09:00:00.000Z', '2025-03-10T00:00:00.000Z', 12);
  await s.enroll('fay', '2025-05-05T09:00:00.000Z');
  // A term ending exactly when the period ends: not in it.
  await s.contract('k4', 'fay', '2025-05-05T10:00:00.000Z', '2025-04-01T00:00:00.000Z', 12);
  await s.enroll('ana', '2025-06-01T09:00:00.000Z');
  await s.enroll('jo', '2025-07-07T09:00:00.000Z');
  await s.enroll('lea', '2025-12-01T09:00:00.000Z');
  // Renewed before the period, a term ending before it.
  await s.extend('k5', '2025-12-01T12:00:00.000Z');
  await s.feedback('ana', '2025-12-10T10:00:00.000Z', { nps: 3, channel: 'EMAIL' });
  await s.openCase('c5', 'hana', '2025-12-30T10:00:00.000Z', 'CHAT', '2025-12-30T08:00:00.000Z', '2025-12-30T09:00:00.000Z');
  // The last millisecond before the period: out of it, but the answer before fay's next one.
  await s.feedback('fay', '2025-12-31T23:59:59.999Z', { nps: 6, channel: 'STORE' });

  // January 2026
  await s.failure('f6', 'dora', '2026-01-02T08:00:00.000Z', 'BILLING_ERROR', 'MEDIUM');
  await s.resolveCase('c5', '2026-01-02T15:30:00.000Z', 2);
  await s.compensate('f6', '2026-01-03T08:00:00.000Z');
  await s.adjust('hana', '2026-01-03T09:00:00.000Z', 1000);
  await s.buyReward('r1', 'hana', '2026-01-04T09:00:00.000Z');
  await s.openCase('c1', 'ana', '2026-01-05T10:00:00.000Z', 'CHAT', '2026-01-05T09:00:00.000Z', '2026-01-05T09:30:00.000Z');
  await s.resolveCase('c1', '2026-01-05T12:00:00.000Z', 1);
  await s.feedback('ana', '2026-01-06T10:00:00.000Z', { nps: 10, csat: 5, about: 'c1' });
  await s.failure('f3', 'cem', '2026-01-08T08:00:00.000Z', 'LATE_DELIVERY', 'CRITICAL');
  await s.compensate('f3', '2026-01-08T10:00:00.000Z');
  await s.failure('f1', 'ana', '2026-01-10T08:00:00.000Z', 'LATE_DELIVERY', 'LOW');
  await s.compensate('f1', '2026-01-10T09:00:00.000Z');
  await s.feedback('jo', '2026-01-12T10:00:00.000Z', { nps: 5, channel: 'CHAT' });
  await s.enroll('gus', '2026-01-15T09:00:00.000Z');
  await s.failure('f2', 'ben', '2026-01-15T10:00:00.000Z', 'DEFECTIVE_PRODUCT', 'MEDIUM'); // never compensated
  await s.goodwill('g1', 'gus', '2026-01-16T10:00:00.000Z', 'POOR_EXPERIENCE', { points: 500 });
  await s.feedback('gus', '2026-01-18T10:00:00.000Z', { nps: 3, channel: 'EMAIL' });
  await s.maintenance('2026-01-20T03:00:00.000Z');
  await s.failure('f4', 'cem', '2026-01-20T08:00:00.000Z', 'WRONG_ITEM', 'CRITICAL');
  const held = await s.compensate('f4', '2026-01-20T09:00:00.000Z');
  if (held.outcome !== 'NEEDS_REVIEW') throw new Error(`f4 should wait for review over the cap, got ${held.outcome}`);
  await s.redeem('f1', '2026-01-20T11:00:00.000Z');
  await s.extend('k1', '2026-01-20T12:00:00.000Z');
  const pending = await s.goodwill('g2', 'gus', '2026-01-25T10:00:00.000Z', 'LONG_WAIT', { amount: '40.00' });
  if (pending !== 'PENDING_APPROVAL') throw new Error('g2 should wait for approval');
  // The answer before the next one is this passive one, not the detractor's before it.
  await s.feedback('gus', '2026-01-28T10:00:00.000Z', { nps: 7, channel: 'EMAIL' });
  await s.openCase('c2', 'hana', '2026-02-01T02:00:00.000Z', 'PHONE', '2026-01-31T23:00:00.000Z', '2026-02-01T01:00:00.000Z');
  await s.setStatus('lea', '2026-01-31T23:59:59.999Z', 'CLOSED');

  // February 2026
  await s.earn('ana', '2026-02-01T10:00:00.000Z');
  await s.extend('k6', '2026-02-01T12:00:00.000Z');
  await s.approve('g2', '2026-02-02T10:00:00.000Z', 'g2');
  await s.resolveCase('c2', '2026-02-02T10:00:00.000Z', 3);
  await s.feedback('hana', '2026-02-03T09:00:00.000Z', { csat: 2, about: 'c2' });
  await s.feedback('ben', '2026-02-03T10:00:00.000Z', { nps: 2, csat: 1, channel: 'PHONE' });
  await s.buyReward('r2', 'hana', '2026-02-04T09:00:00.000Z');
  await s.goodwill('g3', 'gus', '2026-02-05T10:00:00.000Z', 'DELAYED_DELIVERY', { amount: '10.00' }, 'g3');
  await s.earn('ivo', '2026-02-10T09:00:00.000Z'); // reactivates ivo
  await s.redeem('g3', '2026-02-10T12:00:00.000Z');
  await s.openCase('c3', 'hana', '2026-02-10T10:00:00.000Z', 'EMAIL', '2026-02-10T09:00:00.000Z');
  await s.resolveCase('c3', '2026-02-11T09:00:00.000Z', 1);
  await s.failure('f8', 'ivo', '2026-02-11T08:00:00.000Z', 'OUTAGE', 'HIGH');
  await s.compensate('f8', '2026-02-11T10:00:00.000Z');
  await s.feedback('jo', '2026-02-12T10:00:00.000Z', { nps: 6, channel: 'CHAT' });
  await s.grantReview('f4', '2026-02-14T10:00:00.000Z', 'f4');
  await s.feedback('gus', '2026-02-18T10:00:00.000Z', { nps: 10, channel: 'EMAIL' });
  await s.failure('f7', 'emil', '2026-02-20T08:00:00.000Z', 'LONG_WAIT', 'LOW');
  await s.compensate('f7', '2026-02-20T09:00:00.000Z');
  await s.enroll('kai', '2026-02-20T10:00:00.000Z');
  await s.feedback('kai', '2026-02-21T10:00:00.000Z', { nps: 9, csat: 5, channel: 'SELF_SERVICE' });
  await s.failure('f9', 'ivo', '2026-02-25T08:00:00.000Z', 'OUTAGE', 'LOW');
  await s.compensate('f9', '2026-02-25T09:00:00.000Z');

  // March 2026
  await s.setStatus('cem', '2026-03-01T09:00:00.000Z', 'CLOSED');
  await s.cancel('k2', '2026-03-01T10:00:00.000Z');
  await s.goodwill('g4', 'gus', '2026-03-02T10:00:00.000Z', 'OTHER', { points: 3000 }); // above the points limit
  await s.reject('g4', '2026-03-03T10:00:00.000Z');
  await s.redeem('r1', '2026-03-03T12:00:00.000Z');
  // Vouchers voided in March, issued in February: they gave nothing, so February's spend leaves them out.
  // emil's only compensation is taken back (he counts as not compensated); gus's goodwill voucher too.
  await s.voidVoucher('f7', '2026-03-04T10:00:00.000Z');
  await s.voidVoucher('g2', '2026-03-04T11:00:00.000Z', 'AGENT');
  await s.failure('f5', 'cem', '2026-03-05T08:00:00.000Z', 'OTHER', 'LOW');
  const closed = await s.compensate('f5', '2026-03-05T09:00:00.000Z');
  if (closed.outcome !== 'NOT_ELIGIBLE') throw new Error(`f5 of a closed member should be NOT_ELIGIBLE, got ${closed.outcome}`);
  await s.feedback('dora', '2026-03-10T10:00:00.000Z', { nps: 8, csat: 4, channel: 'CHAT' });
  await s.feedback('jo', '2026-03-12T10:00:00.000Z', { nps: 9, channel: 'EMAIL' });
  await s.feedback('jo', '2026-03-13T10:00:00.000Z', { csat: 3, channel: 'CHAT' });
  await s.maintenance('2026-03-15T03:00:00.000Z');
  await s.extend('k4', '2026-03-15T12:00:00.000Z');
  await s.setStatus('gus', '2026-03-20T10:00:00.000Z', 'SUSPENDED');
  await s.openCase('c4', 'hana', '2026-03-28T10:05:00.000Z', 'CHAT', '2026-03-28T10:00:00.000Z', '2026-03-28T10:05:00.000Z');
  await s.failure('f10', 'kai', '2026-03-30T08:00:00.000Z', 'WRONG_ITEM', 'MEDIUM');
  // The last millisecond of the period: in it.
  await s.feedback('fay', '2026-03-31T23:59:59.999Z', { nps: 9, channel: 'STORE' });

  // After the period: what the follow-up windows still see, and what the period must not.
  await s.feedback('fay', '2026-04-01T00:00:00.000Z', { nps: 0, channel: 'STORE' });
  await s.compensate('f10', '2026-04-02T09:00:00.000Z');
  // Voided after the period: the period leaves it out all the same (figures as known now); ivo stays compensated by f8.
  await s.voidVoucher('f9', '2026-04-05T10:00:00.000Z');
  await s.enroll('max', '2026-04-15T09:00:00.000Z');
  // Exactly followUpDays (90) after ivo's first compensation: still a recovery.
  await s.earn('ivo', '2026-05-12T10:00:00.000Z');
  return s.world;
}
