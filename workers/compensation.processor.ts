import type { ServiceDeps } from '../src/domain/deps.js';
import { PermanentJobError } from '../src/domain/errors.js';
import {
  COMPENSATION_QUEUE,
  compensateServiceFailure,
  type CompensationOutcome,
} from '../src/domain/service-failures/service-failures.service.js';

/** The queue of compensation jobs: one per service failure, job id = outbox event id = failure id. */
export const COMPENSATION_QUEUE_NAME = COMPENSATION_QUEUE;

export interface CompensationJob {
  failureId: string;
}

/**
 * Plain function, no BullMQ: the worker wiring calls it with the job's data,
 * tests call it directly. Decides the compensation of one failure exactly once
 * (a retried, duplicated or raced job is a no-op). Throws PermanentJobError —
 * the wiring makes it an UnrecoverableError — when the payload is malformed or
 * the failure does not exist: retrying cannot help.
 */
export async function processCompensation(payload: CompensationJob, deps: ServiceDeps): Promise<CompensationOutcome> {
  const failureId = (payload as Partial<CompensationJob> | null)?.failureId;
  if (typeof failureId !== 'string' || !/^[0-9a-f-]{36}$/i.test(failureId)) {
    throw new PermanentJobError('compensation job without a valid failureId');
  }
  const outcome = await compensateServiceFailure(deps, failureId.toLowerCase());
  if (outcome.outcome === 'MISSING') throw new PermanentJobError(`service failure ${failureId} does not exist`);
  return outcome;
}
