import { describe, expect, it } from 'vitest';
import { contractStatusAt, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { enrollMember } from '../../src/domain/members/members.service.js';
import { countAtRiskMembers, listAtRiskMembers } from '../../src/domain/save-desk/save-desk.service.js';
import { addMonths } from '../../src/domain/time.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/** What an adversarial audit of service cases, feedback, SLA sweeps and the save desk found (2026-12-06). */
const { prisma } = useTestApp();

const N = new Date('2026-06-01T12:00:00.000Z');
const at = (now: Date) => ({ prisma, logger: testLogger, now: () => now });
const agent = staffCaller('AGENT', 'agent-audit');
const billing = apiKeyCaller('billing', ['members:write', 'contracts:write']);

describe('the save desk at the instant a contract ends', () => {
  it('a contract ending exactly now has ended (EXPIRED): it is not a contract ending soon; one ending a millisecond later is', async () => {
    const enrolled = new Date('2026-05-01T00:00:00.000Z'); // recent: not drifting
    const ended = await enrollMember(at(enrolled), { externalId: 'ends-now', name: 'Ends now' }, billing);
    const ending = await enrollMember(at(enrolled), { externalId: 'ends-later', name: 'Ends later' }, billing);
    // Registered at enrolment, 12 months from a start that puts the end at N (and N + 1 ms).
    for (const [member, end] of [
      [ended.id, N],
      [ending.id, new Date(N.getTime() + 1)],
    ] as const) {
      await registerContract(
        at(enrolled),
        { memberId: member, externalRef: `contract-${member}`, plan: 'mobile', startsAt: addMonths(end, -12), termMonths: 12 },
        billing,
      );
    }
    const contracts = await prisma.contract.findMany({ orderBy: { endsAt: 'asc' } });
    expect(contracts.map((contract) => [contract.endsAt.toISOString(), contractStatusAt(contract, N)])).toEqual([
      [N.toISOString(), 'EXPIRED'],
      [new Date(N.getTime() + 1).toISOString(), 'ACTIVE'],
    ]);

    const page = await listAtRiskMembers(at(N), { first: 10 }, agent);
    expect(page.members.map((entry) => [entry.memberId, entry.reasons.map((reason) => reason.kind)])).toEqual([
      [ending.id, ['CONTRACT_ENDING']],
    ]);
    expect(await countAtRiskMembers(at(N), agent)).toBe(1);
  });
});
