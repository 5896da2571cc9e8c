import {
  AlreadyExistsError,
  DomainError,
  ERROR_CODES,
  type ErrorCode,
  ForbiddenError,
  IdempotencyConflictError,
  InsufficientPointsError,
  NotFoundError,
  RewardUnavailableError,
  UnauthenticatedError,
  ValidationError,
  VoucherNotRedeemableError,
} from '../domain/errors.js';
import { builder } from './builder.js';

/** What each code means to a client; a Record, so a code added to ERROR_CODES without a description does not compile. */
const ERROR_CODE_DESCRIPTIONS: Record<ErrorCode, string> = {
  NOT_FOUND: 'NotFoundError: the referenced object does not exist, or is not visible to the caller.',
  VALIDATION: 'ValidationError: an input value is not acceptable; `field` names it.',
  ALREADY_EXISTS: 'AlreadyExistsError: a unique value (external id, e-mail, …) is already taken; `field` names it.',
  INSUFFICIENT_POINTS: 'InsufficientPointsError: fewer points are available than requested.',
  IDEMPOTENCY_CONFLICT: 'IdempotencyConflictError: the idempotency key was used before with a different request.',
  FORBIDDEN: 'ForbiddenError: the caller is authenticated but may not do this.',
  UNAUTHENTICATED: 'UnauthenticatedError: no valid credentials were presented.',
  RATE_LIMITED:
    'The caller spent its budget of mutations or voucher lookups for now (HTTP 429, as a GraphQL error’s extensions.code; no typed error carries it today).',
  VOUCHER_NOT_REDEEMABLE: 'VoucherNotRedeemableError: the voucher cannot be used; `reason` says why.',
  REWARD_UNAVAILABLE: 'RewardUnavailableError: the reward cannot be bought now; `reason` says why.',
  CONTRACT_NOT_ACTIVE: 'ContractNotActiveError: the contract has expired or was cancelled.',
  CONTRACT_NOT_UP_FOR_RENEWAL: 'ContractNotUpForRenewalError: outside the renewal window, or already extended this term.',
  GOODWILL_NOT_PENDING: 'GoodwillNotPendingError: the gesture was already decided.',
};

export const ErrorCodeEnum = builder.enumType('ErrorCode', {
  description:
    'The machine-readable code of an expected failure (`Error.code`), one per kind of typed error. Switch on it (or on __typename); new codes are added here, in CHANGELOG.md, before any field returns them. docs/errors.md.',
  values: Object.fromEntries(ERROR_CODES.map((code) => [code, { description: ERROR_CODE_DESCRIPTIONS[code] }])) as Record<
    ErrorCode,
    { description: string }
  >,
});

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'An expected failure. Nothing was changed.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'Human-readable explanation.' }),
    code: t.expose('code', {
      type: ErrorCodeEnum,
      description: 'Stable machine-readable code: one per kind of error, the same strings as before it was an enum.',
    }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The referenced object does not exist (or is not visible to the caller).',
  interfaces: [ErrorInterface],
  fields: (t) => ({ entity: t.exposeString('entity', { description: 'Kind of object that was not found.' }) }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'An input value is not acceptable.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString('field', { description: 'Path of the offending input field.' }) }),
});

builder.objectType(AlreadyExistsError, {
  name: 'AlreadyExistsError',
  description: 'A unique value (external id, e-mail, …) is already taken.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString('field', { description: 'The input field whose value is taken.' }) }),
});

builder.objectType(InsufficientPointsError, {
  name: 'InsufficientPointsError',
  description: 'The member has fewer available points than requested.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    available: t.expose('available', { type: 'Points', description: 'Points available now.' }),
    requested: t.expose('requested', { type: 'Points', description: 'Points the request asked for.' }),
  }),
});

builder.objectType(IdempotencyConflictError, {
  name: 'IdempotencyConflictError',
  description: 'The idempotency key was already used with a different request.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ idempotencyKey: t.exposeString('idempotencyKey', { description: 'The reused key.' }) }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: 'The caller is authenticated but may not do this.',
  interfaces: [ErrorInterface],
});

builder.objectType(UnauthenticatedError, {
  name: 'UnauthenticatedError',
  description: 'No valid credentials were presented.',
  interfaces: [ErrorInterface],
});

/** Errors every mutation can return. */
export const COMMON_ERRORS = [ValidationError, ForbiddenError, UnauthenticatedError] as const;

export const VoucherProblemEnum = builder.enumType('VoucherProblem', {
  description: 'Why a voucher cannot be used.',
  values: {
    REDEEMED: { description: 'It has already been redeemed.' },
    EXPIRED: { description: 'Its expiry date has passed.' },
    VOIDED: { description: 'Staff took it out of use.' },
    OTHER_CURRENCY: {
      description:
        'It is worth an amount, or needs a minimum order value, in another currency than the order’s (it was issued before the program’s currency changed).',
    },
    MINIMUM_NOT_MET: { description: 'The order is below the minimum order value.' },
    WRONG_MEMBER: { description: 'It belongs to another member.' },
    ORDER_FULLY_DISCOUNTED: {
      description:
        'The vouchers already redeemed on the order (not rolled back) take off its whole total: nothing is left for this one, which stays ISSUED.',
    },
    NOT_FOUND: { description: 'There is no voucher with this code (validation only).' },
  } as const,
});

builder.objectType(VoucherNotRedeemableError, {
  name: 'VoucherNotRedeemableError',
  description: 'The voucher cannot be redeemed; `reason` says why.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ reason: t.expose('reason', { type: VoucherProblemEnum, description: 'Why it cannot be used.' }) }),
});

export const RewardProblemEnum = builder.enumType('RewardProblem', {
  description: 'Why a reward cannot be bought.',
  values: {
    OUT_OF_STOCK: { description: 'No units are left.' },
    RETIRED: { description: 'It was taken out of the catalogue.' },
    OTHER_CURRENCY: {
      description:
        'Its voucher value is in another currency than the program’s (set before the program’s currency changed): it is not sold until an admin sets its value anew (updateReward).',
    },
  } as const,
});

builder.objectType(RewardUnavailableError, {
  name: 'RewardUnavailableError',
  description: 'The reward cannot be bought now; `reason` says why. Nothing was debited.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ reason: t.expose('reason', { type: RewardProblemEnum, description: 'Why it is unavailable.' }) }),
});
