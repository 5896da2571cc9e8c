import type { Actor } from '../../auth/principal.js';
import { refusalOf, refusalSql, slotSentinels, StatementTemplate, type RawSql } from '../../db/sql.js';
import { Prisma, type CauseType, type LedgerEntryKind, type Member } from '../../generated/prisma/client.js';
import type { PostedPoints } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { MAX_POINTS } from '../validation.js';
import { MAX_LIFETIME_POINTS } from './lifetime-points.js';
import { MEMBER_COLUMNS } from '../members/member-row.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { addMonths } from '../time.js';
import type { OrderLine } from '../orders/order-lines.js';
import { eventRowsJson, eventRowsOfJson, webhookEventsCte, type WebhookEventInput } from '../webhooks/webhook-events.js';
import { storedAnswerSql, type StoredAnswer } from '../idempotency.js';
import { currentTraceparent } from '../../telemetry/trace-context.js';

/** The key of a lot's EXPIRE entry is this and the lot's id: one entry per lot, whoever settles it. */
const EXPIRE_KEY = 'expire:';

/**
 * The points the lot `lot` of member `member` lost to its expiry (its EXPIRE entry), 0 while it has not expired or
 * for no lot: a select-list expression, by the ledger's (member, idempotency key) index. A take-back of what a lot
 * granted (an order's return, a bonus's claw-back) leaves that part out: the expiry took it already.
 */
export function lotExpiredPointsSql(member: Prisma.Sql, lot: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`COALESCE((SELECT -x.amount FROM ledger_entries x
    WHERE x.member_id = ${member} AND x.idempotency_key = ${EXPIRE_KEY} || ${lot}::text), 0)::int`;
}
/** A member row locked for the rest of the transaction: all point changes of one member are serialised. */
export interface LockedMember {
  id: string;
  status: 'ACTIVE' | 'PASSIVE' | 'SUSPENDED' | 'CLOSED';
  tier: string; // a TierKey
  available: number;
  pending: number;
  /** All points ever granted: qualifying points never exceed it. Past 2^31 − 1 at times, never past MAX_LIFETIME_POINTS. */
  lifetime: number;
  /** The entries this transaction posted so far (the kernel reports them after commit). */
  posted?: PostedPoints[];
}

/**
 * A `LockedMember` as a statement reads it (`lifetime_points AS lifetime`): lifetime points as the bigint they are
 * (src/db/sql.ts), to be made a number by `pointsFromBigint`.
 */
export type LockedMemberRow = Omit<LockedMember, 'lifetime' | 'posted'> & { lifetime: bigint };

/** The member's row as the transaction sees it now, as Prisma's `Member`. */
export async function readMember(tx: RawSql, memberId: string): Promise<Member> {
  const [row] = await tx.$queryRaw<Member[]>`SELECT ${MEMBER_COLUMNS} FROM members WHERE id = ${memberId}::uuid`;
  if (!row) throw new NotFoundError('Member', memberId);
  return row;
}

/**
 * Extra data-modifying CTEs (`name AS (INSERT/UPDATE … )`) for a posting's
 * statement, so that what belongs with it (the lots it spends, the stored
 * answer of the request) costs no round trip of its own.
 */
export type SameStatementWrites = readonly Prisma.Sql[];

function withAlso(also: SameStatementWrites): Prisma.Sql {
  return also.length === 0 ? Prisma.empty : Prisma.sql`, ${Prisma.join(also, ', ')}`;
}

/**
 * Refuses (ValidationError on `field`, before anything is written) a grant of
 * `points` that would take the member's balance (available + pending: the
 * entry's balance_after, and so each of them) past what a PostgreSQL integer
 * holds, or their lifetime points (a bigint, which bounds qualifying points)
 * past MAX_LIFETIME_POINTS, the most a JSON number carries exactly. Without it
 * the database refuses the statement (22003, 23514) and the caller sees INTERNAL.
 */
export function assertRoomFor(member: LockedMember, points: number, field: string): void {
  const refusal = roomRefusal(member, points, field);
  if (refusal) throw refusal;
}

/** `assertRoomFor`'s refusal as a value (null: there is room), for a caller that decides what to refuse first. */
export function roomRefusal(member: LockedMember, points: number, field: string): ValidationError | null {
  if (points <= 0) return null;
  if (member.available + member.pending + points > MAX_POINTS) {
    return new ValidationError(field, `would take the member's points past ${MAX_POINTS}, the most a balance can hold`);
  }
  if (member.lifetime + points > MAX_LIFETIME_POINTS) {
    return new ValidationError(field, `would take the member's lifetime points past ${MAX_LIFETIME_POINTS}, the most they can hold`);
  }
  return null;
}

/** Kinds of entry that count as the member's activity: they reactivate a PASSIVE member. */
const ACTIVITY_KINDS: readonly LedgerEntryKind[] = ['EARN', 'REDEEM', 'RENEWAL_BONUS'];

