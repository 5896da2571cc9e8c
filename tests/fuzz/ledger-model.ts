import { addDays, addMonths } from '../../src/domain/time.js';

/**
 * An in-memory model of the members' points, written from DESIGN.md and the
 * default program, not from the services: what the ledger fuzzer expects the
 * database to hold after every step. Times are epoch milliseconds, so that a
 * world clones with `structuredClone` and compares with `===`.
 */

export const TIERS = ['BRONZE', 'SILVER', 'GOLD', 'PLATINUM'] as const;
export type TierName = (typeof TIERS)[number];

/** The default program (program-settings.ts), restated: the model does not borrow the rules it checks. */
export const PROGRAM = {
  returnWindowDays: 14,
  pointExpiryMonths: 24,
  passiveAfterMonths: 12,
  tierQualifyingMonths: 12,
  tierReviewMonths: 12,
  voucherValidityDays: 90,
  threshold: { BRONZE: 0, SILVER: 1000, GOLD: 5000, PLATINUM: 15000 } satisfies Record<TierName, number>,
  /** Earn multipliers in percent, so that points stay integer arithmetic. */
  multiplierPercent: { BRONZE: 100, SILVER: 125, GOLD: 150, PLATINUM: 200 } satisfies Record<TierName, number>,
  renewal: { pointsPer12Months: 500, consecutivePercent: 10, capPercent: 50, windowDays: 90 },
} as const;

/** The most a balance (available + pending) can hold: a PostgreSQL integer. */
export const MAX_POINTS = 2_147_483_647;

/** The most lifetime points can hold: a bigint held to 2^53 − 1, exact in a JSON number (lifetime-points.ts). */
export const MAX_LIFETIME_POINTS = Number.MAX_SAFE_INTEGER;

/** Whether granting `points` keeps the member's balance within `MAX_POINTS` and lifetime points within theirs. */
export function hasRoomFor(member: MemberModel, points: number): boolean {
  return points <= 0 || (member.available + member.pending + points <= MAX_POINTS && member.lifetime + points <= MAX_LIFETIME_POINTS);
}

/** Entry kinds that count towards a tier (tiers.service.ts `QUALIFYING_KINDS`). */
const QUALIFYING = new Set(['EARN', 'REVERSAL', 'RENEWAL_BONUS']);

export interface LotModel {
  /** When the lot was created: unique per member, since every fuzzer operation has its own instant. */
  createdAt: number;
  points: number;
  remaining: number;
  availableAt: number;
  expiresAt: number;
  released: boolean;
  expired: boolean;
  /** What the lot lost to its expiry (its EXPIRE entry); 0 while it has not expired. */
  lost: number;
}

export interface EntryModel {
  kind: string;
  amount: number;
  at: number;
  /** `TYPE:id` of who caused it. */
  actor: string;
}

/** The actor of what the system does by itself (expiry). */
export const SYSTEM = 'SYSTEM:treue';

export interface OrderLineModel {
  sku: string;
  quantity: number;
  returned: number;
  /** The line's part of the order total (prorated), in cents. */
  shareCents: number;
}

export interface OrderModel {
  ref: string;
  /** Null until the order earns (a redemption or a voucher may create it first). */
  totalCents: number | null;
  refundedCents: number;
  earned: boolean;
  cancelled: boolean;
  pointsEarned: number;
  pointsReversed: number;
  pointsRedeemed: number;
  pointsRestored: number;
  /** The `createdAt` of the order's lot; null when it earned nothing. */
  lot: number | null;
  lines: OrderLineModel[];
  /** Codes of the vouchers redeemed on it and not rolled back. */
  vouchers: string[];
}

/**
 * Whether the order takes nothing more (docs/orders.md): cancelled, or returned in full — every line's items back,
 * or (an order that paid something) its whole total refunded.
 */
export function orderIsFinal(order: OrderModel): boolean {
  if (order.cancelled) return true;
  if (order.totalCents !== null && order.totalCents > 0 && order.refundedCents === order.totalCents) return true;
  return order.lines.length > 0 && order.lines.every((line) => line.returned === line.quantity);
}

/** An order that a redemption or a voucher names first: nothing earned, no total. */
export function newOrder(ref: string): OrderModel {
  return {
    ref,
    totalCents: null,
    refundedCents: 0,
    earned: false,
    cancelled: false,
    pointsEarned: 0,
    pointsReversed: 0,
    pointsRedeemed: 0,
    pointsRestored: 0,
    lot: null,
    lines: [],
    vouchers: [],
  };
}

/**
 * `total` split over lines in proportion to their amounts (by quantities when all are 0), to the
 * cent, by the largest remainder, ties to the earlier line (docs/orders.md), restated in integers.
 */
