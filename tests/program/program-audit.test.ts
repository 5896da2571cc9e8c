import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { enrollMember } from '../../src/domain/members/members.service.js';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { updateProgram, type ProgramPatch } from '../../src/domain/program/program.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { reviewTiers } from '../../src/domain/tiers/tiers.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { whileHolding } from '../support/holding.js';
import { untilWaitingForLocks } from '../support/until.js';

/**
 * An adversarial audit of the program settings (`program`, `updateProgram`): hostile values for the tier list and
 * the money settings, what a change does to points already in flight, and changes that race each other or a
 * member's move into a tier. Existing coverage (tests/program/program.test.ts, program-settings.test.ts,
 * currency-*.test.ts, tests/tiers/*.test.ts) is not repeated.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'admin-audit');
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

const UPDATE = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
  __typename
  ... on UpdateProgramPayload { program { version tiers { key name threshold multiplier compensationFactor } } }
  ... on ValidationError { field message }
  ... on Error { message }
} }`;

async function update(input: Record<string, unknown>) {
  return app.gql(UPDATE, { i: input }, await app.staffToken('ADMIN', 'admin-audit'));
}

/** The program as stored now: the row is created by the first read, so compare after one. */
async function storedProgram() {
  const row = await prisma.program.findUniqueOrThrow({ where: { id: 1 } });
  return { version: row.version, settings: row.settings };
}

describe('updateProgram: malformed input is a ValidationError, never a masked internal error', () => {
  it('a money setting that is no decimal, or an empty tier list, names its field; nothing is written', async () => {
    await update({ pointsPerCurrencyUnit: 1.5 }); // the row and version 2 exist; the refusals must leave them
    const program = await storedProgram();
    const counts = await tableRowCounts(prisma);
    const cases: [Record<string, unknown>, string][] = [
      [{ compensation: { baseBySeverity: { low: 'abc' } } }, 'compensation.baseBySeverity.LOW'],
      [{ compensation: { baseBySeverity: { critical: '' } } }, 'compensation.baseBySeverity.CRITICAL'],
      [{ compensation: { baseBySeverity: { high: '12,50' } } }, 'compensation.baseBySeverity.HIGH'],
      [{ compensation: { capAmount: 'abc' } }, 'compensation.capAmount'],
      [{ compensation: { capAmount: '1_000.00' } }, 'compensation.capAmount'],
      [{ tiers: [] }, 'tiers'],
      [{ tiers: [{ key: 'BRONZE' }], compensation: { baseBySeverity: { low: 'x' } } }, 'tiers'],
    ];
    for (const [input, field] of cases) {
      const result = await update(input);
      expect(result.errors, JSON.stringify(input)).toBeUndefined();
      expect(result.data?.updateProgram, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await storedProgram()).toEqual(program);
    expect(await tableRowCounts(prisma)).toEqual(counts);
  });

  it('the service refuses the same, whoever calls it', async () => {
    const patches: ProgramPatch[] = [{ tiers: [] }, { compensation: { capAmount: 'lots' } }];
    for (const patch of patches) {
      await expect(updateProgram(app.deps, { patch }, admin), JSON.stringify(patch)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(await prisma.programChange.count()).toBe(0);
  });

  it('hostile values of every kind are refused with the field named; nothing is written', async () => {
    await update({ pointsPerCurrencyUnit: 1.5 });
    const program = await storedProgram();
    const counts = await tableRowCounts(prisma);
    const tier = (key: string, threshold: number) => ({ key, name: key, threshold, multiplier: 1, compensationFactor: 1 });
    const cases: [Record<string, unknown>, string][] = [
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', threshold: 0 }] }, 'tiers.1.threshold'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', threshold: 1_000_000_001 }] }, 'tiers.1.threshold'],
      [{ tiers: Array.from({ length: 11 }, (_, i) => tier(`T${i}`, i * 10)) }, 'tiers'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', multiplier: 0 }] }, 'tiers.1.multiplier'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', multiplier: 10.000001 }] }, 'tiers.1.multiplier'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', compensationFactor: 0 }] }, 'tiers.1.compensationFactor'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', compensationFactor: -1 }] }, 'tiers.1.compensationFactor'],
      [{ tiers: [{ key: 'BRONZE' }, tier('GÖLD', 10)] }, 'tiers.1.key'],
      [{ tiers: [{ key: 'BRONZE' }, tier('G'.repeat(33), 10)] }, 'tiers.1.key'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'x'.repeat(61) }] }, 'tiers.1.name'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'Sil\u202Ever' }] }, 'tiers.1.name'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'Sil\u0007ver' }] }, 'tiers.1.name'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', benefits: 'b'.repeat(2001) }] }, 'tiers.1.benefits'],
      [{ pointValue: 'NaN' }, 'pointValue'],
      [{ pointValue: '1e2' }, 'pointValue'],
      [{ pointValue: ' 0.01' }, 'pointValue'],
      [{ pointValue: '\u0660.\u0660\u0661' }, 'pointValue'],
      [{ pointsPerCurrencyUnit: 1e308 }, 'pointsPerCurrencyUnit'],
      [{ pointExpiryMonths: 0 }, 'pointExpiryMonths'],
      [{ returnWindowDays: 366 }, 'returnWindowDays'],
      [{ tierQualifyingMonths: 0 }, 'tierQualifyingMonths'],
      [{ tierProtectionDays: -1 }, 'tierProtectionDays'],
      [{ compensation: { secondFailureFactor: 0.5 } }, 'compensation.secondFailureFactor'],
      [{ compensation: { capAmount: '99999999999.99' } }, 'compensation.capAmount'],
      [{ goodwill: { perGestureLimit: '-0' } }, 'goodwill.perGestureLimit'],
      [{ renewal: { consecutiveBonusCapPercent: 501 } }, 'renewal.consecutiveBonusCapPercent'],
      [{ expectedVersion: -1, pointsPerCurrencyUnit: 2 }, 'expectedVersion'],
    ];
    for (const [input, field] of cases) {
      const result = await update(input);
      expect(result.data?.updateProgram, JSON.stringify(input).slice(0, 200)).toMatchObject({ __typename: 'ValidationError', field });
    }
    // A number GraphQL's Int cannot hold never reaches the service.
    const overflow = await update({ returnWindowDays: 2 ** 31 });
    expect(overflow.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await storedProgram()).toEqual(program);
    expect(await tableRowCounts(prisma)).toEqual(counts);
  });
});