/** Whether an entry of this kind is member activity (earn, redeem — reward purchases too —, renewal). */
export const countsAsActivity = (kind: LedgerEntryKind): boolean => ACTIVITY_KINDS.includes(kind);

/** When a lot granted at `now` expires: the program's expiry period later (calendar months). */
export function lotExpiryDate(settings: Pick<ProgramSettings, 'pointExpiryMonths'>, now: Date): Date {
  return addMonths(now, settings.pointExpiryMonths);
}

export interface BalanceMove {
  availableDelta: number;
  pendingDelta: number;
  /** Points granted (never negative): lifetime points only grow. */
  granted: number;
  activity: boolean;
  now: Date;
}

/**
 * The CTE (`balance`) moving a locked member's cached balances, returning the
 * row as it leaves them; activity reactivates a PASSIVE member (the one place
 * of that rule, with `moveLockedMember` for the copy in memory).
 */
export function balanceCte(memberId: string, move: BalanceMove): Prisma.Sql {
  return Prisma.sql`balance AS (
      UPDATE members SET
        available_points = available_points + ${move.availableDelta}::int,
        pending_points = pending_points + ${move.pendingDelta}::int,
        lifetime_points = lifetime_points + ${move.granted}::int,
        last_activity_at = CASE WHEN ${move.activity}::boolean THEN GREATEST(last_activity_at, ${move.now}::timestamptz)
                                ELSE last_activity_at END,
        status = CASE WHEN ${move.activity}::boolean AND status = 'PASSIVE' THEN 'ACTIVE'::"MemberStatus" ELSE status END,
        updated_at = ${move.now}::timestamptz
      WHERE id = ${memberId}::uuid
      RETURNING ${MEMBER_COLUMNS})`;
}

/**
 * The `member.status_changed` event when `balanceCte` reactivates a PASSIVE
 * member (as a CTE for the same statement), else nothing.
 */
export function reactivationEvents(member: Pick<LockedMember, 'id' | 'status'>, move: BalanceMove): Prisma.Sql[] {
  const json = reactivationEventsJson(member, move);
  return json === null ? [] : [reactivationEventsCte(json, move.now, currentTraceparent())];
}

/**
 * `reactivationEvents` for a statement built once (`StatementTemplate`): the event's rows as JSON text, a value of
 * the statement's `reactivationEventsCte`, when `balanceCte` reactivates the member; null when it does not (and
 * the statement has no such CTE).
 */
export function reactivationEventsJson(member: Pick<LockedMember, 'id' | 'status'>, move: Pick<BalanceMove, 'activity'>): string | null {
  return reactivates(member, move) ? eventRowsJson([reactivationEvent(member.id)]) : null;
}

/** The CTEs of `reactivationEvents`, writing the events of `reactivationEventsJson`'s text. */
export function reactivationEventsCte(json: string, now: Date, traceparent: string | null): Prisma.Sql {
  return webhookEventsCte(eventRowsOfJson(json), now, 'reactivated_wh', traceparent);
}

/** Whether `balanceCte` makes a PASSIVE member ACTIVE again. */
function reactivates(member: Pick<LockedMember, 'status'>, move: Pick<BalanceMove, 'activity'>): boolean {
  return move.activity && member.status === 'PASSIVE';
}

/** The `member.status_changed` event of a reactivation by activity (`reactivationEvents`). */
function reactivationEvent(memberId: string): WebhookEventInput {
  return { type: 'member.status_changed', data: { memberId, fromStatus: 'PASSIVE', toStatus: 'ACTIVE', cause: 'ACTIVITY' } };
}

/**
 * A purchase that writes no entry (an order that earns no points, a voucher
 * redeemed at checkout): no points move, but it is the member's activity, as
 * an earn is — `balanceCte` sets their last activity and reactivates a PASSIVE member.
 */
export function purchaseMove(now: Date): BalanceMove {
  return { availableDelta: 0, pendingDelta: 0, granted: 0, activity: countsAsActivity('EARN'), now };
}

/** What `balanceCte` does to the row, on the locked member in memory. */
function moveLockedMember(member: LockedMember, move: BalanceMove): void {
  member.available += move.availableDelta;
  member.pending += move.pendingDelta;
  member.lifetime += move.granted;
  if (move.activity && member.status === 'PASSIVE') member.status = 'ACTIVE';
}

export interface NewEntry {
  /** Chosen by the caller when it needs the id before the statement; else the database's. */
  id?: string;
  kind: LedgerEntryKind;
  /** Signed change of the member's balance (available + pending). */
  amount: number;
  causeType: CauseType;
  causeRef: string;
  actor: Actor;
  idempotencyKey: string;
  note?: string | null;
  /** The input field a grant past the balance limit is blamed on (`assertRoomFor`); default `points`. */
  amountField?: string;
  now: Date;
}

