import type { MemberChange, MemberChangeKind, ServiceDeps } from '../deps.js';
import { measure } from '../measures.js';

export type { MemberChange, MemberChangeKind };

/** Every kind of change, in the order the GraphQL enum lists them. */
export const MEMBER_CHANGE_KINDS = [
  'EARNED',
  'REDEEMED',
  'REFUNDED',
  'ORDER_RETURNED',
  'ADJUSTED',
  'GOODWILL_GRANTED',
  'RENEWAL_BONUS',
  'REWARD_REDEEMED',
  'RELEASED',
  'EXPIRED',
  'VOUCHER_ISSUED',
  'VOUCHER_REDEEMED',
  'VOUCHER_VOIDED',
  'VOUCHER_EXPIRED',
  'TIER_CHANGED',
  'TIER_REVIEWED',
  'STATUS_CHANGED',
  'PROFILE_UPDATED',
] as const satisfies readonly MemberChangeKind[];

/**
 * Reports committed member changes to the live member status. Call it only after
 * the transaction that made them committed (a rolled-back change must never reach
 * a screen). Never throws and never waits: a failing publisher is logged.
 */
export function reportMemberChanges(deps: ServiceDeps, changes: readonly MemberChange[]): void {
  if (changes.length === 0) return;
  // Every voucher issued to or redeemed by a member is one such change, reported once, after commit.
  const issued = changes.filter((change) => change.kind === 'VOUCHER_ISSUED').length;
  const redeemed = changes.filter((change) => change.kind === 'VOUCHER_REDEEMED').length;
  if (issued > 0) measure(deps, (measures) => measures.vouchersMoved('issued', issued));
  if (redeemed > 0) measure(deps, (measures) => measures.vouchersMoved('redeemed', redeemed));
  if (!deps.memberChanges) return;
  try {
    deps.memberChanges.changed(changes);
  } catch (error) {
    deps.logger.warn({ err: error }, 'could not report member changes to the live status');
  }
}

/**
 * Reports a committed change of the program (settings, tiers, rewards, earning rules): every member's cached status
 * is stale. Called by the services that make such changes, after their transaction, like `reportMemberChanges`.
 */
export function reportProgramChange(deps: ServiceDeps): void {
  try {
    deps.memberChanges?.programChanged?.();
  } catch (error) {
    deps.logger.warn({ err: error }, 'could not report a program change');
  }
}

/** One change of one member. */
export const memberChange = (memberId: string, kind: MemberChangeKind, reference: string | null = null): MemberChange => ({
  memberId,
  kind,
  reference,
});
