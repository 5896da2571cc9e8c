import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { enrollMember, updateMember } from '../../src/domain/members/members.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { readProgram, updateProgram, type ProgramPatch } from '../../src/domain/program/program.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { whileHolding } from '../support/holding.js';

/**
 * A tier that only CLOSED members hold can be removed by `updateProgram`: they move to the tier their qualifying
 * points reach in the new list (TIER_REMOVED), under the lock that keeps any other member from being left on it.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'admin-audit-2');
const supervisor = staffCaller('SUPERVISOR', 'supervisor-audit-2');
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** What must not move when nothing is written: the stored row (with its tuple version) and every tier row's. */
async function storedState() {
  const [program] = await prisma.$queryRaw<{ xmin: string; version: number; updated_at: Date; settings: unknown }[]>`
    SELECT xmin::text, version, updated_at, settings FROM program WHERE id = 1`;
  const tiers = await prisma.$queryRaw<{ key: string; xmin: string }[]>`SELECT key, xmin::text FROM tiers ORDER BY key`;
  return { program, tiers, counts: await tableRowCounts(prisma) };
}

/** A member enrolled and given points by an order (upgraded at once by them), then `status`. */
async function member(externalId: string, orderTotal: string | null, status: 'ACTIVE' | 'CLOSED' | 'SUSPENDED' | 'PASSIVE') {
  const { id } = await enrollMember(app.deps, { externalId, name: externalId }, storefront);
  if (orderTotal)
    await earnPoints(app.deps, { memberId: id, orderRef: `o-${externalId}`, orderTotal, idempotencyKey: `o-${externalId}` }, storefront);
  if (status !== 'ACTIVE') await updateMember(app.deps, { id, status }, supervisor);
  return id;
}

const tierOf = async (id: string) => (await prisma.member.findUniqueOrThrow({ where: { id } })).tier;
const ledgerOf = (memberId: string) => prisma.ledgerEntry.findMany({ where: { memberId }, orderBy: { id: 'asc' } });

/** The default list with a new lowest tier, STARTER, in place of BRONZE. */
const STARTER_FOR_BRONZE: ProgramPatch = {
  tiers: [
    { key: 'STARTER', name: 'Starter', threshold: 0, multiplier: 1, compensationFactor: 1 },
    { key: 'SILVER' },
    { key: 'GOLD' },
    { key: 'PLATINUM' },
  ],
};

/** The default list without SILVER, and GOLD reached from 1 000 qualifying points. */
const WITHOUT_SILVER: ProgramPatch = { tiers: [{ key: 'BRONZE' }, { key: 'GOLD', threshold: 1000 }, { key: 'PLATINUM' }] };

