import { Decimal } from 'decimal.js';
import { callerText, type Caller } from '../../auth/principal.js';
import type { RawSql } from '../../db/sql.js';
import type { EarningRule as EarningRuleRow, Prisma } from '../../generated/prisma/client.js';
import { assertMayCall } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { once, optionalIdempotencyKey, type Replayable, scopeOf } from '../idempotency.js';
import { loadProgram, type ProgramView } from '../program/program.service.js';
import type { ProgramSettings } from '../program/program-settings.js';
import * as check from '../validation.js';
import { reportProgramChange } from '../members/member-changes.js';
import { MAX_LINE_LABEL, orderChannel } from '../orders/order-lines.js';
import type { EarningRule, EarningRuleKind, EventLimitPeriod } from './rules.js';

/** A money condition as it arrives (MoneyInput). */
export interface MoneyValue {
  amount: string;
  currency: string;
}

export interface EarningConditionsInput {
  channels?: readonly string[] | null;
  tierKeys?: readonly string[] | null;
  minOrderTotal?: MoneyValue | null;
  includeCategories?: readonly string[] | null;
  excludeCategories?: readonly string[] | null;
  includeSkus?: readonly string[] | null;
  excludeSkus?: readonly string[] | null;
  firstOrderOnly?: boolean | null;
}

/** Exactly one of them: what the rule does. */
export interface EarningEffectInput {
  lineMultiplier?: { multiplier: string } | null;
  orderBonus?: { points: number } | null;
  eventPoints?: { eventType: string; points: number; limit: { count: number; period: EventLimitPeriod } } | null;
}

export interface CreateEarningRuleInput {
  name: string;
  /** Default: now. */
  startsAt?: Date | null;
  endsAt?: Date | null;
  conditions?: EarningConditionsInput | null;
  effect: EarningEffectInput;
  /** Optional (clients of before keep working), but always send one: a retry with it creates no second rule. */
  idempotencyKey?: string | null;
}

/** Omitted (undefined) fields stay as they are; `endsAt: null` makes the rule open-ended; `conditions` and `effect` replace the whole. */
export interface UpdateEarningRuleInput {
  id: string;
  name?: string | null;
  startsAt?: Date | null;
  endsAt?: Date | null;
  conditions?: EarningConditionsInput | null;
  effect?: EarningEffectInput | null;
  /** When given, must be the rule's current version (two admins editing at once do not overwrite each other). */
  expectedVersion?: number | null;
}

/** The columns of a rule, validated as a whole. */
interface RuleColumns {
  name: string;
  kind: EarningRuleKind;
  startsAt: Date;
  endsAt: Date | null;
  channels: string[];
  tierKeys: string[];
  minOrderTotal: string | null;
  includeCategories: string[];
  excludeCategories: string[];
  includeSkus: string[];
  excludeSkus: string[];
  firstOrderOnly: boolean;
  multiplier: string | null;
  points: number | null;
  eventType: string | null;
  limitCount: number | null;
  limitPeriod: EventLimitPeriod | null;
}

const MAX_LIST = 200;

/**
 * The SKUs and the categories a rule holds already (either list of each), which an update may send again: taken as
 * stored, as an order's stored keys are, when the key rule refuses them (a rule saved before it, or by SQL). A new
 * entry is checked as a key.
 */
export interface StoredRuleKeys {
  skus: ReadonlySet<string>;
  categories: ReadonlySet<string>;
}

const NO_STORED_KEYS: StoredRuleKeys = { skus: new Set(), categories: new Set() };

/** What `row` holds already (`StoredRuleKeys`): what its update may keep. */
function storedKeysOf(
  row: Pick<EarningRuleRow, 'includeSkus' | 'excludeSkus' | 'includeCategories' | 'excludeCategories'>,
): StoredRuleKeys {
  return {
    skus: new Set([...row.includeSkus, ...row.excludeSkus]),
    categories: new Set([...row.includeCategories, ...row.excludeCategories]),
  };
}

/**
 * A SKU or category a rule matches: a key, as an order line's (`lineSku`, `lineCategory`), unless `stored` (the
 * rule's own SKUs, or categories) holds it already.
 */
const lineKey =
  (stored: ReadonlySet<string>) =>
  (field: string, value: string): string =>
    check.key(field, value, { max: MAX_LINE_LABEL }, stored);
