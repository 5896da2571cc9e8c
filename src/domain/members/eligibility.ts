import type { MemberStatus } from '../../generated/prisma/enums.js';
import { ValidationError } from '../errors.js';

/**
 * Member eligibility: the one place that decides, from a member's status,
 * whether value may move to or from them. Every service that moves points or
 * vouchers asks it; nothing else compares a member's status for this
 * (docs/domain-rules.md, "Member eligibility", states the same table).
 */

/** The kinds of value movement a member's status may allow, hold or refuse. */
export type ValueMovement =
  /** The member earns points on an order. */
  | 'EARN'
  /** The member spends points: a redemption, a reward purchase. */
  | 'SPEND'
  /** A grant nobody decides on at the time: the compensation of a service failure, a renewal bonus. */
  | 'AUTOMATIC_GRANT'
  /** A supervisor's decision on a held or reviewed automatic grant (compensation, renewal bonus). */
  | 'DECIDED_GRANT'
  /** An agent's goodwill gesture, or its approval. */
  | 'GOODWILL'
  /** An admin's credit of points. */
  | 'ADJUSTMENT'
  /** A debit that corrects the ledger: a refund's reversal, a renewal bonus clawed back, an admin's debit. */
  | 'CORRECTION'
  /** Redeemed points given back because the order they paid for came back (a cancel, a return, a refund). */
  | 'RESTORE'
  /** Registering or extending a contract: each extension causes a renewal bonus. */
  | 'CONTRACT';

export type Eligibility =
  | { decision: 'ALLOW' }
  /** Automatic grants of a suspended member: kept, and granted or declined when the suspension ends or a supervisor decides. */
  | { decision: 'HOLD'; reason: string }
  | { decision: 'REFUSE'; reason: string };

type Rule = 'ALLOW' | 'HOLD' | 'REFUSE';

/**
 * The table. ACTIVE and PASSIVE members are alike (passive only means no
 * recent activity). A SUSPENDED member neither earns nor spends, their
 * automatic grants are held, goodwill is refused (an agent's gesture should
 * wait for the suspension's outcome, not be held on the agent's budget), and
 * what corrects the ledger or is a supervisor's explicit decision goes ahead.
 * Points redeemed on an order that comes back are given back (RESTORE) to a
 * suspended member too (what they paid with, not a grant), never to a closed
 * one. A CLOSED member receives nothing; only corrections of the ledger still post.
 */
const RULES: Record<ValueMovement, Record<MemberStatus, Rule>> = {
  EARN: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'REFUSE', CLOSED: 'REFUSE' },
  SPEND: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'REFUSE', CLOSED: 'REFUSE' },
  AUTOMATIC_GRANT: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'HOLD', CLOSED: 'REFUSE' },
  DECIDED_GRANT: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'ALLOW', CLOSED: 'REFUSE' },
  GOODWILL: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'REFUSE', CLOSED: 'REFUSE' },
  ADJUSTMENT: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'ALLOW', CLOSED: 'REFUSE' },
  CORRECTION: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'ALLOW', CLOSED: 'ALLOW' },
  RESTORE: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'ALLOW', CLOSED: 'REFUSE' },
  CONTRACT: { ACTIVE: 'ALLOW', PASSIVE: 'ALLOW', SUSPENDED: 'ALLOW', CLOSED: 'REFUSE' },
};

const WHAT: Record<ValueMovement, string> = {
  EARN: 'earn points',
  SPEND: 'spend points',
  AUTOMATIC_GRANT: 'receive automatic grants',
  DECIDED_GRANT: 'receive grants',
  GOODWILL: 'receive goodwill',
  ADJUSTMENT: 'receive points',
  CORRECTION: 'have the ledger corrected',
  RESTORE: 'receive redeemed points back',
  CONTRACT: 'register or extend contracts',
};

/** Whether a member of `status` may take part in `movement`: allow, hold (with why) or refuse (with why). */
export function eligibility(status: MemberStatus, movement: ValueMovement): Eligibility {
  const rule = RULES[movement][status];
  if (rule === 'ALLOW') return { decision: 'ALLOW' };
  if (rule === 'HOLD')
    return { decision: 'HOLD', reason: `the member is ${status}: held until the suspension ends or a supervisor decides` };
  return { decision: 'REFUSE', reason: `the member is ${status}: a ${status.toLowerCase()} member cannot ${WHAT[movement]}` };
}

/**
 * Refuses (ValidationError on `field`, naming the status) a movement the
 * member's status does not allow. Only for movements somebody asks for now: an
 * automatic grant, which may be held, asks `eligibility` and records the outcome.
 */
export function assertEligible(
  member: { status: MemberStatus },
  movement: Exclude<ValueMovement, 'AUTOMATIC_GRANT'>,
  field = 'memberId',
): void {
  const answer = eligibility(member.status, movement);
  if (answer.decision !== 'ALLOW') throw new ValidationError(field, answer.reason);
}

/**
 * What a status change does to the grants held for a member: leaving SUSPENDED
 * for ACTIVE or PASSIVE releases them (they are granted as if they had just
 * arrived), entering CLOSED declines them and whatever else waits for the
 * member (compensation under review). Anything else keeps them as they are.
 */
export function heldGrantsOnStatusChange(from: MemberStatus, to: MemberStatus): 'RELEASE' | 'DECLINE' | 'KEEP' {
  if (from === to) return 'KEEP';
  if (to === 'CLOSED') return 'DECLINE';
  if (from === 'SUSPENDED' && eligibility(to, 'AUTOMATIC_GRANT').decision === 'ALLOW') return 'RELEASE';
  return 'KEEP';
}

/** Why grants waiting for a member were declined when the member was closed. */
export const CLOSED_DECLINE_REASON = 'the member was closed: a closed member receives nothing';

/** Whether a member's own token may still be used: not once the member is closed. */
export const memberTokenUsable = (status: MemberStatus | undefined): boolean => status !== 'CLOSED';
