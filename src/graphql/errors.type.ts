import {
  AlreadyExistsError,
  DomainError,
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

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'An expected failure. Nothing was changed.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'Human-readable explanation.' }),
    code: t.exposeString('code', { description: 'Stable machine-readable code.' }),
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
    available: t.exposeInt('available', { description: 'Points available now.' }),
    requested: t.exposeInt('requested', { description: 'Points the request asked for.' }),
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
    MINIMUM_NOT_MET: { description: 'The order is below the minimum order value.' },
    WRONG_MEMBER: { description: 'It belongs to another member.' },
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
  } as const,
});

builder.objectType(RewardUnavailableError, {
  name: 'RewardUnavailableError',
  description: 'The reward cannot be bought now; `reason` says why. Nothing was debited.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ reason: t.expose('reason', { type: RewardProblemEnum, description: 'Why it is unavailable.' }) }),
});
