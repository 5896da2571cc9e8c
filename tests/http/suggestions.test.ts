// No useTestApp(): handlers with introspection on and off; no request writes a row.
import { afterAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { createTestPrisma } from '../support/db.js';
import { TEST_JWT_SECRET, testLogger } from '../support/app.js';

// Nothing here touches rows: the requests fail in validation or variable coercion.
const prisma = createTestPrisma(1);
afterAll(async () => prisma.$disconnect());

function handler(env: Record<string, string>) {
  const config = loadConfig({ JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', ...env });
  return createGraphQLHandler({ config, logger: testLogger, prisma });
}

/** Typos an anonymous caller can send to fish for names of the schema. */
const PROBES: { label: string; query: string; variables?: Record<string, unknown>; hidden: string }[] = [
  { label: 'an enum literal', query: '{ members(filter: { status: ACTIVX }) { edges { cursor } } }', hidden: 'ACTIVE' },
  {
    label: 'an enum variable',
    query: 'query($s: MemberStatus) { members(filter: { status: $s }) { edges { cursor } } }',
    variables: { s: 'SUSPENDEX' },
    hidden: 'SUSPENDED',
  },
  { label: 'a root field', query: '{ membersx { edges { cursor } } }', hidden: '"members"' },
  { label: 'an object field', query: '{ program { currencyx } }', hidden: '"currency"' },
  { label: 'an argument', query: '{ members(filterx: {}) { edges { cursor } } }', hidden: '"filter"' },
  { label: 'an input field literal', query: '{ members(filter: { statusx: ACTIVE }) { edges { cursor } } }', hidden: '"status"' },
  {
    label: 'an input field variable',
    query: 'query($f: MemberFilter) { members(filter: $f) { edges { cursor } } }',
    variables: { f: { searchx: 'a' } },
    hidden: '"search"',
  },
  { label: 'a type name', query: 'query($f: MemberFiltex) { members(filter: $f) { edges { cursor } } }', hidden: 'MemberFilter"' },
];

async function messagesFor(yoga: ReturnType<typeof handler>, probe: (typeof PROBES)[number]) {
  const response = await yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: probe.query, variables: probe.variables ?? {} }),
  });
  const body = (await response.json()) as { errors?: { message: string }[] };
  return (body.errors ?? []).map((error) => error.message);
}

describe('schema suggestions ("Did you mean …")', () => {
  const closed = [
    ['production', handler({ NODE_ENV: 'production' })],
    ['introspection turned off outside production', handler({ NODE_ENV: 'development', GRAPHQL_INTROSPECTION: 'false' })],
  ] as const;
  for (const [mode, yoga] of closed) {
    for (const probe of PROBES) {
      it(`are not given for a misspelt ${probe.label} when introspection is off (${mode})`, async () => {
        const messages = await messagesFor(yoga, probe);
        expect(messages.length).toBeGreaterThan(0);
        for (const message of messages) {
          expect(message).not.toMatch(/did you mean/i);
          expect(message).not.toContain(probe.hidden);
        }
      });
    }
  }

  it('are given while introspection is on (development), where the schema is public anyway', async () => {
    const yoga = handler({ NODE_ENV: 'development' });
    const messages = await messagesFor(yoga, PROBES[0]!);
    expect(messages.join(' ')).toMatch(/did you mean the enum value "ACTIVE"/i);
  });
});