/**
 * The date of a new entry of the member (a select-list expression): the writer's clock, or 1 ms after the member's
 * latest entry when that one is dated at or after it. A writer reads its clock before it queues for the member's
 * lock, so one that read it first may take the lock second (behind a goodwill's agent lock, a slow request, another
 * machine's clock); and the entries of one transaction (the expiries it settles, then its own) share its clock.
 * Dated so, a member's entries in date order are in the order they were written — the order of their
 * `balance_after` chain — and no two of them share a date: the history pages by (created_at, id), the tier window
 * and the metrics count an entry on the side of a date its chain puts it. The caller holds the member lock (every
 * entry is written under it), and its statement's snapshot, taken after the lock, holds every entry before this one.
 * One probe of ledger_entries_member_history_idx (member, created_at desc), in the entry's own statement: no round
 * trip. As member_status_changes' trigger dates a status change (migration 202612191100).
 */
function entryDateSql(memberId: string, now: Date): Prisma.Sql {
  return Prisma.sql`GREATEST(${now}::timestamptz,
           (SELECT max(e.created_at) + interval '1 millisecond' FROM ledger_entries e WHERE e.member_id = ${memberId}::uuid))`;
}

/** The CTE (`entry`) appending one ledger entry whose balance after is `balanceAfter`, dated by `entryDateSql`. */
function entryCte(memberId: string, entry: NewEntry, balanceAfter: number): Prisma.Sql {
  return Prisma.sql`entry AS (
      INSERT INTO ledger_entries
        (id, member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key, note, created_at)
      VALUES
        (COALESCE(${entry.id ?? null}::uuid, uuid_v7()), ${memberId}::uuid, ${entry.kind}::"LedgerEntryKind",
         ${entry.amount}::int, ${balanceAfter}::int, ${entry.causeType}::"CauseType", ${entry.causeRef},
         ${entry.actor.type}::"ActorType", ${entry.actor.id}, ${entry.idempotencyKey}, ${entry.note ?? null},
         ${entryDateSql(memberId, entry.now)})
      RETURNING id)`;
}

export interface NewLot {
  points: number;
  /** Pending until then; available at once when it is not after `now`. */
  availableAt: Date;
  expiresAt: Date;
  now: Date;
}

/** The CTE (`lot`) creating the lot of the statement's `entry`: it holds the points until they are spent or expire. */
export function lotCte(memberId: string, lot: NewLot): Prisma.Sql {
  return lotReleasedCte(memberId, lot, releasedAtOf(lot.availableAt, lot.now));
}

/** When a lot is released as it is created: at once when it is available by `now`, else null (pending). */
function releasedAtOf(availableAt: Date, now: Date): Date | null {
  return availableAt <= now ? now : null;
}

/** `lotCte` with its release date given (`releasedAtOf`): no value of it decided here. */
function lotReleasedCte(memberId: string, lot: NewLot, releasedAt: Date | null): Prisma.Sql {
  return Prisma.sql`lot AS (
      INSERT INTO point_lots (member_id, entry_id, points, remaining, available_at, released_at, expires_at, created_at)
      SELECT ${memberId}::uuid, entry.id, ${lot.points}::int, ${lot.points}::int, ${lot.availableAt}::timestamptz,
             ${releasedAt}::timestamptz, ${lot.expiresAt}::timestamptz, ${lot.now}::timestamptz
      FROM entry
      RETURNING id)`;
}

export interface PostEntry extends NewEntry {
  availableDelta: number;
  pendingDelta: number;
  /**
   * A debit taken from the member's available lots, first-in first-out, in the
   * entry's own statement (`lotsTakenCte`, first of the statement's CTEs, so
   * that the caller's `also` may read `lots_taken`). When the lots hold less
   * than the debit, the cached balance and the lots disagree: the statement
   * itself fails (`refusalSql`) rather than guess, keeping nothing, and
   * postEntry throws.
   */
  takesFromLots?: boolean;
}

export interface PostedEntry {
  id: string;
  balanceAfter: number;
  /** The member's row as the entry left it. */
  member: Member;
}

/** The refusal of a posting whose member's lots hold less than the points it takes (their cached balance is wrong), before what they hold. */
const LOTS_SHORT = 'LOTS_SHORT:';

/**
 * Appends one immutable ledger entry and moves the member's cached balances by
 * the same amount, in the caller's transaction (which holds the member lock).
 * An entry of an activity kind (`countsAsActivity`) reactivates a PASSIVE member.
 * The CHECK constraints on `members` refuse a negative balance even if a rule
 * above were wrong; the unique (member, idempotency key) refuses a second entry.
 */