export function prorateCents(totalCents: number, amounts: readonly number[], quantities: readonly number[]): number[] {
  const basis = amounts.some((a) => a > 0) ? amounts : quantities;
  const sum = basis.reduce((a, b) => a + b, 0);
  const exact = basis.map((part) => ({ floor: Math.floor((totalCents * part) / sum), remainder: (totalCents * part) % sum }));
  const shares = exact.map((e) => e.floor);
  let left = totalCents - shares.reduce((a, b) => a + b, 0);
  const order = exact.map((e, index) => ({ index, remainder: e.remainder })).sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left <= 0) break;
    shares[index]! += 1;
    left -= 1;
  }
  return shares;
}

/** What `returned` of a line's units are worth, cumulative: the share × returned ÷ quantity, rounded down to the cent. */
export const returnedLineCents = (line: OrderLineModel, returned: number): number =>
  returned >= line.quantity ? line.shareCents : Math.floor((line.shareCents * returned) / line.quantity);

export type MemberStatusModel = 'ACTIVE' | 'PASSIVE' | 'SUSPENDED' | 'CLOSED';

export interface MemberModel {
  id: string;
  status: MemberStatusModel;
  tier: TierName;
  tierSince: number;
  lastActivityAt: number;
  available: number;
  pending: number;
  lifetime: number;
  lots: LotModel[];
  entries: EntryModel[];
  orders: OrderModel[];
}

export interface ContractModel {
  id: string;
  endsAt: number;
  renewals: number;
}

export interface RenewalModel {
  id: string;
  member: number;
  sequence: number;
  termMonths: number;
  /** Decided: granted, or no points (bonusPoints 0). */
  granted: boolean;
  /**
   * Held when its job ran (bonusPoints: what the policy computed then): the member was suspended, or the
   * points would take their balance past MAX_POINTS. Only the first goes back to pending when the suspension ends.
   */
  held: boolean;
  heldBecause: 'MEMBER_SUSPENDED' | 'BALANCE_LIMIT' | null;
  bonusPoints: number | null;
}

export interface AgentModel {
  id: string;
  perGestureCents: number;
  perGesturePoints: number;
  monthlyBudgetCents: number;
}

export interface GestureModel {
  id: string;
  agent: number;
  member: number;
  kind: 'POINTS' | 'VOUCHER';
  points: number | null;
  cents: number | null;
  moneyCents: number;
  status: 'GRANTED' | 'PENDING_APPROVAL' | 'REJECTED';
  createdAt: number;
  /** When a supervisor approved or rejected it; absent for a gesture granted at once. */
  decidedAt?: number;
}

export interface VoucherModel {
  code: string;
  member: number;
  kind: 'GOODWILL' | 'REWARD';
  cents: number;
  expiresAt: number;
  redeemed: boolean;
}

export interface World {
  members: MemberModel[];
  contracts: ContractModel[];
  renewals: RenewalModel[];
  agents: AgentModel[];
  gestures: GestureModel[];
  vouchers: VoucherModel[];
  reward: { id: string; pointsCost: number; voucherCents: number; stock: number };
  /** Idempotency records by `scope|key`: the request (as JSON) and the first answer. */
  records: Record<string, { request: string; answer: Record<string, unknown> }>;
  /**
   * Ledger entries each request key (or gesture, renewal id) must have caused:
   * 1 when it moved points, 0 when it did not. The database must agree, whatever
   * was retried or raced.
   */
  effects: Record<string, number>;
}

export const ms = (date: Date): number => date.getTime();
export const plusDays = (at: number, days: number): number => ms(addDays(new Date(at), days));
export const plusMonths = (at: number, months: number): number => ms(addMonths(new Date(at), months));

export const cloneWorld = (world: World): World => structuredClone(world);

/** Releases lots whose return window has passed, then expires lots past their date (ledger.ts `settleMember`). */
export function settle(member: MemberModel, now: number): void {
  for (const lot of member.lots) {
    if (!lot.released && !lot.expired && lot.availableAt <= now) {
      lot.released = true;
      member.available += lot.remaining;
      member.pending -= lot.remaining;
    }
  }
  // Earliest expiry first, then the older lot: the order the kernel writes the EXPIRE entries in.
  const expiring = member.lots.filter((lot) => !lot.expired && lot.expiresAt <= now);
  for (const lot of expiring.sort((a, b) => a.expiresAt - b.expiresAt || a.createdAt - b.createdAt)) {
    const left = lot.remaining;
    lot.expired = true;
    lot.lost = left;
    lot.remaining = 0;
    if (left > 0) post(member, { kind: 'EXPIRE', amount: -left, available: lot.released ? -left : 0, at: now, actor: SYSTEM });
  }
}