describe('updateProgram: the tier list, judged as a whole', () => {
  it('two tiers whose names differ only in case or Unicode normalisation are refused, naming the second', async () => {
    const program = await storedProgram().catch(() => null);
    const cases: [Record<string, unknown>, string][] = [
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'bronze' }, { key: 'GOLD' }, { key: 'PLATINUM' }] }, 'tiers.1.name'],
      // "Bronzé" precomposed (U+00E9) and with a combining acute (e + U+0301), once in capitals.
      [
        {
          tiers: [
            { key: 'BRONZE', name: 'Bronz\u00e9' },
            { key: 'SILVER', name: 'BRONZE\u0301' },
          ],
        },
        'tiers.1.name',
      ],
      // Compatibility forms: full-width letters read as the same name.
      [
        {
          tiers: [
            { key: 'BRONZE' },
            { key: 'SILVER' },
            { key: 'GOLD', name: '\uFF27\uFF4F\uFF4C\uFF44' },
            { key: 'PLATINUM', name: 'gold' },
          ],
        },
        'tiers.3.name',
      ],
      // Characters that show nothing, and white space doubled inside, do not make a name another.
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'Bro\u200Bnze' }] }, 'tiers.1.name'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'Sil\u00ADver' }, { key: 'GOLD', name: 'Silver' }] }, 'tiers.2.name'],
      [
        {
          tiers: [
            { key: 'BRONZE', name: 'Gold Plus' },
            { key: 'SILVER', name: 'Gold  Plus' },
          ],
        },
        'tiers.1.name',
      ],
      // Surrounding white space is trimmed before the names are compared.
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: ' Bronze ' }] }, 'tiers.1.name'],
    ];
    for (const [input, field] of cases) {
      const result = await update(input);
      expect(result.data?.updateProgram, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await prisma.programChange.count()).toBe(0);
    if (program) expect(await storedProgram()).toEqual(program);
    expect((await prisma.programTier.findMany({ orderBy: { position: 'asc' } })).map((tier) => tier.name)).toEqual([
      'Bronze',
      'Silver',
      'Gold',
      'Platinum',
    ]);
  });

  it('names swapped between two tiers in one change are accepted: the list is judged as a whole', async () => {
    const result = await update({
      tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: 'Gold' }, { key: 'GOLD', name: 'Silver' }, { key: 'PLATINUM' }],
    });
    expect(result.data?.updateProgram.program.tiers.map((tier: { name: string }) => tier.name)).toEqual([
      'Bronze',
      'Gold',
      'Silver',
      'Platinum',
    ]);
  });
  it('two tiers that change places keep their members; the review moves down to the tier now below', async () => {
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'SILVER', tierSince: addMonths(T0, -13) } });
    // SILVER and GOLD change places: GOLD becomes the second tier (1 000), SILVER the third (5 000).
    await updateProgram(
      app.deps,
      {
        patch: {
          tiers: [{ key: 'BRONZE' }, { key: 'GOLD', threshold: 1000 }, { key: 'SILVER', threshold: 5000 }, { key: 'PLATINUM' }],
        },
      },
      admin,
    );
    const rows = await prisma.programTier.findMany({
      orderBy: { position: 'asc' },
      select: { key: true, position: true, threshold: true },
    });
    expect(rows).toEqual([
      { key: 'BRONZE', position: 1, threshold: 0 },
      { key: 'GOLD', position: 2, threshold: 1000 },
      { key: 'SILVER', position: 3, threshold: 5000 },
      { key: 'PLATINUM', position: 4, threshold: 15000 },
    ]);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).tier).toBe('SILVER');
    expect((await reviewTiers(at(T0))).membersDowngraded).toBe(1);
    expect(await prisma.tierChange.findMany({ where: { memberId }, select: { fromTier: true, toTier: true, reason: true } })).toEqual([
      { fromTier: 'SILVER', toTier: 'GOLD', reason: 'DOWNGRADE' },
    ]);
  });
});

