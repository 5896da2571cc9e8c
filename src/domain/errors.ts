/**
 * Expected outcomes of domain operations. Each has a stable `code`; the GraphQL
 * layer lists them per field so clients receive them as typed union members.
 * Anything that is not a DomainError is unexpected and gets masked.
 */
/**
 * Every code a DomainError can carry: the GraphQL enum `ErrorCode` lists exactly
 * these (with a description each), so clients can switch on `code` exhaustively.
 * A new error class needs its code here first: `code` is typed by this list.
 */
export const ERROR_CODES = [
  'NOT_FOUND',
  'VALIDATION',
  'ALREADY_EXISTS',
  'INSUFFICIENT_POINTS',
  'IDEMPOTENCY_CONFLICT',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'RATE_LIMITED',
  'VOUCHER_NOT_REDEEMABLE',
  'REWARD_UNAVAILABLE',
  'CONTRACT_NOT_ACTIVE',
  'CONTRACT_NOT_UP_FOR_RENEWAL',
  'GOODWILL_NOT_PENDING',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly entity: string,
    readonly ref: string,
  ) {
    super(`${entity} not found`);
  }
}

export class ValidationError extends DomainError {
  readonly code = 'VALIDATION';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export class AlreadyExistsError extends DomainError {
  readonly code = 'ALREADY_EXISTS';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export class InsufficientPointsError extends DomainError {
  readonly code = 'INSUFFICIENT_POINTS';
  constructor(
    readonly available: number,
    readonly requested: number,
  ) {
    super(`Insufficient points: ${available} available, ${requested} requested`);
  }
}

export class IdempotencyConflictError extends DomainError {
  readonly code = 'IDEMPOTENCY_CONFLICT';
  constructor(readonly idempotencyKey: string) {
    super('This idempotency key was already used with a different request');
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'Not allowed for this caller') {
    super(message);
  }
}

/**
 * The caller spent its budget of mutations or voucher-code lookups for the current
 * window (src/http/rate-limit.ts). Nothing was done; retry after `retryAfterSeconds`.
 */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many requests: retry after ${retryAfterSeconds} s`);
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message);
  }
}

/** Why a voucher cannot be used. NOT_FOUND appears in validations only; a redemption answers NotFoundError. */
export const VOUCHER_PROBLEMS = [
  'REDEEMED',
  'EXPIRED',
  'VOIDED',
  'OTHER_CURRENCY',
  'MINIMUM_NOT_MET',
  'WRONG_MEMBER',
  'ORDER_FULLY_DISCOUNTED',
  'NOT_FOUND',
] as const;
export type VoucherProblem = (typeof VOUCHER_PROBLEMS)[number];

export const VOUCHER_PROBLEM_MESSAGES: Record<VoucherProblem, string> = {
  REDEEMED: 'This voucher has already been redeemed',
  EXPIRED: 'This voucher has expired',
  VOIDED: 'This voucher has been voided',
  OTHER_CURRENCY: 'This voucher is in another currency than the order',
  MINIMUM_NOT_MET: 'The order does not reach the minimum order value of this voucher',
  WRONG_MEMBER: 'This voucher belongs to another member',
  ORDER_FULLY_DISCOUNTED: 'The vouchers already redeemed on this order take off its whole total',
  NOT_FOUND: 'There is no voucher with this code',
};

export class VoucherNotRedeemableError extends DomainError {
  readonly code = 'VOUCHER_NOT_REDEEMABLE';
  constructor(readonly reason: Exclude<VoucherProblem, 'NOT_FOUND'>) {
    super(VOUCHER_PROBLEM_MESSAGES[reason]);
  }
}

export const REWARD_PROBLEMS = ['OUT_OF_STOCK', 'RETIRED', 'OTHER_CURRENCY'] as const;
export type RewardProblem = (typeof REWARD_PROBLEMS)[number];

const REWARD_PROBLEM_MESSAGES: Record<RewardProblem, string> = {
  OUT_OF_STOCK: 'This reward is out of stock',
  RETIRED: 'This reward has been retired',
  OTHER_CURRENCY: 'This reward’s voucher value is in another currency than the program’s: an admin must set its value anew',
};

export class RewardUnavailableError extends DomainError {
  readonly code = 'REWARD_UNAVAILABLE';
  constructor(
    readonly reason: RewardProblem,
    message = REWARD_PROBLEM_MESSAGES[reason],
  ) {
    super(message);
  }
}

export const CONTRACT_PROBLEMS = ['CANCELLED', 'EXPIRED'] as const;
export type ContractProblem = (typeof CONTRACT_PROBLEMS)[number];

/** The contract cannot be extended or cancelled any more; `status` says why. */
export class ContractNotActiveError extends DomainError {
  readonly code = 'CONTRACT_NOT_ACTIVE';
  constructor(readonly status: ContractProblem) {
    super(status === 'CANCELLED' ? 'This contract has been cancelled' : 'This contract has expired');
  }
}

/**
 * The contract is not up for renewal yet: it can be extended from `renewableFrom`
 * (the program's renewal window before its end) until `endsAt`, once per term.
 */
export class ContractNotUpForRenewalError extends DomainError {
  readonly code = 'CONTRACT_NOT_UP_FOR_RENEWAL';
  constructor(
    readonly endsAt: Date,
    readonly renewableFrom: Date,
  ) {
    super(`This contract comes up for renewal on ${renewableFrom.toISOString().slice(0, 10)}; it can be extended once per term`);
  }
}

/**
 * A queue job that can never succeed (its subject does not exist): retrying is
 * pointless. Not a DomainError, so never a typed GraphQL result; the BullMQ
 * wiring turns it into an `UnrecoverableError` so the job fails at once.
 */
export class PermanentJobError extends Error {
  readonly code = 'PERMANENT_JOB_FAILURE';
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/** A goodwill decision on a gesture that is no longer waiting for one (already granted or rejected). */
export class GoodwillNotPendingError extends DomainError {
  readonly code = 'GOODWILL_NOT_PENDING';
  constructor(readonly status: 'GRANTED' | 'REJECTED') {
    super(`This goodwill gesture is already ${status.toLowerCase()}`);
  }
}
