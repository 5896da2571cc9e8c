import type { RawSql } from '../../db/sql.js';
import { ValidationError } from '../errors.js';
import type { ProgramSettings } from './program-settings.js';

/**
 * The settings whose figure is in the program currency, in the order a change of currency names the first one it
 * leaves out: the earn rate (points per 1.00), the value of a point, the compensation policy's voucher values and
 * cap, the agents' default goodwill authority. Stored as bare figures, they would be read in whatever currency the
 * program has: 25.00 EUR of authority would become 25.00 JPY.
 */
export const CURRENCY_BOUND_SETTINGS = [
  'pointsPerCurrencyUnit',
  'pointValue',
  'compensation.baseBySeverity.LOW',
  'compensation.baseBySeverity.MEDIUM',
  'compensation.baseBySeverity.HIGH',
  'compensation.baseBySeverity.CRITICAL',
  'compensation.capAmount',
  'goodwill.perGestureLimit',
  'goodwill.monthlyBudget',
] as const;

export type CurrencyBoundSetting = (typeof CURRENCY_BOUND_SETTINGS)[number];

/** The value at a dotted path of a settings object or patch (`compensation.capAmount`), undefined where it has none. */
export const valueAt = (root: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((at, key) => (at == null || typeof at !== 'object' ? undefined : (at as Record<string, unknown>)[key]), root);

/**
 * Refuses a change of the program currency (`from` → `to`, under the program's row lock, before anything is written)
 * that would leave a figure decided in `from` to be read in `to`: a ValidationError naming the first currency-bound
 * setting the change (`patch`, as given) does not restate — a figure again counts, even the same one: the admin decided
 * it in the new currency — then, on `currency`, the first figure outside the settings that the change cannot restate:
 * an agent's own goodwill limit, set by a supervisor, or the minimum order of an earning rule not retired. A figure of
 * 0 means the same in every currency and does not refuse. Who writes those figures takes turns with this check:
 * `setAgentAuthority` reads the currency under the program's row (KEY SHARE), earning-rule writes lock it.
 */
export async function assertCurrencySwitchRestates(tx: RawSql, before: ProgramSettings, patch: unknown, to: string): Promise<void> {
  const from = before.currency;
  if (to === from) return;
  const missing = CURRENCY_BOUND_SETTINGS.find((path) => valueAt(patch, path) == null);
  if (missing) {
    const now = valueAt(before, missing);
    const figure = missing === 'pointsPerCurrencyUnit' ? `${String(now)} points per 1.00 ${from}` : `${String(now)} ${from}`;
    throw new ValidationError(missing, `must be set again, in ${to}, in the same change as the currency: it is ${figure}`);
  }
  const [agent] = await tx.$queryRaw<{ agentId: string; perGesture: string | null; monthly: string | null }[]>`
    SELECT agent_id AS "agentId", per_gesture_limit::text AS "perGesture", monthly_budget::text AS monthly
    FROM agent_authorities WHERE per_gesture_limit > 0 OR monthly_budget > 0
    ORDER BY agent_id LIMIT 1`;
  if (agent) {
    const limits = [
      agent.perGesture === null ? null : `per gesture ${agent.perGesture} ${from}`,
      agent.monthly === null ? null : `monthly budget ${agent.monthly} ${from}`,
    ].filter((limit) => limit !== null);
    throw new ValidationError(
      'currency',
      `agent ${agent.agentId} has goodwill limits of their own in ${from} (${limits.join(', ')}): set them back to the ` +
        `program's default (or to 0.00) before the change of currency, and anew in ${to} after it`,
    );
  }
  const [rule] = await tx.$queryRaw<{ name: string; minimum: string }[]>`
    SELECT name, min_order_total::text AS minimum FROM earning_rules
    WHERE retired_at IS NULL AND min_order_total > 0
    ORDER BY created_at, id LIMIT 1`;
  if (rule) {
    throw new ValidationError(
      'currency',
      `earning rule "${rule.name}" has a minimum order of ${rule.minimum} ${from}: remove the minimum or retire the rule ` +
        `before the change of currency, and set it anew in ${to} after it`,
    );
  }
}