describe('updateProgram: removing a tier that only CLOSED members hold', () => {
  it('succeeds and moves them to the tier their qualifying points reach; no points, no webhook, one history row each', async () => {
    const rich = await member('closed-rich', '1200.00', 'CLOSED'); // SILVER by its points
    const poor = await member('closed-poor', null, 'CLOSED');
    await prisma.$executeRaw`UPDATE members SET tier = 'SILVER' WHERE id = ${poor}::uuid`; // SILVER by an earlier program
    const open = await member('open', '10.00', 'ACTIVE'); // BRONZE
    expect([await tierOf(rich), await tierOf(poor), await tierOf(open)]).toEqual(['SILVER', 'SILVER', 'BRONZE']);
    const ledgers = [await ledgerOf(rich), await ledgerOf(poor), await ledgerOf(open)];
    const webhooksBefore = await prisma.webhookEvent.count();
    const historyBefore = await prisma.tierChange.count();

    const view = await updateProgram(app.deps, { patch: WITHOUT_SILVER }, admin);

    expect(view.settings.tiers.map((tier) => tier.key)).toEqual(['BRONZE', 'GOLD', 'PLATINUM']);
    expect((await prisma.programTier.findMany({ orderBy: { position: 'asc' } })).map((tier) => tier.key)).toEqual([
      'BRONZE',
      'GOLD',
      'PLATINUM',
    ]);
    expect([await tierOf(rich), await tierOf(poor), await tierOf(open)]).toEqual(['GOLD', 'BRONZE', 'BRONZE']);
    expect([await ledgerOf(rich), await ledgerOf(poor), await ledgerOf(open)]).toEqual(ledgers);
    expect(await prisma.webhookEvent.count()).toBe(webhooksBefore);
    expect(await prisma.tierChange.count()).toBe(historyBefore + 2);
    const moves = await prisma.tierChange.findMany({ where: { fromTier: 'SILVER', toTier: { not: 'SILVER' } } });
    expect(
      moves
        .map(({ memberId, toTier, reason, qualifyingPoints }) => ({ memberId, toTier, reason, qualifyingPoints }))
        .sort((a, b) => a.toTier.localeCompare(b.toTier)),
    ).toEqual([
      { memberId: poor, toTier: 'BRONZE', reason: 'TIER_REMOVED', qualifyingPoints: 0n },
      { memberId: rich, toTier: 'GOLD', reason: 'TIER_REMOVED', qualifyingPoints: 1200n },
    ]);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: rich } })).status).toBe('CLOSED');
  });

  it('the lowest tier, held only by closed members, can be replaced: they start over in the new lowest', async () => {
    const closed = await member('closed-bronze', null, 'CLOSED');
    await updateProgram(app.deps, { patch: STARTER_FOR_BRONZE }, admin);
    expect(await tierOf(closed)).toBe('STARTER');
  });

  it('a tier that any member not closed holds (ACTIVE, PASSIVE, SUSPENDED) is refused as before; nothing is written', async () => {
    const closed = await member('closed', '1200.00', 'CLOSED');
    for (const status of ['ACTIVE', 'PASSIVE', 'SUSPENDED'] as const) {
      const holder = await member(`holder-${status}`, '1200.00', status);
      const before = await storedState();
      const refused = await updateProgram(app.deps, { patch: WITHOUT_SILVER }, admin).catch((error: unknown) => error);
      expect(refused, status).toBeInstanceOf(ValidationError);
      expect(refused, status).toMatchObject({ field: 'tiers', message: expect.stringContaining('SILVER by 1 member') });
      expect(await storedState(), status).toEqual(before);
      expect([await tierOf(closed), await tierOf(holder)], status).toEqual(['SILVER', 'SILVER']);
      await updateMember(app.deps, { id: holder, status: 'CLOSED' }, supervisor);
    }
    // Every holder closed now: the removal goes ahead.
    await updateProgram(app.deps, { patch: WITHOUT_SILVER }, admin);
    expect(await prisma.member.count({ where: { tier: 'SILVER' } })).toBe(0);
  });

  it('a reopening committed while the removal waits for the closed member: refused, the member keeps the tier', async () => {
    const closed = await member('closed', '1200.00', 'CLOSED');
    const before = await storedState();
    const refused = await whileHolding(
      prisma,
      // A supervisor's reopening of the member, not yet committed (updateMember holds the row so).
      (holder) =>
        holder
          .query(`SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE; `, [closed])
          .then(() => holder.query(`UPDATE members SET status = 'ACTIVE', updated_at = now() WHERE id = $1`, [closed])),
      () => updateProgram(app.deps, { patch: WITHOUT_SILVER }, admin).catch((error: unknown) => error),
    );
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused).toMatchObject({ field: 'tiers' });
    expect((await storedState()).program).toEqual(before.program);
    expect(await prisma.member.findUniqueOrThrow({ where: { id: closed } })).toMatchObject({ status: 'ACTIVE', tier: 'SILVER' });
    expect(await prisma.programTier.count({ where: { key: 'SILVER' } })).toBe(1);
  });

  it('a removal and reopenings at once: every member stays on a tier the program has, and one of the two gives way', async () => {
    const silver = { key: 'SILVER', name: 'Silver', threshold: 1000, multiplier: 1.25, compensationFactor: 1.2 };
    for (let round = 0; round < 4; round++) {
      await prisma.$executeRaw`UPDATE members SET status = 'CLOSED' WHERE status <> 'CLOSED'`;
      const ids = await Promise.all([0, 1, 2].map((index) => member(`closed-${round}-${index}`, '1200.00', 'CLOSED')));
      const [removal, reopening] = await Promise.allSettled([
        updateProgram(app.deps, { patch: { tiers: [{ key: 'BRONZE' }, { key: 'GOLD' }, { key: 'PLATINUM' }] } }, admin),
        updateMember(app.deps, { id: ids[round % 3]!, status: 'ACTIVE' }, supervisor),
      ]);
      expect(reopening.status).toBe('fulfilled');
      if (removal.status === 'rejected') expect(removal.reason).toBeInstanceOf(ValidationError);
      const program = (await readProgram(app.deps, admin)).settings.tiers.map((tier) => tier.key);
      const table = (await prisma.programTier.findMany({ orderBy: { position: 'asc' } })).map((tier) => tier.key);
      expect(table).toEqual(program);
      for (const row of await prisma.member.findMany()) expect(program).toContain(row.tier);
      expect(program.includes('SILVER')).toBe(removal.status === 'rejected');
      if (!program.includes('SILVER')) {
        // SILVER back for the next round (its members start on BRONZE again and earn into it).
        await updateProgram(app.deps, { patch: { tiers: [{ key: 'BRONZE' }, silver, { key: 'GOLD' }, { key: 'PLATINUM' }] } }, admin);
      }
    }
  });

  it('a removal of the lowest tier (held only by closed members) and enrolments at once: each member on a tier the program has', async () => {
    for (let round = 0; round < 3; round++) {
      const lowest = round === 0 ? 'BRONZE' : `START${round}`;
      const replacement = `START${round + 1}`;
      const closed = await member(`closed-${round}`, null, 'CLOSED');
      await prisma.$executeRaw`UPDATE members SET status = 'CLOSED' WHERE status <> 'CLOSED'`;
      const replace: ProgramPatch = {
        tiers: [
          { key: replacement, name: `Start ${round + 1}`, threshold: 0, multiplier: 1, compensationFactor: 1 },
          { key: 'SILVER' },
          { key: 'GOLD' },
          { key: 'PLATINUM' },
        ],
      };
      const [removal, ...enrolments] = await Promise.allSettled([
        updateProgram(app.deps, { patch: replace }, admin),
        ...[0, 1, 2].map((index) => enrollMember(app.deps, { externalId: `new-${round}-${index}`, name: `New ${index}` }, storefront)),
      ]);
      // Enrolments never fail; the removal gives way (ValidationError) when one committed on the old lowest tier first.
      expect(enrolments.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      if (removal.status === 'rejected') expect(removal.reason).toBeInstanceOf(ValidationError);
      const keys = (await readProgram(app.deps, admin)).settings.tiers.map((tier) => tier.key);
      expect((await prisma.programTier.findMany({ orderBy: { position: 'asc' } })).map((tier) => tier.key)).toEqual(keys);
      expect(keys[0]).toBe(removal.status === 'fulfilled' ? replacement : lowest);
      for (const row of await prisma.member.findMany()) expect(keys).toContain(row.tier);
      if (removal.status === 'fulfilled') expect(await tierOf(closed)).toBe(replacement);
      if (removal.status === 'rejected') {
        await prisma.$executeRaw`UPDATE members SET status = 'CLOSED' WHERE status <> 'CLOSED'`;
        await updateProgram(app.deps, { patch: replace }, admin); // only closed holders now
      }
    }
  });

  it('an enrolment committed while the removal waits for a closed member it moves: the removal is refused, nothing moved', async () => {
    const closed = await member('closed-bronze', null, 'CLOSED');
    const before = await storedState();
    let enrolled: unknown;
    const refused = await whileHolding(
      prisma,
      (holder) => holder.query(`SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE`, [closed]),
      () => updateProgram(app.deps, { patch: STARTER_FOR_BRONZE }, admin).catch((error: unknown) => error),
      {
        // A new member in the lowest tier as committed (BRONZE), while the removal waits.
        meanwhile: async () => {
          enrolled = await enrollMember(app.deps, { externalId: 'new', name: 'New' }, storefront);
        },
      },
    );
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused).toMatchObject({ field: 'tiers' });
    expect(enrolled).toMatchObject({ tier: 'BRONZE' });
    expect((await storedState()).program).toEqual(before.program);
    expect(await tierOf(closed)).toBe('BRONZE');
    expect(await prisma.tierChange.count()).toBe(0);
  });
});
