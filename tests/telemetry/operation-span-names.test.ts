import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import { useTracing } from '../support/tracing.js';

/**
 * The operation span's name and attributes from the operation name a client wrote (edge audit 2, stop 50): a name
 * that is an identifier of at most 64 characters names the span (`query.Ping`); anything longer names it
 * `graphql.operation`, and nothing the span records repeats it — trace back-ends index span names, and a client
 * must not be able to put a kilobyte of text (or a member's data) into every one of them.
 */
const { prisma } = useTestApp();
const traces = useTracing();
let app: ReturnType<typeof createTestApp>;
beforeAll(() => {
  app = createTestApp(prisma, { tracing: traces.tracing.graphqlPlugin });
});
afterAll(() => app.close());

/** The operation spans of one request to the real HTTP server, sent with `operationName` when given. */
async function operationSpans(query: string, operationName?: string): Promise<ReadableSpan[]> {
  traces.exporter.reset();
  const response = await fetch(await app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, ...(operationName === undefined ? {} : { operationName }) }),
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
  return (await traces.spans()).filter((span) => span.attributes['graphql.execute.operationType'] !== undefined);
}

/** Everything a span records as text: its name, attribute values, events' attributes. */
const recorded = (span: ReadableSpan): string =>
  JSON.stringify([span.name, span.attributes, span.events.map((event) => [event.name, event.attributes])]);

describe('operation span names', () => {
  it('names the span after an identifier of up to 64 characters, as before', async () => {
    const name = `P${'a'.repeat(63)}`;
    const [span, ...others] = await operationSpans(`query ${name} { __typename }`, name);
    expect(others).toEqual([]);
    expect(span!.name).toBe(`query.${name}`);
    expect(span!.attributes['graphql.execute.operationName']).toBe(name);
    expect((await operationSpans('query Ping { __typename }'))[0]!.name).toBe('query.Ping');
    expect((await operationSpans('{ __typename }'))[0]!.name).toBe('query.anonymous');
  });

  it('names the span graphql.operation for a name of 65 characters or more, and records the name nowhere', async () => {
    for (const name of [`P${'a'.repeat(64)}`, `member_alice_${'x'.repeat(2_000)}`]) {
      const [span, ...others] = await operationSpans(`query ${name} { __typename }`, name);
      expect(others).toEqual([]);
      expect(span!.name).toBe('graphql.operation');
      expect(span!.attributes['graphql.execute.operationType']).toBe('query');
      expect(span!.attributes['graphql.execute.operationName']).toBeUndefined();
      // The document (recorded when it has no inline arguments) holds the name too.
      expect(recorded(span!)).not.toContain(name.slice(0, 65));
    }
  });

  it('names the span by the operation the request ran when the document holds several', async () => {
    const long = `L${'o'.repeat(100)}`;
    const document = `query ${long} { __typename } query Short { __typename }`;
    expect((await operationSpans(document, 'Short'))[0]!.name).toBe('query.Short');
    const [span] = await operationSpans(document, long);
    expect(span!.name).toBe('graphql.operation');
    expect(recorded(span!)).not.toContain(long);
  });
});