export async function postEntry(tx: RawSql, member: LockedMember, entry: PostEntry, also: SameStatementWrites = []): Promise<PostedEntry> {
  if (entry.amount !== entry.availableDelta + entry.pendingDelta) {
    throw new Error(`ledger entry amount ${entry.amount} does not match its balance deltas`);
  }
  if (entry.takesFromLots && !(entry.amount < 0 && entry.availableDelta === entry.amount)) {
    throw new Error(`ledger entry of ${entry.amount} cannot take from available lots`);
  }
  assertRoomFor(member, entry.amount, entry.amountField ?? 'points');
  const move: BalanceMove = {
    availableDelta: entry.availableDelta,
    pendingDelta: entry.pendingDelta,
    granted: Math.max(entry.amount, 0),
    activity: countsAsActivity(entry.kind),
    now: entry.now,
  };
  const balanceAfter = member.available + member.pending + entry.amount;
  // One statement (one round trip): the entry and the cached balances move together.
  const toTake = entry.takesFromLots ? -entry.amount : null;
  const lots = toTake === null ? [] : [lotsTakenCte(member.id, toTake, entry.now)];
  // Lots that hold less than the cached balance says fail the statement itself (all or nothing: it may be its
  // transaction's last, sent with COMMIT), never a JavaScript check after it.
  const taken = Prisma.sql`(SELECT COALESCE(sum(take), 0)::int FROM lots_taken)`;
  const lotsTaken =
    toTake === null
      ? Prisma.sql`NULL::boolean`
      : refusalSql(Prisma.sql`${taken} = ${toTake}::int`, Prisma.sql`${LOTS_SHORT}::text || ${taken}`);
  const posting = tx.$queryRaw<(Member & { entry_id: string; lots_taken: boolean | null })[]>`
    WITH ${entryCte(member.id, entry, balanceAfter)},
    ${balanceCte(member.id, move)}${withAlso([...lots, ...also, ...reactivationEvents(member, move)])}
    SELECT entry.id::text AS entry_id, ${lotsTaken} AS lots_taken, balance.*
    FROM entry, balance`;
  const [row] = await Promise.resolve(posting).catch((error: unknown) => {
    const refusal = refusalOf(error);
    if (!refusal?.startsWith(LOTS_SHORT)) throw error;
    throw new Error(`lots of member ${member.id} hold ${refusal.slice(LOTS_SHORT.length)} of ${toTake} points to take`, { cause: error });
  });
  if (!row) throw new Error(`member ${member.id} vanished while locked`);
  const { entry_id: id, lots_taken: _taken, ...posted } = row;
  moveLockedMember(member, move);
  member.posted?.push({ kind: entry.kind, points: entry.amount });
  return { id, balanceAfter, member: posted };
}

export interface OrderEarning {
  /** The EARN entry's id, chosen by the caller (so it can store its answer in the same statement). */
  entryId: string;
  orderRef: string;
  /** Decimal string with two places. */
  orderTotal: string;
  currency: string;
  /** The order's channel key, when the storefront gave one. */
  channel?: string | null;
  /** When the order was placed; an order new to this earn: `now` when not given. */
  placedAt?: Date | null;
  /** Its line items (none: the total-only form). */
  lines?: readonly OrderLine[];
  points: number;
  actor: Actor;
  idempotencyKey: string;
  availableAt: Date;
  expiresAt: Date;
  /** The input field a grant past the balance limit is blamed on (`assertRoomFor`); default `orderTotal`. */
  amountField?: string;
  now: Date;
}

/** The order row of an earning, as `orderEarningCte` writes it: the fields of `OrderEarning` it takes. */
type EarnedOrder = Pick<OrderEarning, 'orderRef' | 'orderTotal' | 'currency' | 'channel' | 'placedAt' | 'now'>;

/**
 * The CTE (`recorded`) writing the order of an earning: a new order, or the
 * order a redemption created first for the same (member, reference), which the
 * earning completes. An order that earned already, or was cancelled, is left
 * alone and `recorded` is empty. `lot` is the statement's lot CTE, or none;
 * `lines` the order's line items (`lineColumnsOf`), or none.
 */
function orderEarningCte(memberId: string, order: EarnedOrder, points: number, lot: boolean, lines: LineColumns | null): Prisma.Sql {
  const { now } = order;
  const placedAt = order.placedAt ?? null;
  return Prisma.sql`recorded AS (
      INSERT INTO point_orders
        (member_id, order_ref, order_total, currency, channel, placed_at, earned_at, points_earned, lot_id, created_at)
      SELECT ${memberId}::uuid, ${order.orderRef}, ${order.orderTotal}::numeric, ${order.currency}, ${order.channel ?? null},
             COALESCE(${placedAt}::timestamptz, ${now}::timestamptz), ${now}::timestamptz, ${points}::int,
             ${lot ? Prisma.sql`lot.id` : Prisma.sql`NULL::uuid`}, ${now}::timestamptz
      ${lot ? Prisma.sql`FROM lot` : Prisma.empty}
      ON CONFLICT (member_id, order_ref) DO UPDATE SET
        order_total = EXCLUDED.order_total, channel = EXCLUDED.channel,
        placed_at = COALESCE(${placedAt}::timestamptz, point_orders.placed_at), earned_at = EXCLUDED.earned_at,
        points_earned = EXCLUDED.points_earned, lot_id = EXCLUDED.lot_id
      WHERE point_orders.earned_at IS NULL AND point_orders.cancelled_at IS NULL
      RETURNING id)${lines ? linesCte(lines) : Prisma.empty}`;
}

