import { describe, expect, it } from 'vitest';
import { createEarningRule, retireEarningRule, updateEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { trackEvent } from '../../src/domain/earning/events.service.js';
import { IdempotencyConflictError } from '../../src/domain/errors.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { holdMember, whileHolding } from '../support/holding.js';

/**
 * An adversarial pass over custom events and the earning rules' lifecycle: what the happy-path tests
 * (track-event.test.ts, earning-rules.test.ts) do not race.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'audit-admin');
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const at = (iso: string) => ({ prisma, logger: testLogger, now: () => new Date(iso) });
const JAN = '2026-01-01T00:00:00.000Z';

const eventRule = (name: string, eventType: string, points: number, count = 1, period: 'CALENDAR_YEAR' | 'LIFETIME' = 'CALENDAR_YEAR') =>
  createEarningRule(at(JAN), { name, effect: { eventPoints: { eventType, points, limit: { count, period } } } }, admin);

describe('custom events under races', () => {
  it('20 concurrent events across the year boundary under 1 per year grant once in each year', async () => {
    await eventRule('Birthday', 'birthday', 500);
    const memberId = await app.enroll({ enrolledAt: new Date('2026-01-01T00:00:00.000Z') });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        trackEvent(
          at(i % 2 === 0 ? '2026-12-31T23:59:59.999Z' : '2027-01-01T00:00:00.000Z'),
          {
            memberId,
            type: 'birthday',
            idempotencyKey: `edge-${i}`,
          },
          shop,
        ),
      ),
    );
    const granted = results.filter((r) => r.points === 500).map((r) => r.rules[0]!.periodKey);
    expect(granted.sort()).toEqual(['2026', '2027']);
    const grants = await prisma.eventGrant.findMany({ where: { memberId }, orderBy: { periodKey: 'asc' } });
    expect(grants.map((g) => [g.periodKey, g.slot])).toEqual([
      ['2026', 1],
      ['2027', 1],
    ]);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(1000);
  });

  it('two rules for one type each keep their own limit under 20 concurrent events', async () => {
    await eventRule('Review yearly', 'review', 10, 2);
    await eventRule('Review lifetime', 'review', 7, 3, 'LIFETIME');
    const memberId = await app.enroll();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        trackEvent(at('2026-05-01T00:00:00.000Z'), { memberId, type: 'review', idempotencyKey: `r-${i}` }, shop),
      ),
    );
    expect(results.reduce((sum, r) => sum + r.points, 0)).toBe(2 * 10 + 3 * 7);
    expect(await prisma.eventGrant.count({ where: { memberId } })).toBe(5);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(41);
  });

  it('the same key with another type is an IdempotencyConflictError and grants nothing more', async () => {
    await eventRule('Birthday', 'birthday', 500);
    await eventRule('Signup', 'signup', 100, 1, 'LIFETIME');
    const memberId = await app.enroll();
    await trackEvent(at('2026-05-01T00:00:00.000Z'), { memberId, type: 'birthday', idempotencyKey: 'k' }, shop);
    await expect(
      trackEvent(at('2026-05-01T00:00:00.000Z'), { memberId, type: 'signup', idempotencyKey: 'k' }, shop),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(500);
  });

  it('a rule retired while an event waits for the member grants nothing; points changed meanwhile grant the new points', async () => {
    const retired = await eventRule('Birthday', 'birthday', 500);
    const review = await eventRule('Review', 'review', 10, 5);
    const memberId = await app.enroll();
    // This process has cached the rules of the current stamp before the events wait.
    await trackEvent(at('2026-05-01T00:00:00.000Z'), { memberId, type: 'review', idempotencyKey: 'warm' }, shop);

    const birthday = await whileHolding(
      prisma,
      holdMember(memberId),
      () => trackEvent(at('2026-05-01T00:00:00.000Z'), { memberId, type: 'birthday', idempotencyKey: 'b' }, shop),
      { meanwhile: () => retireEarningRule(at('2026-05-01T00:00:00.000Z'), { id: retired.id }, admin) },
    );
    expect(birthday).toMatchObject({ points: 0, rules: [] });

    const reviewed = await whileHolding(
      prisma,
      holdMember(memberId),
      () => trackEvent(at('2026-05-01T00:00:00.000Z'), { memberId, type: 'review', idempotencyKey: 'r' }, shop),
      {
        meanwhile: () =>
          updateEarningRule(
            at('2026-05-01T00:00:00.000Z'),
            { id: review.id, effect: { eventPoints: { eventType: 'review', points: 25, limit: { count: 5, period: 'CALENDAR_YEAR' } } } },
            admin,
          ),
      },
    );
    expect(reviewed).toMatchObject({ points: 25, rules: [{ ruleVersion: 2, points: 25 }] });
  });
});

describe('the rules lifecycle under races', () => {
  it('updating and retiring one rule at once never deadlocks: the retirement wins or follows the update', async () => {
    for (let round = 0; round < 8; round += 1) {
      const rule = await eventRule(`Rule ${round}`, 'birthday', 100);
      const [updated, retired] = await Promise.allSettled([
        updateEarningRule(at(JAN), { id: rule.id, name: `Renamed ${round}` }, admin),
        retireEarningRule(at(JAN), { id: rule.id }, admin),
      ]);
      expect(retired.status, String(retired.status === 'rejected' ? retired.reason : '')).toBe('fulfilled');
      if (updated.status === 'rejected') expect(String(updated.reason)).toMatch(/retired/);
      const history = await prisma.earningRuleVersion.findMany({ where: { ruleId: rule.id }, orderBy: { version: 'asc' } });
      expect(history.at(-1)?.action).toBe('RETIRED');
    }
  });
});

describe("a rule's limit once it has granted", () => {
  it('cannot move to another period or event type: a once-per-lifetime grant is not made twice', async () => {
    const signup = await eventRule('Signup', 'signup', 100);
    const memberId = await app.enroll({ enrolledAt: new Date(JAN) });
    expect((await trackEvent(at('2026-03-01T00:00:00.000Z'), { memberId, type: 'signup', idempotencyKey: 's-1' }, shop)).points).toBe(100);
    const lifetime = { eventPoints: { eventType: 'signup', points: 100, limit: { count: 1, period: 'LIFETIME' as const } } };
    await expect(updateEarningRule(at('2026-03-02T00:00:00.000Z'), { id: signup.id, effect: lifetime }, admin)).rejects.toMatchObject({
      field: 'effect.eventPoints.limit.period',
    });
    const renamed = { eventPoints: { eventType: 'sign-up', points: 100, limit: { count: 1, period: 'CALENDAR_YEAR' as const } } };
    await expect(updateEarningRule(at('2026-03-02T00:00:00.000Z'), { id: signup.id, effect: renamed }, admin)).rejects.toMatchObject({
      field: 'effect.eventPoints.eventType',
    });
    // Unchanged: the second signup event of the year grants nothing.
    expect((await trackEvent(at('2026-03-03T00:00:00.000Z'), { memberId, type: 'signup', idempotencyKey: 's-2' }, shop)).points).toBe(0);
    expect(await prisma.eventGrant.count({ where: { memberId } })).toBe(1);
  });

  it('may still change its points and count, and a rule that never granted may change its period', async () => {
    const signup = await eventRule('Signup', 'signup', 100);
    const memberId = await app.enroll({ enrolledAt: new Date(JAN) });
    await trackEvent(at('2026-03-01T00:00:00.000Z'), { memberId, type: 'signup', idempotencyKey: 's-1' }, shop);
    const more = { eventPoints: { eventType: 'signup', points: 50, limit: { count: 2, period: 'CALENDAR_YEAR' as const } } };
    expect((await updateEarningRule(at('2026-03-02T00:00:00.000Z'), { id: signup.id, effect: more }, admin)).version).toBe(2);
    const unused = await eventRule('Referral', 'referral', 10);
    const lifetime = { eventPoints: { eventType: 'referral', points: 10, limit: { count: 1, period: 'LIFETIME' as const } } };
    expect((await updateEarningRule(at('2026-03-02T00:00:00.000Z'), { id: unused.id, effect: lifetime }, admin)).limitPeriod).toBe(
      'LIFETIME',
    );
  });
});
