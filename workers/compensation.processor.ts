import type { ServiceDeps } from '../src/domain/deps.js';
import { PermanentJobError } from '../src/domain/errors.js';
import { isUuid } from '../src/domain/validation.js';
import {
  COMPENSATION_QUEUE,
  compensateServiceFailure,
  type CompensationJobPayload,
  type CompensationOutcome,
} from '../src/domain/service-failures/service-failures.service.js';

/** The queue of compensation jobs: one per service failure, job id = outbox event id = failure id. */
export const COMPENSATION_QUEUE_NAME = COMPENSATION_QUEUE;

export type CompensationJob = CompensationJobPayload;

/**
 * Plain function, no BullMQ: the worker wiring calls it with the job's data,
 * tests call it directly. Decides the compensation of one failure exactly once
 * (a retried, duplicated or raced job is a no-op); a failure released after a
 * hold comes with the id of its own outbox event (`eventId`). Throws PermanentJobError —
 * the wiring makes it an UnrecoverableError — when the payload is malformed or
 * the failure does not exist: retrying cannot help.
 */
export async function processCompensation(payload: CompensationJob, deps: ServiceDeps): Promise<CompensationOutcome> {
  const { failureId, eventId } = (payload as Partial<CompensationJob> | null) ?? {};
  if (typeof failureId !== 'string' || !isUuid(failureId)) {
    throw new PermanentJobError('compensation job without a valid failureId');
  }
  if (eventId !== undefined && (typeof eventId !== 'string' || !isUuid(eventId))) {
    throw new PermanentJobError('compensation job with a malformed eventId');
  }
  const outcome = await compensateServiceFailure(deps, failureId.toLowerCase(), (eventId ?? failureId).toLowerCase());
  if (outcome.outcome === 'MISSING') throw new PermanentJobError(`service failure ${failureId} does not exist`);
  return outcome;
}
