import { newRowId } from '../../db/ids.js';
import { positionOrder } from '../../db/position-cursors.js';
import type { Caller } from '../../auth/principal.js';
import { Prisma, type Reward } from '../../generated/prisma/client.js';
import { assertMayCall, hasRole } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { ForbiddenError, InsufficientPointsError, NotFoundError, RewardUnavailableError, ValidationError } from '../errors.js';
import { checkIdempotencyKey, once, optionalIdempotencyKey, type Replayable, scopeOf } from '../idempotency.js';
import { inLedgerTransaction } from '../points/ledger-kernel.js';
import { assertEligible } from '../members/eligibility.js';
import { spendPoints } from '../points/points.service.js';
import { assertProgramCurrency, lockedProgramCurrency } from '../program/program.service.js';
import * as check from '../validation.js';
import { reportProgramChange } from '../members/member-changes.js';
import { issueVoucher } from '../vouchers/vouchers.service.js';

function stockOf(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > check.MAX_POINTS) {
    throw new ValidationError('stock', `must be a whole number between 0 and ${check.MAX_POINTS}`);
  }
  return value;
}

const optionalDescription = (value: string) => check.text('description', value, { min: 0, max: 1000 }) || null;

/**
 * The currency a reward's voucher value is set in: the program's as of the change's commit (`lockedProgramCurrency`),
 * held against what the client named (`currency`, createReward's own field; `voucherValueCurrency`, the MoneyInput's):
 * a value given in a currency an admin replaced meanwhile is refused, not stored as the same figure in the new one.
 * Rewards are bought in it: their vouchers are spent at the same checkout.
 */
async function rewardCurrency(tx: Tx, given: { currency?: string | null; voucherValueCurrency?: string | null }): Promise<string> {
  const currency = await lockedProgramCurrency(tx);
  if (given.currency != null && check.currency('currency', given.currency) !== currency) {
    throw new ValidationError('currency', `the program runs in ${currency}`);
  }
  assertProgramCurrency('voucherValueCurrency', given.voucherValueCurrency, currency);
  return currency;
}

export interface CreateRewardInput {
  name: string;
  description?: string | null;
  pointsCost: number;
  voucherValue: string;
  /** Must be the program currency when given. */
  currency?: string | null;
  /**
   * The currency `voucherValue` was given in (a MoneyInput), when the client named one: held against the program's
   * under the change's locks (ValidationError on `voucherValueCurrency`).
   */
  voucherValueCurrency?: string | null;
  /** Units available; unlimited when omitted. */
  stock?: number | null;
  /** Optional (clients of before keep working), but always send one: a retry with it creates no second reward. */
  idempotencyKey?: string | null;
}

/**
 * Adds a reward to the catalogue (admins), its voucher value in the program currency as of its commit: a currency
 * the client named is held against it under the program's row lock (`rewardCurrency`). One reward per (caller,
 * idempotency key), by `once()`: a retry after a lost answer — the same fields as sent — answers the reward its
 * first call created, as it is now, and writes nothing; the same key with another reward is an
 * IdempotencyConflictError. Without a key every call adds a reward.
 */
export async function createReward(deps: ServiceDeps, input: CreateRewardInput, caller: Caller): Promise<Replayable<Reward>> {
  assertMayCall(caller, 'changeRewards');
  const data = {
    name: check.plainText('name', input.name, { max: 120 }),
    description: input.description == null ? null : optionalDescription(input.description),
    pointsCost: check.positivePoints('pointsCost', input.pointsCost),
    voucherValue: check.money('voucherValue', input.voucherValue).toFixed(2),
    stock: input.stock == null ? null : stockOf(input.stock),
  };
  const key = optionalIdempotencyKey(input.idempotencyKey);
  // The currencies as the client named them (or not): checked against the program's in the effect, under its lock.
  const request = { ...data, currency: input.currency ?? null, voucherValueCurrency: input.voucherValueCurrency ?? null };
  const now = nowOf(deps);
  const reward = await deps.prisma.$transaction(async (tx) => {
    const created = await once(tx, scopeOf('createReward', caller), key, request, async () => {
      const currency = await rewardCurrency(tx, input);
      const { id } = await tx.reward.create({ data: { ...data, currency, createdAt: now, updatedAt: now }, select: { id: true } });
      return { rewardId: id };
    });
    return { ...(await tx.reward.findUniqueOrThrow({ where: { id: created.rewardId } })), replayed: created.replayed };
  });
  if (!reward.replayed) reportProgramChange(deps);
  return reward;
}

export interface UpdateRewardInput {
  id: string;
  name?: string | null;
  description?: string | null;
  pointsCost?: number | null;
  voucherValue?: string | null;
  /** The currency `voucherValue` was given in (a MoneyInput), as for createReward. */
  voucherValueCurrency?: string | null;
  /** Sets the remaining stock. */
  stock?: number | null;
  /** Removes the stock limit. */
  unlimitedStock?: boolean | null;
}

