import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rawSql } from '../../src/db/sql.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { loadTierStandings, readTiers, readTierStandings, tierRules } from '../../src/domain/tiers/tiers.service.js';
import { apiKeyCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller, MEMBER_READER_KINDS } from '../support/matrix-callers.js';

/**
 * Who may read the tiers (`tiers`) and a member's standing in them (`Member.tier`,
 * `Member.tierProgress`, a tier change's tiers) is the tiers service's rule
 * (SERVICE_CALLERS.readTiers; readMembers for a member's standing), the same as
 * the permission matrix's: a worker, the console's server code or a new field
 * calling the service gets nothing the matrix refuses.
 */
const { prisma, app } = useTestApp();

describe('tiers: readTiers', () => {
  it('gives the tiers to every caller with credentials, as the matrix says; refuses none and a worker (FORBIDDEN), writing nothing', async () => {
    const callers = matrixCallers('Query', 'tiers', { owner: randomUUID(), stranger: randomUUID() });
    expect(callers.filter((c) => c.access === 'deny').map((c) => c.kind)).toEqual(['anonymous']);
    // Refused first, while the program row does not exist yet: a read past the check would create it.
    expect(await prisma.program.count()).toBe(0);
    await expect(readTiers(app.deps, callers[0]!.caller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(readTiers(app.deps, systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await prisma.program.count()).toBe(0);

    for (const { kind, caller } of callers.filter((c) => c.access !== 'deny')) {
      expect(await readTiers(app.deps, caller), kind).toEqual(tierRules(DEFAULT_PROGRAM_SETTINGS));
    }
  });

  it('lets in an API key whatever its scopes, as the field let in any key (one whose scopes are all retired holds none)', async () => {
    expect((await readTiers(app.deps, apiKeyCaller('old-key', []))).map((tier) => tier.key)).toEqual(
      DEFAULT_PROGRAM_SETTINGS.tiers.map((tier) => tier.key),
    );
  });
});

describe('Member.tier and tierProgress: readTierStandings', () => {
  it('gives a member’s standing to whoever may read the member, a member only their own; refuses everyone else (FORBIDDEN)', async () => {
    const owner = await app.enroll();
    const stranger = await app.enroll();
    await earnPoints(
      app.deps,
      { memberId: owner, orderRef: 'o-1', orderTotal: '120.00', idempotencyKey: 'earn-1' },
      apiKeyCaller('shop', ['points:earn']),
    );
    const expected = await loadTierStandings(rawSql(prisma), [owner], new Date());
    expect(expected.qualifyingPoints.get(owner)).toBeGreaterThan(0);
    const programRows = await prisma.program.findMany();

    const callers = matrixCallers('Query', 'member', { owner, stranger });
    expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual(MEMBER_READER_KINDS);
    for (const { kind, access, caller } of callers) {
      // memberOther is a member token asking for the owner's standing.
      const read = readTierStandings(app.deps, [owner], caller);
      if (access === 'deny') {
        await expect(read, `${kind} is refused`).rejects.toMatchObject({ code: 'FORBIDDEN' });
      } else {
        const standings = await read;
        expect(standings.qualifyingPoints.get(owner), kind).toBe(expected.qualifyingPoints.get(owner));
        expect(standings.program.settings, kind).toEqual(DEFAULT_PROGRAM_SETTINGS);
      }
    }
    // A member's own id among others' is still another's standing.
    await expect(readTierStandings(app.deps, [owner, stranger], callers[1]!.caller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(readTierStandings(app.deps, [owner], systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await prisma.program.findMany()).toEqual(programRows);
  });
});
