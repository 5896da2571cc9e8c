import { describe, expect, it } from 'vitest';
import { newRowId } from '../../src/db/ids.js';
import { adjustPoints, earnPoints, redeemPoints } from '../../src/domain/points/points.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { testLogger, useTestApp } from '../support/app.js';

const admin = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
const { prisma, app } = useTestApp();
const deps = { prisma, logger: testLogger };

/** The UUID's version (the 13th hex digit) and whether its variant is RFC 9562's (10xx). */
const versionOf = (id: string) => Number.parseInt(id[14]!, 16);
const rfcVariant = (id: string) => (Number.parseInt(id[19]!, 16) & 0b1100) === 0b1000;
/** The Unix time in milliseconds a version 7 id starts with. */
const millisecondsOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
const ascending = (ids: string[]) => [...ids].sort();

describe('time-ordered row ids', () => {
  it('newRowId: version 7, the current time, each one after the one before', () => {
    const before = Date.now();
    const ids = Array.from({ length: 2000 }, () => newRowId());
    const after = Date.now();

    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => versionOf(id) === 7 && rfcVariant(id))).toBe(true);
    // 2 000 ids in a few milliseconds: ordered within a millisecond too.
    expect(ascending(ids)).toEqual(ids);
    expect(millisecondsOf(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(millisecondsOf(ids.at(-1)!)).toBeLessThanOrEqual(after);
  });

  it("the database's uuid_v7(): version 7, RFC variant, the statement's time, random within a millisecond", async () => {
    const before = Date.now();
    const rows = await prisma.$queryRaw<{ id: string }[]>`SELECT uuid_v7()::text AS id FROM generate_series(1, 2000)`;
    const after = Date.now();
    const ids = rows.map((row) => row.id);

    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => versionOf(id) === 7 && rfcVariant(id))).toBe(true);
    for (const id of ids) {
      expect(millisecondsOf(id)).toBeGreaterThanOrEqual(before - 5);
      expect(millisecondsOf(id)).toBeLessThanOrEqual(after + 5);
    }
    // 74 random bits after the time: two ids of one millisecond differ past it.
    expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length);
  });

  it('an earn writes its entry, lot and order with ids in the order it wrote them; a member keeps a random id', async () => {
    const memberId = await app.enroll();
    for (let i = 1; i <= 12; i += 1) {
      await earnPoints(deps, { memberId, orderRef: `o-${i}`, orderTotal: '10.00', idempotencyKey: `e-${i}` }, admin);
      // The next earn in a later millisecond: the database's ids (the lot's, the order's) are ordered across milliseconds.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId } });
    const byWriting = (key: string) => Number(key.split('-')[1]);
    entries.sort((a, b) => byWriting(a.idempotencyKey) - byWriting(b.idempotencyKey));
    const lots = await prisma.pointLot.findMany({ where: { memberId } });
    const lotOf = new Map(lots.map((lot) => [lot.entryId, lot.id]));
    const orders = await prisma.pointOrder.findMany({ where: { memberId } });
    const orderIds = orders.sort((a, b) => byWriting(a.orderRef) - byWriting(b.orderRef)).map((order) => order.id);

    const entryIds = entries.map((entry) => entry.id);
    const lotIds = entryIds.map((id) => lotOf.get(id)!);
    expect(entryIds).toHaveLength(12);
    for (const ids of [entryIds, lotIds, orderIds]) {
      expect(ids.every((id) => versionOf(id) === 7)).toBe(true);
      expect(ascending(ids)).toEqual(ids);
    }
    expect(versionOf(memberId)).toBe(4);
  });

  it('an adjustment, a redeem and a reported failure (and its outbox event) get time-ordered ids', async () => {
    const memberId = await app.enroll();
    const adjusted = await adjustPoints(deps, { memberId, points: 50, reason: 'welcome', idempotencyKey: 'a-1' }, admin);
    const redeemed = await redeemPoints(deps, { memberId, points: 10, idempotencyKey: 'r-1' }, admin);
    const { failureId } = await reportServiceFailure(
      deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', idempotencyKey: 'f-1' },
      admin,
    );

    expect(versionOf(adjusted.entryId!)).toBe(7);
    expect(versionOf(redeemed.entryId!)).toBe(7);
    expect(versionOf(failureId)).toBe(7);
    const event = await prisma.outboxEvent.findUniqueOrThrow({ where: { id: failureId } });
    expect(versionOf(event.id)).toBe(7);
  });
});
