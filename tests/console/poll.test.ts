// No useTestApp(): a pure function of the console, no database.
import { describe, expect, it } from 'vitest';

const { compensationPollDelay } = (await import('../../console/src/poll.ts' as string)) as {
  compensationPollDelay: (attempt: number) => number;
};

describe("the member page's checks while a compensation is being decided", () => {
  it('come soon at first, then less and less often, and never less often than every 30 s', () => {
    const delays = Array.from({ length: 12 }, (_, attempt) => compensationPollDelay(attempt));
    expect(delays[0]).toBe(1_500);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(delays.at(-1)).toBe(30_000);
    expect(compensationPollDelay(10_000)).toBe(30_000);
    // An hour of a queue that does not move: ~125 checks, not the 2 400 of a fixed 1.5 s.
    let elapsed = 0;
    let checks = 0;
    while (elapsed < 3_600_000) elapsed += compensationPollDelay(checks++);
    expect(checks).toBeLessThan(135);
  });
});
