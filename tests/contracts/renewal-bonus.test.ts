import { describe, expect, it } from 'vitest';
import {
  cancelContract,
  extendContract,
  registerContract,
  renewalBonusPoints,
  renewalBonusStatus,
} from '../../src/domain/contracts/contracts.service.js';
import { PermanentJobError } from '../../src/domain/errors.js';
import { earnPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { apiKeyCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

const billing = apiKeyCaller('billing', ['contracts:write', 'points:earn', 'points:redeem']);
const supervisor = { actor: { type: 'STAFF' as const, id: 'supervisor-1' }, role: 'SUPERVISOR' as const };

/** Service deps whose clock we can move. */
function at(date: Date) {
  return { prisma, logger: testLogger, now: () => date };
}

const { prisma, app } = useTestApp();

const T0 = new Date('2026-01-10T10:00:00.000Z');
const STARTS = new Date('2025-03-01T00:00:00.000Z');

async function memberWithContract(tier: 'BRONZE' | 'SILVER' | 'GOLD' | 'PLATINUM' = 'BRONZE', externalRef = 'C-1') {
  const memberId = await app.enroll();
  if (tier !== 'BRONZE') await prisma.member.update({ where: { id: memberId }, data: { tier } });
  const { contractId } = await registerContract(
    at(T0),
    { memberId, externalRef, plan: 'mobile-l', startsAt: STARTS, termMonths: 12 },
    billing,
  );
  return { memberId, contractId };
}

async function extend(contractId: string, termMonths: number, key: string, when = T0) {
  return extendContract(at(when), { contractId, termMonths, idempotencyKey: key }, billing);
}

const memberOf = (memberId: string) => prisma.member.findUniqueOrThrow({ where: { id: memberId } });
const bonusEntries = (memberId: string) => prisma.ledgerEntry.findMany({ where: { memberId, kind: 'RENEWAL_BONUS' } });

describe('renewal bonus amount', () => {
  it('a 24-month extension of a GOLD member with two earlier renewals grants 500 × 2 × 1.5 × 1.2 = 1800, once, however often it is sent and run', async () => {
    const { memberId, contractId } = await memberWithContract('GOLD');
    // Each extension when its term comes up for renewal: T0 is 50 days before the first end.
    await extend(contractId, 12, 'ext-1');
    await extend(contractId, 12, 'ext-2', addMonths(T0, 12));
    const T3 = addMonths(T0, 24);

    // The billing system sends the third extension five times at once, with one key.
    const sent = await Promise.all(Array.from({ length: 5 }, () => extend(contractId, 24, 'ext-3', T3)));
    expect(new Set(sent.map((s) => s.renewalId)).size).toBe(1);
    expect(sent.filter((s) => !s.replayed)).toHaveLength(1);
    const renewalId = sent[0]!.renewalId;
    expect(await prisma.contractRenewal.count({ where: { contractId } })).toBe(3);
    expect(await prisma.outboxEvent.count({ where: { id: renewalId } })).toBe(1);
    const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(renewal).toMatchObject({ sequence: 3, termMonths: 24, bonusGrantedAt: null });
    const contract = await prisma.contract.findUniqueOrThrow({ where: { id: contractId } });
    expect(contract.endsAt).toEqual(addMonths(STARTS, 12 + 12 + 12 + 24));
    expect(renewal.newEndsAt).toEqual(contract.endsAt);
    expect(renewal.previousEndsAt).toEqual(addMonths(STARTS, 36));

    // The job runs, is retried, and is duplicated five times at once.
    const first = await processRenewalBonus({ renewalId }, at(T3));
    expect(first).toMatchObject({ outcome: 'GRANTED', points: 1800 });
    expect(await processRenewalBonus({ renewalId }, at(T3))).toMatchObject({ outcome: 'ALREADY_DONE', points: 0 });
    const raced = await Promise.all(Array.from({ length: 5 }, () => processRenewalBonus({ renewalId }, at(T3))));
    expect(raced.map((r) => r.outcome)).toEqual(Array(5).fill('ALREADY_DONE'));

    const entries = await bonusEntries(memberId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ amount: 1800, causeType: 'CONTRACT', causeRef: renewalId, idempotencyKey: `renewal:${renewalId}` });
    const granted = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(granted).toMatchObject({ bonusPoints: 1800, bonusEntryId: entries[0]!.id, bonusGrantedAt: T3 });
    expect(renewalBonusStatus(granted)).toBe('GRANTED');
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: renewalId } })).completedAt).toEqual(T3);
    // Available at once, in a lot with the normal expiry, and it counts as activity.
    const member = await memberOf(memberId);
    expect([member.availablePoints, member.pendingPoints, member.lastActivityAt]).toEqual([1800, 0, T3]);
    const lot = await prisma.pointLot.findUniqueOrThrow({ where: { entryId: entries[0]!.id } });
    expect(lot).toMatchObject({ points: 1800, remaining: 1800, availableAt: T3, expiresAt: addMonths(T3, 24) });
  });

  it('the consecutive bonus stops at +50 %: the 5th renewal earns +40 %, the 7th +50 % (not +60 %)', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const renewals: string[] = [];
    // One extension a year, each when its term comes up for renewal.
    for (let i = 1; i <= 7; i++) renewals.push((await extend(contractId, 12, `ext-${i}`, addMonths(T0, 12 * (i - 1)))).renewalId);
    // Granted while the member is still BRONZE (1 450 qualifying points then lift them to SILVER).
    const last = at(addMonths(T0, 72));
    expect(await processRenewalBonus({ renewalId: renewals[6]! }, last)).toMatchObject({ points: 750 });
    expect(await processRenewalBonus({ renewalId: renewals[4]! }, last)).toMatchObject({ points: 700 });
    expect((await memberOf(memberId)).availablePoints).toBe(1450);
  });

  it('a first 12-month renewal of a BRONZE member grants 500', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const { renewalId } = await extend(contractId, 12, 'ext-1');
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'GRANTED', points: 500 });
    expect((await memberOf(memberId)).availablePoints).toBe(500);
  });

  it('computes in decimals: every tier, term and renewal count gives the exact product, rounded down', () => {
    const settings = DEFAULT_PROGRAM_SETTINGS;
    expect(renewalBonusPoints(settings, 'GOLD', 24, 2)).toBe(1800);
    expect(renewalBonusPoints(settings, 'SILVER', 12, 1)).toBe(687); // 500 × 1.25 × 1.1 = 687.5
    expect(renewalBonusPoints(settings, 'PLATINUM', 24, 9)).toBe(3000);
    expect(renewalBonusPoints(settings, 'BRONZE', 12, 6)).toBe(750);
    // In floating point 500 × 1.3 × 1.4 is 909.999…, which would round down to 909.
    const silver13 = { ...settings, tiers: settings.tiers.map((tier) => (tier.key === 'SILVER' ? { ...tier, multiplier: 1.3 } : tier)) };
    expect(renewalBonusPoints(silver13, 'SILVER', 12, 4)).toBe(910);
  });

  it('the bonus counts as qualifying points and can lift the member a tier', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    await prisma.program.upsert({
      where: { id: 1 },
      create: { settings: { ...DEFAULT_PROGRAM_SETTINGS, renewal: { ...DEFAULT_PROGRAM_SETTINGS.renewal, pointsPer12Months: 1000 } } },
      update: { settings: { ...DEFAULT_PROGRAM_SETTINGS, renewal: { ...DEFAULT_PROGRAM_SETTINGS.renewal, pointsPer12Months: 1000 } } },
    });
    const { renewalId } = await extend(contractId, 12, 'ext-1');
    await processRenewalBonus({ renewalId }, at(T0));
    expect((await memberOf(memberId)).tier).toBe('SILVER');
  });

  it('a job run again after the bonus was granted writes nothing, even when a lot of the member has come due meanwhile', async () => {
    // Found by the ledger fuzzer (seed 1506695722): the redelivered job settled the member's due lots.
    const { memberId, contractId } = await memberWithContract('BRONZE');
    await earnPoints(at(T0), { memberId, orderRef: 'order-1', orderTotal: '20.00', idempotencyKey: 'earn-1' }, billing);
    const { renewalId } = await extend(contractId, 12, 'ext-1');
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'GRANTED', points: 500 });
    const before = { member: await memberOf(memberId), lots: await prisma.pointLot.findMany({ where: { memberId } }) };
    expect(before.member.pendingPoints).toBe(20);

    // 40 days on the earned lot is due to be released, but nothing but the job touches the member.
    const later = at(addDays(T0, 40));
    expect(await processRenewalBonus({ renewalId }, later)).toMatchObject({ outcome: 'ALREADY_DONE', points: 0 });
    expect(await memberOf(memberId)).toEqual(before.member);
    expect(await prisma.pointLot.findMany({ where: { memberId } })).toEqual(before.lots);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(2);
  });

  it('a job for a renewal that does not exist fails permanently and writes nothing', async () => {
    await expect(processRenewalBonus({ renewalId: '00000000-0000-4000-8000-000000000000' }, at(T0))).rejects.toBeInstanceOf(
      PermanentJobError,
    );
    await expect(processRenewalBonus({ renewalId: 'not-a-uuid' }, at(T0))).rejects.toBeInstanceOf(PermanentJobError);
    await expect(processRenewalBonus({} as { renewalId: string }, at(T0))).rejects.toBeInstanceOf(PermanentJobError);
    expect(await prisma.ledgerEntry.count()).toBe(0);
  });
});

