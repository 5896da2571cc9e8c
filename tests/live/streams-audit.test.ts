import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import type { SseSubscription } from '../support/sse.js';
import { until } from '../support/until.js';

/**
 * The live streams (memberStatusChanged, approvalQueueChanged) as a denial-of-service surface (audit): what one
 * caller may hold open, however it asks, and what a stream's document may cost for every event it sends.
 */
const { prisma } = useTestApp();
const app = createTestApp(prisma, { env: { NODE_ENV: 'production' } });
afterAll(async () => app.close());
const open: SseSubscription[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((stream) => stream.close()));
  await until(() => app.yoga.live.size === 0, 5_000, 10, 'every stream to end');
});

const subscribe = async (query: string, variables: Record<string, unknown>, token: string) => {
  const stream = await app.subscribe(query, variables, token);
  open.push(stream);
  return stream;
};

/** Contracts and their renewals: 20 × 20 rows read again for every event when the page sizes are left out. */
const CONTRACTS = (page: string) =>
  `subscription { memberStatusChanged { member { contracts${page} { edges { node { id plan renewals${page} { edges { node { id } } } } } } } } }`;

describe('what a live stream may cost', () => {
  it('a stream whose document reads more than the cost limit allows is refused, page sizes written, sent as variables or left out', async () => {
    const token = await app.memberToken(await app.enroll());
    // The control: written out, armor refuses it at validation.
    const written = await (await subscribe(CONTRACTS('(first: 20)'), {}, token)).result(0);
    expect(written.errors?.[0]?.message).toMatch(/cost/i);
    const variables = `subscription($n: Int) { memberStatusChanged { member { contracts(first: $n) { edges { node { id plan renewals(first: $n) { edges { node { id } } } } } } } } }`;
    for (const [query, values] of [
      [variables, { n: 20 }],
      [CONTRACTS(''), {}],
    ] as const) {
      const answer = await (await subscribe(query, values, token)).result(0);
      expect(answer.errors?.[0]?.message, JSON.stringify(answer)).toMatch(/cost/i);
      expect(answer.data ?? null).toBeNull();
    }
    expect(app.yoga.live.size).toBe(0);
  });
});