const MAX_RULE_POINTS = 1_000_000;
const LIMIT_PERIODS: readonly EventLimitPeriod[] = ['CALENDAR_YEAR', 'CALENDAR_MONTH', 'LIFETIME'];
/** Event types are lower-case names: "signup", "birthday", "review", "newsletter.subscribed". */
export const EVENT_TYPE = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * A list of a rule's conditions, each entry checked as what it must match (`entry`: plain text of at most 100
 * characters unless said otherwise), given once. An entry no order could carry (a channel "Web", a SKU longer than
 * a line's) is refused: the rule would be saved and never match, silently.
 */
function list(
  field: string,
  values: readonly string[] | null | undefined,
  entry: (field: string, value: string) => string = (f, value) => check.plainText(f, value, { max: 100 }),
): string[] {
  if (values == null) return [];
  if (values.length > MAX_LIST) throw new ValidationError(field, `at most ${MAX_LIST} entries`);
  const out: string[] = [];
  values.forEach((value, i) => {
    const item = entry(`${field}.${i}`, value);
    if (out.includes(item)) throw new ValidationError(`${field}.${i}`, `"${item}" is listed twice`);
    out.push(item);
  });
  return out;
}

/**
 * Validates a whole rule (ValidationError naming the field path, e.g.
 * `effect.eventPoints.limit.count`), before anything is written: the window's
 * order, exactly one effect and its range, conditions that fit the effect (an
 * event has no order: no order conditions), tier keys the program knows, a
 * minimum order in the program currency, SKUs and categories that are keys
 * (as an order line's) unless the rule holds them already (`stored`, on an update).
 */
export function validateRule(
  input: CreateEarningRuleInput,
  settings: Pick<ProgramSettings, 'currency' | 'tiers'>,
  now: Date,
  stored: StoredRuleKeys = NO_STORED_KEYS,
): RuleColumns {
  const name = check.plainText('name', input.name, { max: 120 });
  const startsAt = input.startsAt == null ? now : check.dateTime('startsAt', input.startsAt);
  const endsAt = input.endsAt == null ? null : check.dateTime('endsAt', input.endsAt);
  if (endsAt !== null && endsAt.getTime() <= startsAt.getTime()) throw new ValidationError('endsAt', 'must be after startsAt');

  const c = input.conditions ?? {};
  const tierKeys = list('conditions.tierKeys', c.tierKeys, (f, value) => check.plainText(f, value, { max: 100 }).toUpperCase());
  const known = settings.tiers.map((tier) => tier.key);
  tierKeys.forEach((key, i) => {
    if (!known.includes(key))
      throw new ValidationError(`conditions.tierKeys.${i}`, `unknown tier "${key}" (the program has ${known.join(', ')})`);
  });
  let minOrderTotal: string | null = null;
  if (c.minOrderTotal != null) {
    minOrderTotal = check.money('conditions.minOrderTotal.amount', c.minOrderTotal.amount, { positive: false }).toFixed(2);
    if (check.currency('conditions.minOrderTotal.currency', c.minOrderTotal.currency) !== settings.currency) {
      throw new ValidationError('conditions.minOrderTotal.currency', `the program runs in ${settings.currency}`);
    }
  }
  const conditions = {
    channels: list('conditions.channels', c.channels, (f, value) => orderChannel(f, value.trim())!),
    tierKeys,
    minOrderTotal,
    includeCategories: list('conditions.includeCategories', c.includeCategories, lineKey(stored.categories)),
    excludeCategories: list('conditions.excludeCategories', c.excludeCategories, lineKey(stored.categories)),
    includeSkus: list('conditions.includeSkus', c.includeSkus, lineKey(stored.skus)),
    excludeSkus: list('conditions.excludeSkus', c.excludeSkus, lineKey(stored.skus)),
    firstOrderOnly: c.firstOrderOnly ?? false,
  };
  for (const [include, exclude] of [
    ['includeCategories', 'excludeCategories'],
    ['includeSkus', 'excludeSkus'],
  ] as const) {
    const both = conditions[include].find((item) => conditions[exclude].includes(item));
    if (both !== undefined) throw new ValidationError(`conditions.${exclude}`, `"${both}" is both included and excluded`);
  }

  const effect = input.effect ?? {};
  const given = (['lineMultiplier', 'orderBonus', 'eventPoints'] as const).filter((k) => effect[k] != null);
  if (given.length !== 1) throw new ValidationError('effect', 'give exactly one of lineMultiplier, orderBonus, eventPoints');
  const none = { multiplier: null, points: null, eventType: null, limitCount: null, limitPeriod: null };
  const rulePoints = (field: string, value: number) => {
    if (!Number.isInteger(value) || value < 1 || value > MAX_RULE_POINTS) {
      throw new ValidationError(field, `must be a whole number of points between 1 and ${MAX_RULE_POINTS}`);
    }
    return value;
  };
  const base = { name, startsAt, endsAt, ...conditions };
  if (effect.lineMultiplier) {
    const raw = effect.lineMultiplier.multiplier;
    if (!/^\d{1,2}(\.\d{1,3})?$/.test(raw.trim()) || new Decimal(raw.trim()).gt(10)) {
      throw new ValidationError(
        'effect.lineMultiplier.multiplier',
        'must be a decimal from 0 (earns nothing) to 10 with at most three places',
      );
    }
    return { ...base, ...none, kind: 'LINE_MULTIPLIER', multiplier: new Decimal(raw.trim()).toFixed(3) };
  }
  if (effect.orderBonus) {
    return { ...base, ...none, kind: 'ORDER_BONUS', points: rulePoints('effect.orderBonus.points', effect.orderBonus.points) };
  }
  const event = effect.eventPoints!;
  const orderCondition = (
    [
      ['channels', conditions.channels.length > 0],
      ['minOrderTotal', minOrderTotal !== null],
      ['includeCategories', conditions.includeCategories.length > 0],
      ['excludeCategories', conditions.excludeCategories.length > 0],
      ['includeSkus', conditions.includeSkus.length > 0],
      ['excludeSkus', conditions.excludeSkus.length > 0],
      ['firstOrderOnly', conditions.firstOrderOnly],
    ] as const
  ).find(([, set]) => set);
  if (orderCondition) throw new ValidationError(`conditions.${orderCondition[0]}`, 'an event rule has no order: only tierKeys apply');
  const eventType = event.eventType.trim();
  if (!EVENT_TYPE.test(eventType)) {
    throw new ValidationError('effect.eventPoints.eventType', 'must be a lower-case name of letters, digits, "_", "." or "-" (at most 64)');
  }
  const { count, period } = event.limit;
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new ValidationError('effect.eventPoints.limit.count', 'must be a whole number from 1 to 1000');
  }
  if (!LIMIT_PERIODS.includes(period)) throw new ValidationError('effect.eventPoints.limit.period', 'unknown period');
  return {
    ...base,
    ...none,
    kind: 'EVENT_POINTS',
    points: rulePoints('effect.eventPoints.points', event.points),
    eventType,
    limitCount: count,
    limitPeriod: period,
  };
}

