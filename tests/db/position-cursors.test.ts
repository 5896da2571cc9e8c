// No useTestApp(): it encodes and decodes cursors and rewrites page arguments in memory; no database or Redis is involved.
import { randomUUID } from 'node:crypto';
import { decodeBase64, encodeBase64, encodeCursorChunk, encodeCursorTuple } from '@pothos/core';
import { describe, expect, it } from 'vitest';
import { exclusiveCursorPage } from '../../src/db/cursor-pages.js';
import { decodePosition, encodePosition, positionOrder, positionPage } from '../../src/db/position-cursors.js';

/**
 * Position cursors (src/db/position-cursors.ts): the values of a list's order a row had when its cursor was handed
 * out, and its id; the arguments Prisma is sent for a page after (before) one; what a cursor must be to be one.
 * The lists that use them are tested through the API: tests/contracts/held-renewal-bonus-cursors.test.ts,
 * tests/rewards/reward-list-cursors.test.ts, tests/orders/order-list-cursors.test.ts.
 */
const HELD = positionOrder('heldRenewalBonuses', [{ column: 'bonusHeldAt', direction: 'asc', kind: 'moment' }], 'asc');
const NEWEST = positionOrder('Member.orders', [{ column: 'placedAt', direction: 'desc', kind: 'moment' }], 'desc');
const PRICE = positionOrder('rewards', [{ column: 'pointsCost', direction: 'asc', kind: 'points' }], 'asc');

describe('encodePosition / decodePosition', () => {
  const id = randomUUID();
  const at = new Date('2026-12-06T10:11:12.345Z');

  it('writes the list, the values and the id, and reads back exactly those', () => {
    const cursor = encodePosition(HELD, { id, bonusHeldAt: at, bonusPoints: 500 });
    expect(decodeBase64(cursor)).toBe(`GPC:T:${JSON.stringify(['S:heldRenewalBonuses', `D:${at.getTime()}`, `S:${id}`])}`);
    expect(decodePosition(HELD, cursor)).toEqual({ values: [at], id });
    expect(decodePosition(PRICE, encodePosition(PRICE, { id, pointsCost: 300 }))).toEqual({ values: [300], id });
    expect(HELD.orderBy).toEqual([{ bonusHeldAt: 'asc' }, { id: 'asc' }]);
    expect(NEWEST.orderBy).toEqual([{ placedAt: 'desc' }, { id: 'desc' }]);
  });

  it('refuses to write a cursor of a row without its order’s values', () => {
    expect(() => encodePosition(HELD, { id, bonusHeldAt: null })).toThrow(/bonusHeldAt/);
    expect(() => encodePosition(PRICE, { id })).toThrow(/pointsCost/);
    expect(() => encodePosition(PRICE, { pointsCost: 1 })).toThrow(/id/);
  });

  it('reads nothing but the bytes it writes for a place of the list', () => {
    const gpc = (chunk: string) => encodeBase64(`GPC:${chunk}`);
    const tuple = (...parts: (string | null)[]) => gpc(`T:${JSON.stringify(parts)}`);
    const good = encodePosition(HELD, { id, bonusHeldAt: at });
    for (const cursor of [
      undefined,
      null,
      42,
      {},
      '',
      'not base64!',
      `${good}=`,
      good.slice(0, -4),
      encodeBase64(decodeBase64(good).replace('GPC:', 'GPX:')),
      gpc(encodeCursorChunk(id)), // a row id: a cursor of its own kind, not a position
      gpc(encodeCursorTuple(['Member.orders', at, id])), // another list's
      gpc(encodeCursorTuple([at, id])),
      gpc(encodeCursorTuple(['heldRenewalBonuses', at, id, id])),
      gpc(encodeCursorTuple(['heldRenewalBonuses', id])),
      gpc(encodeCursorTuple(['heldRenewalBonuses', at.toISOString(), id])),
      gpc(encodeCursorTuple(['heldRenewalBonuses', at.getTime(), id])),
      gpc(encodeCursorTuple(['heldRenewalBonuses', at, 'not-a-uuid'])),
      gpc(encodeCursorTuple(['heldRenewalBonuses', at, 7])),
      tuple('S:heldRenewalBonuses', null, `S:${id}`),
      tuple('S:heldRenewalBonuses', 'D:', `S:${id}`),
      tuple('S:heldRenewalBonuses', 'D:soon', `S:${id}`),
      tuple('S:heldRenewalBonuses', 'D:99999999999999999', `S:${id}`),
      tuple('S:heldRenewalBonuses', `D:0${at.getTime()}`, `S:${id}`), // the same moment, spelt otherwise
      gpc(` T:${JSON.stringify(['S:heldRenewalBonuses', `D:${at.getTime()}`, `S:${id}`])}`),
      gpc(`T:${JSON.stringify(['S:heldRenewalBonuses', `D:${at.getTime()}`, `S:${id}`], null, 1)}`),
      gpc('T:{"0":"S:heldRenewalBonuses"}'),
      gpc('T:[broken'),
      `${good.slice(0, 600)}${'A'.repeat(600)}`,
    ]) {
      expect(decodePosition(HELD, cursor), String(cursor)).toBeNull();
    }
    for (const points of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(decodePosition(PRICE, tuple('S:rewards', `N:${points}`, `S:${id}`)), String(points)).toBeNull();
    }
    expect(decodePosition(PRICE, tuple('S:rewards', 'N:3e2', `S:${id}`))).toBeNull();
    expect(decodePosition(PRICE, tuple('S:rewards', 'N:300', `S:${id}`))).toEqual({ values: [300], id });
  });
});