/** Why an order's earning was refused in its statement (`refusalOf`): it was cancelled, or it had earned already. */
export const ORDER_REFUSALS = { cancelled: 'ORDER_CANCELLED', earned: 'ORDER_EARNED' } as const;

/**
 * The select-list expression refusing an earning statement whose `recorded` is empty, with the order's state read in
 * the same statement (its snapshot holds the order that made the write a no-op: the member lock serialises every
 * write to the member's orders): cancelled, else earned (the write's WHERE allows no other).
 */
function orderRecordedSql(memberId: string, orderRef: string): Prisma.Sql {
  return refusalSql(
    Prisma.sql`EXISTS (SELECT 1 FROM recorded)`,
    Prisma.sql`COALESCE((SELECT ${ORDER_REFUSALS.cancelled}::text FROM point_orders o
               WHERE o.member_id = ${memberId}::uuid AND o.order_ref = ${orderRef} AND o.cancelled_at IS NOT NULL), ${ORDER_REFUSALS.earned}::text)`,
  );
}

/** An order's line items column by column: `linesCte`'s parameters, one array each. */
interface LineColumns {
  positions: number[];
  skus: string[];
  categories: (string | null)[];
  quantities: number[];
  unitPrices: string[];
  shares: string[];
}

/** The columns of an order without lines: what an earning's values hold for a statement that writes none. */
const NO_LINES: LineColumns = { positions: [], skus: [], categories: [], quantities: [], unitPrices: [], shares: [] };

/** The columns of `lines`, or null for none (the total-only form). */
function lineColumnsOf(lines: readonly OrderLine[] | undefined): LineColumns | null {
  if (!lines || lines.length === 0) return null;
  return {
    positions: lines.map((l) => l.position),
    skus: lines.map((l) => l.sku),
    categories: lines.map((l) => l.category),
    quantities: lines.map((l) => l.quantity),
    unitPrices: lines.map((l) => l.unitPrice.toFixed(2)),
    shares: lines.map((l) => l.share.toFixed(2)),
  };
}

/** The CTE (`lines`) writing an order's line items with the statement's `recorded` order. */
function linesCte(lines: LineColumns): Prisma.Sql {
  return Prisma.sql`,
    lines AS (
      INSERT INTO order_lines (order_id, position, sku, category, quantity, unit_price, share)
      SELECT recorded.id, l.position, l.sku, l.category, l.quantity, l.unit_price, l.share
      FROM recorded, unnest(${lines.positions}::int[], ${lines.skus}::text[],
                            ${lines.categories}::text[], ${lines.quantities}::int[],
                            ${lines.unitPrices}::numeric[], ${lines.shares}::numeric[])
           AS l(position, sku, category, quantity, unit_price, share)
      RETURNING id)`;
}

/**
 * What an earning's statement writes besides its own rows: the request's answer (`RequestAnswer.forStatement`; null
 * without a request) and the events it announces (none, or webhook events written with it).
 */
export interface EarningExtras {
  answer: StoredAnswer | null;
  events: readonly WebhookEventInput[];
}

/** The extras' CTEs, in the statement's order: the answer, then the events. */
function extrasSql(
  extras: { answer: StoredAnswer | null; eventsJson: string | null },
  now: Date,
  traceparent: string | null,
): Prisma.Sql[] {
  return [
    extras.answer ? storedAnswerSql(extras.answer) : Prisma.sql`answered AS (SELECT 1)`,
    ...(extras.eventsJson === null ? [] : [webhookEventsCte(eventRowsOfJson(extras.eventsJson), now, 'earned_wh', traceparent)]),
  ];
}

/**
 * What changes between two earnings of one shape (`earningStatement`): the earning statement's values. Named as the
 * fields of the lot (`NewLot`), the order (`EarnedOrder`) and its lines (`LineColumns`) are, so that the statement's
 * builders take these values as they are.
 */
interface EarningValues extends LineColumns, Record<string, unknown> {
  memberId: string;
  entryId: string;
  points: number;
  balanceAfter: number;
  availableDelta: number;
  pendingDelta: number;
  orderRef: string;
  orderTotal: string;
  currency: string;
  channel: string | null;
  placedAt: Date | null;
  actorType: string;
  actorId: string;
  idempotencyKey: string;
  availableAt: Date;
  releasedAt: Date | null;
  expiresAt: Date;
  now: Date;
  answerScope: string;
  answerKey: string;
  answerHash: string;
  answerJson: string;
  eventsJson: string;
  reactivationJson: string;
  traceparent: string | null;
}

