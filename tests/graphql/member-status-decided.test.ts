import { describe, expect, it } from 'vitest';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { testLogger, useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

/**
 * The member status statement is built once per shape (src/domain/members/member-status.service.ts): what the
 * document and its variables ask must still decide every answer — the member asked for.
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

describe('the member status read, decided once per document', () => {
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
});