/** Whether anything of the member is due to be released or expired at `now`. */
export function settlementDue(member: MemberModel, now: number): boolean {
  return member.lots.some((lot) => !lot.expired && ((!lot.released && lot.availableAt <= now) || lot.expiresAt <= now));
}

/**
 * Takes up to `points` from the lots: the lot created at `first` (pending or
 * available) first, then available lots soonest expiry first, then oldest.
 */
export function takeLots(member: MemberModel, points: number, now: number, first: number | null = null) {
  const candidates = member.lots
    .filter((lot) => lot.remaining > 0 && !lot.expired && (lot.createdAt === first || (lot.released && lot.expiresAt > now)))
    .sort(
      (a, b) => Number(b.createdAt === first) - Number(a.createdAt === first) || a.expiresAt - b.expiresAt || a.createdAt - b.createdAt,
    );
  const taken = { fromAvailable: 0, fromPending: 0 };
  let left = points;
  for (const lot of candidates) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    lot.remaining -= take;
    if (lot.released) taken.fromAvailable += take;
    else taken.fromPending += take;
    left -= take;
  }
  return taken;
}

/**
 * Appends an entry and moves the balances; `available` of `amount` is available, the rest pending. The entry is
 * dated at `at`, or 1 ms after the member's latest entry when that one is dated at or after it (ledger.ts
 * `entryDateSql`): the entries of one operation, and of a race's second, follow the one before them.
 */
export function post(
  member: MemberModel,
  entry: { kind: string; amount: number; available: number; at: number; actor: string; activity?: boolean },
): void {
  const latest = member.entries.at(-1)?.at ?? -Infinity;
  member.entries.push({ kind: entry.kind, amount: entry.amount, at: Math.max(entry.at, latest + 1), actor: entry.actor });
  member.available += entry.available;
  member.pending += entry.amount - entry.available;
  member.lifetime += Math.max(entry.amount, 0);
  if (entry.activity) markActivity(member, entry.at);
}

/**
 * The member's activity at `at` (an activity entry, an order that earns nothing, a voucher paid with): the latest
 * activity counts, whichever operation commits last; a PASSIVE member is ACTIVE again.
 */
export function markActivity(member: MemberModel, at: number): void {
  member.lastActivityAt = Math.max(member.lastActivityAt, at);
  if (member.status === 'PASSIVE') member.status = 'ACTIVE';
}

/** A lot of newly granted points, pending until `availableAt`, expiring after the program's expiry period. */
export function addLot(member: MemberModel, points: number, now: number, availableAt: number): void {
  member.lots.push({
    createdAt: now,
    points,
    remaining: points,
    availableAt,
    expiresAt: plusMonths(now, PROGRAM.pointExpiryMonths),
    released: availableAt <= now,
    expired: false,
    lost: 0,
  });
}

/** Points an order total earns at a tier: total × 1 point per unit × multiplier, rounded down. */
export function orderPoints(totalCents: number, tier: TierName): number {
  return Math.floor((totalCents * PROGRAM.multiplierPercent[tier]) / 10_000);
}

/** 500 points per 12 months of term × tier multiplier × (1 + 10 % per earlier renewal, at most 50 %), rounded down. */
export function renewalBonus(tier: TierName, termMonths: number, earlierRenewals: number): number {
  const { pointsPer12Months, consecutivePercent, capPercent } = PROGRAM.renewal;
  const extra = Math.min(consecutivePercent * earlierRenewals, capPercent);
  return Math.floor((pointsPer12Months * termMonths * PROGRAM.multiplierPercent[tier] * (100 + extra)) / (12 * 100 * 100));
}

/**
 * Sum of EARN, REVERSAL and RENEWAL_BONUS entries in the 12 months before `now`, never below 0, for a decision under
 * the member's lock (an upgrade, a review): entries dated after `now` count too (tiers.service.ts
 * `lockedQualifyingPoints`), as one of the same operation dated 1 ms after the expiry it settled first.
 */
export function qualifyingPoints(member: MemberModel, now: number): number {
  const since = plusMonths(now, -PROGRAM.tierQualifyingMonths);
  const sum = member.entries
    .filter((entry) => QUALIFYING.has(entry.kind) && entry.at > since)
    .reduce((total, entry) => total + entry.amount, 0);
  return Math.max(sum, 0);
}

export function tierFor(points: number): TierName {
  let reached: TierName = 'BRONZE';
  for (const tier of TIERS) if (points >= PROGRAM.threshold[tier]) reached = tier;
  return reached;
}

const rank = (tier: TierName) => TIERS.indexOf(tier);

