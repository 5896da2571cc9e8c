import { encodeGlobalID } from '@pothos/plugin-relay';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  decideRenewalBonus,
  extendContract,
  registerContract,
  renewalBonusStatus,
  type RenewalBonusOutcome,
} from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { redeemPoints } from '../../src/domain/points/points.service.js';
import { addMonths } from '../../src/domain/time.js';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { createBusinessMeasures } from '../../src/metrics.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { memberNearTheLimit } from '../support/ledger-writes.js';

/**
 * A renewal bonus that would take the member's points past 2 147 483 647 is HELD for a supervisor's decision
 * (bonusHeldReason BALANCE_LIMIT), not failed: its job completes, so the relay does not hand it over again every
 * minute, and it is announced (contract.renewal_bonus_held) and counted (HELD_BALANCE_LIMIT) once. A supervisor
 * approves it once the member has room (before: a ValidationError on renewalId, still held) or declines it; each of
 * these exactly once under concurrent jobs, decisions and retries. A BRONZE member's first 12-month renewal: 500 points.
 */
const { prisma, app } = useTestApp();

const billing = apiKeyCaller('billing', ['contracts:write']);
const shop = apiKeyCaller('shop', ['points:redeem']);
const supervisor = staffCaller('SUPERVISOR', 'sup-limit');
const admin = staffCaller('ADMIN', 'admin-limit');

/** Deps whose business counters the test reads. */
function measured(): { deps: ServiceDeps; decisions: () => Promise<Record<string, number>> } {
  const measures = createBusinessMeasures(new Registry());
  const decisions = async () => {
    const metric = measures.registry.getSingleMetric('treue_renewal_bonus_decisions_total');
    const { values } = await metric!.get();
    return Object.fromEntries(values.map((v) => [String(v.labels.outcome), v.value]));
  };
  return { deps: { ...app.deps, measures }, decisions };
}

/** A member `room` points below the limit, with a contract up for renewal on the real clock, extended once. */
async function renewalNearTheLimit(room: number, externalRef: string) {
  const memberId = await memberNearTheLimit(app, room);
  const startsAt = addMonths(new Date(), -11);
  const { contractId } = await registerContract(app.deps, { memberId, externalRef, plan: 'p', startsAt, termMonths: 12 }, billing);
  const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: `x-${externalRef}` }, billing);
  return { memberId, contractId, renewalId };
}

/** An endpoint for the renewal-bonus events: without one, no webhook event is written at all. */
const listenToBonuses = () =>
  prisma.webhookEndpoint.create({
    data: {
      url: 'https://hooks.example.com/limit',
      eventTypes: ['contract.renewal_bonus_granted', 'contract.renewal_bonus_held'],
      secret: 'whsec_dGVzdA==',
      createdBy: 'test',
    },
  });

const heldEvents = () => prisma.webhookEvent.findMany({ where: { type: 'contract.renewal_bonus_held' }, orderBy: { createdAt: 'asc' } });
const grantedEvents = () => prisma.webhookEvent.count({ where: { type: 'contract.renewal_bonus_granted' } });
const renewalOf = (renewalId: string) => prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
const statusOf = async (renewalId: string) => renewalBonusStatus(await renewalOf(renewalId));
const bonusEntries = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId, kind: 'RENEWAL_BONUS' } });
const balanceOf = async (memberId: string) => {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  return { available: member.availablePoints, pending: member.pendingPoints, lifetime: Number(member.lifetimePoints) };
};
const pendingBonusJobs = () => prisma.outboxEvent.count({ where: { completedAt: null, queue: 'renewal-bonus' } });
const outcomes = (results: RenewalBonusOutcome[]) => results.map((r) => r.outcome).sort();

