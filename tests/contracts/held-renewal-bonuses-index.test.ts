import { describe, expect, it } from 'vitest';
import { registerContract } from '../../src/domain/contracts/contracts.service.js';
import { addMonths } from '../../src/domain/time.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller } from '../support/callers.js';

/**
 * The supervisors' queue of held renewal bonuses (`heldRenewalBonuses`, `heldRenewalBonusesWhere`) is read from its
 * partial index (migration 202612221300), in the queue's order, not by scanning every renewal ever made.
 */
const { prisma, app } = useTestApp();
const billing = apiKeyCaller('billing', ['contracts:write']);

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}
const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

describe("the held renewal bonuses' index (migration 202612221300)", () => {
  it('answers the queue, longest waiting first, from the index among thousands of renewals', async () => {
    const memberId = await app.enroll();
    const { contractId } = await registerContract(
      app.deps,
      { memberId, externalRef: 'IDX-1', plan: 'p', startsAt: addMonths(new Date(), -11), termMonths: 12 },
      billing,
    );
    // 3 000 renewals, as a program's years of extensions: one in a hundred held, of those every third decided
    // (granted) or clawed back — out of the queue.
    await prisma.$executeRaw`
      INSERT INTO contract_renewals (contract_id, sequence, term_months, previous_ends_at, new_ends_at, requested_type,
        requested_by, bonus_points, bonus_held_at, bonus_held_reason, bonus_granted_at, clawed_back_at)
      SELECT ${contractId}::uuid, i, 12, now() - i * interval '1 minute', now() + interval '1 year', 'API_KEY', 'billing', 500,
        CASE WHEN i % 100 = 0 THEN now() - (i % 700) * interval '1 second' END,
        CASE WHEN i % 100 = 0 THEN 'MEMBER_SUSPENDED'::"RenewalBonusHoldReason" END,
        CASE WHEN i % 100 <> 0 OR i % 300 = 0 THEN now() END,
        CASE WHEN i % 500 = 0 THEN now() END
      FROM generate_series(1, 3000) i`;
    await prisma.$executeRawUnsafe('VACUUM (ANALYZE) contract_renewals');

    // heldRenewalBonusesWhere and the resolver's order, as Prisma asks for a page (first: 50).
    const QUERY = `SELECT id FROM contract_renewals
      WHERE bonus_held_at IS NOT NULL AND bonus_granted_at IS NULL AND clawed_back_at IS NULL
      ORDER BY bonus_held_at ASC, id ASC LIMIT 51`;
    const [explained] = await prisma.$queryRawUnsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(`EXPLAIN (FORMAT JSON) ${QUERY}`);
    const scans = nodesOf(explained!['QUERY PLAN'][0].Plan).filter((node) => node['Relation Name'] === 'contract_renewals');
    expect(scans).toEqual([expect.objectContaining({ 'Index Name': 'contract_renewals_held_bonus_queue_idx' })]);
    expect(nodesOf(explained!['QUERY PLAN'][0].Plan).map((node) => node['Node Type'])).not.toContain('Sort');

    const queue = await prisma.contractRenewal.findMany({
      where: { bonusHeldAt: { not: null }, bonusGrantedAt: null, clawedBackAt: null },
      orderBy: [{ bonusHeldAt: 'asc' }, { id: 'asc' }],
      select: { id: true },
    });
    expect(queue.map((row) => row.id)).toEqual((await prisma.$queryRawUnsafe<{ id: string }[]>(QUERY)).map((row) => row.id));
    // Held: 30; granted: 10 of them (every 300th); clawed back, not granted: 500, 1000, 2000, 2500 — 16 wait.
    expect(queue).toHaveLength(16);
  });
});
