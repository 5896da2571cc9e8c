import type { PrismaClient } from '../../src/db/prisma.js';

/**
 * A contract written with Prisma, as one was stored before the text and key rules (docs/domain-rules.md, "Text"): its
 * reference may hold what a write refuses today. Returns its id.
 */
export async function storedContract(prisma: PrismaClient, memberId: string, externalRef: string): Promise<string> {
  const contract = await prisma.contract.create({
    data: {
      memberId,
      externalRef,
      plan: 'mobile',
      startsAt: new Date('2026-01-01T00:00:00Z'),
      endsAt: new Date('2027-01-01T00:00:00Z'),
      termMonths: 12,
    },
  });
  return contract.id;
}