describe('extensions', () => {
  it('the same key with another term or contract is an IdempotencyConflictError and writes nothing', async () => {
    const { contractId } = await memberWithContract('BRONZE', 'C-1');
    const other = await memberWithContract('BRONZE', 'C-2');
    await extend(contractId, 12, 'ext-1');
    await expect(extend(contractId, 24, 'ext-1')).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    await expect(extend(other.contractId, 12, 'ext-1')).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    // By reference, the same request is the same request.
    const byRef = await extendContract(at(T0), { externalRef: 'C-1', termMonths: 12, idempotencyKey: 'ext-1' }, billing);
    expect(byRef.replayed).toBe(true);
    expect(await prisma.contractRenewal.count()).toBe(1);
    expect(await prisma.outboxEvent.count()).toBe(1);
  });

  it('each term is extended once, in sequence; concurrent extensions of one term with different keys give one renewal', async () => {
    const { contractId } = await memberWithContract('BRONZE');
    let endsAt = addMonths(STARTS, 12);
    for (let term = 0; term < 6; term++) {
      const months = term % 2 ? 24 : 12;
      const when = addDays(endsAt, -30);
      const raced = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => extend(contractId, months, `ext-${term}-${i}`, when)));
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const refused of raced.filter((r) => r.status === 'rejected')) {
        expect(refused.reason).toMatchObject({ code: 'CONTRACT_NOT_UP_FOR_RENEWAL', endsAt: addMonths(endsAt, months) });
      }
      endsAt = addMonths(endsAt, months);
    }
    const renewals = await prisma.contractRenewal.findMany({ where: { contractId }, orderBy: { sequence: 'asc' } });
    expect(renewals.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 1; i < renewals.length; i++) expect(renewals[i]!.previousEndsAt).toEqual(renewals[i - 1]!.newEndsAt);
    const contract = await prisma.contract.findUniqueOrThrow({ where: { id: contractId } });
    expect(contract.endsAt).toEqual(addMonths(STARTS, 12 + 3 * 12 + 3 * 24));
  });

  it('bad input is a typed error and writes nothing', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const before = await Promise.all([prisma.contractRenewal.count(), prisma.outboxEvent.count(), prisma.idempotencyRecord.count()]);
    await expect(extend(contractId, 18, 'e-1')).rejects.toMatchObject({ code: 'VALIDATION', field: 'termMonths' });
    await expect(extend(contractId, 12.5, 'e-1')).rejects.toMatchObject({ code: 'VALIDATION', field: 'termMonths' });
    await expect(extend('not-an-id', 12, 'e-1')).rejects.toMatchObject({ code: 'VALIDATION', field: 'contractId' });
    await expect(extend('00000000-0000-4000-8000-000000000000', 12, 'e-1')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      entity: 'Contract',
    });
    await expect(extendContract(at(T0), { externalRef: 'nope', termMonths: 12, idempotencyKey: 'e-1' }, billing)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      extendContract(at(T0), { contractId, externalRef: 'C-1', termMonths: 12, idempotencyKey: 'e-1' }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'contractId' });
    await expect(extendContract(at(T0), { termMonths: 12, idempotencyKey: 'e-1' }, billing)).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await expect(extend(contractId, 12, 'bad key!')).rejects.toMatchObject({ code: 'VALIDATION', field: 'idempotencyKey' });
    await expect(
      registerContract(at(T0), { memberId, externalRef: 'C-9', plan: 'p', startsAt: STARTS, termMonths: 18 }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'termMonths' });
    await expect(
      registerContract(at(T0), { memberId: 'x', externalRef: 'C-9', plan: 'p', startsAt: STARTS, termMonths: 12 }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'memberId' });
    await expect(
      registerContract(at(T0), { memberId, externalRef: ' ', plan: 'p', startsAt: STARTS, termMonths: 12 }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'externalRef' });
    // A reference and a plan name something: no control characters when they are stored. A reference looked up is
    // taken as stored (a contract registered before the rule may hold one): NUL, which none can hold, is refused.
    await expect(
      registerContract(at(T0), { memberId, externalRef: 'C\u00079', plan: 'p', startsAt: STARTS, termMonths: 12 }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'externalRef' });
    await expect(
      registerContract(at(T0), { memberId, externalRef: 'C-9', plan: 'mobile\nL', startsAt: STARTS, termMonths: 12 }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'plan' });
    await expect(
      extendContract(at(T0), { externalRef: 'C-1\u0000', termMonths: 12, idempotencyKey: 'e-1' }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'externalRef' });
    await expect(
      registerContract(at(T0), { memberId, externalRef: 'C-9', plan: 'p', startsAt: new Date(NaN), termMonths: 12 }, billing),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'startsAt' });
    await expect(
      registerContract(
        at(T0),
        { memberId: '00000000-0000-4000-8000-000000000000', externalRef: 'C-9', plan: 'p', startsAt: STARTS, termMonths: 12 },
        billing,
      ),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', entity: 'Member' });
    const after = await Promise.all([prisma.contractRenewal.count(), prisma.outboxEvent.count(), prisma.idempotencyRecord.count()]);
    expect(after).toEqual(before);
    expect(await prisma.contract.count()).toBe(1);
  });

  it('an expired or cancelled contract cannot be extended', async () => {
    const { contractId } = await memberWithContract('BRONZE');
    const afterEnd = addMonths(STARTS, 12);
    await expect(extend(contractId, 12, 'late', afterEnd)).rejects.toMatchObject({ code: 'CONTRACT_NOT_ACTIVE', status: 'EXPIRED' });
    await cancelContract(at(T0), { contractId, idempotencyKey: 'cancel' }, billing);
    await expect(extend(contractId, 12, 'after-cancel')).rejects.toMatchObject({ code: 'CONTRACT_NOT_ACTIVE', status: 'CANCELLED' });
    expect(await prisma.contractRenewal.count()).toBe(0);
  });

  it('a member cannot change contracts, not even their own', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const self = { actor: { type: 'MEMBER' as const, id: memberId } };
    await expect(extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'm' }, self)).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await expect(cancelContract(at(T0), { contractId, idempotencyKey: 'm' }, self)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await prisma.contractRenewal.count()).toBe(0);
  });
});

