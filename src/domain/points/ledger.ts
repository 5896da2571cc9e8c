import type { Actor } from '../../auth/principal.js';
import type { CauseType, LedgerEntryKind } from '../../generated/prisma/client.js';
import type { Tx } from '../deps.js';
import { NotFoundError } from '../errors.js';

/** A member row locked for the rest of the transaction: all point changes of one member are serialised. */
export interface LockedMember {
  id: string;
  status: 'ACTIVE' | 'PASSIVE' | 'SUSPENDED' | 'CLOSED';
  tier: 'BRONZE' | 'SILVER' | 'GOLD' | 'PLATINUM';
  available: number;
  pending: number;
}

export async function lockMember(tx: Tx, memberId: string): Promise<LockedMember> {
  const rows = await tx.$queryRaw<LockedMember[]>`
    SELECT id::text, status::text, tier::text, available_points AS available, pending_points AS pending
    FROM members WHERE id = ${memberId}::uuid FOR UPDATE`;
  const member = rows[0];
  if (!member) throw new NotFoundError('Member', memberId);
  return member;
}

export interface PostEntry {
  kind: LedgerEntryKind;
  /** Signed change of the member's balance (available + pending). */
  amount: number;
  availableDelta: number;
  pendingDelta: number;
  causeType: CauseType;
  causeRef: string;
  actor: Actor;
  idempotencyKey: string;
  note?: string | null;
  /** Counts as member activity (earn, redeem, renewal): reactivates a PASSIVE member. */
  activity?: boolean;
  now: Date;
}

export interface PostedEntry {
  id: string;
  balanceAfter: number;
}

/**
 * Appends one immutable ledger entry and moves the member's cached balances by
 * the same amount, in the caller's transaction (which holds the member lock).
 * The CHECK constraints on `members` refuse a negative balance even if a rule
 * above were wrong; the unique (member, idempotency key) refuses a second entry.
 */
export async function postEntry(tx: Tx, member: LockedMember, entry: PostEntry): Promise<PostedEntry> {
  if (entry.amount !== entry.availableDelta + entry.pendingDelta) {
    throw new Error(`ledger entry amount ${entry.amount} does not match its balance deltas`);
  }
  member.available += entry.availableDelta;
  member.pending += entry.pendingDelta;
  const balanceAfter = member.available + member.pending;
  const [row] = await tx.$queryRaw<{ id: string }[]>`
    INSERT INTO ledger_entries
      (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key, note, created_at)
    VALUES
      (${member.id}::uuid, ${entry.kind}::"LedgerEntryKind", ${entry.amount}, ${balanceAfter},
       ${entry.causeType}::"CauseType", ${entry.causeRef}, ${entry.actor.type}::"ActorType", ${entry.actor.id},
       ${entry.idempotencyKey}, ${entry.note ?? null}, ${entry.now})
    RETURNING id::text`;
  const activity = entry.activity ?? false;
  await tx.$executeRaw`
    UPDATE members SET
      available_points = available_points + ${entry.availableDelta},
      pending_points = pending_points + ${entry.pendingDelta},
      lifetime_points = lifetime_points + ${Math.max(entry.amount, 0)},
      last_activity_at = CASE WHEN ${activity} THEN ${entry.now} ELSE last_activity_at END,
      status = CASE WHEN ${activity} AND status = 'PASSIVE' THEN 'ACTIVE'::"MemberStatus" ELSE status END,
      updated_at = ${entry.now}
    WHERE id = ${member.id}::uuid`;
  if (activity && member.status === 'PASSIVE') member.status = 'ACTIVE';
  return { id: row!.id, balanceAfter };
}

export interface NewLot {
  entryId: string;
  points: number;
  availableAt: Date;
  expiresAt: Date;
  now: Date;
}