describe('updateProgram: what is in flight keeps its dates', () => {
  it('a shorter return window and expiry do not move points already pending; longer ones do not delay them', async () => {
    const memberId = await app.enroll();
    await earnPoints(at(T0), { memberId, orderRef: 'o-1', orderTotal: '100.00', idempotencyKey: 'o-1' }, storefront);
    await updateProgram(app.deps, { patch: { returnWindowDays: 0, pointExpiryMonths: 1 } }, admin);
    const [lot] = await prisma.pointLot.findMany({ where: { memberId } });
    expect(lot).toMatchObject({ availableAt: addDays(T0, 14), expiresAt: addMonths(T0, 24), releasedAt: null });

    // The next day, and after a month and a half: still pending, nothing expired.
    await runPointsMaintenance(at(addDays(T0, 1)), { passive: false });
    await runPointsMaintenance(at(addDays(T0, 13)), { passive: false });
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ pendingPoints: 100, availablePoints: 0 });

    // A new earn under the new settings gets the new dates.
    await earnPoints(at(addDays(T0, 13)), { memberId, orderRef: 'o-2', orderTotal: '50.00', idempotencyKey: 'o-2' }, storefront);
    const second = await prisma.pointLot.findFirstOrThrow({ where: { memberId, points: 50 } });
    expect(second).toMatchObject({ availableAt: addDays(T0, 13), expiresAt: addMonths(addDays(T0, 13), 1) });

    // A longer window afterwards does not hold back the first order's points past their date.
    await updateProgram(app.deps, { patch: { returnWindowDays: 365, pointExpiryMonths: 120 } }, admin);
    await runPointsMaintenance(at(addDays(T0, 14)), { passive: false });
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ pendingPoints: 0, availablePoints: 150 });
  });

  it('a multiplier with many decimals earns by decimal arithmetic: 1.15 × 100.00 is 115, not 114', async () => {
    await updateProgram(
      app.deps,
      { patch: { tiers: [{ key: 'BRONZE', multiplier: 1.15 }, { key: 'SILVER' }, { key: 'GOLD' }, { key: 'PLATINUM' }] } },
      admin,
    );
    const memberId = await app.enroll();
    const earned = await earnPoints(at(T0), { memberId, orderRef: 'm-1', orderTotal: '100.00', idempotencyKey: 'm-1' }, storefront);
    expect(earned.points).toBe(115);
  });
});