/** The sentinels of `EarningValues` (`StatementTemplate`). */
const EARNING_SLOTS = slotSentinels<EarningValues>({
  memberId: 'text',
  entryId: 'text',
  points: 'number',
  balanceAfter: 'number',
  availableDelta: 'number',
  pendingDelta: 'number',
  orderRef: 'text',
  orderTotal: 'text',
  currency: 'text',
  channel: 'text',
  placedAt: 'date',
  actorType: 'text',
  actorId: 'text',
  idempotencyKey: 'text',
  availableAt: 'date',
  releasedAt: 'date',
  expiresAt: 'date',
  now: 'date',
  positions: 'numbers',
  skus: 'texts',
  categories: 'texts',
  quantities: 'numbers',
  unitPrices: 'texts',
  shares: 'texts',
  answerScope: 'text',
  answerKey: 'text',
  answerHash: 'text',
  answerJson: 'text',
  eventsJson: 'text',
  reactivationJson: 'text',
  traceparent: 'text',
});

/** What an earning's statement text depends on: each part it has or not. */
interface EarningShape {
  lines: boolean;
  answer: boolean;
  events: boolean;
  reactivates: boolean;
}

/**
 * The statement of an earning of points (`postOrderEarning`), from its values: `postEntry`'s entry and balances,
 * `lotCte`, the order with its lines, the extras, the reactivation's event — the same CTEs, in the same order, that
 * each of those writes elsewhere.
 */
function earningSql(shape: EarningShape, v: EarningValues): Prisma.Sql {
  const entry: NewEntry = {
    id: v.entryId,
    kind: 'EARN',
    amount: v.points,
    causeType: 'ORDER',
    causeRef: v.orderRef,
    actor: { type: v.actorType as Actor['type'], id: v.actorId },
    idempotencyKey: v.idempotencyKey,
    now: v.now,
  };
  const move: BalanceMove = {
    availableDelta: v.availableDelta,
    pendingDelta: v.pendingDelta,
    granted: v.points,
    activity: countsAsActivity('EARN'),
    now: v.now,
  };
  const answer = shape.answer ? { scope: v.answerScope, key: v.answerKey, requestHash: v.answerHash, json: v.answerJson } : null;
  const also = [
    ...extrasSql({ answer, eventsJson: shape.events ? v.eventsJson : null }, v.now, v.traceparent),
    ...(shape.reactivates ? [reactivationEventsCte(v.reactivationJson, v.now, v.traceparent)] : []),
  ];
  return Prisma.sql`
    WITH ${entryCte(v.memberId, entry, v.balanceAfter)},
    ${lotReleasedCte(v.memberId, v, v.releasedAt)},
    ${orderEarningCte(v.memberId, v, v.points, true, shape.lines ? v : null)},
    ${balanceCte(v.memberId, move)}${withAlso(also)}
    SELECT entry.id::text AS entry_id, lot.id::text AS lot_id, ${orderRecordedSql(v.memberId, v.orderRef)} AS recorded, balance.*
    FROM entry, lot, balance`;
}

/**
 * The earning statement of each shape, built once (16 at most): an earn assembles no SQL and sends the same prepared
 * statement as the last earn of its shape.
 */
const earningStatements = new Map<string, StatementTemplate<EarningValues>>();

function earningStatement(shape: EarningShape): StatementTemplate<EarningValues> {
  const key = `${shape.lines ? 'l' : '-'}${shape.answer ? 'a' : '-'}${shape.events ? 'e' : '-'}${shape.reactivates ? 'r' : '-'}`;
  let template = earningStatements.get(key);
  if (!template) {
    template = new StatementTemplate((slots) => earningSql(shape, slots), EARNING_SLOTS);
    earningStatements.set(key, template);
  }
  return template;
}

/**
 * What an order earns, in one statement: the EARN entry, its lot, the order
 * (refunds reverse from it) with its line items, and the member's cached
 * balances — `postEntry`'s entry and balances, `lotCte` and the order row
 * together — with the request's answer and the events (`extras`). One earning per order (unique member + reference, and the order's
 * `earned_at`): when it had already earned or was cancelled the statement
 * fails with that refusal (`ORDER_REFUSALS`, read by `refusalOf`), and nothing
 * of it is kept — all or nothing, so it may be its transaction's last, sent
 * with COMMIT (`lastStatement`). An order created first by a redemption is completed, not
 * duplicated. `points` = 0 writes the order without an entry or a lot, and
 * counts as the member's activity all the same (a purchase). Either way the
 * statement returns the member's row as it leaves it (`member`). An earning of points sends a statement built once
 * per shape (`earningStatement`).
 */