/** The stored row back as the input it came from (to merge an update into). */
function inputOf(row: EarningRuleRow): CreateEarningRuleInput {
  const effect: EarningEffectInput =
    row.kind === 'LINE_MULTIPLIER'
      ? { lineMultiplier: { multiplier: row.multiplier!.toFixed(3) } }
      : row.kind === 'ORDER_BONUS'
        ? { orderBonus: { points: row.points! } }
        : { eventPoints: { eventType: row.eventType!, points: row.points!, limit: { count: row.limitCount!, period: row.limitPeriod! } } };
  return {
    name: row.name,
    startsAt: row.startsAt,
    endsAt: row.endsAt,
    conditions: {
      channels: row.channels,
      tierKeys: row.tierKeys,
      minOrderTotal: row.minOrderTotal === null ? null : { amount: row.minOrderTotal.toFixed(2), currency: '' },
      includeCategories: row.includeCategories,
      excludeCategories: row.excludeCategories,
      includeSkus: row.includeSkus,
      excludeSkus: row.excludeSkus,
      firstOrderOnly: row.firstOrderOnly,
    },
    effect,
  };
}

/** Appends the rule's version as saved, and renews the rules stamp the earn path caches by (same transaction). */
async function recordVersion(tx: Tx, row: EarningRuleRow, action: 'CREATED' | 'UPDATED' | 'RETIRED', caller: Caller, now: Date) {
  await tx.earningRuleVersion.create({
    data: {
      ruleId: row.id,
      version: row.version,
      action,
      snapshot: JSON.parse(JSON.stringify(row)) as Prisma.InputJsonValue,
      changedBy: callerText(caller),
      changedAt: now,
    },
  });
  await tx.$executeRaw`UPDATE program SET earning_rules_stamp = gen_random_uuid() WHERE id = 1`;
}