/** Upgrade at once when the qualifying points reach a higher tier. */
export function upgrade(member: MemberModel, now: number): void {
  const reached = tierFor(qualifyingPoints(member, now));
  if (rank(reached) > rank(member.tier)) {
    member.tier = reached;
    member.tierSince = now;
  }
}

/** The anniversary review: kept with enough points, else one level down; either way the next review is a year on. */
export function reviewTier(member: MemberModel, now: number): 'RETAINED' | 'DOWNGRADE' | null {
  if (member.tier === 'BRONZE' || plusMonths(member.tierSince, PROGRAM.tierReviewMonths) > now) return null;
  const kept = qualifyingPoints(member, now) >= PROGRAM.threshold[member.tier];
  if (!kept) member.tier = TIERS[rank(member.tier) - 1]!;
  member.tierSince = now;
  return kept ? 'RETAINED' : 'DOWNGRADE';
}

/**
 * What a member's status lets through, as DESIGN.md says it (written out here,
 * not taken from the code): a SUSPENDED member neither earns nor spends nor
 * receives goodwill, and their renewal bonus is held; a CLOSED member receives
 * nothing (no credit, no extension, no bonus); debits that correct the ledger
 * (refunds, an admin's debit) go through whatever the status.
 */
export const mayEarnOrSpend = (member: MemberModel) => member.status !== 'SUSPENDED' && member.status !== 'CLOSED';
export const mayReceive = (member: MemberModel) => member.status !== 'CLOSED';

/**
 * A supervisor's status change: leaving SUSPENDED for ACTIVE or PASSIVE puts
 * the member's renewal bonuses held because of the suspension back to pending
 * (their jobs grant them, computed again; one held at the balance limit stays
 * held); entering CLOSED declines every held one (no points).
 */
export function changeStatus(world: World, member: number, to: MemberStatusModel): void {
  const m = world.members[member]!;
  const from = m.status;
  m.status = to;
  if (from === to) return;
  for (const renewal of world.renewals.filter((r) => r.member === member && r.held)) {
    if (to === 'CLOSED') Object.assign(renewal, { held: false, heldBecause: null, granted: true, bonusPoints: 0 });
    else if (from === 'SUSPENDED' && renewal.heldBecause === 'MEMBER_SUSPENDED')
      Object.assign(renewal, { held: false, heldBecause: null, bonusPoints: null });
  }
}

/** No activity for the program's passive period: PASSIVE. */
export function markPassive(member: MemberModel, now: number): boolean {
  if (member.status !== 'ACTIVE' || member.lastActivityAt >= plusMonths(now, -PROGRAM.passiveAfterMonths)) return false;
  member.status = 'PASSIVE';
  return true;
}

/** A voucher's status as a reader sees it at `now`. */
export function voucherStatus(voucher: VoucherModel, now: number): 'ISSUED' | 'REDEEMED' | 'EXPIRED' {
  if (voucher.redeemed) return 'REDEEMED';
  return voucher.expiresAt <= now ? 'EXPIRED' : 'ISSUED';
}

/** Money an agent's gestures granted in the calendar month (UTC) of `now` are worth: at once, or when approved. */
export function grantedThisMonth(world: World, agent: number, now: number): number {
  const date = new Date(now);
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
  const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  return world.gestures
    .filter(
      (g) => g.agent === agent && g.status === 'GRANTED' && (g.decidedAt ?? g.createdAt) >= start && (g.decidedAt ?? g.createdAt) < end,
    )
    .reduce((total, g) => total + g.moneyCents, 0);
}

/** Upcoming expiries as `upcomingExpiries` lists them: per UTC day, the earliest instant and the points left. */
export function upcomingExpiries(member: MemberModel): { expiresAt: number; points: number }[] {
  const byDay = new Map<number, { expiresAt: number; points: number }>();
  for (const lot of member.lots) {
    if (lot.expired || lot.remaining === 0) continue;
    const day = Math.floor(lot.expiresAt / 86_400_000);
    const group = byDay.get(day) ?? { expiresAt: lot.expiresAt, points: 0 };
    group.expiresAt = Math.min(group.expiresAt, lot.expiresAt);
    group.points += lot.remaining;
    byDay.set(day, group);
  }
  return [...byDay.entries()].sort(([a], [b]) => a - b).map(([, group]) => group);
}

export function newMember(id: string, now: number): MemberModel {
  return {
    id,
    status: 'ACTIVE',
    tier: 'BRONZE',
    tierSince: now,
    lastActivityAt: now,
    available: 0,
    pending: 0,
    lifetime: 0,
    lots: [],
    entries: [],
    orders: [],
  };
}
