import type { Caller } from '../../src/auth/principal.js';
import { extendContract } from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import {
  DomainError,
  InsufficientPointsError,
  RewardUnavailableError,
  ValidationError,
  VoucherNotRedeemableError,
} from '../../src/domain/errors.js';
import { approveGoodwill, issueGoodwill, rejectGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { cancelOrder, returnOrderItems } from '../../src/domain/orders/orders.service.js';
import { adjustPoints, earnPoints, redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { redeemReward } from '../../src/domain/rewards/rewards.service.js';
import { redeemVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { processMaintenance } from '../../workers/maintenance.processor.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import {
  addLot,
  grantedThisMonth,
  hasRoomFor,
  markActivity,
  MAX_POINTS,
  changeStatus,
  markPassive,
  mayEarnOrSpend,
  mayReceive,
  newOrder,
  orderIsFinal,
  orderPoints,
  prorateCents,
  returnedLineCents,
  plusDays,
  plusMonths,
  post,
  PROGRAM,
  renewalBonus,
  reviewTier,
  settle,
  settlementDue,
  takeLots,
  upgrade,
  voucherStatus,
  type ContractModel,
  type GestureModel,
  type MemberModel,
  type MemberStatusModel,
  type OrderModel,
  type World,
} from './ledger-model.js';

/**
 * The operations the ledger fuzzer sends: each calls a domain service (`run`)
 * and says what the model expects of it (`predict`), moving the model the way
 * the call should have moved the database.
 */

/** The services under test; a sabotaged system replaces some of them. */
export interface LedgerSystem {
  earnPoints: typeof earnPoints;
  redeemPoints: typeof redeemPoints;
  adjustPoints: typeof adjustPoints;
  refundOrder: typeof refundOrder;
  cancelOrder: typeof cancelOrder;
  returnOrderItems: typeof returnOrderItems;
  issueGoodwill: typeof issueGoodwill;
  approveGoodwill: typeof approveGoodwill;
  rejectGoodwill: typeof rejectGoodwill;
  extendContract: typeof extendContract;
  processRenewalBonus: typeof processRenewalBonus;
  redeemReward: typeof redeemReward;
  redeemVoucher: typeof redeemVoucher;
  processMaintenance: typeof processMaintenance;
  updateMember: typeof updateMember;
}

export const realSystem: LedgerSystem = {
  earnPoints,
  redeemPoints,
  adjustPoints,
  refundOrder,
  cancelOrder,
  returnOrderItems,
  issueGoodwill,
  approveGoodwill,
  rejectGoodwill,
  extendContract,
  processRenewalBonus,
  redeemReward,
  redeemVoucher,
  processMaintenance,
  updateMember,
};

export const STOREFRONT: Caller = {
  actor: { type: 'API_KEY', id: 'fuzz-shop' },
  scopes: new Set(['members:read', 'points:earn', 'points:redeem', 'vouchers:redeem']),
};
export const BILLING: Caller = { actor: { type: 'API_KEY', id: 'fuzz-billing' }, scopes: new Set(['contracts:write']) };
export const ADMIN: Caller = { actor: { type: 'STAFF', id: 'fuzz-admin' }, role: 'ADMIN' };
export const SUPERVISOR: Caller = { actor: { type: 'STAFF', id: 'fuzz-supervisor' }, role: 'SUPERVISOR' };

/** How a ledger entry names its actor. */
export const actorOf = (caller: Caller) => `${caller.actor.type}:${caller.actor.id}`;

/** What a call did: its answer, or the code of its typed error (UNEXPECTED for anything else). */
export type Outcome = { ok: true; value: Record<string, unknown> } | { ok: false; code: string; detail: string | null };

/** What the model expects of a call. `answer` lists the fields it can predict. */
export type Expected =
  | {
      ok: true;
      answer: Record<string, unknown>;
      replayed?: boolean;
      /** Counts (by dotted path) the answer must reach at least: they may include members of other runs. */
      atLeast?: Record<string, number>;
    }
  | { ok: false; code: string; detail?: string };

export interface Op {
  label: string;
  /** Takes an idempotency key: may be replayed or sent with another request under the same key. */
  keyed: boolean;
  run(system: LedgerSystem, deps: ServiceDeps): Promise<Outcome>;
  /** Moves `world` as the call should have (only on an expected success) and says what to expect. */
  predict(world: World, now: number, actual: Outcome): Expected;
  /** The same idempotency key with another request. */
  conflicting?(): Op;
}

function detailOf(error: DomainError): string | null {
  if (error instanceof InsufficientPointsError) return `available ${error.available}`;
  if (error instanceof ValidationError) return error.field;
  if (error instanceof VoucherNotRedeemableError || error instanceof RewardUnavailableError) return error.reason;
  return null;
}

async function attempt(call: () => Promise<object>): Promise<Outcome> {
  try {
    return { ok: true, value: { ...(await call()) } as Record<string, unknown> };
  } catch (error) {
    if (error instanceof DomainError) return { ok: false, code: error.code, detail: detailOf(error) };
    return { ok: false, code: 'UNEXPECTED', detail: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
}

/**
 * JSON with sorted keys: a stored (jsonb) answer and a fresh one compare equal. A bigint (a member row's
 * lifetime points) is written as the exact number it is, which `JSON.stringify` refuses to do.
 */
export function stableJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

/** The replayable part of an answer: what a repeat must return again. */
function answerOf(value: Record<string, unknown>): Record<string, unknown> {
  // member and settings are what the kernel read on the first execution (the row's tier resolves against them): not replayed.
  const { replayed: _replayed, member: _member, settings: _settings, voucher: _voucher, ...answer } = value;
  return JSON.parse(JSON.stringify(answer)) as Record<string, unknown>;
}

/** Why the outcome is not what the model expected, or null. */
export function differs(expected: Expected, actual: Outcome): string | null {
  const show = (o: Outcome | Expected) =>
    o.ok ? `ok ${stableJson('value' in o ? o.value : o.answer)}` : `${o.code}${o.detail ? ` (${o.detail})` : ''}`;
  if (expected.ok !== actual.ok) return `expected ${show(expected)}, got ${show(actual)}`;
  if (!expected.ok && !actual.ok) {
    if (expected.code !== actual.code || (expected.detail !== undefined && expected.detail !== actual.detail)) {
      return `expected ${show(expected)}, got ${show(actual)}`;
    }
    return null;
  }
  if (expected.ok && actual.ok) {
    for (const [field, value] of Object.entries(expected.answer)) {
      if (stableJson(value) !== stableJson(actual.value[field])) {
        return `${field}: expected ${stableJson(value)}, got ${stableJson(actual.value[field])} (answer ${stableJson(answerOf(actual.value))})`;
      }
    }
    for (const [path, least] of Object.entries(expected.atLeast ?? {})) {
      const value = path.split('.').reduce<unknown>((v, field) => (v as Record<string, unknown> | undefined)?.[field], actual.value);
      if (typeof value !== 'number' || value < least) return `${path}: expected at least ${least}, got ${stableJson(value)}`;
    }
    if (expected.replayed !== undefined && expected.replayed !== actual.value.replayed) {
      return `expected ${expected.replayed ? 'a replay of the first answer' : 'a first execution'}, got replayed=${String(actual.value.replayed)}`;
    }
  }
  return null;
}

const ok = (answer: Record<string, unknown>): Expected => ({ ok: true, answer });
const fail = (code: string, detail?: string): Expected => (detail === undefined ? { ok: false, code } : { ok: false, code, detail });
const money = (cents: number) => (cents / 100).toFixed(2);

/**
 * The idempotency frame as the model sees it: a key already answered replays
 * its first answer (or is a conflict for another request); otherwise `effect`
 * runs, and its success is recorded with the answer the service gave.
 */
function once(world: World, scope: string, key: string, request: unknown, actual: Outcome, effect: () => Expected): Expected {
  const id = `${scope}|${key}`;
  const requestJson = stableJson(request);
  const record = world.records[id];
  if (record) {
    return record.request === requestJson ? { ok: true, answer: record.answer, replayed: true } : fail('IDEMPOTENCY_CONFLICT');
  }
  const expected = effect();
  if (!expected.ok) return expected;
  if (actual.ok) world.records[id] = { request: requestJson, answer: answerOf(actual.value) };
  return { ...expected, replayed: false };
}

/** A copy of a member to work on; the world gets it back only when the operation succeeds. */
const draft = (world: World, member: number): MemberModel => structuredClone(world.members[member]!);

function voucherCodeOf(deps: ServiceDeps, where: { id: string } | { causeType: 'GESTURE'; causeRef: string }) {
  return deps.prisma.voucher.findFirstOrThrow({ where, select: { code: true } }).then((v) => v.code);
}

// ---------------------------------------------------------------------------
// Points

export interface EarnParams {
  member: number;
  orderRef: string;
  cents: number;
  /** An admin's explicit amount instead of the earn rule. */
  explicit: number | null;
  /** Line items (SKU `S<index>`), sent as an `order`; null: the deprecated total-only form. */
  lines: { quantity: number; unitCents: number }[] | null;
}

export function earnOp(world: World, p: EarnParams, key: string): Op {
  const memberId = world.members[p.member]!.id;
  const input =
    p.lines === null
      ? { memberId, orderRef: p.orderRef, orderTotal: money(p.cents), points: p.explicit, idempotencyKey: key }
      : {
          memberId,
          order: {
            reference: p.orderRef,
            total: { amount: money(p.cents), currency: 'EUR' },
            lines: p.lines.map((line, i) => ({ sku: `S${i}`, quantity: line.quantity, unitPrice: money(line.unitCents) })),
          },
          points: p.explicit,
          idempotencyKey: key,
        };
  const fields = p.lines === null ? { ref: 'orderRef', total: 'orderTotal' } : { ref: 'order.reference', total: 'order.total.amount' };
  const caller = p.explicit === null ? STOREFRONT : ADMIN;
  const items = p.lines === null ? '' : ` lines ${p.lines.map((l) => `${l.quantity}×${money(l.unitCents)}`).join(' ')}`;
  return {
    label: `earn m${p.member} order ${p.orderRef} ${money(p.cents)}${items}${p.explicit === null ? '' : ` explicit ${p.explicit}`} [${key}]`,
    keyed: true,
    run: (system, deps) => attempt(() => system.earnPoints(deps, input, caller)),
    predict: (w, now, actual) =>
      once(w, `earnPoints:${memberId}`, key, p, actual, () => {
        const m = draft(w, p.member);
        if (!mayEarnOrSpend(m)) return fail('VALIDATION', 'memberId');
        settle(m, now);
        const points = p.explicit ?? orderPoints(p.cents, m.tier);
        const existing = m.orders.find((o) => o.ref === p.orderRef);
        // An order that earned or was cancelled earns no more (the first thing wrong with it); one a redemption or
        // voucher named first is completed. Then more points than one earn grants, then past the balance limit.
        if (existing && (existing.earned || existing.cancelled)) return fail('VALIDATION', fields.ref);
        if (points > MAX_POINTS) return fail('VALIDATION', fields.total);
        if (!hasRoomFor(m, points)) return fail('VALIDATION', p.explicit === null ? fields.total : 'points');
        const order = existing ?? newOrder(p.orderRef);
        const lines = p.lines ?? [];
        const shares = prorateCents(
          p.cents,
          lines.map((l) => l.quantity * l.unitCents),
          lines.map((l) => l.quantity),
        );
        Object.assign(order, {
          totalCents: p.cents,
          earned: true,
          pointsEarned: points,
          lot: points === 0 ? null : now,
          lines: lines.map((l, i) => ({ sku: `S${i}`, quantity: l.quantity, returned: 0, shareCents: shares[i]! })),
        });
        if (points > 0) {
          post(m, { kind: 'EARN', amount: points, available: 0, at: now, actor: actorOf(caller), activity: true });
          addLot(m, points, now, plusDays(now, PROGRAM.returnWindowDays));
        } else {
          markActivity(m, now); // a purchase all the same
        }
        if (!existing) m.orders.push(order);
        if (points > 0) upgrade(m, now);
        w.members[p.member] = m;
        w.effects[key] = points === 0 ? 0 : 1;
        return ok({ points });
      }),
    conflicting: () => earnOp(world, { ...p, cents: p.cents + 1 }, key),
  };
}

/** Redeems `points`; with `orderRef` on that order (created when new), so that a cancel or return gives them back. */
export function redeemOp(world: World, member: number, points: number, orderRef: string | null, key: string): Op {
  const memberId = world.members[member]!.id;
  const input =
    orderRef === null
      ? { memberId, points, reference: `basket-${key}`, idempotencyKey: key }
      : { memberId, points, orderReference: orderRef, idempotencyKey: key };
  return {
    label: `redeem m${member} ${points}${orderRef === null ? '' : ` on order ${orderRef}`} [${key}]`,
    keyed: true,
    run: (system, deps) => attempt(() => system.redeemPoints(deps, input, STOREFRONT)),
    predict: (w, now, actual) =>
      once(w, `redeemPoints:${memberId}`, key, { points, orderRef }, actual, () => {
        const m = draft(w, member);
        if (!mayEarnOrSpend(m)) return fail('VALIDATION', 'memberId');
        settle(m, now);
        const existing = orderRef === null ? undefined : m.orders.find((o) => o.ref === orderRef);
        if (existing && orderIsFinal(existing)) return fail('VALIDATION', 'orderReference');
        if (m.available < points) return fail('INSUFFICIENT_POINTS', `available ${m.available}`);
        takeLots(m, points, now);
        post(m, { kind: 'REDEEM', amount: -points, available: -points, at: now, actor: actorOf(STOREFRONT), activity: true });
        if (orderRef !== null) {
          const order = existing ?? newOrder(orderRef);
          order.pointsRedeemed += points;
          if (!existing) m.orders.push(order);
        }
        w.members[member] = m;
        w.effects[key] = 1;
        return ok({ points: -points });
      }),
    conflicting: () => redeemOp(world, member, points + 1, orderRef, key),
  };
}

export function adjustOp(world: World, member: number, points: number, key: string): Op {
  const memberId = world.members[member]!.id;
  return {
    label: `adjust m${member} ${points > 0 ? '+' : ''}${points} [${key}]`,
    keyed: true,
    run: (system, deps) =>
      attempt(() => system.adjustPoints(deps, { memberId, points, reason: 'fuzzer correction', idempotencyKey: key }, ADMIN)),
    predict: (w, now, actual) =>
      once(w, `adjustPoints:${memberId}`, key, { points }, actual, () => {
        const m = draft(w, member);
        if (points > 0 && !mayReceive(m)) return fail('VALIDATION', 'memberId');
        settle(m, now);
        if (points < 0) {
          if (m.available < -points) return fail('INSUFFICIENT_POINTS', `available ${m.available}`);
          takeLots(m, -points, now);
          post(m, { kind: 'ADJUST', amount: points, available: points, at: now, actor: actorOf(ADMIN) });
        } else {
          if (!hasRoomFor(m, points)) return fail('VALIDATION', 'points');
          post(m, { kind: 'ADJUST', amount: points, available: points, at: now, actor: actorOf(ADMIN) });
          addLot(m, points, now, now);
        }
        w.members[member] = m;
        w.effects[key] = 1;
        return ok({ points });
      }),
    conflicting: () => adjustOp(world, member, points === -1 ? 1 : points + 1, key),
  };
}

export function refundOp(world: World, member: number, orderRef: string, cents: number | null, key: string): Op {
  const memberId = world.members[member]!.id;
  const input = { memberId, orderRef, amount: cents === null ? null : money(cents), idempotencyKey: key };
  return {
    label: `refund m${member} order ${orderRef} ${cents === null ? 'rest' : money(cents)} [${key}]`,
    keyed: true,
    run: (system, deps) => attempt(() => system.refundOrder(deps, input, STOREFRONT)),
    predict: (w, now, actual) =>
      once(w, `refundOrder:${memberId}`, key, { orderRef, cents }, actual, () => {
        const m = draft(w, member);
        settle(m, now);
        const back = takeBack(w, m, orderRef, { kind: 'REFUND', cents }, now, { order: 'orderRef', amount: 'amount' });
        if (!back.ok) return back;
        w.members[member] = m;
        w.effects[key] = back.reversed > 0 ? 1 : 0;
        return ok({ points: -back.reversed, pointsUnrecovered: back.unrecovered });
      }),
    conflicting: () => refundOp(world, member, orderRef, cents === null ? 1 : null, key),
  };
}

/** A cancel (`items` and `cents` null) or a return of items or an amount. */
export function orderReturnOp(
  world: World,
  member: number,
  orderRef: string,
  what: { cancel: true } | { cancel: false; items: { sku: string; quantity: number }[] | null; cents: number | null },
  key: string,
): Op {
  const memberId = world.members[member]!.id;
  const kind = what.cancel ? ('CANCEL' as const) : ('RETURN' as const);
  const label = what.cancel
    ? `cancel m${member} order ${orderRef} [${key}]`
    : `return m${member} order ${orderRef} ${what.items ? what.items.map((i) => `${i.quantity}×${i.sku}`).join(' ') : money(what.cents!)} [${key}]`;
  const scope = what.cancel ? `cancelOrder:${memberId}` : `returnOrderItems:${memberId}`;
  return {
    label,
    keyed: true,
    run: (system, deps) =>
      attempt(() =>
        what.cancel
          ? system.cancelOrder(deps, { memberId, orderReference: orderRef, idempotencyKey: key }, STOREFRONT)
          : system.returnOrderItems(
              deps,
              {
                memberId,
                orderReference: orderRef,
                items: what.items,
                amount: what.cents === null ? null : { amount: money(what.cents), currency: 'EUR' },
                idempotencyKey: key,
              },
              STOREFRONT,
            ),
      ),
    predict: (w, now, actual) =>
      once(w, scope, key, { orderRef, what }, actual, () => {
        const m = draft(w, member);
        settle(m, now);
        const request = what.cancel ? { kind } : { kind, items: what.items, cents: what.cents };
        const back = takeBack(w, m, orderRef, request, now, { order: 'orderReference', amount: 'amount.amount' });
        if (!back.ok) return back;
        w.members[member] = m;
        w.effects[key] = back.reversed > 0 ? 1 : 0;
        return ok({ pointsReversed: back.reversed, pointsUnrecovered: back.unrecovered, pointsRestored: back.restored });
      }),
    conflicting: () =>
      what.cancel
        ? orderReturnOp(world, member, orderRef, { cancel: false, items: null, cents: 1 }, key)
        : orderReturnOp(world, member, orderRef, { ...what, cents: (what.cents ?? 0) + 1, items: null }, key),
  };
}

/**
 * What a cancel, return or refund does to the member draft `m` (settled) and
 * its order, restated from docs/orders.md: everything cumulative — the value
 * returned adds to the order's refunded amount, s = refunded ÷ total (1 on a
 * cancel or once everything is back; by units without a total), redeemed points
 * restored so far = floor(redeemed × s) as a new available lot, then earned
 * points reversed so far = floor(earned × s) less what of the order's lot
 * expired, from the order's lot first (the restored lot among the rest), and the
 * order's vouchers back once all of it is.
 */
function takeBack(
  w: World,
  m: MemberModel,
  orderRef: string,
  request: { kind: 'CANCEL' | 'RETURN' | 'REFUND'; items?: { sku: string; quantity: number }[] | null; cents?: number | null },
  now: number,
  fields: { order: string; amount: string },
): ({ ok: true } & { reversed: number; unrecovered: number; restored: number }) | (Expected & { ok: false }) {
  const { kind } = request;
  const order: OrderModel | undefined = m.orders.find((o) => o.ref === orderRef);
  if (!order || (kind === 'REFUND' && !order.earned)) return { ok: false, code: 'NOT_FOUND' };
  if (order.cancelled) return { ok: false, code: 'VALIDATION', detail: fields.order };
  const total = order.totalCents;
  const refundable = total === null ? 0 : total - order.refundedCents;
  const back = new Map<number, number>();
  let value = 0;
  if (kind === 'CANCEL') {
    order.lines.forEach((line, i) => {
      if (line.returned < line.quantity) back.set(i, line.quantity - line.returned);
    });
    value = refundable;
  } else if (kind === 'REFUND') {
    if (refundable <= 0) return { ok: false, code: 'VALIDATION', detail: fields.order };
    value = request.cents ?? refundable;
    if (value > refundable) return { ok: false, code: 'VALIDATION', detail: fields.amount };
  } else if (request.cents != null) {
    if (total === null || request.cents > refundable) return { ok: false, code: 'VALIDATION', detail: fields.amount };
    value = request.cents;
  } else {
    for (const [index, item] of (request.items ?? []).entries()) {
      const line = order.lines.findIndex((l) => l.sku === item.sku);
      if (line < 0 || back.has(line)) return { ok: false, code: 'VALIDATION', detail: `items[${index}].sku` };
      const { quantity, returned } = order.lines[line]!;
      if (item.quantity > quantity - returned) return { ok: false, code: 'VALIDATION', detail: `items[${index}].quantity` };
      back.set(line, item.quantity);
    }
    for (const [index, quantity] of back) {
      const line = order.lines[index]!;
      value += returnedLineCents(line, line.returned + quantity) - returnedLineCents(line, line.returned);
    }
    value = Math.min(value, refundable);
  }
  const allBack = order.lines.length > 0 && order.lines.every((line, i) => line.returned + (back.get(i) ?? 0) === line.quantity);
  if (allBack && kind === 'RETURN') value = refundable;
  const refundedAfter = order.refundedCents + value;
  const unitsBefore = order.lines.reduce((sum, line) => sum + line.returned, 0);
  const unitsBack = unitsBefore + [...back.values()].reduce((a, b) => a + b, 0);
  const units = order.lines.reduce((sum, line) => sum + line.quantity, 0);
  const full = kind === 'CANCEL' || allBack || (total !== null && total > 0 && refundedAfter === total);
  const [part, whole] = full ? [1, 1] : total !== null && total > 0 ? [refundedAfter, total] : units > 0 ? [unitsBack, units] : [0, 1];
  if (kind === 'RETURN' && !full && value === 0 && unitsBack === unitsBefore) return { ok: false, code: 'VALIDATION', detail: 'items' };
  // A closed member receives nothing: the redeemed points are not given back (the reversal and the vouchers go ahead).
  // Given back first: the reversal below may take from them what the member spent of the order's own points.
  const toRestore = m.status === 'CLOSED' ? 0 : Math.max(Math.floor((order.pointsRedeemed * part) / whole) - order.pointsRestored, 0);
  if (toRestore > 0) {
    if (!hasRoomFor(m, toRestore)) return { ok: false, code: 'VALIDATION', detail: fields.order };
    post(m, { kind: 'RESTORE', amount: toRestore, available: toRestore, at: now, actor: actorOf(STOREFRONT) });
    addLot(m, toRestore, now, now);
  }
  // Less what of the order's own lot expired unspent: the expiry took it already.
  const lost = order.lot === null ? 0 : (m.lots.find((lot) => lot.createdAt === order.lot && lot.expired)?.lost ?? 0);
  const toReverse = Math.max(Math.floor((order.pointsEarned * part) / whole) - order.pointsReversed - lost, 0);
  let reversed = 0;
  if (toReverse > 0) {
    const taken = takeLots(m, toReverse, now, order.lot);
    reversed = taken.fromAvailable + taken.fromPending;
    if (reversed > 0)
      post(m, { kind: 'REVERSAL', amount: -reversed, available: -taken.fromAvailable, at: now, actor: actorOf(STOREFRONT) });
  }
  for (const [index, quantity] of back) order.lines[index]!.returned += quantity;
  order.refundedCents = refundedAfter;
  order.pointsReversed += toReverse;
  order.pointsRestored += toRestore;
  if (kind === 'CANCEL') order.cancelled = true;
  if (full) {
    for (const code of order.vouchers) w.vouchers.find((v) => v.code === code)!.redeemed = false;
    order.vouchers = [];
  }
  return { ok: true, reversed, unrecovered: toReverse - reversed, restored: toRestore };
}

// ---------------------------------------------------------------------------
// Goodwill

export interface GoodwillParams {
  member: number;
  agent: number;
  kind: 'POINTS' | 'VOUCHER';
  /** Points of a POINTS gesture, cents of a VOUCHER gesture. */
  value: number;
}

/**
 * Grants what a gesture gives, to a member draft (which the caller puts back
 * into the world); false when its points do not fit the member's balance.
 */
function grantGesture(w: World, m: MemberModel, gesture: GestureModel, now: number, voucherCode: unknown): boolean {
  if (gesture.kind === 'POINTS') {
    if (!hasRoomFor(m, gesture.points!)) return false;
    // The agent who issued the gesture, also when a supervisor approved it.
    const actor = `STAFF:${w.agents[gesture.agent]!.id}`;
    post(m, { kind: 'GOODWILL', amount: gesture.points!, available: gesture.points!, at: now, actor });
    addLot(m, gesture.points!, now, now);
    w.effects[gesture.id] = 1;
  } else {
    w.vouchers.push({
      code: String(voucherCode),
      member: gesture.member,
      kind: 'GOODWILL',
      cents: gesture.cents!,
      expiresAt: plusDays(now, PROGRAM.voucherValidityDays),
      redeemed: false,
    });
    w.effects[gesture.id] = 0;
  }
  return true;
}

export function goodwillOp(world: World, p: GoodwillParams, key: string): Op {
  const memberId = world.members[p.member]!.id;
  const agent = world.agents[p.agent]!;
  const staff: Caller = { actor: { type: 'STAFF', id: agent.id }, role: 'AGENT' };
  const input = {
    memberId,
    kind: p.kind,
    points: p.kind === 'POINTS' ? p.value : null,
    amount: p.kind === 'VOUCHER' ? money(p.value) : null,
    reason: 'POOR_EXPERIENCE' as const,
    note: 'fuzzer gesture',
    idempotencyKey: key,
  };
  return {
    label: `goodwill ${agent.id} → m${p.member} ${p.kind === 'POINTS' ? `${p.value} points` : `voucher ${money(p.value)}`} [${key}]`,
    keyed: true,
    run: (system, deps) =>
      attempt(async () => {
        const result = await system.issueGoodwill(deps, input, staff);
        const voucherCode =
          p.kind === 'VOUCHER' && result.status === 'GRANTED'
            ? await voucherCodeOf(deps, { causeType: 'GESTURE', causeRef: result.gestureId })
            : null;
        return { ...result, voucherCode };
      }),
    predict: (w, now, actual) =>
      once(w, `issueGoodwill:${agent.id}`, key, p, actual, () => {
        const m = draft(w, p.member);
        if (!mayEarnOrSpend(m)) return fail('VALIDATION', 'memberId');
        settle(m, now);
        const moneyCents = p.value; // points × 0.01: a point is worth a cent
        const points = p.kind === 'POINTS' ? p.value : null;
        const within =
          moneyCents <= agent.perGestureCents &&
          (points === null || points <= agent.perGesturePoints) &&
          grantedThisMonth(w, p.agent, now) + moneyCents <= agent.monthlyBudgetCents;
        const gesture: GestureModel = {
          id: actual.ok ? String(actual.value.gestureId) : 'unknown',
          agent: p.agent,
          member: p.member,
          kind: p.kind,
          points,
          cents: p.kind === 'VOUCHER' ? p.value : null,
          moneyCents,
          status: within ? 'GRANTED' : 'PENDING_APPROVAL',
          createdAt: now,
        };
        if (within && !grantGesture(w, m, gesture, now, actual.ok ? actual.value.voucherCode : null)) {
          return fail('VALIDATION', 'points');
        }
        w.gestures.push(gesture);
        // Settled even when the gesture waits: that transaction commits.
        w.members[p.member] = m;
        return ok({ status: gesture.status });
      }),
    conflicting: () => goodwillOp(world, { ...p, value: p.value + 1 }, key),
  };
}

export function approveOp(world: World, gestureIndex: number, key: string, note: string | null = null): Op {
  const { id, kind } = world.gestures[gestureIndex]!;
  return {
    label: `approve gesture g${gestureIndex}${note ? ` (${note})` : ''} [${key}]`,
    keyed: true,
    run: (system, deps) =>
      attempt(async () => {
        const result = await system.approveGoodwill(deps, { gestureId: id, note, idempotencyKey: key }, SUPERVISOR);
        const voucherCode = kind === 'VOUCHER' ? await voucherCodeOf(deps, { causeType: 'GESTURE', causeRef: id }) : null;
        return { ...result, voucherCode };
      }),
    predict: (w, now, actual) =>
      once(w, `approveGoodwill:${id}`, key, { note }, actual, () => {
        const gesture = w.gestures.find((g) => g.id === id)!;
        if (gesture.status !== 'PENDING_APPROVAL') return fail('GOODWILL_NOT_PENDING');
        const m = draft(w, gesture.member);
        if (!mayEarnOrSpend(m)) return fail('VALIDATION', 'memberId');
        settle(m, now);
        // The gesture set the points; the approval's input names the gesture.
        if (!grantGesture(w, m, gesture, now, actual.ok ? actual.value.voucherCode : null)) return fail('VALIDATION', 'gestureId');
        gesture.status = 'GRANTED';
        gesture.decidedAt = now; // the month it is spending of (grantedThisMonth)
        w.members[gesture.member] = m;
        return ok({ gestureId: id, status: 'GRANTED' });
      }),
    conflicting: () => approveOp(world, gestureIndex, key, 'another note'),
  };
}

export function rejectOp(world: World, gestureIndex: number): Op {
  const { id } = world.gestures[gestureIndex]!;
  return {
    label: `reject gesture g${gestureIndex}`,
    keyed: false,
    run: (system, deps) => attempt(() => system.rejectGoodwill(deps, { gestureId: id, note: 'fuzzer says no' }, SUPERVISOR)),
    predict: (w) => {
      const gesture = w.gestures.find((g) => g.id === id)!;
      if (gesture.status !== 'PENDING_APPROVAL') return fail('GOODWILL_NOT_PENDING');
      gesture.status = 'REJECTED';
      return ok({ gestureId: id, status: 'REJECTED' });
    },
  };
}

// ---------------------------------------------------------------------------
// Contracts

/**
 * Why an extension at `now` is refused (the error code), or null when it is
 * accepted: a contract past its end has expired; one not within the renewal
 * window before its end is not up for renewal (so once per term).
 */
export function extensionRefusal(contract: ContractModel, now: number): string | null {
  if (contract.endsAt <= now) return 'CONTRACT_NOT_ACTIVE';
  if (now < plusDays(contract.endsAt, -PROGRAM.renewal.windowDays)) return 'CONTRACT_NOT_UP_FOR_RENEWAL';
  return null;
}

export function extendOp(world: World, member: number, termMonths: 12 | 24, key: string): Op {
  const contractId = world.contracts[member]!.id;
  return {
    label: `extend contract of m${member} by ${termMonths} months [${key}]`,
    keyed: true,
    run: (system, deps) => attempt(() => system.extendContract(deps, { contractId, termMonths, idempotencyKey: key }, BILLING)),
    predict: (w, now, actual) =>
      once(w, `extendContract:${BILLING.actor.type}:${BILLING.actor.id}`, key, { contractId, termMonths }, actual, () => {
        const contract = w.contracts[member]!;
        const refusal = extensionRefusal(contract, now);
        if (refusal) return fail(refusal);
        if (!mayReceive(w.members[member]!)) return fail('VALIDATION', 'contractId');
        contract.renewals += 1;
        contract.endsAt = plusMonths(contract.endsAt, termMonths);
        w.renewals.push({
          id: actual.ok ? String(actual.value.renewalId) : 'unknown',
          member,
          sequence: contract.renewals,
          termMonths,
          granted: false,
          held: false,
          heldBecause: null,
          bonusPoints: null,
        });
        return ok({ contractId });
      }),
    conflicting: () => extendOp(world, member, termMonths === 12 ? 24 : 12, key),
  };
}

/** The renewal-bonus job of one renewal, as the worker runs it (the processor function, not BullMQ). */
export function bonusJobOp(renewalId: string, label: string): Op {
  return {
    label: `renewal-bonus job of ${label}`,
    keyed: false,
    run: (system, deps) => attempt(() => system.processRenewalBonus({ renewalId }, deps)),
    predict: (w, now) => {
      const renewal = w.renewals.find((r) => r.id === renewalId)!;
      if (renewal.granted || renewal.held) return ok({ outcome: 'ALREADY_DONE', points: 0 });
      const m = draft(w, renewal.member);
      settle(m, now);
      const points = mayReceive(m) ? renewalBonus(m.tier, renewal.termMonths, renewal.sequence - 1) : 0;
      if (!mayEarnOrSpend(m) && points > 0) {
        // Suspended: kept, not granted, until a supervisor reactivates the member (or closes them).
        renewal.held = true;
        renewal.heldBecause = 'MEMBER_SUSPENDED';
        renewal.bonusPoints = points;
        // The job's ledger frame settled the member's due lots before it held the bonus.
        w.members[renewal.member] = m;
        return ok({ outcome: 'HELD', points });
      }
      // Past the balance limit the bonus is held for a supervisor, not failed (which the relay would re-drive).
      if (!hasRoomFor(m, points)) {
        Object.assign(renewal, { held: true, heldBecause: 'BALANCE_LIMIT', bonusPoints: points });
        w.members[renewal.member] = m;
        return ok({ outcome: 'HELD', points });
      }
      if (points > 0) {
        // The bonus names who extended the contract, not the job that granted it.
        post(m, { kind: 'RENEWAL_BONUS', amount: points, available: points, at: now, actor: actorOf(BILLING), activity: true });
        addLot(m, points, now, now);
        upgrade(m, now);
      }
      renewal.granted = true;
      renewal.bonusPoints = points;
      w.members[renewal.member] = m;
      w.effects[renewalId] = points > 0 ? 1 : 0;
      return ok({ outcome: points > 0 ? 'GRANTED' : 'NOT_ELIGIBLE', points });
    },
  };
}

// ---------------------------------------------------------------------------
// Member status

/** A supervisor changes a member's status; held renewal bonuses are released or declined with it. */
export function statusOp(world: World, member: number, status: MemberStatusModel): Op {
  const memberId = world.members[member]!.id;
  return {
    label: `status of m${member} → ${status}`,
    keyed: false,
    run: (system, deps) =>
      attempt(async () => ({ status: (await system.updateMember(deps, { id: memberId, status }, SUPERVISOR)).status })),
    predict: (w) => {
      changeStatus(w, member, status);
      return ok({ status });
    },
  };
}

// ---------------------------------------------------------------------------
// Rewards and vouchers

export function rewardOp(world: World, member: number, key: string): Op {
  const memberId = world.members[member]!.id;
  const rewardId = world.reward.id;
  return {
    label: `reward bought by m${member} [${key}]`,
    keyed: true,
    run: (system, deps) =>
      attempt(async () => {
        const result = await system.redeemReward(deps, { memberId, rewardId, idempotencyKey: key }, STOREFRONT);
        return { ...result, voucherCode: await voucherCodeOf(deps, { id: result.voucherId }) };
      }),
    predict: (w, now, actual) =>
      once(w, `redeemReward:${memberId}`, key, { rewardId }, actual, () => {
        const m = draft(w, member);
        if (!mayEarnOrSpend(m)) return fail('VALIDATION', 'memberId');
        settle(m, now);
        const { pointsCost, voucherCents } = w.reward;
        if (w.reward.stock === 0) return fail('REWARD_UNAVAILABLE', 'OUT_OF_STOCK');
        if (m.available < pointsCost) return fail('INSUFFICIENT_POINTS', `available ${m.available}`);
        w.reward.stock -= 1;
        takeLots(m, pointsCost, now);
        post(m, { kind: 'REDEEM', amount: -pointsCost, available: -pointsCost, at: now, actor: actorOf(STOREFRONT), activity: true });
        w.vouchers.push({
          code: actual.ok ? String(actual.value.voucherCode) : 'unknown',
          member,
          kind: 'REWARD',
          cents: voucherCents,
          expiresAt: plusDays(now, PROGRAM.voucherValidityDays),
          redeemed: false,
        });
        w.members[member] = m;
        w.effects[key] = 1;
        return ok({ points: -pointsCost });
      }),
  };
}

export function redeemVoucherOp(world: World, voucherIndex: number, asMember: number, cents: number, key: string): Op {
  const { code, member: owner } = world.vouchers[voucherIndex]!;
  const memberId = world.members[asMember]!.id;
  const orderRef = `voucher-order-${key}`;
  return {
    label: `voucher v${voucherIndex} (of m${owner}) redeemed for m${asMember} on ${money(cents)} [${key}]`,
    keyed: true,
    run: (system, deps) =>
      attempt(() => system.redeemVoucher(deps, { code, orderRef, orderTotal: money(cents), memberId, idempotencyKey: key }, STOREFRONT)),
    predict: (w, now, actual) =>
      once(w, `redeemVoucher:${code}`, key, { orderRef, cents, memberId }, actual, () => {
        const voucher = w.vouchers.find((v) => v.code === code)!;
        if (asMember !== voucher.member) return fail('VOUCHER_NOT_REDEEMABLE', 'WRONG_MEMBER');
        const status = voucherStatus(voucher, now);
        if (status !== 'ISSUED') return fail('VOUCHER_NOT_REDEEMABLE', status);
        voucher.redeemed = true;
        // The redemption names an order of the voucher's member: a cancel or a full return gives the voucher back.
        const order = newOrder(orderRef);
        order.vouchers.push(code);
        w.members[owner]!.orders.push(order);
        markActivity(w.members[owner]!, now); // paying with a voucher is a purchase
        return ok({ discount: money(Math.min(voucher.cents, cents)) });
      }),
    conflicting: () => redeemVoucherOp(world, voucherIndex, asMember, cents + 1, key),
  };
}

// ---------------------------------------------------------------------------
// Maintenance

/** One run of the maintenance job: settle every member with due lots, review tiers, mark passive members. */
export function maintenanceOp(): Op {
  return {
    label: 'maintenance',
    keyed: false,
    run: (system, deps) => attempt(() => system.processMaintenance(deps)),
    predict: (w, now) => {
      let membersSettled = 0;
      for (const m of w.members) {
        if (settlementDue(m, now)) membersSettled += 1;
        settle(m, now);
      }
      const review = { membersReviewed: 0, membersDowngraded: 0, membersRetained: 0, membersProtected: 0 };
      for (const m of w.members) {
        const outcome = reviewTier(m, now);
        if (outcome === null) continue;
        review.membersReviewed += 1;
        if (outcome === 'DOWNGRADE') review.membersDowngraded += 1;
        else review.membersRetained += 1;
      }
      let membersMarkedPassive = 0;
      for (const m of w.members) if (markPassive(m, now)) membersMarkedPassive += 1;
      // The job works on every member in the database, other runs' too: this run's are a lower bound.
      return {
        ok: true,
        answer: {},
        atLeast: {
          membersSettled,
          membersMarkedPassive,
          'tierReview.membersReviewed': review.membersReviewed,
          'tierReview.membersDowngraded': review.membersDowngraded,
          'tierReview.membersRetained': review.membersRetained,
        },
      };
    },
  };
}