export async function postOrderEarning(
  tx: RawSql,
  member: LockedMember,
  earning: OrderEarning,
  extras: EarningExtras,
): Promise<{ entryId: string | null; lotId: string | null; member: Member }> {
  const { points, now } = earning;
  const traceparent = currentTraceparent();
  const eventsJson = extras.events.length === 0 ? null : eventRowsJson(extras.events);
  if (points === 0) {
    // A purchase all the same: the member's activity, as an earn's (a PASSIVE member is ACTIVE again).
    const purchase = purchaseMove(now);
    const also = [...extrasSql({ answer: extras.answer, eventsJson }, now, traceparent), ...reactivationEvents(member, purchase)];
    const [row] = await tx.$queryRaw<(Member & { recorded: boolean })[]>`
      WITH ${orderEarningCte(member.id, earning, 0, false, lineColumnsOf(earning.lines))},
      ${balanceCte(member.id, purchase)}${withAlso(also)}
      SELECT ${orderRecordedSql(member.id, earning.orderRef)} AS recorded, balance.* FROM balance`;
    if (!row) throw new Error(`member ${member.id} vanished while locked`);
    moveLockedMember(member, purchase);
    const { recorded: _recorded, ...posted } = row;
    return { entryId: null, lotId: null, member: posted };
  }
  assertRoomFor(member, points, earning.amountField ?? 'orderTotal');
  const pending = earning.availableAt > now;
  const move: BalanceMove = {
    availableDelta: pending ? 0 : points,
    pendingDelta: pending ? points : 0,
    granted: points,
    activity: countsAsActivity('EARN'),
    now,
  };
  const lines = lineColumnsOf(earning.lines);
  const { answer } = extras;
  const reactivationJson = reactivationEventsJson(member, move);
  const statement = earningStatement({
    lines: lines !== null,
    answer: answer !== null,
    events: eventsJson !== null,
    reactivates: reactivationJson !== null,
  });
  const values: EarningValues = {
    memberId: member.id,
    entryId: earning.entryId,
    points,
    balanceAfter: member.available + member.pending + points,
    availableDelta: move.availableDelta,
    pendingDelta: move.pendingDelta,
    orderRef: earning.orderRef,
    orderTotal: earning.orderTotal,
    currency: earning.currency,
    channel: earning.channel ?? null,
    placedAt: earning.placedAt ?? null,
    actorType: earning.actor.type,
    actorId: earning.actor.id,
    idempotencyKey: earning.idempotencyKey,
    availableAt: earning.availableAt,
    releasedAt: releasedAtOf(earning.availableAt, now),
    expiresAt: earning.expiresAt,
    now,
    ...(lines ?? NO_LINES),
    answerScope: answer?.scope ?? '',
    answerKey: answer?.key ?? '',
    answerHash: answer?.requestHash ?? '',
    answerJson: answer?.json ?? '',
    eventsJson: eventsJson ?? '',
    reactivationJson: reactivationJson ?? '',
    traceparent,
  };
  const [row] = await tx.$queryRaw<(Member & { entry_id: string; lot_id: string; recorded: boolean })[]>(
    statement.strings,
    ...statement.values(values),
  );
  if (!row) throw new Error(`member ${member.id} vanished while locked`);
  moveLockedMember(member, move);
  member.posted?.push({ kind: 'EARN', points });
  const { entry_id: entryId, lot_id: lotId, recorded: _recorded, ...posted } = row;
  return { entryId, lotId, member: posted };
}

export interface Consumption {
  fromAvailable: number;
  fromPending: number;
}

/**
 * The CTE (`lots_taken`) taking up to `points` from the member's lots: first the
 * lot named `firstLotId` (pending or available), then available lots first-in
 * first-out (soonest expiry first). It returns what it took of each lot
 * (`take`, `released`, `expires_at`). No lot is locked first: the caller holds
 * the member lock, under which every change of a lot's points is made (the
 * ledger kernel), and its statement's snapshot is taken after it; the CHECK on
 * `remaining` is the last line of defence.
 */
function lotsTakenCte(memberId: string, points: number, now: Date, firstLotId: string | null = null): Prisma.Sql {
  return Prisma.sql`lots_taken AS (
      UPDATE point_lots AS l SET remaining = l.remaining - t.take
      FROM (
        SELECT id, released, expires_at, LEAST(remaining, ${points}::int - (upto - remaining))::int AS take
        FROM (
          SELECT id, remaining, released_at IS NOT NULL AS released, expires_at,
                 sum(remaining) OVER (ORDER BY (id = ${firstLotId}::uuid) IS TRUE DESC, expires_at, created_at, id) AS upto
          FROM point_lots
          WHERE member_id = ${memberId}::uuid AND remaining > 0 AND expired_at IS NULL
            AND (id = ${firstLotId}::uuid OR (released_at IS NOT NULL AND expires_at > ${now}::timestamptz))) AS ordered
        WHERE upto - remaining < ${points}::int) AS t
      WHERE l.id = t.id
      RETURNING t.take, t.released, t.expires_at)`;
}

/**
 * Takes up to `points` from the member's lots (`lotsTakenCte`) in one
 * statement; returns how much came from available and pending points.
 */
