import { describe, expect, it } from 'vitest';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { testLogger, useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

/**
 * The member status read is decided once per selection of a parsed document and its statement built once per shape
 * (src/graphql/members/member-read.ts, src/domain/members/member-status.service.ts): what the document and its
 * variables ask must still decide every answer — a page size sent as a variable, the member asked for, a field node
 * merged with other siblings in another operation of the same document.
 */
const { prisma, app } = useTestApp(4);
const admin = { actor: { type: 'STAFF' as const, id: 'admin' }, role: 'ADMIN' as const };

/** A member with `entries` adjustments of 1, 2, … points: its ledger newest first is entries, entries − 1, … */
async function memberWithEntries(entries: number): Promise<string> {
  const memberId = await app.enroll();
  for (let i = 1; i <= entries; i++) {
    await adjustPoints(
      { prisma, logger: testLogger },
      { memberId, points: i, reason: `entry ${i}`, idempotencyKey: `adj-${memberId}-${i}` },
      admin,
    );
  }
  return memberId;
}

const amounts = (member: { ledger: { edges: { node: { amount: number } }[] } }) => member.ledger.edges.map((edge) => edge.node.amount);
const statusStatements = (statements: string[]) => statements.filter((text) => text.includes('AS vouchers'));

async function post(body: Record<string, unknown>, token: string) {
  const response = await app.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

describe('the member status read, decided once per document', () => {
  it('reads the page size a variable sends on every request, not the first one it saw', async () => {
    const memberId = await memberWithEntries(6);
    const token = await app.apiKeyToken(['members:read']);
    const query = `query($id: ID!, $n: Int!) { member(id: $id) { id ledger(first: $n) { edges { node { amount } } } } }`;
    for (const n of [2, 5, 1, 5]) {
      const { statements, result } = await statementsDuring(() => app.gql(query, { id: memberId, n }, token));
      expect(result.errors).toBeUndefined();
      expect(amounts(result.data!.member)).toEqual([6, 5, 4, 3, 2].slice(0, n));
      expect(statusStatements(statements)).toHaveLength(1);
    }
  });

  it("answers each member with its own rows from one document written with the page's size", async () => {
    const [first, second] = [await memberWithEntries(3), await memberWithEntries(4)];
    const token = await app.apiKeyToken(['members:read']);
    const query = `query($id: ID!) { member(id: $id) { id balance { available } ledger(first: 3) { edges { node { amount } } } } }`;
    const sent: string[] = [];
    for (const [memberId, balance, page] of [
      [first, 6, [3, 2, 1]],
      [second, 10, [4, 3, 2]],
      [first, 6, [3, 2, 1]],
    ] as const) {
      const { statements, result } = await statementsDuring(() => app.gql(query, { id: memberId }, token));
      expect(result.data!.member.balance.available).toBe(balance);
      expect(amounts(result.data!.member)).toEqual(page);
      sent.push(...statusStatements(statements));
    }
    // One statement per read, the same text each time: built once for the shape.
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(1);
  });

  it('decides a field node merged with other siblings in another operation of the document for that operation', async () => {
    const memberId = await memberWithEntries(3);
    const token = await app.apiKeyToken(['members:read']);
    const document = `
      fragment Head on Query { member(id: $id) { id balance { available } } }
      query Short($id: ID!) { ...Head }
      query Long($id: ID!) { ...Head member(id: $id) { ledger(first: 2) { edges { node { amount } } } } }
      query Paged($id: ID!) { ...Head member(id: $id) { ledger(last: 1) { edges { node { amount } } } } }`;
    for (const operationName of ['Short', 'Long', 'Short', 'Paged', 'Long']) {
      const { statements, result } = await statementsDuring(() =>
        post({ query: document, variables: { id: memberId }, operationName }, token),
      );
      expect(result.errors).toBeUndefined();
      const member = result.data!.member;
      expect(member.balance.available).toBe(6);
      if (operationName === 'Short') expect(member.ledger).toBeUndefined();
      if (operationName === 'Long') expect(amounts(member)).toEqual([3, 2]);
      // A last page is Prisma's to answer: no status statement.
      if (operationName === 'Paged') expect(amounts(member)).toEqual([1]);
      expect(statusStatements(statements)).toHaveLength(operationName === 'Paged' ? 0 : 1);
    }
  });

  it('takes the Prisma path for a directive whatever the variable says, with the right answer', async () => {
    const memberId = await memberWithEntries(2);
    const token = await app.apiKeyToken(['members:read']);
    const query = `query($id: ID!, $with: Boolean!) { member(id: $id) { id ledger(first: 5) @include(if: $with) { edges { node { amount } } } } }`;
    for (const include of [true, false, true]) {
      const { statements, result } = await statementsDuring(() => app.gql(query, { id: memberId, with: include }, token));
      expect(result.errors).toBeUndefined();
      if (include) expect(amounts(result.data!.member)).toEqual([2, 1]);
      else expect(result.data!.member.ledger).toBeUndefined();
      expect(statusStatements(statements)).toHaveLength(0);
    }
  });
});
