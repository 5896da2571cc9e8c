import type { ServiceDeps } from '../src/domain/deps.js';
import { grantRenewalBonus, RENEWAL_BONUS_QUEUE, type RenewalBonusOutcome } from '../src/domain/contracts/contracts.service.js';
import { PermanentJobError } from '../src/domain/errors.js';

/** The queue of renewal-bonus jobs: one per contract extension, job id = outbox event id = renewal id. */
export const RENEWAL_BONUS_QUEUE_NAME = RENEWAL_BONUS_QUEUE;

export interface RenewalBonusJob {
  renewalId: string;
}

/**
 * Plain function, no BullMQ: the worker wiring calls it with the job's data,
 * tests call it directly. Grants the bonus of one renewal exactly once (a
 * retried, duplicated or raced job is a no-op). Throws PermanentJobError when
 * the payload is malformed or the renewal does not exist: retrying cannot help.
 */
export async function processRenewalBonus(payload: RenewalBonusJob, deps: ServiceDeps): Promise<RenewalBonusOutcome> {
  const renewalId = (payload as Partial<RenewalBonusJob> | null)?.renewalId;
  if (typeof renewalId !== 'string') throw new PermanentJobError('renewal-bonus job without a renewalId');
  return grantRenewalBonus(deps, renewalId);
}