describe('a renewal bonus past the balance limit', () => {
  it('five runs of its job at once hold it once: one event, one count, the job completed; nothing granted', async () => {
    await listenToBonuses();
    const { memberId, renewalId } = await renewalNearTheLimit(100, 'L-race');
    const before = await balanceOf(memberId);
    const { deps, decisions } = measured();

    const results = await Promise.all([1, 2, 3, 4, 5].map(() => processRenewalBonus({ renewalId }, deps)));
    expect(outcomes(results)).toEqual(['ALREADY_DONE', 'ALREADY_DONE', 'ALREADY_DONE', 'ALREADY_DONE', 'HELD']);
    expect(results.find((r) => r.outcome === 'HELD')).toEqual({
      renewalId,
      outcome: 'HELD',
      heldBecause: 'BALANCE_LIMIT',
      points: 500,
      entryId: null,
    });

    expect(await balanceOf(memberId)).toEqual(before);
    expect(await bonusEntries(memberId)).toBe(0);
    const renewal = await renewalOf(renewalId);
    expect(renewalBonusStatus(renewal)).toBe('HELD');
    expect(renewal).toMatchObject({ bonusPoints: 500, bonusHeldReason: 'BALANCE_LIMIT', bonusEntryId: null, bonusDecidedBy: null });
    expect(renewal.bonusDecisionNote).toContain(`past ${MAX_POINTS}`);
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: renewalId } })).completedAt).not.toBeNull();

    const events = await heldEvents();
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({
      renewalId,
      memberId,
      points: 500,
      sequence: 1,
      termMonths: 12,
      heldBecause: 'BALANCE_LIMIT',
    });
    expect(await grantedEvents()).toBe(0);
    expect(await decisions()).toEqual({ GRANTED: 0, HELD_MEMBER_SUSPENDED: 0, HELD_BALANCE_LIMIT: 1, NOT_ELIGIBLE: 0 });

    // Delivered again later (a stalled job, a replay by hand): nothing more.
    expect(await processRenewalBonus({ renewalId }, deps)).toMatchObject({ outcome: 'ALREADY_DONE' });
    expect(await heldEvents()).toHaveLength(1);
    expect((await decisions()).HELD_BALANCE_LIMIT).toBe(1);
  });

  it('a member at the limit exactly is held too; a bonus that fills the balance to the limit exactly is granted', async () => {
    const { deps, decisions } = measured();
    const full = await renewalNearTheLimit(0, 'L-full');
    expect(await processRenewalBonus({ renewalId: full.renewalId }, deps)).toMatchObject({ outcome: 'HELD', heldBecause: 'BALANCE_LIMIT' });
    expect(await balanceOf(full.memberId)).toMatchObject({ available: MAX_POINTS });

    const fits = await renewalNearTheLimit(500, 'L-fits');
    expect(await processRenewalBonus({ renewalId: fits.renewalId }, deps)).toMatchObject({ outcome: 'GRANTED', points: 500 });
    expect(await balanceOf(fits.memberId)).toEqual({ available: MAX_POINTS, pending: 0, lifetime: MAX_POINTS });
    expect(await decisions()).toEqual({ GRANTED: 1, HELD_MEMBER_SUSPENDED: 0, HELD_BALANCE_LIMIT: 1, NOT_ELIGIBLE: 0 });
  });

  it('approve is refused while the member has no room, still held; after they spend, approvals and jobs at once grant once', async () => {
    await listenToBonuses();
    const { memberId, renewalId } = await renewalNearTheLimit(100, 'L-approve');
    await processRenewalBonus({ renewalId }, app.deps);
    const held = await renewalOf(renewalId);

    await expect(
      decideRenewalBonus(app.deps, { renewalId, approve: true, note: 'grant it now', idempotencyKey: 'too-early' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'renewalId' });
    expect(await renewalOf(renewalId)).toEqual(held);
    expect(await bonusEntries(memberId)).toBe(0);

    await redeemPoints(app.deps, { memberId, points: 1000, idempotencyKey: 'spend' }, shop);
    const results = await Promise.allSettled([
      decideRenewalBonus(app.deps, { renewalId, approve: true, note: 'room now', idempotencyKey: 'a1' }, supervisor),
      decideRenewalBonus(app.deps, { renewalId, approve: true, note: 'room now', idempotencyKey: 'a2' }, admin),
      processRenewalBonus({ renewalId }, app.deps),
      processRenewalBonus({ renewalId }, app.deps),
    ]);
    const decided = results.slice(0, 2);
    expect(decided.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of decided) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'VALIDATION', field: 'renewalId' });
    for (const r of results.slice(2)) expect(r).toMatchObject({ status: 'fulfilled', value: { outcome: 'ALREADY_DONE' } });

    expect(await statusOf(renewalId)).toBe('GRANTED');
    expect(await bonusEntries(memberId)).toBe(1);
    expect((await balanceOf(memberId)).available).toBe(MAX_POINTS - 100 - 1000 + 500);
    expect(await grantedEvents()).toBe(1);
    // A retry after the decision: nothing.
    expect(await processRenewalBonus({ renewalId }, app.deps)).toMatchObject({ outcome: 'ALREADY_DONE' });
    expect(await bonusEntries(memberId)).toBe(1);
    expect(await grantedEvents()).toBe(1);
    expect(await heldEvents()).toHaveLength(1);
    expect(await renewalOf(renewalId)).toMatchObject({ bonusPoints: 500, bonusHeldReason: 'BALANCE_LIMIT' });
  });

  it('declined: NOT_ELIGIBLE with who and why kept, nothing granted; a retry of the job after the decision writes nothing', async () => {
    const { memberId, renewalId } = await renewalNearTheLimit(100, 'L-decline');
    await processRenewalBonus({ renewalId }, app.deps);
    const before = await balanceOf(memberId);

    await decideRenewalBonus(app.deps, { renewalId, approve: false, note: 'the balance is full', idempotencyKey: 'd' }, supervisor);
    const retried = await Promise.all([processRenewalBonus({ renewalId }, app.deps), processRenewalBonus({ renewalId }, app.deps)]);
    expect(outcomes(retried)).toEqual(['ALREADY_DONE', 'ALREADY_DONE']);
    expect(await statusOf(renewalId)).toBe('NOT_ELIGIBLE');
    expect(await renewalOf(renewalId)).toMatchObject({
      bonusPoints: 0,
      bonusEntryId: null,
      bonusDecidedBy: 'sup-limit',
      bonusDecisionNote: 'the balance is full',
      bonusHeldReason: 'BALANCE_LIMIT',
    });
    expect(await balanceOf(memberId)).toEqual(before);
    expect(await bonusEntries(memberId)).toBe(0);
  });

  it('the end of a suspension does not release a bonus held at the limit; one held for the suspension is held again at the limit', async () => {
    await listenToBonuses();
    // Held at the limit, then suspended and reactivated: still held, no new job.
    const atLimit = await renewalNearTheLimit(100, 'L-susp-1');
    await processRenewalBonus({ renewalId: atLimit.renewalId }, app.deps);
    await updateMember(app.deps, { id: atLimit.memberId, status: 'SUSPENDED' }, supervisor);
    await updateMember(app.deps, { id: atLimit.memberId, status: 'ACTIVE' }, supervisor);
    expect(await pendingBonusJobs()).toBe(0);
    expect(await renewalOf(atLimit.renewalId)).toMatchObject({ bonusHeldReason: 'BALANCE_LIMIT', bonusPoints: 500 });
    expect(await statusOf(atLimit.renewalId)).toBe('HELD');

    // Held while suspended; the reactivation's release job finds no room: held again, now for the limit.
    const memberId = await memberNearTheLimit(app, 100);
    const { contractId } = await registerContract(
      app.deps,
      { memberId, externalRef: 'L-susp-2', plan: 'p', startsAt: addMonths(new Date(), -11), termMonths: 12 },
      billing,
    );
    await updateMember(app.deps, { id: memberId, status: 'SUSPENDED' }, supervisor);
    const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: 'x-susp-2' }, billing);
    const { deps, decisions } = measured();
    expect(await processRenewalBonus({ renewalId }, deps)).toMatchObject({ outcome: 'HELD', heldBecause: 'MEMBER_SUSPENDED' });
    expect(await renewalOf(renewalId)).toMatchObject({ bonusHeldReason: 'MEMBER_SUSPENDED' });

    await updateMember(app.deps, { id: memberId, status: 'ACTIVE' }, supervisor);
    expect(await renewalOf(renewalId)).toMatchObject({ bonusHeldAt: null, bonusHeldReason: null, bonusPoints: null });
    const released = await prisma.outboxEvent.findMany({ where: { completedAt: null, queue: 'renewal-bonus' } });
    expect(released).toHaveLength(1);
    const again = await Promise.all([1, 2, 3].map(() => processRenewalBonus(released[0]!.payload as never, deps)));
    expect(outcomes(again)).toEqual(['ALREADY_DONE', 'ALREADY_DONE', 'HELD']);
    expect(await renewalOf(renewalId)).toMatchObject({ bonusHeldReason: 'BALANCE_LIMIT', bonusPoints: 500 });
    expect(await pendingBonusJobs()).toBe(0);
    expect(await bonusEntries(memberId)).toBe(0);
    expect((await heldEvents()).map((e) => (e.payload as { heldBecause: string }).heldBecause)).toEqual([
      'BALANCE_LIMIT',
      'MEMBER_SUSPENDED',
      'BALANCE_LIMIT',
    ]);
    expect(await decisions()).toEqual({ GRANTED: 0, HELD_MEMBER_SUSPENDED: 1, HELD_BALANCE_LIMIT: 1, NOT_ELIGIBLE: 0 });
  });

  it('closing the member declines a bonus held at the limit: nothing granted, no job left', async () => {
    const { memberId, renewalId } = await renewalNearTheLimit(100, 'L-close');
    await processRenewalBonus({ renewalId }, app.deps);
    await updateMember(app.deps, { id: memberId, status: 'CLOSED' }, supervisor);
    expect(await statusOf(renewalId)).toBe('NOT_ELIGIBLE');
    await expect(
      decideRenewalBonus(app.deps, { renewalId, approve: true, note: 'grant it', idempotencyKey: 'late' }, supervisor),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'renewalId' });
    expect(await bonusEntries(memberId)).toBe(0);
    expect(await pendingBonusJobs()).toBe(0);
  });

  it('over GraphQL: staff see HELD with the reason BALANCE_LIMIT and why in words; the member sees the reason, not the note', async () => {
    const { memberId, renewalId } = await renewalNearTheLimit(100, 'L-gql');
    await processRenewalBonus({ renewalId }, app.deps);
    const READ = `query($id: ID!) { node(id: $id) { ... on ContractRenewal {
      bonusStatus bonusPoints bonusHeldReason bonusHeldAt bonusDecisionNote } } }`;
    const id = encodeGlobalID('ContractRenewal', renewalId);

    const staff = await app.gql(READ, { id }, await app.staffToken('SUPERVISOR', 'sup-limit'));
    expect(staff.errors).toBeUndefined();
    expect(staff.data?.node).toMatchObject({ bonusStatus: 'HELD', bonusPoints: 500, bonusHeldReason: 'BALANCE_LIMIT' });
    expect(staff.data?.node.bonusDecisionNote).toContain(`past ${MAX_POINTS}`);

    const member = await app.gql(READ, { id }, await app.memberToken(memberId));
    expect(member.errors).toBeUndefined();
    expect(member.data?.node).toMatchObject({ bonusStatus: 'HELD', bonusHeldReason: 'BALANCE_LIMIT', bonusDecisionNote: null });
  });
});
