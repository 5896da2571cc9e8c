import { describe, expect, it } from 'vitest';
import {
  cancelContract,
  decideRenewalBonus,
  extendContract,
  registerContract,
  renewalBonusStatus,
} from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { adjustPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { addDays } from '../../src/domain/time.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * Adversarial audit of renewal bonuses: races of extensions, cancellations,
 * decisions and jobs, state changed between an extension and its job, and
 * hostile input, each checked against the rows it must (not) write.
 */
const { prisma, app } = useTestApp();

const billing = apiKeyCaller('billing', ['contracts:write', 'points:redeem']);
const supervisor = staffCaller('SUPERVISOR', 'sup-1');
const admin = staffCaller('ADMIN', 'admin-1');
const at = (date: Date): ServiceDeps => ({ prisma, logger: testLogger, now: () => date });

const T0 = new Date('2026-01-10T10:00:00.000Z');
const STARTS = new Date('2025-03-01T00:00:00.000Z'); // 12 months: ends 2026-03-01, up for renewal at T0

async function memberWithContract(externalRef: string, tier = 'BRONZE') {
  const memberId = await app.enroll();
  if (tier !== 'BRONZE') await prisma.member.update({ where: { id: memberId }, data: { tier } });
  const { contractId } = await registerContract(
    at(T0),
    { memberId, externalRef, plan: 'mobile-l', startsAt: STARTS, termMonths: 12 },
    billing,
  );
  return { memberId, contractId };
}

const memberOf = (memberId: string) => prisma.member.findUniqueOrThrow({ where: { id: memberId } });
const bonusEntries = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId, kind: 'RENEWAL_BONUS' } });
const reversals = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId, kind: 'REVERSAL' } });

async function counts() {
  const [contracts, renewals, events, entries, keys, webhooks] = await Promise.all([
    prisma.contract.count(),
    prisma.contractRenewal.count(),
    prisma.outboxEvent.count(),
    prisma.ledgerEntry.count(),
    prisma.idempotencyRecord.count(),
    prisma.webhookEvent.count(),
  ]);
  return { contracts, renewals, events, entries, keys, webhooks };
}

