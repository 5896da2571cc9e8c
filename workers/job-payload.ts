import { PermanentJobError } from '../src/domain/errors.js';
import { isUuid } from '../src/domain/validation.js';

/** What an outbox job names: its subject (a failure, a renewal) and the outbox event it completes. */
export interface JobSubject {
  /** The subject's id, lower-cased. */
  id: string;
  /**
   * The subject's first job completes the event whose id is the subject id; a
   * held grant released by a reactivation is re-queued with an event of its
   * own, named in the payload as `eventId` (src/domain/outbox, `requeueReleased`).
   */
  eventId: string;
}

/**
 * Reads the subject of a job's payload (it comes from Redis, untyped): the
 * uuid under `key` and the optional `eventId`. PermanentJobError when either
 * is missing or malformed: retrying cannot help.
 */
export function jobSubject(payload: unknown, key: string, queue: string): JobSubject {
  const fields = (payload ?? {}) as Record<string, unknown>;
  const id = fields[key];
  if (typeof id !== 'string' || !isUuid(id)) throw new PermanentJobError(`${queue} job without a valid ${key}`);
  const eventId = fields.eventId ?? id;
  if (typeof eventId !== 'string' || !isUuid(eventId)) throw new PermanentJobError(`${queue} job with a malformed eventId`);
  return { id: id.toLowerCase(), eventId: eventId.toLowerCase() };
}
