// No useTestApp(): yoga with a two-field schema and the service's own masker; no database involved.
import { createSchema, createYoga } from 'graphql-yoga';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createErrorMasker, requestIdOnErrors } from '../../src/graphql/error-masking.js';

describe('an unexpected error in the log', () => {
  it('carries the id of the request it happened in, while the client sees only "Unexpected error."', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const yoga = createYoga<object, { requestId: string }>({
      schema: createSchema({
        typeDefs: 'type Query { broken: Int, fine: Int }',
        resolvers: {
          Query: {
            broken: () => {
              throw new Error('connection pool timed out');
            },
            fine: () => 1,
          },
        },
      }),
      context: ({ request }) => ({ requestId: request.headers.get('x-request-id') ?? 'none' }),
      maskedErrors: { maskError: createErrorMasker({ logger, hideSuggestions: true }) },
      plugins: [requestIdOnErrors()],
      logging: false,
    });
    const ask = async (requestId: string, query: string) => {
      const response = await yoga.fetch('http://treue.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: JSON.stringify({ query }),
      });
      return (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
    };

    const [first, second] = await Promise.all([ask('req-a', '{ fine broken }'), ask('req-b', '{ broken }')]);
    expect(first.errors).toEqual([expect.objectContaining({ message: 'Unexpected error.', extensions: { code: 'INTERNAL' } })]);
    expect(second.errors?.[0]?.message).toBe('Unexpected error.');
    expect(JSON.stringify([first, second])).not.toContain('pool');
    const logged = lines.filter((line) => line.msg === 'unexpected error');
    expect(logged.map((line) => line.requestId).sort()).toEqual(['req-a', 'req-b']);
    expect(logged.every((line) => (line.err as { message?: string }).message === 'connection pool timed out')).toBe(true);
  });
});
