import { describe, expect, it } from 'vitest';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();

const agent = staffCaller('AGENT');
const T0 = Date.parse('2026-03-01T00:00:00.000Z');

/** A small fixed pseudo-random sequence (LCG), so a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % n;
  };
}

describe('the previous NPS answer kept with each answer', () => {
  it('equals the answer before it computed from all answers, after random answers dated out of order, raced per member', async () => {
    const members = await Promise.all([0, 1, 2, 3].map(() => app.enroll()));
    const pick = random(20261202);
    // 120 answers in rounds of 8 sent at once: dates anywhere in a month (out of order, some equal),
    // an NPS in most, a CSAT alone in the others.
    for (let round = 0; round < 15; round++) {
      await Promise.all(
        Array.from({ length: 8 }, () => {
          const memberId = members[pick(members.length)]!;
          const at = new Date(T0 + pick(30) * 86_400_000 + (pick(4) === 0 ? 0 : pick(86_400_000)));
          const nps = pick(5) === 0 ? null : pick(11);
          const deps = { prisma, logger: testLogger, now: () => at };
          return submitFeedback(deps, { memberId, nps, csat: nps === null ? 1 + pick(5) : null }, agent);
        }),
      );
    }

    const rows = await prisma.feedback.findMany({ select: { id: true, memberId: true, nps: true, previousNps: true, createdAt: true } });
    expect(rows).toHaveLength(120);
    const ordered = [...rows].sort(
      (a, b) => a.memberId.localeCompare(b.memberId) || a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id),
    );
    const expected = new Map<string, number | null>();
    let previous: { memberId: string; nps: number } | null = null;
    for (const row of ordered) {
      if (previous && previous.memberId !== row.memberId) previous = null;
      expected.set(row.id, row.nps === null ? null : (previous?.nps ?? null));
      if (row.nps !== null) previous = { memberId: row.memberId, nps: row.nps };
    }
    expect(Object.fromEntries(rows.map((row) => [row.id, row.previousNps]))).toEqual(Object.fromEntries(expected));
    // Not vacuous: most answers have one before them, and some were written before an earlier-dated one.
    expect(rows.filter((row) => row.previousNps !== null).length).toBeGreaterThan(60);
  });
});
