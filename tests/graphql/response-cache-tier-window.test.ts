import { describe, expect, it } from 'vitest';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { answerChangesTold, useStatusScreenCache } from '../support/status-screen-cache.js';

/**
 * The members' response cache and the clock (docs/caching.md, "Time"), for what the status answer shows besides
 * vouchers: qualifying points are a rolling window (the program's `tierQualifyingMonths`, 12), so they drop, with
 * `pointsToNext`, when the oldest qualifying entry leaves it — no event marks that instant. Pending points and
 * upcoming expiries change only when the maintenance sweep (or a point operation) settles a lot, which reports a
 * change. `screen.uncached` answers the same document at the same instant without a cache.
 */
const { prisma } = useTestApp();
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** When a test's first entry is written; its window ends 12 calendar months later (`LEAVES`), no month-end clamp. */
const T0 = new Date('2026-03-15T09:30:00.000Z');
const LEAVES = addMonths(T0, 12);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const plus = (instant: Date, ms: number) => new Date(instant.getTime() + ms);
let clock = T0;
const now = () => clock;

const screen = useStatusScreenCache<Status>(prisma, now);

interface Status {
  balance: { available: number; pending: number; lifetime: number };
  expiringPoints: { expiresAt: string; points: number }[];
  tierProgress: { qualifyingPoints: number; pointsToNext: number | null };
}

let orders = 0;
/** An order of `points` points earned at `when`, by the services' clock (reported: the member's answers are stale). */
async function earn(memberId: string, when: Date, points: number) {
  clock = when;
  orders += 1;
  await earnPoints(
    screen.cached.deps,
    { memberId, orderRef: `o-${orders}`, orderTotal: `${points}.00`, idempotencyKey: `e-${orders}` },
    storefront,
  );
}

describe('cached member status and the qualifying window', () => {
  it.each([
    ['the shortcut', screen.overHttp],
    ['the plugin', screen.inProcess],
  ])('qualifying points drop on a cached status when the oldest entry leaves the window, read through %s', async (_, read) => {
    const { memberId, token } = await screen.member();
    await earn(memberId, T0, 300);
    await earn(memberId, addMonths(T0, 1), 200);

    clock = plus(LEAVES, -MINUTE);
    const first = await read(token);
    expect(first.tierProgress).toMatchObject({ qualifyingPoints: 500, pointsToNext: 500 });
    const before = await screen.lookups('hit');
    clock = plus(LEAVES, -SECOND);
    expect(await read(token)).toEqual(first);
    expect(await screen.lookups('hit')).toBe(before + 1);

    clock = plus(LEAVES, SECOND);
    const after = await read(token);
    expect(after.tierProgress).toMatchObject({ qualifyingPoints: 200, pointsToNext: 800 });
    expect(after).toEqual(await screen.inProcess(token, screen.uncached));
  });

  it('pending points and expiries do not change with the clock alone: the sweep that settles them reports it', async () => {
    const { memberId, token } = await screen.member();
    await earn(memberId, T0, 300);
    const expiresAt = addMonths(T0, 24);

    // Past the return window (14 days), before the sweep: the same answer as without the cache, from the cache.
    clock = plus(T0, MINUTE);
    const first = await screen.overHttp(token);
    expect(first.balance).toEqual({ available: 0, pending: 300, lifetime: 300 });
    const before = await screen.lookups('hit');
    clock = addDays(T0, 15);
    expect(await screen.overHttp(token)).toEqual(first);
    expect(await screen.lookups('hit')).toBe(before + 1);
    expect(await screen.inProcess(token, screen.uncached)).toEqual(first);
    await runPointsMaintenance(screen.cached.deps);
    expect((await screen.overHttp(token)).balance).toEqual({ available: 300, pending: 0, lifetime: 300 });

    // Past the expiry (and the qualifying window), before the sweep: the same.
    clock = plus(expiresAt, -MINUTE);
    const late = await screen.overHttp(token);
    expect(late.expiringPoints).toEqual([{ expiresAt: expiresAt.toISOString(), points: 300 }]);
    expect(late.tierProgress.qualifyingPoints).toBe(0);
    const hitsLate = await screen.lookups('hit');
    clock = plus(expiresAt, SECOND);
    expect(await screen.overHttp(token)).toEqual(late);
    expect(await screen.lookups('hit')).toBe(hitsLate + 1);
    expect(await screen.inProcess(token, screen.uncached)).toEqual(late);
    await runPointsMaintenance(screen.cached.deps);
    expect(await screen.overHttp(token)).toMatchObject({ balance: { available: 0 }, expiringPoints: [] });
  });
});

describe('what the tier progress tells of the clock', () => {
  /** The instants a query told (`answerChangesAt`), the member's own unless another principal is given. */
  const told = (memberId: string, document: string, principal: GraphQLContext['principal'] = { kind: 'member', memberId }) =>
    answerChangesTold({ prisma, now }, document, principal);

  const progress = 'tierProgress { qualifyingPoints pointsToNext }';
  // The status statement answers the first; the second's tier history is no page of it: plugin-prisma and the batch.
  const documents = [`{ me { ${progress} } }`, `{ me { ${progress} tierHistory(first: 1) { edges { node { reason } } } } }`];

  it('tells when the oldest qualifying entry leaves the window, on the status read and the Prisma path alike', async () => {
    const { memberId } = await screen.member();
    await earn(memberId, T0, 300);
    await earn(memberId, addMonths(T0, 1), 200);
    clock = plus(T0, 40 * 24 * 60 * MINUTE);
    for (const document of documents) expect(await told(memberId, document)).toEqual([LEAVES.toISOString()]);
    clock = plus(LEAVES, SECOND);
    for (const document of documents) expect(await told(memberId, document)).toEqual([addMonths(T0, 13).toISOString()]);
    clock = plus(addMonths(T0, 13), SECOND);
    for (const document of documents) expect(await told(memberId, document)).toEqual([]);
    // A tier alone reads no points, and tells nothing.
    expect(await told(memberId, '{ me { tier { key } } }')).toEqual([]);
  });

  it('tells nothing for a member without qualifying entries', async () => {
    const { memberId } = await screen.member();
    clock = T0;
    for (const document of documents) expect(await told(memberId, document)).toEqual([]);
  });
});
