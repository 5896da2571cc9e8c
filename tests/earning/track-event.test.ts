import { describe, expect, it } from 'vitest';
import { createEarningRule, retireEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { trackEvent } from '../../src/domain/earning/events.service.js';
import { staffCaller, apiKeyCaller, memberCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { subscribedEndpoint } from '../support/webhook-endpoints.js';

const { prisma, app } = useTestApp(24);
const admin = staffCaller('ADMIN', 'events-admin');
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const at = (iso: string) => ({ prisma, logger: testLogger, now: () => new Date(iso) });
const JAN = '2026-01-01T00:00:00.000Z';

async function birthdayRule(points = 500) {
  return createEarningRule(
    at(JAN),
    { name: 'Birthday', effect: { eventPoints: { eventType: 'birthday', points, limit: { count: 1, period: 'CALENDAR_YEAR' } } } },
    admin,
  );
}

const balances = async (memberId: string) => {
  const m = await prisma.member.findUniqueOrThrow({ where: { id: memberId } });
  return { available: m.availablePoints, pending: m.pendingPoints, lifetime: Number(m.lifetimePoints) };
};

describe('trackEvent', () => {
  it('a birthday sent twice in a year grants once; the next year grants again', async () => {
    await birthdayRule();
    const memberId = await app.enroll();
    const first = await trackEvent(at('2026-03-14T10:00:00.000Z'), { memberId, type: 'birthday', idempotencyKey: 'b-2026-a' }, shop);
    expect(first).toMatchObject({
      points: 500,
      replayed: false,
      rules: [{ ruleName: 'Birthday', outcome: 'GRANTED', periodKey: '2026', points: 500 }],
    });
    // Another key, the same year: the limit answers, nothing is granted.
    const second = await trackEvent(at('2026-12-31T23:59:59.999Z'), { memberId, type: 'birthday', idempotencyKey: 'b-2026-b' }, shop);
    expect(second).toMatchObject({ points: 0, entryId: null, rules: [{ outcome: 'LIMIT_REACHED', periodKey: '2026', points: 0 }] });
    // The first key again: its first answer, no second effect.
    expect(
      await trackEvent(at('2026-03-15T10:00:00.000Z'), { memberId, type: 'birthday', idempotencyKey: 'b-2026-a' }, shop),
    ).toMatchObject({
      points: 500,
      entryId: first.entryId,
      replayed: true,
    });
    expect(await balances(memberId)).toEqual({ available: 500, pending: 0, lifetime: 500 });
    const next = await trackEvent(at('2027-01-01T00:00:00.000Z'), { memberId, type: 'birthday', idempotencyKey: 'b-2027' }, shop);
    expect(next).toMatchObject({ points: 500, rules: [{ outcome: 'GRANTED', periodKey: '2027' }] });

    const entries = await prisma.ledgerEntry.findMany({ where: { memberId }, orderBy: { createdAt: 'asc' } });
    expect(entries.map((e) => [e.kind, e.causeType, e.causeRef, e.amount])).toEqual([
      ['BONUS', 'EVENT', 'birthday', 500],
      ['BONUS', 'EVENT', 'birthday', 500],
    ]);
    expect(await prisma.eventGrant.count({ where: { memberId } })).toBe(2);
  });

  it('20 concurrent birthdays with 20 keys grant exactly once', async () => {
    await birthdayRule();
    const memberId = await app.enroll();
    const now = at('2026-06-01T12:00:00.000Z');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => trackEvent(now, { memberId, type: 'birthday', idempotencyKey: `race-${i}` }, shop)),
    );
    expect(results.filter((r) => r.points === 500)).toHaveLength(1);
    expect(results.filter((r) => r.points === 0 && r.rules[0]?.outcome === 'LIMIT_REACHED')).toHaveLength(19);
    expect(await balances(memberId)).toEqual({ available: 500, pending: 0, lifetime: 500 });
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(1);
  });

  it('20 concurrent sends of one key grant once and all answer the same', async () => {
    await birthdayRule();
    const memberId = await app.enroll();
    const now = at('2026-06-01T12:00:00.000Z');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => trackEvent(now, { memberId, type: 'birthday', idempotencyKey: 'one-key' }, shop)),
    );
    expect(new Set(results.map((r) => r.entryId)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(await balances(memberId)).toEqual({ available: 500, pending: 0, lifetime: 500 });
  });

  it('the unique index holds the limit even against a direct second grant', async () => {
    await birthdayRule();
    const memberId = await app.enroll();
    const granted = await trackEvent(at('2026-06-01T12:00:00.000Z'), { memberId, type: 'birthday', idempotencyKey: 'k1' }, shop);
    const [grant] = await prisma.eventGrant.findMany({ where: { memberId } });
    // The same slot again (what a read-then-write race would write), and a slot past the limit.
    const copy = (slot: number) => prisma.$executeRaw`
      INSERT INTO event_grants (member_id, rule_id, event_type, period_key, slot, limit_count, points, entry_id, idempotency_key)
      SELECT member_id, rule_id, event_type, period_key, ${slot}::int, limit_count, points, gen_random_uuid(), 'k2' FROM event_grants
      WHERE id = ${grant!.id}::uuid`;
    await expect(copy(1)).rejects.toThrow(/event_grants_member_id_rule_id_period_key_slot_key|event_grants_entry_id_fkey/);
    await expect(copy(2)).rejects.toThrow(/event_grants_slot|event_grants_entry_id_fkey/);
    expect(granted.points).toBe(500);
  });

  it('N per lifetime, tier conditions, several rules at once, and nothing for retired or unknown types', async () => {
    const review = await createEarningRule(
      at(JAN),
      { name: 'Review', effect: { eventPoints: { eventType: 'review', points: 20, limit: { count: 3, period: 'LIFETIME' } } } },
      admin,
    );
    await createEarningRule(
      at(JAN),
      {
        name: 'Gold review extra',
        conditions: { tierKeys: ['GOLD'] },
        effect: { eventPoints: { eventType: 'review', points: 30, limit: { count: 1, period: 'CALENDAR_MONTH' } } },
      },
      admin,
    );
    const bronze = await app.enroll();
    const points: number[] = [];
    for (let i = 0; i < 5; i++) {
      points.push(
        (await trackEvent(at(`2026-02-0${i + 1}T10:00:00.000Z`), { memberId: bronze, type: 'review', idempotencyKey: `r${i}` }, shop))
          .points,
      );
    }
    expect(points).toEqual([20, 20, 20, 0, 0]);

    const gold = await app.enroll();
    await prisma.member.update({ where: { id: gold }, data: { tier: 'GOLD' } });
    const both = await trackEvent(at('2026-02-01T10:00:00.000Z'), { memberId: gold, type: 'review', idempotencyKey: 'g1' }, shop);
    expect(both.points).toBe(50);
    expect(both.rules.map((r) => [r.ruleName, r.outcome]).sort()).toEqual([
      ['Gold review extra', 'GRANTED'],
      ['Review', 'GRANTED'],
    ]);
    const sameMonth = await trackEvent(at('2026-02-20T10:00:00.000Z'), { memberId: gold, type: 'review', idempotencyKey: 'g2' }, shop);
    expect(sameMonth.points).toBe(20);

    await retireEarningRule(at(JAN), { id: review.id }, admin);
    const afterRetire = await trackEvent(at('2026-03-01T10:00:00.000Z'), { memberId: bronze, type: 'review', idempotencyKey: 'r9' }, shop);
    expect(afterRetire).toMatchObject({ points: 0, rules: [] });
    expect(
      await trackEvent(at('2026-03-01T10:00:00.000Z'), { memberId: bronze, type: 'signup', idempotencyKey: 's1' }, shop),
    ).toMatchObject({
      points: 0,
      rules: [],
    });
  });

  it('refuses bad input, members and suspended members, writing nothing', async () => {
    await birthdayRule();
    const memberId = await app.enroll();
    const now = at('2026-06-01T12:00:00.000Z');
    await expect(trackEvent(now, { memberId, type: 'Birth Day', idempotencyKey: 'x' }, shop)).rejects.toMatchObject({ field: 'type' });
    await expect(trackEvent(now, { memberId: 'nope', type: 'birthday', idempotencyKey: 'x' }, shop)).rejects.toMatchObject({
      field: 'memberId',
    });
    await expect(trackEvent(now, { memberId, type: 'birthday', idempotencyKey: 'x' }, memberCaller(memberId))).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await prisma.member.update({ where: { id: memberId }, data: { status: 'SUSPENDED' } });
    await expect(trackEvent(now, { memberId, type: 'birthday', idempotencyKey: 'x' }, shop)).rejects.toMatchObject({ code: 'VALIDATION' });
    expect(await prisma.ledgerEntry.count()).toBe(0);
  });

  it('through GraphQL: the payload says what each rule did, and a points.earned event is written', async () => {
    await birthdayRule();
    await subscribedEndpoint(prisma, ['points.earned']);
    const memberId = await app.enroll();
    const token = await app.apiKeyToken(['points:earn', 'members:read']);
    const query = `mutation($i: TrackEventInput!) { trackEvent(input: $i) { __typename
      ... on TrackEventPayload { points replayed rules { ruleName granted period points } entry { kind causeType amount } member { balance { available } } } } }`;
    const answer = await app.gql(query, { i: { memberId, type: 'birthday', idempotencyKey: 'gql-1' } }, token);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.trackEvent).toMatchObject({
      __typename: 'TrackEventPayload',
      points: 500,
      replayed: false,
      rules: [{ ruleName: 'Birthday', granted: true, points: 500 }],
      entry: { kind: 'BONUS', causeType: 'EVENT', amount: 500 },
      member: { balance: { available: 500 } },
    });
    const events = await prisma.webhookEvent.findMany({ where: { type: 'points.earned' } });
    expect(events.map((e) => e.payload)).toEqual([
      expect.objectContaining({ memberId, eventType: 'birthday', points: 500, status: 'AVAILABLE', orderRef: null }),
    ]);
  });
});
