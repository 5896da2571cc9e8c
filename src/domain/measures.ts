import type { BusinessMeasures, ServiceDeps } from './deps.js';

/**
 * Reports to the business counters after commit, when the deps have them. Never
 * throws: a broken counter is logged, the committed change stands.
 */
export function measure(deps: ServiceDeps, report: (measures: BusinessMeasures) => void): void {
  if (!deps.measures) return;
  try {
    report(deps.measures);
  } catch (error) {
    deps.logger.warn({ err: error }, 'could not report to the business metrics');
  }
}