/**
 * Changes a reward (admins). Purchases already made keep what they cost; the
 * next purchase pays the new price. A new voucher value is in the program's
 * currency as of the change's commit: read once the reward's row and then the
 * program's row are locked, and held against the currency the client named.
 */
export async function updateReward(deps: ServiceDeps, input: UpdateRewardInput, caller: Caller): Promise<Reward> {
  assertMayCall(caller, 'changeRewards');
  const id = check.uuid('id', input.id);
  const data: Prisma.RewardUpdateInput = { updatedAt: nowOf(deps) };
  if (input.name != null) data.name = check.plainText('name', input.name, { max: 120 });
  if (input.description != null) data.description = optionalDescription(input.description);
  if (input.pointsCost != null) data.pointsCost = check.positivePoints('pointsCost', input.pointsCost);
  if (input.voucherValue != null) data.voucherValue = check.money('voucherValue', input.voucherValue).toFixed(2);
  if (input.stock != null && input.unlimitedStock) {
    throw new ValidationError('unlimitedStock', 'give either a stock or unlimitedStock, not both');
  }
  if (input.stock != null) data.stock = stockOf(input.stock);
  if (input.unlimitedStock) data.stock = null;
  const reward = await deps.prisma.$transaction(async (tx) => {
    // The reward's row first, as a purchase takes it; the program's row after it (a change of currency holds only that).
    const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM rewards WHERE id = ${id}::uuid FOR UPDATE`;
    if (!locked) throw new NotFoundError('Reward', id);
    // A value is set in the program currency of now: a reward priced before a currency change is sold again.
    if (input.voucherValue != null) data.currency = await rewardCurrency(tx, { voucherValueCurrency: input.voucherValueCurrency });
    return tx.reward.update({ where: { id }, data });
  });
  reportProgramChange(deps);
  return reward;
}

/** Takes a reward out of the catalogue for good (admins). Retiring twice keeps the first date. */
export async function retireReward(deps: ServiceDeps, input: { id: string }, caller: Caller): Promise<Reward> {
  assertMayCall(caller, 'changeRewards');
  const id = check.uuid('id', input.id);
  const now = nowOf(deps);
  const changed = await deps.prisma.$executeRaw`
    UPDATE rewards SET active = false, retired_at = COALESCE(retired_at, ${now}), updated_at = ${now}
    WHERE id = ${id}::uuid`;
  if (changed === 0) throw new NotFoundError('Reward', id);
  reportProgramChange(deps);
  return deps.prisma.reward.findUniqueOrThrow({ where: { id } });
}

/** What a read loads with the reward: plugin-prisma's plan of a GraphQL selection, say. */
export type RewardReadShape = Pick<Prisma.RewardFindUniqueArgs, 'select' | 'include'>;

/**
 * A reward by its id (`node(id)`), retired or not, with what `shape` loads with it, or null when there is none. Who
 * may read one is SERVICE_CALLERS.readRewards (the Reward type's visibility, and the catalogue's): anyone else is
 * refused before the id is looked at, nothing read. The id must be a UUID (ValidationError).
 */
export async function readReward(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: RewardReadShape,
  caller: Caller,
): Promise<Reward | null> {
  assertMayCall(caller, 'readRewards');
  return deps.prisma.reward.findUnique({ ...shape, where: { id: check.uuid('id', id) } });
}

/** Which rewards a caller sees: admins may include retired ones, everyone else only active ones. */
export function rewardListWhere(caller: Caller, includeRetired?: boolean | null): Prisma.RewardWhereInput {
  return includeRetired && hasRole(caller, 'ADMIN') ? {} : { active: true };
}

/**
 * The catalogue's order, cheapest first: each reward's price, then its id. An admin changes a price while members page
 * the catalogue, so its cursors are positions (src/db/position-cursors.ts): the next page follows the place the cursor
 * was handed out at, not the place the reward has moved to since.
 */
export const REWARD_CATALOGUE_ORDER = positionOrder('rewards', [{ column: 'pointsCost', direction: 'asc', kind: 'points' }], 'asc');

/** The catalogue, cheapest first. */
export async function listRewards(
  deps: Pick<ServiceDeps, 'prisma'>,
  caller: Caller,
  { includeRetired = false }: { includeRetired?: boolean } = {},
): Promise<Reward[]> {
  return deps.prisma.reward.findMany({
    where: rewardListWhere(caller, includeRetired),
    orderBy: REWARD_CATALOGUE_ORDER.orderBy,
  });
}

/** A reward priced in a currency the program no longer uses: refused until an admin sets its value anew. */
const otherCurrency = (reward: { voucher_value: string; currency: string }, programCurrency: string) =>
  new RewardUnavailableError(
    'OTHER_CURRENCY',
    `This reward is worth ${reward.voucher_value} ${reward.currency}, but the program now uses ${programCurrency}: ` +
      'an admin must set its value anew',
  );

export interface RedeemRewardInput {
  memberId: string;
  rewardId: string;
  idempotencyKey: string;
}

/** The outcome of a reward purchase, stored for idempotent replay (ids only). */
export interface RewardRedemptionResult {
  memberId: string;
  rewardId: string;
  redemptionId: string;
  voucherId: string;
  entryId: string;
  points: number;
}

/**
 * A member buys a reward with points, in one transaction under the member lock:
 * one unit of stock (a guarded UPDATE that never goes below zero), one REDEEM
 * entry (never below a zero balance), one REWARD voucher and the redemption row
 * tying them together. Any refusal rolls all of it back. One effect per
 * idempotency key and member. Members may buy only for themselves. A reward
 * whose voucher value is in another currency than the program's (priced before
 * the currency changed) is not sold: OTHER_CURRENCY, until an admin re-prices it.
 */
export async function redeemReward(
  deps: ServiceDeps,
  input: RedeemRewardInput,
  caller: Caller,
): Promise<Replayable<RewardRedemptionResult>> {
  assertMayCall(caller, 'redeemReward');
  const memberId = check.uuid('memberId', input.memberId);
  const rewardId = check.uuid('rewardId', input.rewardId);
  const key = checkIdempotencyKey(input.idempotencyKey);
  if (caller.actor.type === 'MEMBER' && caller.actor.id !== memberId) {
    throw new ForbiddenError('A member may only redeem rewards for themselves');
  }
  const operation = {
    memberId,
    request: { scope: `redeemReward:${memberId}`, key, body: { rewardId } },
    change: { kind: 'REWARD_REDEEMED' as const, reference: rewardId },
  };
  return inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    assertEligible(member, 'SPEND');
    const [reward] = await tx.$queryRaw<
      { name: string; active: boolean; stock: number | null; points_cost: number; voucher_value: string; currency: string }[]
    >`
      SELECT name, active, stock, points_cost, voucher_value::text, currency FROM rewards WHERE id = ${rewardId}::uuid`;
    if (!reward) throw new NotFoundError('Reward', rewardId);
    if (!reward.active) throw new RewardUnavailableError('RETIRED');
    if (reward.currency !== settings.currency) throw otherCurrency(reward, settings.currency);
    if (reward.stock === 0) throw new RewardUnavailableError('OUT_OF_STOCK');
    // Before taking stock: a member who cannot pay does not queue on the reward row.
    if (member.available < reward.points_cost) throw new InsufficientPointsError(member.available, reward.points_cost);

    // The guarded decrement is the stock's only writer on this path: concurrent
    // buyers queue on the row, and the last unit goes to exactly one of them.
    const [taken] = await tx.$queryRaw<{ points_cost: number; voucher_value: string; currency: string }[]>`
      UPDATE rewards SET stock = stock - 1
      WHERE id = ${rewardId}::uuid AND active AND (stock IS NULL OR stock > 0)
      RETURNING points_cost, voucher_value::text, currency`;
    if (!taken) {
      const [current] = await tx.$queryRaw<{ active: boolean }[]>`SELECT active FROM rewards WHERE id = ${rewardId}::uuid`;
      throw new RewardUnavailableError(current?.active ? 'OUT_OF_STOCK' : 'RETIRED');
    }
    // Re-priced since the read above: the value taken is the one the voucher gets.
    if (taken.currency !== settings.currency) throw otherCurrency(taken, settings.currency);

    const redemptionId = newRowId();
    const { id: entryId } = await spendPoints(tx, member, taken.points_cost, {
      kind: 'REDEEM',
      causeType: 'REWARD',
      causeRef: redemptionId,
      actor: caller.actor,
      idempotencyKey: `redeemReward:${key}`,
      note: reward.name,
      now,
    });
    const { voucher } = await issueVoucher(tx, {
      memberId,
      kind: 'REWARD',
      value: { type: 'FIXED', amount: taken.voucher_value },
      currency: taken.currency,
      causeType: 'REWARD',
      causeRef: redemptionId,
      now,
      settings,
    });
    await tx.$executeRaw`
      INSERT INTO reward_redemptions (id, reward_id, member_id, voucher_id, ledger_entry_id, points_cost, created_at)
      VALUES (${redemptionId}::uuid, ${rewardId}::uuid, ${memberId}::uuid, ${voucher.id}::uuid, ${entryId}::uuid,
              ${taken.points_cost}::int, ${now}::timestamptz)`;
    const result = {
      memberId,
      rewardId,
      redemptionId,
      voucherId: voucher.id,
      entryId,
      points: -taken.points_cost,
    } satisfies RewardRedemptionResult;
    return { result };
  });
}
