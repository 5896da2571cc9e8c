const DAY_MS = 86_400_000;

export const addDays = (date: Date, days: number): Date => new Date(date.getTime() + days * DAY_MS);

/**
 * Midnight UTC of a calendar day, as `Date.UTC(year, month, day)` — month 0-based, overflowing into the next
 * year, day 0 the previous month's last — but for every year: Date.UTC reads the years 0–99 as 1900–1999.
 */
export function utcDate(year: number, month: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date;
}

/** Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29). */
export function addMonths(date: Date, months: number): Date {
  const result = new Date(date.getTime());
  const day = result.getUTCDate();
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = utcDate(result.getUTCFullYear(), result.getUTCMonth() + 1, 0).getUTCDate();
  result.setUTCDate(Math.min(day, lastDay));
  return result;
}
