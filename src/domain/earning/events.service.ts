import { newRowId } from '../../db/ids.js';
import type { Caller } from '../../auth/principal.js';
import { Prisma } from '../../generated/prisma/client.js';
import { assertMayCall } from '../authorization.js';
import type { ServiceDeps } from '../deps.js';
import { ValidationError } from '../errors.js';
import { checkIdempotencyKey, type Replayable } from '../idempotency.js';
import { assertEligible } from '../members/eligibility.js';
import { lotCte, lotExpiryDate, postEntry } from '../points/ledger.js';
import { inLedgerTransaction } from '../points/ledger-kernel.js';
import * as check from '../validation.js';
import { eventRows, webhookEventsCte } from '../webhooks/webhook-events.js';
import { EVENT_TYPE, earningRulesAt } from './earning-rules.service.js';
import { eventRules, limitPeriodKey } from './rules.js';

export interface TrackEventInput {
  memberId: string;
  /** The custom event's type: "signup", "birthday", "review", … */
  type: string;
  idempotencyKey: string;
}

/** What one matching event rule did for this event. */
export interface EventRuleOutcome {
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  /** GRANTED: its points were granted; LIMIT_REACHED: the member had its limit in this period already. */
  outcome: 'GRANTED' | 'LIMIT_REACHED';
  /** The limit's period ("2026", "2026-12", "lifetime"). */
  periodKey: string;
  /** Points granted by this rule (0 when its limit was reached). */
  points: number;
}

/** The outcome of a custom event, stored for idempotent replay. */
export interface TrackEventResult {
  memberId: string;
  type: string;
  /** The BONUS entry, or null when no rule granted anything. */
  entryId: string | null;
  points: number;
  rules: EventRuleOutcome[];
}

/**
 * Records a custom event of a member and grants the points of every active
 * EVENT_POINTS rule for its type (and the member's tier) that the member has not
 * used up in its period: one BONUS entry (cause EVENT), available at once, with
 * its lot, the `event_grants` rows and the `points.earned` event in one statement.
 *
 * Exactly once: one effect per idempotency key (the kernel); and per rule at most
 * `limit.count` grants per member and period — counted under the member lock,
 * and held by the unique index (member, rule, period, slot) with a CHECK keeping
 * slots within the limit, so even a wrong count could never grant twice. An
 * event no rule grants anything for succeeds with 0 points and says why.
 */
export async function trackEvent(deps: ServiceDeps, input: TrackEventInput, caller: Caller): Promise<Replayable<TrackEventResult>> {
  assertMayCall(caller, 'trackEvent');
  const memberId = check.uuid('memberId', input.memberId);
  const type = input.type.trim();
  if (!EVENT_TYPE.test(type))
    throw new ValidationError('type', 'must be a lower-case name of letters, digits, "_", "." or "-" (at most 64)');
  const key = checkIdempotencyKey(input.idempotencyKey);
  const operation = {
    memberId,
    request: { scope: `trackEvent:${memberId}`, key, body: { type } },
    change: { kind: 'EARNED' as const, reference: type },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, earningRulesStamp, now, answer }) => {
    assertEligible(member, 'EARN');
    const matching = eventRules(await earningRulesAt(tx, earningRulesStamp), type, member.tier, now);
    const periods = matching.map((rule) => limitPeriodKey(rule.limit!.period, now));
    const used = new Map<string, number>();
    if (matching.length > 0) {
      const rows = await tx.$queryRaw<{ rule_id: string; period_key: string; used: number }[]>`
        SELECT rule_id::text, period_key, count(*)::int AS used FROM event_grants
        WHERE member_id = ${memberId}::uuid
          AND (rule_id, period_key) IN (SELECT unnest(${matching.map((r) => r.id)}::uuid[]), unnest(${periods}::text[]))
        GROUP BY rule_id, period_key`;
      for (const row of rows) used.set(`${row.rule_id} ${row.period_key}`, row.used);
    }
    const grants: { ruleId: string; periodKey: string; slot: number; limit: number; points: number }[] = [];
    const rules = matching.map((rule, i): EventRuleOutcome => {
      const periodKey = periods[i]!;
      const slot = (used.get(`${rule.id} ${periodKey}`) ?? 0) + 1;
      const outcome = { ruleId: rule.id, ruleName: rule.name, ruleVersion: rule.version, periodKey };
      if (slot > rule.limit!.count) return { ...outcome, outcome: 'LIMIT_REACHED', points: 0 };
      grants.push({ ruleId: rule.id, periodKey, slot, limit: rule.limit!.count, points: rule.points! });
      return { ...outcome, outcome: 'GRANTED', points: rule.points! };
    });
    const points = grants.reduce((sum, grant) => sum + grant.points, 0);
    if (points === 0) {
      const nothing: TrackEventResult = { memberId, type, entryId: null, points: 0, rules };
      return { result: nothing, change: null };
    }
    const entryId = newRowId();
    const result: TrackEventResult = { memberId, type, entryId, points, rules };
    const expiresAt = lotExpiryDate(settings, now);
    const earnedEvent = {
      type: 'points.earned' as const,
      data: {
        memberId,
        entryId,
        orderRef: null,
        eventType: type,
        points,
        status: 'AVAILABLE',
        availableAt: now.toISOString(),
        expiresAt: expiresAt.toISOString(),
      },
    };
    const granted = Prisma.sql`event_granted AS (
      INSERT INTO event_grants (member_id, rule_id, event_type, period_key, slot, limit_count, points, entry_id, idempotency_key, created_at)
      SELECT ${memberId}::uuid, g.rule_id, ${type}, g.period_key, g.slot, g.limit_count, g.points, entry.id, ${key}, ${now}::timestamptz
      FROM entry, jsonb_to_recordset(${JSON.stringify(grants.map((g) => ({ rule_id: g.ruleId, period_key: g.periodKey, slot: g.slot, limit_count: g.limit, points: g.points })))}::jsonb)
        AS g(rule_id uuid, period_key text, slot int, limit_count int, points int)
      RETURNING id)`;
    const posted = await postEntry(
      tx,
      member,
      {
        id: entryId,
        kind: 'BONUS',
        amount: points,
        availableDelta: points,
        pendingDelta: 0,
        causeType: 'EVENT',
        causeRef: type,
        actor: caller.actor,
        idempotencyKey: `trackEvent:${key}`,
        // The rules of the event's type set the amount: a grant past the balance limit is refused on `type`.
        amountField: 'type',
        note: rules
          .filter((rule) => rule.outcome === 'GRANTED')
          .map((rule) => rule.ruleName)
          .join('; ')
          .slice(0, 500),
        now,
      },
      [
        lotCte(memberId, { points, availableAt: now, expiresAt, now }),
        granted,
        answer.inStatement(result),
        webhookEventsCte(eventRows([earnedEvent]), now, 'event_wh'),
      ],
    );
    return { result, member: posted.member };
  });
}