describe('positionPage: the arguments Prisma is sent for a page after (before) a position', () => {
  const id = randomUUID();
  const at = new Date('2026-12-06T10:11:12.345Z');
  const where = { bonusHeldAt: { not: null }, bonusGrantedAt: null };

  it('after: the rows beyond the place in the order, bounded by its first column; Prisma’s cursor and skip gone', () => {
    const args = { where, cursor: { id: ['heldRenewalBonuses', at, id] }, take: 3, skip: 1, orderBy: HELD.orderBy, include: { x: true } };
    expect(positionPage(args)).toEqual({
      where: {
        AND: [
          where,
          {
            AND: [
              { bonusHeldAt: { gte: at } },
              { OR: [{ AND: [{ bonusHeldAt: { gt: at } }] }, { AND: [{ bonusHeldAt: { equals: at } }, { id: { gt: id } }] }] },
            ],
          },
        ],
      },
      take: 3,
      skip: 0,
      orderBy: HELD.orderBy,
      include: { x: true },
    });
    // The extension's rewrite is this one, at the top and in a relation's arguments alike.
    expect(exclusiveCursorPage('ContractRenewal', args)).toEqual(positionPage(args));
    const nested = { where: { id }, select: { orders: { ...args, where: undefined, orderBy: NEWEST.orderBy } } };
    expect((exclusiveCursorPage('Member', nested) as typeof nested).select.orders).toEqual(
      positionPage({ ...args, where: undefined, orderBy: NEWEST.orderBy }),
    );
  });

  it('before (a negative take), and a descending order: the comparisons turn', () => {
    const args = { cursor: { id: ['Member.orders', at, id] }, take: -2, skip: 1, orderBy: NEWEST.orderBy };
    expect(positionPage(args)).toEqual({
      where: {
        AND: [
          { placedAt: { gte: at } },
          { OR: [{ AND: [{ placedAt: { gt: at } }] }, { AND: [{ placedAt: { equals: at } }, { id: { gt: id } }] }] },
        ],
      },
      take: -2,
      skip: 0,
      orderBy: NEWEST.orderBy,
    });
    const forward = positionPage({ ...args, take: 2 })!;
    expect(forward['where']).toEqual({
      AND: [
        { placedAt: { lte: at } },
        { OR: [{ AND: [{ placedAt: { lt: at } }] }, { AND: [{ placedAt: { equals: at } }, { id: { lt: id } }] }] },
      ],
    });
  });

  it('leaves alone what is not a position page', () => {
    for (const args of [
      { cursor: { id }, take: 3, skip: 1, orderBy: HELD.orderBy }, // a row id: src/db/cursor-pages.ts's
      { cursor: { id: ['heldRenewalBonuses', at, id] }, take: 3, skip: 0, orderBy: HELD.orderBy },
      { cursor: { id: ['heldRenewalBonuses', at, id] }, take: 3, skip: 1, orderBy: [{ bonusHeldAt: 'asc' }] },
      { cursor: { id: ['heldRenewalBonuses', at, id] }, take: 3, skip: 1, orderBy: [{ id: 'asc' }] },
      { cursor: { id: ['heldRenewalBonuses', at, id], other: 1 }, take: 3, skip: 1, orderBy: HELD.orderBy },
      { cursor: { id: ['heldRenewalBonuses', { not: null }, id] }, take: 3, skip: 1, orderBy: HELD.orderBy },
      { take: 3, skip: 0, orderBy: HELD.orderBy },
    ]) {
      expect(positionPage(args), JSON.stringify(args)).toBeNull();
    }
  });
});
