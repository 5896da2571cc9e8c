import { describe, expect, it } from 'vitest';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { useTestApp } from '../support/app.js';
import { testQueuePrefix } from '../support/db.js';
import { answerChangesTold, useStatusScreenCache } from '../support/status-screen-cache.js';

/**
 * The members' response cache and the clock (docs/caching.md, "Time"): a voucher's status is decided at read time
 * (an ISSUED voucher past its expiry is EXPIRED, and no event marks that instant), so an answer listing a voucher is
 * served from the cache only before the voucher expires, by the services' clock, which these handlers share with
 * the test. `screen.uncached` answers the same document at the same instant without a cache.
 */
const { prisma } = useTestApp();

/** When the voucher of a test expires: tomorrow, to the second. */
const T = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const at = (offsetMs: number) => new Date(T.getTime() + offsetMs);
let clock = at(-MINUTE);
const now = () => clock;

const screen = useStatusScreenCache<Status>(prisma, now);

interface Status {
  name: string;
  vouchers: { edges: { node: { code: string; expiresAt: string } }[] };
}

/** A voucher of the member's, issued `issuedAgo` before T and expiring at `expiresAt`. */
async function issue(memberId: string, expiresAt: Date, issuedAgo = 60 * MINUTE) {
  await issueVoucher(prisma, {
    memberId,
    kind: 'GOODWILL',
    value: { type: 'FIXED', amount: '5.00' },
    causeType: 'GESTURE',
    causeRef: `gesture-${issuedAgo}`,
    now: at(-issuedAgo),
    expiresAt,
  });
}

/** A member holding one ISSUED voucher that expires at `expiresAt`, issued an hour before T. */
async function memberWithVoucher(expiresAt: Date | null, name = 'Ada') {
  const member = await screen.member({ name });
  if (expiresAt) await issue(member.memberId, expiresAt);
  return member;
}

describe('cached member status and the clock', () => {
  it.each([
    ['the shortcut', screen.overHttp],
    ['the plugin', screen.inProcess],
  ])('a listed voucher is off the cached status from its expiry on, read through %s', async (_, read) => {
    clock = at(-MINUTE);
    const { token } = await memberWithVoucher(T);
    const first = await read(token);
    expect(first.vouchers.edges.map((edge) => edge.node.expiresAt)).toEqual([T.toISOString()]);
    const hits = await screen.lookups('hit');
    clock = at(-SECOND);
    expect(await read(token)).toEqual(first);
    expect(await screen.lookups('hit')).toBe(hits + 1);

    clock = at(SECOND);
    const after = await read(token);
    expect(after.vouchers.edges).toEqual([]);
    expect(after).toEqual(await screen.inProcess(token, screen.uncached));
  });

  it('serves an answer whose voucher expires later, until its expiry', async () => {
    clock = at(-MINUTE);
    const { memberId, token } = await memberWithVoucher(at(60 * MINUTE));
    const first = await screen.overHttp(token);
    expect(first.vouchers.edges).toHaveLength(1);
    // Not a change the services make: no event, so only a served answer still says 'Ada'.
    await prisma.member.update({ where: { id: memberId }, data: { name: 'Behind the cache' } });
    const hits = await screen.lookups('hit');
    clock = at(SECOND);
    expect(await screen.overHttp(token)).toEqual(first);
    expect(await screen.inProcess(token)).toEqual(first);
    expect(await screen.lookups('hit')).toBe(hits + 2);

    clock = at(60 * MINUTE);
    expect(await screen.overHttp(token)).toMatchObject({ name: 'Behind the cache', vouchers: { edges: [] } });
  });

  it('serves an answer that does not change with the clock however far the clock moves', async () => {
    clock = at(-MINUTE);
    const { memberId, token } = await memberWithVoucher(null);
    const first = await screen.overHttp(token);
    await prisma.member.update({ where: { id: memberId }, data: { name: 'Behind the cache' } });
    const hits = await screen.lookups('hit');
    clock = at(30 * 24 * 60 * MINUTE);
    expect(await screen.overHttp(token)).toEqual(first);
    expect(await screen.inProcess(token)).toEqual(first);
    expect(await screen.lookups('hit')).toBe(hits + 2);
  });

  it('takes an entry stored by the release before (no valid-until) for a miss, then stores its own', async () => {
    clock = at(-MINUTE);
    const { memberId, token } = await memberWithVoucher(null);
    await screen.overHttp(token);
    const hash = `${testQueuePrefix()}:response-cache:member:${memberId}`;
    const entries = Object.entries(await screen.redis.hgetall(hash)).filter(([field]) => field !== 'v');
    expect(entries).toHaveLength(1);
    const [field, entry] = entries[0]!;
    // As the release before wrote it: `<member version> <program version> <stored at> <body>`, no `/<valid until>`.
    const [, version, rest] = /^([^ /]*)\/\d* (.*)$/s.exec(entry)!;
    await screen.redis.hset(hash, field, `${version} ${rest}`);
    await prisma.member.update({ where: { id: memberId }, data: { name: 'Behind the cache' } });

    const [hits, misses] = [await screen.lookups('hit'), await screen.lookups('miss')];
    expect((await screen.overHttp(token)).name).toBe('Behind the cache');
    expect(await screen.lookups('hit')).toBe(hits);
    expect(await screen.lookups('miss')).toBe(misses + 1);
    expect(await screen.redis.hget(hash, field)).toMatch(/^[^ /]*\/ /);
    expect((await screen.inProcess(token)).name).toBe('Behind the cache');
    expect(await screen.lookups('hit')).toBe(hits + 1);
  });
});

describe('what the voucher fields tell of the clock', () => {
  /** The instants a member's query told (`answerChangesAt`). */
  const told = (memberId: string, document: string) => answerChangesTold({ prisma, now }, document, { kind: 'member', memberId });

  it('tells, on the Prisma path too, when a listed voucher expires, and a count that may move at any moment', async () => {
    clock = at(-MINUTE);
    const memberId = await screen.cached.enroll();
    // Newest first: expiring in 10, 5 and 2 minutes; the first page of one reads two rows (the extra one: a next page?).
    await issue(memberId, at(10 * MINUTE), 1 * MINUTE);
    await issue(memberId, at(5 * MINUTE), 2 * MINUTE);
    await issue(memberId, at(2 * MINUTE), 3 * MINUTE);
    const page = 'vouchers(first: 1, status: ISSUED) { edges { node { id } } pageInfo { hasNextPage } }';
    // activeVouchers is no page of the status statement: the whole selection goes to plugin-prisma.
    expect(await told(memberId, `{ me { ${page} activeVouchers { id } } }`)).toEqual([at(2 * MINUTE), at(5 * MINUTE)].map(iso));
    expect(await told(memberId, `{ me { vouchers(first: 1, status: ISSUED) { totalCount } } }`)).toEqual([iso(clock)]);
    // The status statement (its first page, all statuses, each status shown) tells the earliest expiry among them.
    expect(await told(memberId, `{ me { vouchers(first: 3) { edges { node { id status } } } } }`)).toEqual(
      [2, 5, 10].map((minutes) => iso(at(minutes * MINUTE))),
    );
    expect(await told(memberId, `{ me { vouchers(first: 3, status: REDEEMED) { edges { node { id } } } } }`)).toEqual([]);
  });
});

const iso = (instant: Date) => instant.toISOString();