describe('registration', () => {
  it('an identical repeat returns the same contract (even five at once); other details under the reference are AlreadyExistsError', async () => {
    const memberId = await app.enroll();
    const other = await app.enroll();
    const input = { memberId, externalRef: 'C-1', plan: 'mobile-l', startsAt: STARTS, termMonths: 24 };
    const results = await Promise.all(Array.from({ length: 5 }, () => registerContract(at(T0), input, billing)));
    expect(new Set(results.map((r) => r.contractId)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    const contract = await prisma.contract.findUniqueOrThrow({ where: { externalRef: 'C-1' } });
    expect(contract).toMatchObject({ memberId, termMonths: 24, startsAt: STARTS, endsAt: addMonths(STARTS, 24), status: 'ACTIVE' });

    await expect(registerContract(at(T0), { ...input, memberId: other }, billing)).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      field: 'externalRef',
    });
    await expect(registerContract(at(T0), { ...input, plan: 'mobile-xl' }, billing)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(registerContract(at(T0), { ...input, termMonths: 12 }, billing)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await prisma.contract.count()).toBe(1);
  });
});

describe('cancellation and clawback', () => {
  it('within 30 days of an extension the granted bonus is clawed back, once', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const { renewalId } = await extend(contractId, 12, 'ext-1');
    await processRenewalBonus({ renewalId }, at(T0));

    const when = addDays(T0, 30);
    const cancelled = await cancelContract(at(when), { contractId, idempotencyKey: 'cancel-1' }, billing);
    expect(cancelled).toMatchObject({ pointsClawedBack: 500, pointsUnrecovered: 0, renewalsClawedBack: 1, bonusesForfeited: 0 });
    const repeat = await cancelContract(at(addDays(when, 1)), { contractId, idempotencyKey: 'cancel-1' }, billing);
    expect(repeat).toEqual({ ...cancelled, replayed: true });
    await expect(cancelContract(at(when), { contractId, idempotencyKey: 'cancel-2' }, supervisor)).rejects.toMatchObject({
      code: 'CONTRACT_NOT_ACTIVE',
      status: 'CANCELLED',
    });

    const reversals = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'REVERSAL' } });
    expect(reversals).toHaveLength(1);
    expect(reversals[0]).toMatchObject({
      amount: -500,
      causeType: 'CONTRACT',
      causeRef: renewalId,
      idempotencyKey: `renewal-clawback:${renewalId}`,
    });
    expect((await memberOf(memberId)).availablePoints).toBe(0);
    const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(renewal.clawedBackAt).toEqual(when);
    expect(renewalBonusStatus(renewal)).toBe('CLAWED_BACK');
    const contract = await prisma.contract.findUniqueOrThrow({ where: { id: contractId } });
    expect(contract).toMatchObject({ status: 'CANCELLED', cancelledAt: when });
    // The job, re-run after the clawback, does not grant again.
    expect(await processRenewalBonus({ renewalId }, at(when))).toMatchObject({ outcome: 'ALREADY_DONE' });
    expect(await bonusEntries(memberId)).toHaveLength(1);
  });

  it('a clawback takes what is available and records what was already spent', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const { renewalId } = await extend(contractId, 12, 'ext-1');
    await processRenewalBonus({ renewalId }, at(T0));
    await redeemPoints(at(addDays(T0, 1)), { memberId, points: 300, idempotencyKey: 'spend' }, billing);

    const cancelled = await cancelContract(at(addDays(T0, 2)), { externalRef: 'C-1', idempotencyKey: 'cancel' }, billing);
    expect(cancelled).toMatchObject({ pointsClawedBack: 200, pointsUnrecovered: 300, renewalsClawedBack: 1 });
    const [reversal] = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'REVERSAL' } });
    expect(reversal).toMatchObject({ amount: -200, balanceAfter: 0 });
    expect(reversal!.note).toContain('300 points had already been spent');
    expect((await memberOf(memberId)).availablePoints).toBe(0);
  });

  it('more than 30 days after the extension the bonus stays', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const { renewalId } = await extend(contractId, 12, 'ext-1');
    await processRenewalBonus({ renewalId }, at(T0));

    const cancelled = await cancelContract(at(addDays(T0, 31)), { contractId, idempotencyKey: 'cancel' }, billing);
    expect(cancelled).toMatchObject({ pointsClawedBack: 0, pointsUnrecovered: 0, renewalsClawedBack: 0, bonusesForfeited: 0 });
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'REVERSAL' } })).toBe(0);
    expect((await memberOf(memberId)).availablePoints).toBe(500);
    const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(renewalBonusStatus(renewal)).toBe('GRANTED');
  });

  it('only renewals inside the window lose their bonus', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const old = await extend(contractId, 12, 'ext-1', T0);
    await processRenewalBonus({ renewalId: old.renewalId }, at(T0));
    const T1 = addMonths(T0, 12); // the next term comes up for renewal
    const recent = await extend(contractId, 12, 'ext-2', T1);
    await processRenewalBonus({ renewalId: recent.renewalId }, at(T1));
    expect((await memberOf(memberId)).availablePoints).toBe(1050);

    const cancelled = await cancelContract(at(addDays(T1, 5)), { contractId, idempotencyKey: 'c' }, billing);
    expect(cancelled).toMatchObject({ pointsClawedBack: 550, renewalsClawedBack: 1 });
    expect((await memberOf(memberId)).availablePoints).toBe(500);
  });

  it('cancelled before the job ran: the bonus is forfeited and the job grants nothing', async () => {
    const { memberId, contractId } = await memberWithContract('BRONZE');
    const { renewalId } = await extend(contractId, 24, 'ext-1');
    const cancelled = await cancelContract(at(addDays(T0, 3)), { contractId, idempotencyKey: 'cancel' }, supervisor);
    expect(cancelled).toMatchObject({ pointsClawedBack: 0, renewalsClawedBack: 0, bonusesForfeited: 1 });
    expect((await prisma.outboxEvent.findUniqueOrThrow({ where: { id: renewalId } })).completedAt).not.toBeNull();

    expect(await processRenewalBonus({ renewalId }, at(addDays(T0, 4)))).toMatchObject({ outcome: 'ALREADY_DONE', points: 0 });
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(0);
    const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(renewal).toMatchObject({ bonusPoints: null, bonusEntryId: null, bonusGrantedAt: null });
    expect(renewalBonusStatus(renewal)).toBe('FORFEITED');
  });

  it('a cancellation racing the bonus job leaves the member without the bonus either way', async () => {
    for (let round = 0; round < 5; round++) {
      const { memberId, contractId } = await memberWithContract('BRONZE', `C-race-${round}`);
      const { renewalId } = await extend(contractId, 12, `ext-${round}`);
      await Promise.all([
        processRenewalBonus({ renewalId }, at(T0)),
        cancelContract(at(T0), { contractId, idempotencyKey: `cancel-${round}` }, billing),
        processRenewalBonus({ renewalId }, at(T0)),
      ]);
      const member = await memberOf(memberId);
      expect(member.availablePoints + member.pendingPoints).toBe(0);
      const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
      expect(['CLAWED_BACK', 'FORFEITED']).toContain(renewalBonusStatus(renewal));
      expect(await bonusEntries(memberId)).toHaveLength(renewalBonusStatus(renewal) === 'CLAWED_BACK' ? 1 : 0);
    }
  });

  it('an expired contract cannot be cancelled', async () => {
    const { contractId } = await memberWithContract('BRONZE');
    await expect(cancelContract(at(addMonths(STARTS, 13)), { contractId, idempotencyKey: 'c' }, billing)).rejects.toMatchObject({
      code: 'CONTRACT_NOT_ACTIVE',
      status: 'EXPIRED',
    });
    expect((await prisma.contract.findUniqueOrThrow({ where: { id: contractId } })).status).toBe('ACTIVE');
  });
});