/** Creates the lot that holds granted points until they are spent or expire. */
export async function createLot(tx: Tx, member: LockedMember, lot: NewLot): Promise<string> {
  const released = lot.availableAt <= lot.now;
  const [row] = await tx.$queryRaw<{ id: string }[]>`
    INSERT INTO point_lots (member_id, entry_id, points, remaining, available_at, released_at, expires_at, created_at)
    VALUES (${member.id}::uuid, ${lot.entryId}::uuid, ${lot.points}, ${lot.points}, ${lot.availableAt},
            ${released ? lot.now : null}, ${lot.expiresAt}, ${lot.now})
    RETURNING id::text`;
  return row!.id;
}

export interface Consumption {
  fromAvailable: number;
  fromPending: number;
}

/**
 * Takes up to `points` from the member's lots: first the lot named in `firstLotId`
 * (pending or available), then available lots first-in first-out (soonest expiry
 * first). Returns how much came from available and pending points.
 */
export async function consumeLots(
  tx: Tx,
  memberId: string,
  points: number,
  now: Date,
  firstLotId?: string | null,
): Promise<Consumption> {
  const lots = await tx.$queryRaw<{ id: string; remaining: number; released: boolean }[]>`
    SELECT id::text, remaining, released_at IS NOT NULL AS released
    FROM point_lots
    WHERE member_id = ${memberId}::uuid AND remaining > 0 AND expired_at IS NULL
      AND (id = ${firstLotId ?? null}::uuid OR (released_at IS NOT NULL AND expires_at > ${now}))
    ORDER BY (id = ${firstLotId ?? null}::uuid) IS TRUE DESC, expires_at, created_at, id
    FOR UPDATE`;
  const taken: { id: string; take: number }[] = [];
  const consumption: Consumption = { fromAvailable: 0, fromPending: 0 };
  let left = points;
  for (const lot of lots) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    taken.push({ id: lot.id, take });
    if (lot.released) consumption.fromAvailable += take;
    else consumption.fromPending += take;
    left -= take;
  }
  if (taken.length > 0) {
    await tx.$executeRaw`
      UPDATE point_lots AS l SET remaining = l.remaining - t.take
      FROM (SELECT unnest(${taken.map((t) => t.id)}::uuid[]) AS id, unnest(${taken.map((t) => t.take)}::int[]) AS take) AS t
      WHERE l.id = t.id`;
  }
  return consumption;
}

/**
 * Brings a locked member's lots up to date: releases points whose return window
 * has passed and expires lots past their expiry date (one EXPIRE entry per lot,
 * keyed by the lot, so a repeated settle is a no-op). The maintenance worker
 * calls this for every member with due lots; point operations call it first so
 * they never depend on the worker's timing.
 */
export async function settleMember(tx: Tx, member: LockedMember, now: Date, actor: Actor): Promise<void> {
  const released = await tx.$queryRaw<{ total: number | null }[]>`
    WITH due AS (
      UPDATE point_lots SET released_at = ${now}
      WHERE member_id = ${member.id}::uuid AND released_at IS NULL AND expired_at IS NULL AND available_at <= ${now}
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
    UPDATE point_lots AS l SET expired_at = ${now}, remaining = 0
    FROM (SELECT id, remaining FROM point_lots
          WHERE member_id = ${member.id}::uuid AND expired_at IS NULL AND expires_at <= ${now}
          FOR UPDATE) AS old
    WHERE l.id = old.id
    RETURNING l.id::text, old.remaining, l.released_at IS NOT NULL AS released`;
  for (const lot of expiring) {
    if (lot.remaining === 0) continue;
    await postEntry(tx, member, {
      kind: 'EXPIRE',
      amount: -lot.remaining,
      availableDelta: lot.released ? -lot.remaining : 0,
      pendingDelta: lot.released ? 0 : -lot.remaining,
      causeType: 'EXPIRY',
      causeRef: lot.id,
      actor,
      idempotencyKey: `expire:${lot.id}`,
      now,
    });
  }
}
