import { ValidationError } from '../errors.js';
import { addMonths, utcDate } from '../time.js';

export const METRICS_GROUP_BY = ['NONE', 'DAY', 'WEEK', 'MONTH'] as const;
export type MetricsGroupBy = (typeof METRICS_GROUP_BY)[number];

/** The longest period loyaltyMetrics answers for: `to` at most this many calendar months after `from`. */
export const MAX_PERIOD_MONTHS = 36;
/**
 * The longest period a DAY series answers for, in days of 24 hours: a year, leap years included, from any hour
 * (a year from midnight in Berlin is 367 UTC days, the first and the last cut).
 */
export const MAX_DAY_SERIES_DAYS = 366;

/** A half-open period [from, to). */
export interface Period {
  from: Date;
  to: Date;
}

const DAY_MS = 86_400_000;

/** The UTC boundary after `at` where the next bucket of `groupBy` starts (days, ISO weeks from Monday, months). */
function nextBoundary(at: Date, groupBy: Exclude<MetricsGroupBy, 'NONE'>): Date {
  const midnight = utcDate(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()).getTime();
  switch (groupBy) {
    case 'DAY':
      return new Date(midnight + DAY_MS);
    case 'WEEK': {
      const daysSinceMonday = (at.getUTCDay() + 6) % 7;
      return new Date(midnight + (7 - daysSinceMonday) * DAY_MS);
    }
    case 'MONTH':
      return utcDate(at.getUTCFullYear(), at.getUTCMonth() + 1, 1);
  }
}

/**
 * The buckets of a period: one for NONE; otherwise UTC days, ISO weeks (from Monday 00:00 UTC) or
 * calendar months (from the 1st, 00:00 UTC), the first and last cut to the period. Together they
 * cover [from, to) exactly once, in order.
 */
export function bucketsOf(period: Period, groupBy: MetricsGroupBy): Period[] {
  if (groupBy === 'NONE') return [period];
  const buckets: Period[] = [];
  let start = period.from;
  while (start < period.to) {
    const boundary = nextBoundary(start, groupBy);
    const end = boundary < period.to ? boundary : period.to;
    buckets.push({ from: start, to: end });
    start = end;
  }
  return buckets;
}

/**
 * Checks a requested period and grouping (ValidationError naming the argument, before any query):
 * `from` before `to`, at most MAX_PERIOD_MONTHS apart, at most MAX_DAY_SERIES_DAYS days apart for DAY.
 */
export function checkPeriod(from: Date, to: Date, groupBy: string): { period: Period; groupBy: MetricsGroupBy } {
  if (Number.isNaN(from.getTime())) throw new ValidationError('from', 'must be a date-time');
  if (Number.isNaN(to.getTime())) throw new ValidationError('to', 'must be a date-time');
  if (!(METRICS_GROUP_BY as readonly string[]).includes(groupBy)) {
    throw new ValidationError('groupBy', `must be one of ${METRICS_GROUP_BY.join(', ')}`);
  }
  if (to <= from) throw new ValidationError('to', 'must be after `from`');
  if (to > addMonths(from, MAX_PERIOD_MONTHS)) {
    throw new ValidationError('to', `must be at most ${MAX_PERIOD_MONTHS / 12} years after \`from\``);
  }
  if (groupBy === 'DAY' && to.getTime() - from.getTime() > MAX_DAY_SERIES_DAYS * DAY_MS) {
    throw new ValidationError('groupBy', `DAY covers at most ${MAX_DAY_SERIES_DAYS} days: choose WEEK or MONTH, or a shorter period`);
  }
  return { period: { from, to }, groupBy: groupBy as MetricsGroupBy };
}