export async function consumeLots(
  tx: RawSql,
  memberId: string,
  points: number,
  now: Date,
  firstLotId?: string | null,
): Promise<Consumption> {
  const [row] = await tx.$queryRaw<{ from_available: number; from_pending: number }[]>`
    WITH ${lotsTakenCte(memberId, points, now, firstLotId)}
    SELECT COALESCE(sum(take) FILTER (WHERE released), 0)::int AS from_available,
           COALESCE(sum(take) FILTER (WHERE NOT released), 0)::int AS from_pending
    FROM lots_taken`;
  return { fromAvailable: row!.from_available, fromPending: row!.from_pending };
}

/**
 * A lot whose return window has passed and that is not released yet, on the
 * point_lots row aliased `lot`. Served by the index point_lots_pending_available_at_idx
 * (its condition implied): keep them in step (tests/points/due-lots.test.ts).
 */
export function lotToRelease(lot: string, now: Date): Prisma.Sql {
  const l = Prisma.raw(lot);
  return Prisma.sql`(${l}.released_at IS NULL AND ${l}.expired_at IS NULL AND ${l}.available_at <= ${now}::timestamptz)`;
}

/** A lot past its expiry date and not expired yet. Served by the index point_lots_open_expires_at_idx. */
export function lotToExpire(lot: string, now: Date): Prisma.Sql {
  const l = Prisma.raw(lot);
  return Prisma.sql`(${l}.expired_at IS NULL AND ${l}.expires_at <= ${now}::timestamptz)`;
}

/**
 * A lot due to be settled: to release or to expire. The one definition of "due"; the SQL function
 * member_has_due_lots (migration 202612121000) states it again for one member, in a fresh snapshot
 * (tests/points/due-lots.test.ts checks that the two agree).
 */
export function lotIsDue(lot: string, now: Date): Prisma.Sql {
  return Prisma.sql`(${lotToRelease(lot, now)} OR ${lotToExpire(lot, now)})`;
}

/**
 * Whether the member (`member`: a uuid expression) has a lot due, as committed when the statement reaches
 * the call: for a statement that locks the member first, whose own snapshot is older than the lock. Two
 * ranges of the member's lots (migration 202612271000): it reads the lots it finds due, not each open one.
 */
export function memberHasDueLotsSql(member: Prisma.Sql, now: Date): Prisma.Sql {
  return Prisma.sql`member_has_due_lots(${member}, ${now}::timestamptz)`;
}

/**
 * Brings a locked member's lots up to date: releases points whose return window
 * has passed and expires lots past their expiry date (one EXPIRE entry per lot,
 * keyed by the lot, so a repeated settle is a no-op), in the order they would
 * have been spent — earliest expiry first, then the older lot — so that the
 * entries' dates (each after the member's latest) do not follow the rows'
 * physical order. The maintenance worker
 * calls this for every member with due lots; point operations call it first so
 * they never depend on the worker's timing.
 */
export async function settleDueLots(
  tx: RawSql,
  member: LockedMember,
  now: Date,
  actor: Actor,
): Promise<{ releasedPoints: number; expiredPoints: number }> {
  const released = await tx.$queryRaw<{ total: number | null }[]>`
    WITH due AS (
      UPDATE point_lots SET released_at = ${now}
      WHERE member_id = ${member.id}::uuid AND ${lotToRelease('point_lots', now)}
      RETURNING remaining)
    SELECT COALESCE(SUM(remaining), 0)::int AS total FROM due`;
  const releasedPoints = released[0]?.total ?? 0;
  if (releasedPoints > 0) {
    await tx.$executeRaw`
      UPDATE members SET available_points = available_points + ${releasedPoints},
                         pending_points = pending_points - ${releasedPoints}
      WHERE id = ${member.id}::uuid`;
    member.available += releasedPoints;
    member.pending -= releasedPoints;
  }

  const expiring = await tx.$queryRaw<{ id: string; remaining: number; released: boolean }[]>`
    WITH expired AS (
      UPDATE point_lots AS l SET expired_at = ${now}, remaining = 0
      FROM (SELECT id, remaining FROM point_lots
            WHERE member_id = ${member.id}::uuid AND ${lotToExpire('point_lots', now)}
            FOR UPDATE) AS old
      WHERE l.id = old.id
      RETURNING l.id, old.remaining, l.released_at IS NOT NULL AS released, l.expires_at, l.created_at)
    SELECT id::text, remaining, released FROM expired ORDER BY expires_at, created_at, id`;
  let expiredPoints = 0;
  for (const lot of expiring) {
    if (lot.remaining === 0) continue;
    expiredPoints += lot.remaining;
    await postEntry(tx, member, {
      kind: 'EXPIRE',
      amount: -lot.remaining,
      availableDelta: lot.released ? -lot.remaining : 0,
      pendingDelta: lot.released ? 0 : -lot.remaining,
      causeType: 'EXPIRY',
      causeRef: lot.id,
      actor,
      idempotencyKey: `${EXPIRE_KEY}${lot.id}`,
      now,
    });
  }
  return { releasedPoints, expiredPoints };
}