describe('updateProgram: changes that race', () => {
  it('changes of different settings at once are all kept, each a version of its own (no lost update)', async () => {
    const patches: ProgramPatch[] = [
      { pointsPerCurrencyUnit: 3 },
      { returnWindowDays: 7 },
      { pointExpiryMonths: 36 },
      { tierProtectionDays: 30 },
      { voucherValidityDays: 120 },
      { renewal: { pointsPer12Months: 800 } },
      { goodwill: { perGesturePointsLimit: 4000 } },
      { compensation: { capAmount: '150.00' } },
      { tiers: [{ key: 'BRONZE' }, { key: 'SILVER', threshold: 1500 }, { key: 'GOLD' }, { key: 'PLATINUM' }] },
      { tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD', name: 'Golden' }, { key: 'PLATINUM' }] },
    ];
    const results = await Promise.all(patches.map((patch) => updateProgram(app.deps, { patch }, admin)));
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const { settings } = await storedProgram();
    expect(settings).toMatchObject({
      pointsPerCurrencyUnit: 3,
      returnWindowDays: 7,
      pointExpiryMonths: 36,
      tierProtectionDays: 30,
      voucherValidityDays: 120,
      renewal: { pointsPer12Months: 800, consecutiveBonusPercent: 10 },
      goodwill: { perGesturePointsLimit: 4000, perGestureLimit: '25.00' },
      compensation: { capAmount: '150.00', repeatWindowDays: 90 },
    });
    // Both tier changes were made over the list as the other left it: each tier list patch names only its own field.
    const tiers = await prisma.programTier.findMany({ orderBy: { position: 'asc' }, select: { key: true, name: true, threshold: true } });
    expect(tiers).toEqual([
      { key: 'BRONZE', name: 'Bronze', threshold: 0 },
      { key: 'SILVER', name: 'Silver', threshold: 1500 },
      { key: 'GOLD', name: 'Golden', threshold: 5000 },
      { key: 'PLATINUM', name: 'Platinum', threshold: 15000 },
    ]);
    expect(await prisma.programChange.count()).toBe(10);
  });

  it('two changes on the same expectedVersion: exactly one is stored, the other is told the version', async () => {
    await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 1.5 } }, admin); // version 2
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 2 + i }, expectedVersion: 2 }, admin)),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const outcome of outcomes.filter((o) => o.status === 'rejected')) {
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'VALIDATION', field: 'expectedVersion' });
    }
    expect((await storedProgram()).version).toBe(3);
  });

  it('removing a tier while a member is being moved into it (uncommitted) is refused once the move commits; nothing written', async () => {
    const memberId = await app.enroll();
    await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 1.5 } }, admin);
    const program = await storedProgram();
    const withoutPlatinum: ProgramPatch = { tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }] };
    const refused = await whileHolding(
      prisma,
      // The member's move into PLATINUM, not yet committed: its foreign key check holds the tier's row.
      (holder) => holder.query(`UPDATE members SET tier = 'PLATINUM' WHERE id = $1`, [memberId]),
      () => updateProgram(app.deps, { patch: withoutPlatinum }, admin).catch((error: unknown) => error),
    );
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused).toMatchObject({ field: 'tiers' });
    expect(await storedProgram()).toEqual(program);
    expect(await prisma.programTier.count()).toBe(4);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).tier).toBe('PLATINUM');
  });

  it('an enrolment while an admin replaces the lowest tier (held by no one) starts the member in the new lowest tier', async () => {
    await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 1.5 } }, admin); // version 2
    const starter: ProgramPatch = {
      tiers: [
        { key: 'STARTER', name: 'Starter', threshold: 0, multiplier: 1, compensationFactor: 1 },
        { key: 'SILVER' },
        { key: 'GOLD' },
        { key: 'PLATINUM' },
      ],
    };
    let enrolment: Promise<unknown> | undefined;
    await whileHolding(
      prisma,
      // The audit row of version 3, uncommitted: updateProgram waits on it after it has replaced BRONZE by STARTER.
      (holder) =>
        holder.query(
          `INSERT INTO program_changes (version, before, after, actor_type, actor_id) VALUES (3, '{}', '{}', 'SYSTEM', 'holder')`,
        ),
      () => updateProgram(app.deps, { patch: starter }, admin),
      {
        // The enrolment reads the lowest tier as committed (BRONZE) and waits for the change on BRONZE's row.
        meanwhile: async () => {
          enrolment = enrollMember(app.deps, { externalId: 'ext-race', name: 'Racing Member' }, storefront).catch(
            (error: unknown) => error,
          );
          await untilWaitingForLocks(prisma, 2, 'the enrolment to wait for the removed tier');
        },
        release: 'ROLLBACK',
      },
    );
    const enrolled = await enrolment;
    expect(enrolled).not.toBeInstanceOf(Error);
    expect(await prisma.member.findUniqueOrThrow({ where: { externalId: 'ext-race' } })).toMatchObject({ tier: 'STARTER' });
    expect(await prisma.member.count()).toBe(1);
  });
});
