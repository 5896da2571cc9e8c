import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';

/**
 * Production's query cost limit (src/app.ts, EnvelopArmorPlugin costLimit) weighs a list by the page
 * size it asks for (`first`/`last`). The same page sizes sent as variables — as every generated client
 * sends them — must weigh the same, or the limit is bypassed by writing `first: $n` instead of `first: 100`
 * (they weighed as one item each before src/graphql/page-size-cost.ts).
 */
const { prisma } = useTestApp();
const app = createTestApp(prisma, { env: { NODE_ENV: 'production' } });
afterAll(async () => app.close());

const NESTED_LITERAL = `query { members(first: 100) { edges { node { ledger(first: 100) { edges { node { amount kind } } } orders(first: 100) { edges { node { id } } } } } } }`;
const NESTED_VARIABLES = `query Pages($n: Int!, $m: Int!) { members(first: $n) { edges { node { ledger(first: $m) { edges { node { amount kind } } } orders(first: $m) { edges { node { id } } } } } } }`;

describe('query cost limit', () => {
  it('weighs page sizes sent as variables as it weighs them written in the document', async () => {
    const admin = await app.staffToken('ADMIN');
    const literal = await app.request(NESTED_LITERAL, {}, { token: admin });
    // The control: written inline, 100 members × 100 ledger entries and orders each is refused before anything runs.
    expect(literal.body.errors?.[0]?.message ?? '', JSON.stringify(literal.body)).toMatch(/cost/i);
    expect(literal.body.data ?? null).toBeNull();

    const viaVariables = await app.request(NESTED_VARIABLES, { n: 100, m: 100 }, { token: admin });
    expect(viaVariables.body.errors?.[0]?.message ?? '', JSON.stringify(viaVariables.body)).toMatch(/cost/i);
    expect(viaVariables.body.data ?? null).toBeNull();
  });

  it('weighs a default page size as the value it stands for, and runs what the limit allows', async () => {
    const admin = await app.staffToken('ADMIN');
    const withDefaults = NESTED_VARIABLES.replace('$n: Int!, $m: Int!', '$n: Int = 100, $m: Int = 100');
    const defaulted = await app.request(withDefaults, {}, { token: admin });
    expect(defaulted.body.errors?.[0]?.message ?? '', JSON.stringify(defaulted.body)).toMatch(/cost/i);
    expect(defaulted.status).toBe(400);

    const small = await app.request(NESTED_VARIABLES, { n: 5, m: 10 }, { token: admin });
    expect(small.body).toEqual({ data: { members: { edges: [] } } });
  });
});
