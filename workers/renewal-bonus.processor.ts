import type { ServiceDeps } from '../src/domain/deps.js';
import {
  grantRenewalBonus,
  RENEWAL_BONUS_QUEUE,
  type RenewalBonusJobPayload,
  type RenewalBonusOutcome,
} from '../src/domain/contracts/contracts.service.js';
import { jobSubject } from './job-payload.js';

/** The queue of renewal-bonus jobs: one per contract extension, job id = outbox event id = renewal id (a released bonus: its own event id). */
export const RENEWAL_BONUS_QUEUE_NAME = RENEWAL_BONUS_QUEUE;

export type RenewalBonusJob = RenewalBonusJobPayload;

/**
 * Plain function, no BullMQ: the worker wiring calls it with the job's data,
 * tests call it directly. Grants the bonus of one renewal exactly once (a
 * retried, duplicated or raced job is a no-op). Throws PermanentJobError when
 * the payload is malformed or the renewal does not exist: retrying cannot help.
 */
export async function processRenewalBonus(payload: RenewalBonusJob, deps: ServiceDeps): Promise<RenewalBonusOutcome> {
  const renewal = jobSubject(payload, 'renewalId', RENEWAL_BONUS_QUEUE);
  return grantRenewalBonus(deps, renewal.id, renewal.eventId);
}
