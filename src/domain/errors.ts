/**
 * Expected outcomes of domain operations. Each has a stable `code`; the GraphQL
 * layer lists them per field so clients receive them as typed union members.
 * Anything that is not a DomainError is unexpected and gets masked.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
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

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message);
  }
}
