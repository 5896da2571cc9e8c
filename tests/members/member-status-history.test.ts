import { describe, expect, it } from 'vitest';
import { enrollMember, updateMember } from '../../src/domain/members/members.service.js';
import { runPointsMaintenance } from '../../src/domain/points/maintenance.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

const { prisma } = useTestApp();

const shop = apiKeyCaller('history-shop', ['members:write', 'points:earn']);
const supervisor = staffCaller('SUPERVISOR');
const at = (iso: string) => {
  const now = new Date(iso);
  return { prisma, logger: testLogger, now: () => now };
};

async function history(memberId: string) {
  const rows = await prisma.memberStatusChange.findMany({ where: { memberId }, orderBy: { changedAt: 'asc' } });
  return rows.map((row) => [row.changedAt.toISOString(), row.fromStatus, row.toStatus]);
}

describe('member status history', () => {
  it('records enrolment, the maintenance job, reactivation by activity and staff changes, each at its own time', async () => {
    const { id } = await enrollMember(at('2024-05-01T10:00:00.000Z'), { externalId: 'h-1', email: 'h1@example.com', name: 'H' }, shop);
    await runPointsMaintenance(at('2025-06-01T03:00:00.000Z'));
    await earnPoints(at('2025-07-01T12:00:00.000Z'), { memberId: id, orderRef: 'o-1', orderTotal: '10.00', idempotencyKey: 'o-1' }, shop);
    await updateMember(at('2025-08-01T09:00:00.000Z'), { id, status: 'SUSPENDED' }, supervisor);
    await updateMember(at('2025-08-02T09:00:00.000Z'), { id, name: 'Renamed' }, supervisor); // not a status change
    await updateMember(at('2025-08-03T09:00:00.000Z'), { id, status: 'SUSPENDED' }, supervisor); // the same status
    await updateMember(at('2025-09-01T09:00:00.000Z'), { id, status: 'CLOSED' }, supervisor);

    expect(await history(id)).toEqual([
      ['2024-05-01T10:00:00.000Z', null, 'ACTIVE'],
      ['2025-06-01T03:00:00.000Z', 'ACTIVE', 'PASSIVE'],
      ['2025-07-01T12:00:00.000Z', 'PASSIVE', 'ACTIVE'],
      ['2025-08-01T09:00:00.000Z', 'ACTIVE', 'SUSPENDED'],
      ['2025-09-01T09:00:00.000Z', 'SUSPENDED', 'CLOSED'],
    ]);
  });

  it('a status written without a new updated_at is recorded at the statement’s time', async () => {
    const { id } = await enrollMember(at('2025-01-01T00:00:00.000Z'), { externalId: 'h-2', email: 'h2@example.com', name: 'H' }, shop);
    const [row] = await prisma.$queryRaw<{ now: Date }[]>`
      WITH changed AS (UPDATE members SET status = 'SUSPENDED' WHERE id = ${id}::uuid RETURNING id)
      SELECT statement_timestamp()::timestamptz(3) AS now FROM changed`;
    expect((await history(id)).at(-1)).toEqual([row!.now.toISOString(), 'ACTIVE', 'SUSPENDED']);
  });

  it('is append-only', async () => {
    const { id } = await enrollMember(at('2025-01-01T00:00:00.000Z'), { externalId: 'h-3', email: 'h3@example.com', name: 'H' }, shop);
    await expect(prisma.$executeRaw`UPDATE member_status_changes SET to_status = 'CLOSED' WHERE member_id = ${id}::uuid`).rejects.toThrow(
      /append-only/,
    );
    await expect(prisma.$executeRaw`DELETE FROM member_status_changes WHERE member_id = ${id}::uuid`).rejects.toThrow(/append-only/);
    expect(await history(id)).toHaveLength(1);
  });
});
