import { describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import { useTracing } from '../support/tracing.js';

/**
 * Tracing shut down and started again in one process (each block of tests/support/tracing.ts does so, and test files
 * share their worker's modules): the second start traces node-postgres statements as the first did.
 */
const { prisma } = useTestApp();

/** `query Me` of a new member through a handler traced by `traces`; the statements recorded under its span. */
async function statementsOfMe(traces: ReturnType<typeof useTracing>): Promise<string[]> {
  const app = createTestApp(prisma, { tracing: traces.tracing.graphqlPlugin });
  try {
    const memberId = await app.enroll();
    const { body } = await app.request('query Me { me { status } }', {}, { token: await app.memberToken(memberId) });
    expect(body).toEqual({ data: { me: { status: 'ACTIVE' } } });
  } finally {
    await app.close();
  }
  const spans = await traces.spans();
  const operation = spans.find((span) => span.name === 'query.Me');
  expect(operation, JSON.stringify(spans.map((span) => span.name))).toBeDefined();
  return spans
    .filter((span) => span.parentSpanContext?.spanId === operation!.spanContext().spanId)
    .map((span) => String(span.attributes['db.query.text'] ?? span.attributes['db.statement']));
}

for (const round of ['first', 'second', 'third']) {
  describe(`tracing started a ${round} time`, () => {
    const traces = useTracing();

    it('records the SQL statements of an operation under its span', async () => {
      expect(await statementsOfMe(traces)).toContainEqual(expect.stringMatching(/\bFROM members\b/));
    });
  });
}
