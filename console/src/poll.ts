/**
 * How long the member page waits before asking again while a reported failure is being decided by
 * the worker (status RECORDED): soon at first, as most are decided within a second or two, then less
 * often, at most every 30 s, for when decisions queue up (after a carrier outage) or no worker runs.
 * Every agent's open member page polls: a fixed 1.5 s would be 40 requests a minute per page for as
 * long as the queue lasts. A plain module, so that tests/console/poll.test.ts can hold it to that.
 */
const DELAYS_MS = [1_500, 3_000, 6_000, 12_000, 30_000] as const;

/** The wait before the `attempt`-th check (0 for the first after the page saw RECORDED). */
export function compensationPollDelay(attempt: number): number {
  return DELAYS_MS[Math.min(Math.max(0, Math.floor(attempt)), DELAYS_MS.length - 1)]!;
}