describe('renewal bonuses under attack', () => {
  it('extend racing cancel', async () => {
    // The program's row exists, as the service creates it at start (src/main.ts): the race is the requests', not
    // two first transactions each inserting that row (which deadlocked, one holding the member, one the contract).
    await loadProgram(prisma);
    for (let round = 0; round < 6; round++) {
      const { memberId, contractId } = await memberWithContract(`C-${round}`);
      const [ext, can] = await Promise.allSettled([
        extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${round}` }, billing),
        cancelContract(at(T0), { contractId, idempotencyKey: `c-${round}` }, billing),
      ]);
      expect(can.status).toBe('fulfilled');
      if (ext.status === 'fulfilled') {
        await processRenewalBonus({ renewalId: ext.value.renewalId }, at(T0));
        const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: ext.value.renewalId } });
        expect(renewalBonusStatus(renewal)).toBe('FORFEITED');
      } else {
        expect((ext.reason as { code: string }).code).toBe('CONTRACT_NOT_ACTIVE');
        expect(await prisma.contractRenewal.count({ where: { contractId } })).toBe(0);
      }
      expect(await bonusEntries(memberId)).toBe(0);
      expect((await memberOf(memberId)).availablePoints).toBe(0);
    }
  });

  it('five deliveries of a fresh job at once grant once', async () => {
    const { memberId, contractId } = await memberWithContract('C-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => processRenewalBonus({ renewalId }, at(T0))));
    expect(outcomes.filter((o) => o.outcome === 'GRANTED')).toHaveLength(1);
    expect(await bonusEntries(memberId)).toBe(1);
  });

  it('cancel twice at once (same key, other keys) claws back once', async () => {
    const { memberId, contractId } = await memberWithContract('C-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    await processRenewalBonus({ renewalId }, at(T0));
    const when = addDays(T0, 2);
    const results = await Promise.allSettled([
      cancelContract(at(when), { contractId, idempotencyKey: 'c' }, billing),
      cancelContract(at(when), { contractId, idempotencyKey: 'c' }, billing),
      cancelContract(at(when), { externalRef: 'C-1', idempotencyKey: 'c' }, billing),
      cancelContract(at(when), { contractId, idempotencyKey: 'c2' }, billing),
      cancelContract(at(when), { contractId, idempotencyKey: 'c3' }, supervisor),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const fresh = ok.filter((r) => !(r as PromiseFulfilledResult<{ replayed: boolean }>).value.replayed);
    expect(fresh).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe('CONTRACT_NOT_ACTIVE');
    expect(await reversals(memberId)).toBe(1);
    expect((await memberOf(memberId)).availablePoints).toBe(0);
  });

  it('approve racing decline of a held bonus', async () => {
    for (let round = 0; round < 5; round++) {
      const { memberId, contractId } = await memberWithContract(`C-${round}`);
      await updateMember(at(T0), { id: memberId, status: 'SUSPENDED' }, supervisor);
      const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${round}` }, billing);
      expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'HELD' });
      const results = await Promise.allSettled([
        decideRenewalBonus(at(T0), { renewalId, approve: true, note: 'yes please', idempotencyKey: `a-${round}` }, supervisor),
        decideRenewalBonus(at(T0), { renewalId, approve: false, note: 'no thanks', idempotencyKey: `d-${round}` }, admin),
        decideRenewalBonus(at(T0), { renewalId, approve: true, note: 'yes please', idempotencyKey: `a2-${round}` }, admin),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe('VALIDATION');
      const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
      const status = renewalBonusStatus(renewal);
      expect(await bonusEntries(memberId)).toBe(status === 'GRANTED' ? 1 : 0);
    }
  });

  it('the bonus is sized when its job runs: settings and tier changed after the extension count', async () => {
    const { memberId, contractId } = await memberWithContract('C-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    await updateProgram(at(T0), { patch: { renewal: { pointsPer12Months: 1000 } } }, admin);
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'GOLD' } });
    // docs/domain-rules.md: the bonus's size is only known when the job runs: 1000 × 1.5 (GOLD).
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'GRANTED', points: 1500 });
    expect(await bonusEntries(memberId)).toBe(1);
  });

  it('claw-back of a closed or suspended member', async () => {
    for (const status of ['SUSPENDED', 'CLOSED'] as const) {
      const { memberId, contractId } = await memberWithContract(`C-${status}`);
      const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${status}` }, billing);
      await processRenewalBonus({ renewalId }, at(T0));
      await updateMember(at(addDays(T0, 1)), { id: memberId, status }, supervisor);
      const result = await cancelContract(at(addDays(T0, 2)), { contractId, idempotencyKey: `c-${status}` }, billing);
      expect(result).toMatchObject({ pointsClawedBack: 500, renewalsClawedBack: 1 });
      expect((await memberOf(memberId)).availablePoints).toBe(0);
    }
  });

  it('spent points, then more earned: claw-back takes other available points', async () => {
    const { memberId, contractId } = await memberWithContract('C-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    await processRenewalBonus({ renewalId }, at(T0));
    await redeemPoints(at(addDays(T0, 1)), { memberId, points: 500, idempotencyKey: 'spend' }, billing);
    const result = await cancelContract(at(addDays(T0, 2)), { contractId, idempotencyKey: 'c' }, billing);
    expect(result).toMatchObject({ pointsClawedBack: 0, pointsUnrecovered: 500 });
    expect(await reversals(memberId)).toBe(0);
    const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
    expect(renewalBonusStatus(renewal)).toBe('CLAWED_BACK');
  });

  it('cancel racing approve, and cancel racing reactivation + job: the member keeps nothing', async () => {
    for (let round = 0; round < 6; round++) {
      const { memberId, contractId } = await memberWithContract(`C-${round}`);
      await updateMember(at(T0), { id: memberId, status: 'SUSPENDED' }, supervisor);
      const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${round}` }, billing);
      await processRenewalBonus({ renewalId }, at(T0));
      const when = addDays(T0, 1);
      const racers: Promise<unknown>[] = [cancelContract(at(when), { contractId, idempotencyKey: `c-${round}` }, billing)];
      if (round % 2 === 0) {
        racers.push(decideRenewalBonus(at(when), { renewalId, approve: true, note: 'ok then', idempotencyKey: `a-${round}` }, supervisor));
      } else {
        racers.push(
          updateMember(at(when), { id: memberId, status: 'ACTIVE' }, supervisor).then(async () => {
            for (const event of await prisma.outboxEvent.findMany({ where: { completedAt: null } })) {
              await processRenewalBonus(event.payload as never, at(when));
            }
          }),
        );
      }
      const results = await Promise.allSettled(racers);
      for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe('VALIDATION');
      for (const event of await prisma.outboxEvent.findMany({ where: { completedAt: null } })) {
        await processRenewalBonus(event.payload as never, at(when));
      }
      const member = await memberOf(memberId);
      expect(member.availablePoints + member.pendingPoints).toBe(0);
      const renewal = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } });
      expect(['CLAWED_BACK', 'FORFEITED']).toContain(renewalBonusStatus(renewal));
      expect(await prisma.outboxEvent.count({ where: { completedAt: null } })).toBe(0);
    }
  });

  it('billing and a supervisor extend at once with their own keys: one renewal', async () => {
    const { contractId } = await memberWithContract('C-1');
    const results = await Promise.allSettled([
      extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'k' }, billing),
      extendContract(at(T0), { externalRef: 'C-1', termMonths: 24, idempotencyKey: 'k' }, supervisor),
      extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'k2' }, admin),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe('CONTRACT_NOT_UP_FOR_RENEWAL');
    expect(await prisma.contractRenewal.count({ where: { contractId } })).toBe(1);
  });

  it('a bonus that expired before the cancellation is not taken back again from other points', async () => {
    // Valid settings where a bonus can expire inside the clawback window: lots last 1 month, clawback 60 days.
    await updateProgram(at(T0), { patch: { pointExpiryMonths: 1, renewal: { clawbackDays: 60 } } }, admin);
    const { memberId, contractId } = await memberWithContract('C-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    await processRenewalBonus({ renewalId }, at(T0));
    // 200 of the 500 are spent; the other 300 expire with the lot; an unrelated credit of 400 comes later.
    await redeemPoints(at(addDays(T0, 1)), { memberId, points: 200, idempotencyKey: 'spend' }, billing);
    await adjustPoints(at(addDays(T0, 40)), { memberId, points: 400, reason: 'unrelated credit', idempotencyKey: 'adj' }, admin);
    expect(await prisma.ledgerEntry.findFirst({ where: { memberId, kind: 'EXPIRE' } })).toMatchObject({ amount: -300 });

    const result = await cancelContract(at(addDays(T0, 45)), { contractId, idempotencyKey: 'c' }, billing);
    // Only the 200 the member used are taken back; the 300 that expired are gone already.
    expect(result).toMatchObject({ pointsClawedBack: 200, pointsUnrecovered: 0, renewalsClawedBack: 1 });
    expect((await memberOf(memberId)).availablePoints).toBe(200);
    expect(await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'REVERSAL' }, select: { amount: true } })).toEqual([
      { amount: -200 },
    ]);
    expect(renewalBonusStatus(await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } }))).toBe('CLAWED_BACK');
  });

  it('a bonus that expired whole before the cancellation takes nothing back', async () => {
    await updateProgram(at(T0), { patch: { pointExpiryMonths: 1, renewal: { clawbackDays: 60 } } }, admin);
    const { memberId, contractId } = await memberWithContract('C-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    await processRenewalBonus({ renewalId }, at(T0));
    await adjustPoints(at(addDays(T0, 40)), { memberId, points: 300, reason: 'unrelated credit', idempotencyKey: 'adj' }, admin);

    const result = await cancelContract(at(addDays(T0, 45)), { contractId, idempotencyKey: 'c' }, billing);
    expect(result).toMatchObject({ pointsClawedBack: 0, pointsUnrecovered: 0, renewalsClawedBack: 1 });
    expect((await memberOf(memberId)).availablePoints).toBe(300);
    expect(await reversals(memberId)).toBe(0);
    expect(renewalBonusStatus(await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } }))).toBe('CLAWED_BACK');
  });

  it('hostile input writes nothing', async () => {
    const { memberId, contractId } = await memberWithContract('C-1');
    const reg = (patch: object) =>
      registerContract(at(T0), { memberId, externalRef: 'C-new', plan: 'p', startsAt: STARTS, termMonths: 12, ...patch } as never, billing);
    const other = await app.enroll();
    const bad: [string, () => Promise<unknown>][] = [
      ['nul ref', () => reg({ externalRef: 'C-\u0000' })],
      ['long ref', () => reg({ externalRef: 'x'.repeat(100_000) })],
      ['nul plan', () => reg({ plan: 'p\u0000' })],
      ['long plan', () => reg({ plan: 'p'.repeat(100_000) })],
      ['blank plan', () => reg({ plan: '   ' })],
      ['unknown member', () => reg({ memberId: '00000000-0000-4000-8000-000000000000' })],
      ['bad member', () => reg({ memberId: 'nope' })],
      ['year 10000', () => reg({ startsAt: new Date('+010000-01-01T00:00:00Z') })],
      ['year -1', () => reg({ startsAt: new Date('-000001-01-01T00:00:00Z') })],
      ['invalid date', () => reg({ startsAt: new Date('nope') })],
      ['term 13', () => reg({ termMonths: 13 })],
      ['term NaN', () => reg({ termMonths: Number.NaN })],
      ['term string', () => reg({ termMonths: '12' })],
      ['start not date', () => reg({ startsAt: '2026-01-01' })],
      ['same ref other member', () => reg({ externalRef: 'C-1', memberId: other })],
      ['ext nul ref', () => extendContract(at(T0), { externalRef: 'C-\u0000', termMonths: 12, idempotencyKey: 'k' }, billing)],
      ['ext long ref', () => extendContract(at(T0), { externalRef: 'x'.repeat(100_000), termMonths: 12, idempotencyKey: 'k' }, billing)],
      [
        'ext unknown',
        () => extendContract(at(T0), { contractId: '00000000-0000-4000-8000-000000000000', termMonths: 12, idempotencyKey: 'k' }, billing),
      ],
      ['ext both', () => extendContract(at(T0), { contractId, externalRef: 'C-1', termMonths: 12, idempotencyKey: 'k' }, billing)],
      ['ext neither', () => extendContract(at(T0), { termMonths: 12, idempotencyKey: 'k' }, billing)],
      ['ext term 36', () => extendContract(at(T0), { contractId, termMonths: 36, idempotencyKey: 'k' }, billing)],
      ['ext term -12', () => extendContract(at(T0), { contractId, termMonths: -12, idempotencyKey: 'k' }, billing)],
      ['ext term 0', () => extendContract(at(T0), { contractId, termMonths: 0, idempotencyKey: 'k' }, billing)],
      ['ext nul key', () => extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'k\u0000' }, billing)],
      ['ext long key', () => extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'k'.repeat(100_000) }, billing)],
      ['ext id not string', () => extendContract(at(T0), { contractId: 42 as never, termMonths: 12, idempotencyKey: 'k' }, billing)],
      ['cancel nul', () => cancelContract(at(T0), { externalRef: '\u0000', idempotencyKey: 'k' }, billing)],
      ['cancel unknown', () => cancelContract(at(T0), { externalRef: 'nobody', idempotencyKey: 'k' }, billing)],
      ['cancel nul key', () => cancelContract(at(T0), { contractId, idempotencyKey: '\u0000' }, billing)],
      [
        'decide unknown',
        () =>
          decideRenewalBonus(
            at(T0),
            { renewalId: '00000000-0000-4000-8000-000000000000', approve: true, note: 'abc', idempotencyKey: 'k' },
            supervisor,
          ),
      ],
      [
        'decide bad approve',
        () =>
          decideRenewalBonus(
            at(T0),
            { renewalId: '00000000-0000-4000-8000-000000000000', approve: 'yes' as never, note: 'abc', idempotencyKey: 'k' },
            supervisor,
          ),
      ],
      [
        'decide nul note',
        () =>
          decideRenewalBonus(
            at(T0),
            { renewalId: '00000000-0000-4000-8000-000000000000', approve: true, note: 'a\u0000bc', idempotencyKey: 'k' },
            supervisor,
          ),
      ],
      ['job bad id', () => processRenewalBonus({ renewalId: 'x' }, at(T0))],
      ['job unknown', () => processRenewalBonus({ renewalId: '00000000-0000-4000-8000-000000000000' }, at(T0))],
      ['job bad event', () => processRenewalBonus({ renewalId: '00000000-0000-4000-8000-000000000000', eventId: 'x\u0000' }, at(T0))],
    ];
    const before = await counts();
    for (const [name, attempt] of bad) {
      const error = await attempt().then(
        () => null,
        (thrown: { code?: string }) => thrown,
      );
      expect(error?.code, name).toMatch(/^(VALIDATION|NOT_FOUND|ALREADY_EXISTS|PERMANENT_JOB_FAILURE)$/);
    }
    expect(await counts()).toEqual(before);
  });
});