/**
 * The program's settings with its row locked until the transaction ends: the tier keys a
 * rule names are validated against tiers no concurrent `updateProgram` can remove.
 */
async function lockedProgram(tx: Tx): Promise<ProgramView> {
  await loadProgram(tx); // creates the row on first use
  await tx.$queryRaw`SELECT 1 FROM program WHERE id = 1 FOR UPDATE`;
  return loadProgram(tx);
}

/**
 * An event rule's grants count per rule and period key, the period being the rule's of now: one that granted under a
 * period or an event type and then moved to another would count afresh — a once-per-lifetime bonus granted again to a
 * member who had it in the rule's calendar year. Once a rule has granted, its period and event type stay; a new rule
 * (and retiring this one) is the way to another.
 */
async function assertGrantsStillCounted(
  tx: Tx,
  current: Pick<EarningRuleRow, 'id' | 'kind' | 'eventType' | 'limitPeriod'>,
  next: Pick<EarningRuleRow, 'kind' | 'eventType' | 'limitPeriod'>,
): Promise<void> {
  if (next.kind !== 'EVENT_POINTS') return;
  const samePeriod = current.kind === 'EVENT_POINTS' && current.limitPeriod === next.limitPeriod;
  const sameType = current.kind === 'EVENT_POINTS' && current.eventType === next.eventType;
  if (samePeriod && sameType) return;
  const [granted] = await tx.$queryRaw<{ any: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM event_grants WHERE rule_id = ${current.id}::uuid) AS any`;
  if (!granted?.any) return;
  const why = 'this rule has granted points, which count under its period and event type: retire it and create a new rule';
  throw new ValidationError(samePeriod ? 'effect.eventPoints.eventType' : 'effect.eventPoints.limit.period', why);
}

/**
 * Adds an earning rule (admins), validated as a whole; version 1 is kept in its history. One rule per (caller,
 * idempotency key), by `once()`, which reserves the key before the program's row is locked: a retry after a lost
 * answer — the same fields as sent (an omitted `startsAt` is "now" for the retry too) — answers the rule its first
 * call created, as it is now, and writes nothing (no second rule granting the same bonus again, no new rules stamp);
 * the same key with another rule is an IdempotencyConflictError. A refused rule leaves the key free. Without a key
 * every call adds a rule.
 */
export async function createEarningRule(
  deps: ServiceDeps,
  input: CreateEarningRuleInput,
  caller: Caller,
): Promise<Replayable<EarningRuleRow>> {
  assertMayCall(caller, 'manageEarningRules');
  const key = optionalIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  // The rule as sent: validating it needs the program's settings, read under its lock in the effect.
  const request = {
    name: input.name,
    startsAt: input.startsAt == null ? null : dateText(input.startsAt),
    endsAt: input.endsAt == null ? null : dateText(input.endsAt),
    conditions: input.conditions ?? null,
    effect: input.effect,
  };
  const rule = await deps.prisma.$transaction(async (tx) => {
    const created = await once(tx, scopeOf('createEarningRule', caller), key, request, async () => {
      const { settings } = await lockedProgram(tx);
      const columns = validateRule(input, settings, now);
      const row = await tx.earningRule.create({
        data: { ...columns, createdBy: callerText(caller), createdAt: now, updatedBy: callerText(caller), updatedAt: now },
      });
      await recordVersion(tx, row, 'CREATED', caller, now);
      return { ruleId: row.id };
    });
    return { ...(await tx.earningRule.findUniqueOrThrow({ where: { id: created.ruleId } })), replayed: created.replayed };
  });
  if (!rule.replayed) reportProgramChange(deps);
  return rule;
}

/** A date of the request as text for its fingerprint (an invalid one, which validation refuses, as such). */
const dateText = (value: Date) => (Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString());

/**
 * Changes an earning rule (admins): the stored rule with the changes merged in,
 * validated as a whole, becomes the next version; the previous versions stay in
 * its history. A SKU or category the rule holds already is kept even where the
 * key rule would refuse it new (`StoredRuleKeys`). A retired rule cannot change.
 * Earnings already made keep their points.
 */
export async function updateEarningRule(deps: ServiceDeps, input: UpdateEarningRuleInput, caller: Caller): Promise<EarningRuleRow> {
  assertMayCall(caller, 'manageEarningRules');
  const id = check.uuid('id', input.id);
  const now = nowOf(deps);
  const rule = await deps.prisma.$transaction(async (tx) => {
    const { settings } = await lockedProgram(tx);
    const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM earning_rules WHERE id = ${id}::uuid FOR UPDATE`;
    if (!locked) throw new NotFoundError('EarningRule', id);
    const current = await tx.earningRule.findUniqueOrThrow({ where: { id } });
    if (current.retiredAt) throw new ValidationError('id', 'this rule is retired and can no longer change');
    if (input.expectedVersion != null && input.expectedVersion !== current.version) {
      throw new ValidationError('expectedVersion', `the rule is at version ${current.version}`);
    }
    const before = inputOf(current);
    if (before.conditions?.minOrderTotal) before.conditions.minOrderTotal.currency = settings.currency;
    const merged: CreateEarningRuleInput = {
      name: input.name ?? before.name,
      startsAt: input.startsAt ?? before.startsAt,
      endsAt: input.endsAt === undefined ? before.endsAt : input.endsAt,
      conditions: input.conditions ?? before.conditions,
      effect: input.effect ?? before.effect,
    };
    // The SKUs and categories the rule holds stay acceptable (saved before the key rule, say): new ones are checked.
    const columns = validateRule(merged, settings, now, storedKeysOf(current));
    await assertGrantsStillCounted(tx, current, columns);
    const row = await tx.earningRule.update({
      where: { id },
      data: { ...columns, version: current.version + 1, updatedBy: callerText(caller), updatedAt: now },
    });
    await recordVersion(tx, row, 'UPDATED', caller, now);
    return row;
  });
  reportProgramChange(deps);
  return rule;
}

