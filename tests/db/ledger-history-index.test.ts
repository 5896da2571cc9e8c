import { describe, expect, it } from 'vitest';
import { Prisma } from '../../src/generated/prisma/client.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { qualifyingStandingSql } from '../../src/domain/tiers/tiers.service.js';
import { testLogger, useTestApp } from '../support/app.js';

const admin = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
const { prisma, app } = useTestApp();
const deps = { prisma, logger: testLogger };

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Heap Fetches'?: number;
  Plans?: PlanNode[];
}
const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

describe("the ledger's member index (migration 202612111000)", () => {
  // The drift test compares an index's key columns only (Prisma's schema cannot say INCLUDE): this holds the rest.
  it('is keyed by member and time, newest first, and carries kind and amount', async () => {
    const rows = await prisma.$queryRaw<{ name: string; definition: string }[]>`
      SELECT indexname AS name, indexdef AS definition FROM pg_indexes
      WHERE tablename = 'ledger_entries' AND indexname LIKE 'ledger_entries_member%'`;
    expect(rows.map((row) => row.name).sort()).toEqual([
      'ledger_entries_member_history_idx',
      'ledger_entries_member_id_idempotency_key_key',
    ]);
    expect(rows.find((row) => row.name === 'ledger_entries_member_history_idx')?.definition).toMatch(
      /USING btree \(member_id, created_at DESC\) INCLUDE \(kind, amount\)$/,
    );
  });

  it("answers the status screen's qualifying points and their oldest entry from the index alone, however many entries the member has", async () => {
    const memberId = await app.enroll();
    for (let i = 1; i <= 30; i += 1) {
      await earnPoints(deps, { memberId, orderRef: `o-${i}`, orderTotal: '10.00', idempotencyKey: `e-${i}` }, admin);
    }
    // Vacuum marks the entries' pages all-visible, as autovacuum does for a ledger's older pages.
    await prisma.$executeRawUnsafe('VACUUM (ANALYZE) ledger_entries');

    const now = new Date();
    const [plan, standing] = await prisma.$transaction(async (tx) => {
      // A test database's ledger is small enough for a sequential scan: ask how the index answers.
      await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
      await tx.$executeRawUnsafe('SET LOCAL enable_bitmapscan = off');
      const sql = qualifyingStandingSql(Prisma.sql`${memberId}::uuid`, now);
      const [explained] = await tx.$queryRaw<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>`
        EXPLAIN (ANALYZE, FORMAT JSON) SELECT q.* FROM ${sql} q`;
      const [row] = await tx.$queryRaw<{ qualifying_points: bigint; qualifying_oldest: Date }[]>`SELECT q.* FROM ${sql} q`;
      return [explained!['QUERY PLAN'][0].Plan, row!] as const;
    });
    // A bigint (qualifying points pass 2^31 − 1 with lifetime points), as the ledger's sum of int amounts is.
    const points = Number(standing.qualifying_points);

    const ledgerScans = nodesOf(plan).filter((node) => node['Index Name']?.startsWith('ledger_entries_'));
    expect(ledgerScans).toEqual([
      expect.objectContaining({ 'Node Type': 'Index Only Scan', 'Index Name': 'ledger_entries_member_history_idx', 'Heap Fetches': 0 }),
    ]);
    const earned = await prisma.ledgerEntry.aggregate({ where: { memberId, kind: 'EARN' }, _sum: { amount: true } });
    expect(points).toBe(earned._sum.amount);
    expect(points).toBeGreaterThan(0);
    const oldest = await prisma.ledgerEntry.aggregate({ where: { memberId }, _min: { createdAt: true } });
    expect(standing.qualifying_oldest).toEqual(oldest._min.createdAt);
  });
});
