import type { ServiceDeps } from '../src/domain/deps.js';
import { PermanentJobError } from '../src/domain/errors.js';
import {
  EXPAND_PAGE_JOB,
  expandIncidentPage,
  GRANT_APPROVED_JOB,
  grantApprovedRemainder,
  INCIDENT_QUEUE,
} from '../src/domain/service-failures/incidents.service.js';
import { isUuid } from '../src/domain/validation.js';

/** The queue of incident jobs: one per page (job id = outbox event id = page id) and one per approved remainder. */
export const INCIDENT_QUEUE_NAME = INCIDENT_QUEUE;

export type IncidentJob =
  { job: typeof EXPAND_PAGE_JOB; pageId: string } | { job: typeof GRANT_APPROVED_JOB; incidentId: string; eventId: string };

const id = (value: unknown): value is string => typeof value === 'string' && isUuid(value);

/**
 * Plain function, no BullMQ: the worker wiring calls it with the job's data,
 * tests call it directly. Expands one page of an incident into failures and
 * compensations, or grants an approved remainder, batch by batch; a retried,
 * duplicated or raced job does nothing twice. Throws PermanentJobError when the
 * payload is malformed or the page does not exist: retrying cannot help.
 */
export async function processIncidentJob(payload: IncidentJob, deps: ServiceDeps) {
  const job = payload as Partial<Record<string, unknown>> | null;
  if (job?.job === EXPAND_PAGE_JOB && id(job.pageId)) {
    const report = await expandIncidentPage(deps, job.pageId.toLowerCase());
    if (!report.found) throw new PermanentJobError(`incident page ${job.pageId} does not exist`);
    return report;
  }
  if (job?.job === GRANT_APPROVED_JOB && id(job.incidentId) && id(job.eventId)) {
    return grantApprovedRemainder(deps, job.incidentId.toLowerCase(), job.eventId.toLowerCase());
  }
  throw new PermanentJobError('incident job with a malformed payload');
}
