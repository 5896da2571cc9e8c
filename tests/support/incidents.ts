import type { ReportServiceIncidentInput } from '../../src/domain/service-failures/incidents.service.js';

/**
 * What the incident tests build pages with: `key()` a fresh idempotency key (`<label>-<n>`, or another prefix), and
 * `firstPage(affected)` the first page of a LATE_DELIVERY, MEDIUM incident naming `affected`, under a fresh key.
 */
export function incidentPages(label: string) {
  let keys = 0;
  const key = (prefix = label) => `${prefix}-${++keys}`;
  const firstPage = (
    affected: ReportServiceIncidentInput['affected'],
    extra: Partial<ReportServiceIncidentInput> = {},
  ): ReportServiceIncidentInput => ({ type: 'LATE_DELIVERY', severity: 'MEDIUM', affected, idempotencyKey: key(), ...extra });
  return { key, firstPage };
}

/** `count` members enrolled at once by `enroll` (the test app's), their ids in the order asked. */
export function enrolMembers(enroll: () => Promise<string>, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => enroll()));
}

/** The columns of an incident row that the page tests write straight into the table: an outage a staff agent reported. */
export const STAFF_OUTAGE = {
  type: 'OUTAGE',
  severity: 'LOW',
  reporterType: 'STAFF',
  reporterId: 'staff-agent',
} as const;
