import { describe, expect, it } from 'vitest';
import { rawSql } from '../../src/db/sql.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { addMonths } from '../../src/domain/time.js';
import { qualifyingPointsOf, loadTierStandings } from '../../src/domain/tiers/tiers.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * When qualifying points change with the clock alone (docs/caching.md, "Time"): the instant an entry leaves the
 * rolling window, as PostgreSQL's window (`inQualifyingWindow`) has it, calendar months clamped to a month's end.
 */
const { prisma, app } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const admin = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
const MS = 1;

let orders = 0;
/** A member with one qualifying entry of 100 points written at `when`. */
async function memberEarningAt(when: Date): Promise<string> {
  const memberId = await app.enroll();
  orders += 1;
  await earnPoints(
    { prisma, logger: testLogger, now: () => when },
    { memberId, orderRef: `o-${orders}`, orderTotal: '100.00', idempotencyKey: `e-${orders}` },
    storefront,
  );
  return memberId;
}

const points = async (memberId: string, months: number, at: Date) =>
  (await qualifyingPointsOf(rawSql(prisma), [memberId], { ...DEFAULT_PROGRAM_SETTINGS, tierQualifyingMonths: months }, at)).get(memberId) ??
  0;

describe('when an entry leaves the qualifying window', () => {
  it.each([
    // [written at, months, leaves at]
    ['2026-05-15T12:34:56.789Z', 12, '2027-05-15T12:34:56.789Z'],
    ['2026-01-31T10:00:00.000Z', 1, '2026-03-01T00:00:00.000Z'],
    ['2028-02-29T23:59:59.999Z', 12, '2029-03-01T00:00:00.000Z'],
    ['2026-03-31T00:00:00.000Z', 13, '2027-05-01T00:00:00.000Z'],
    ['2026-08-30T08:00:00.000Z', 6, '2027-03-01T00:00:00.000Z'],
    ['2026-12-31T23:00:00.000Z', 2, '2027-03-01T00:00:00.000Z'],
  ])('written at %s, a window of %i months: leaves at %s, not an instant earlier or later', async (written, months, leaves) => {
    await updateProgram({ prisma, logger: testLogger }, { patch: { tierQualifyingMonths: months } }, admin);
    const memberId = await memberEarningAt(new Date(written));
    // Told by the standing read an instant after the entry (the statement's months: the program's).
    const instant = (await loadTierStandings(rawSql(prisma), [memberId], new Date(new Date(written).getTime() + MS))).changesAt.get(
      memberId,
    );
    expect(instant?.toISOString()).toBe(leaves);
    // The window itself (`qualifyingPointsOf`, given the months) agrees to the millisecond.
    expect(await points(memberId, months, new Date(instant!.getTime() - MS))).toBe(100);
    expect(await points(memberId, months, instant!)).toBe(0);
  });

  it('the standing read tells when its oldest entry leaves, and nothing once none is left', async () => {
    const T0 = new Date('2026-01-31T10:00:00.000Z');
    const memberId = await memberEarningAt(T0);
    orders += 1;
    await earnPoints(
      { prisma, logger: testLogger, now: () => addMonths(T0, 3) },
      { memberId, orderRef: `o-${orders}`, orderTotal: '50.00', idempotencyKey: `e-${orders}` },
      storefront,
    );
    const db = rawSql(prisma);
    // The program's window is 12 months: the first entry leaves on 2027-01-31 10:00, the second on 2027-04-30 10:00.
    let standings = await loadTierStandings(db, [memberId], addMonths(T0, 4));
    expect(standings.qualifyingPoints.get(memberId)).toBe(150);
    expect(standings.changesAt.get(memberId)).toEqual(new Date('2027-01-31T10:00:00.000Z'));
    standings = await loadTierStandings(db, [memberId], new Date('2027-01-31T10:00:00.000Z'));
    expect(standings.qualifyingPoints.get(memberId)).toBe(50);
    expect(standings.changesAt.get(memberId)).toEqual(new Date('2027-04-30T10:00:00.000Z'));
    standings = await loadTierStandings(db, [memberId], new Date('2027-04-30T10:00:00.000Z'));
    expect(standings.qualifyingPoints.get(memberId) ?? 0).toBe(0);
    expect(standings.changesAt.has(memberId)).toBe(false);
  });
});