/**
 * Retires a rule for good (admins): it stops applying at once; the rule and its history stay. Retiring twice keeps the first.
 * Locks as `updateEarningRule` does, the program row first and then the rule's: renewing the stamp writes the program
 * row, so a retirement that held the rule first would deadlock with an update of the same rule holding the program.
 */
export async function retireEarningRule(deps: ServiceDeps, input: { id: string }, caller: Caller): Promise<EarningRuleRow> {
  assertMayCall(caller, 'manageEarningRules');
  const id = check.uuid('id', input.id);
  const now = nowOf(deps);
  const rule = await deps.prisma.$transaction(async (tx) => {
    await lockedProgram(tx);
    const [locked] = await tx.$queryRaw<{ retired: boolean }[]>`
      SELECT retired_at IS NOT NULL AS retired FROM earning_rules WHERE id = ${id}::uuid FOR UPDATE`;
    if (!locked) throw new NotFoundError('EarningRule', id);
    if (locked.retired) return tx.earningRule.findUniqueOrThrow({ where: { id } });
    const current = await tx.earningRule.findUniqueOrThrow({ where: { id } });
    const row = await tx.earningRule.update({
      where: { id },
      data: { version: current.version + 1, retiredAt: now, retiredBy: callerText(caller), updatedBy: callerText(caller), updatedAt: now },
    });
    await recordVersion(tx, row, 'RETIRED', caller, now);
    return row;
  });
  reportProgramChange(deps);
  return rule;
}

/**
 * Which rules a listing (`earningRules`) shows: retired ones only when asked
 * for. Who may list is SERVICE_CALLERS.readEarningRules (staff): anyone else is
 * refused.
 */
export function earningRuleListWhere(
  input: { includeRetired?: boolean | null; kind?: EarningRuleKind | null },
  caller: Caller,
): Prisma.EarningRuleWhereInput {
  assertMayCall(caller, 'readEarningRules');
  return { ...(input.includeRetired ? {} : { retiredAt: null }), ...(input.kind ? { kind: input.kind } : {}) };
}

