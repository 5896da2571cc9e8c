import type { ServiceDeps } from '../src/domain/deps.js';
import { PermanentJobError } from '../src/domain/errors.js';
import type { CompensationGroups } from '../src/domain/service-failures/compensation-groups.js';
import {
  COMPENSATION_QUEUE,
  compensateServiceFailure,
  type CompensationJobPayload,
  type CompensationOutcome,
} from '../src/domain/service-failures/service-failures.service.js';
import { jobSubject } from './job-payload.js';

/** The queue of compensation jobs: one per service failure, job id = outbox event id = failure id. */
export const COMPENSATION_QUEUE_NAME = COMPENSATION_QUEUE;

export type CompensationJob = CompensationJobPayload;

/**
 * Plain function, no BullMQ: the worker wiring calls it with the job's data,
 * tests call it directly. Decides the compensation of one failure exactly once
 * (a retried, duplicated or raced job is a no-op) — with the jobs running at
 * the same time when the deps have the process's `compensationGroups`, the
 * same outcome either way. Throws PermanentJobError — the wiring makes it an
 * UnrecoverableError — when the payload is malformed or the failure does not
 * exist: retrying cannot help.
 */
export async function processCompensation(
  payload: CompensationJob,
  deps: ServiceDeps & { compensationGroups?: CompensationGroups },
): Promise<CompensationOutcome> {
  const failure = jobSubject(payload, 'failureId', COMPENSATION_QUEUE);
  const outcome = deps.compensationGroups
    ? await deps.compensationGroups.compensate(deps, failure.id, failure.eventId)
    : await compensateServiceFailure(deps, failure.id, failure.eventId);
  if (outcome.outcome === 'MISSING') throw new PermanentJobError(`service failure ${failure.id} does not exist`);
  return outcome;
}