/** What a read loads with the rule: plugin-prisma's plan of a GraphQL selection, say. */
export type EarningRuleReadShape = Pick<Prisma.EarningRuleFindUniqueArgs, 'select' | 'include'>;

/**
 * An earning rule by its id (`node(id)`), retired or not, with what `shape` loads with it, or null when there is
 * none. Who may read one is who may list them (SERVICE_CALLERS.readEarningRules, the EarningRule type's visibility):
 * anyone else is refused before the id is looked at, nothing read. The id must be a UUID (ValidationError).
 */
export async function readEarningRule(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: EarningRuleReadShape,
  caller: Caller,
): Promise<EarningRuleRow | null> {
  assertMayCall(caller, 'readEarningRules');
  return deps.prisma.earningRule.findUnique({ ...shape, where: { id: check.uuid('id', id) } });
}

interface RuleRow {
  id: string;
  name: string;
  version: number;
  kind: EarningRuleKind;
  starts_at: Date;
  ends_at: Date | null;
  channels: string[];
  tier_keys: string[];
  min_order_total: string | null;
  include_categories: string[];
  exclude_categories: string[];
  include_skus: string[];
  exclude_skus: string[];
  first_order_only: boolean;
  multiplier: string | null;
  points: number | null;
  event_type: string | null;
  limit_count: number | null;
  limit_period: EventLimitPeriod | null;
}

function ruleOf(row: RuleRow): EarningRule {
  return Object.freeze({
    id: row.id,
    name: row.name,
    version: row.version,
    kind: row.kind,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    conditions: Object.freeze({
      channels: Object.freeze(row.channels),
      tierKeys: Object.freeze(row.tier_keys),
      minOrderTotal: row.min_order_total === null ? null : new Decimal(row.min_order_total),
      includeCategories: Object.freeze(row.include_categories),
      excludeCategories: Object.freeze(row.exclude_categories),
      includeSkus: Object.freeze(row.include_skus),
      excludeSkus: Object.freeze(row.exclude_skus),
      firstOrderOnly: row.first_order_only,
    }),
    multiplier: row.multiplier === null ? null : new Decimal(row.multiplier),
    points: row.points,
    eventType: row.event_type,
    limit: row.limit_count === null ? null : { count: row.limit_count, period: row.limit_period! },
  });
}

/** The rules in force (not retired) by the stamp they were read at: a few stamps per process. */
const rulesByStamp = new Map<string, readonly EarningRule[]>();
const RULES_CACHE_SIZE = 8;

/**
 * The rules not retired, as of `stamp` (program.earning_rules_stamp, which the
 * caller read in its own transaction — the ledger kernel folds it into the
 * member lock's statement). Each stamp's rules are read once per process and
 * then served from memory, so the earn path adds no statement for its rules;
 * every rule change renews the stamp in its own transaction, so no instance
 * applies a stale rule set once the change committed.
 */
export async function earningRulesAt(tx: RawSql, stamp: string | null): Promise<readonly EarningRule[]> {
  const cached = stamp === null ? undefined : rulesByStamp.get(stamp);
  if (cached) return cached;
  // One statement: the rules and the stamp they belong to, from one snapshot.
  const rows = await tx.$queryRaw<(RuleRow & { rules_stamp: string })[]>`
    SELECT p.earning_rules_stamp::text AS rules_stamp, r.id::text, r.name, r.version, r.kind::text AS kind,
           r.starts_at, r.ends_at, r.channels, r.tier_keys, r.min_order_total::text, r.include_categories,
           r.exclude_categories, r.include_skus, r.exclude_skus, r.first_order_only, r.multiplier::text,
           r.points, r.event_type, r.limit_count, r.limit_period::text AS limit_period
    FROM program p LEFT JOIN earning_rules r ON r.retired_at IS NULL
    WHERE p.id = 1`;
  const rules = Object.freeze(rows.filter((row) => row.id !== null).map(ruleOf));
  const current = rows[0]?.rules_stamp;
  if (current !== undefined) {
    if (rulesByStamp.size >= RULES_CACHE_SIZE) rulesByStamp.clear();
    rulesByStamp.set(current, rules);
  }
  return rules;
}
