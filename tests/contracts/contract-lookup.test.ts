import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { contractByExternalRef, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { addMonths } from '../../src/domain/time.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';

/**
 * The lookup behind `contractByExternalRef` is the contracts service's: who may
 * look, which contracts a member finds, and what a reference may be are decided
 * there, for GraphQL and any other caller alike.
 */
const { prisma, app } = useTestApp();
const NOW = new Date('2026-06-01T12:00:00.000Z');
const deps = () => ({ prisma, logger: app.deps.logger, now: () => NOW });
const billing = apiKeyCaller('billing', ['contracts:write']);

async function contractOf(memberId: string, externalRef: string): Promise<string> {
  const input = { memberId, externalRef, plan: 'mobile', startsAt: addMonths(NOW, -6), termMonths: 12 };
  return (await registerContract(deps(), input, billing)).contractId;
}

describe('contractByExternalRef (contracts service)', () => {
  it('a member finds their own contract and not another member’s; staff and the billing system find both', async () => {
    const mine = await app.enroll();
    const theirs = await app.enroll();
    const own = await contractOf(mine, 'C-mine');
    const other = await contractOf(theirs, 'C-theirs');

    const member = memberCaller(mine);
    expect((await contractByExternalRef(deps(), 'C-mine', member))?.id).toBe(own);
    // Another member's contract is null, exactly as a reference nobody holds.
    expect(await contractByExternalRef(deps(), 'C-theirs', member)).toBeNull();
    expect(await contractByExternalRef(deps(), 'C-nobody', member)).toBeNull();

    for (const reader of [staffCaller('AGENT'), billing, apiKeyCaller('shop', ['members:read']), apiKeyCaller('root', ['admin'])]) {
      expect((await contractByExternalRef(deps(), 'C-mine', reader))?.id).toBe(own);
      expect((await contractByExternalRef(deps(), 'C-theirs', reader))?.id).toBe(other);
    }
  });

  it('passes the selection through: what plugin-prisma asks for is loaded with the row', async () => {
    const memberId = await app.enroll();
    await contractOf(memberId, 'C-1');
    const found = await contractByExternalRef(deps(), 'C-1', staffCaller('AGENT'), { include: { member: true } });
    expect(found).toMatchObject({ externalRef: 'C-1', member: { id: memberId } });
  });

  it('looks a reference up as stored: the length refused as registerContract refuses it, other characters simply not found', async () => {
    const memberId = await app.enroll();
    const contractId = await contractOf(memberId, 'C-1');
    const agent = staffCaller('AGENT');
    for (const externalRef of ['C'.repeat(121), 'C'.repeat(1_000_000), '   ', '']) {
      const registering = registerContract(
        deps(),
        { memberId, externalRef, plan: 'mobile', startsAt: addMonths(NOW, -6), termMonths: 12 },
        billing,
      );
      const refusal = await registering.catch((error: unknown) => error);
      expect(refusal, JSON.stringify(externalRef.slice(0, 20))).toMatchObject({ code: 'VALIDATION', field: 'externalRef' });
      await expect(contractByExternalRef(deps(), externalRef, agent)).rejects.toEqual(refusal);
    }
    // What no stored reference can hold is refused; what registerContract refuses today but a stored one may hold
    // (written before the naming rules, or by SQL) is looked up, and here finds nothing.
    for (const externalRef of ['C-\u00001', 'C-\uD8001']) {
      await expect(contractByExternalRef(deps(), externalRef, agent)).rejects.toMatchObject({ code: 'VALIDATION', field: 'externalRef' });
    }
    for (const externalRef of ['C-\u00071', 'C-\n1', '\u007f', 'C-\u202E1']) {
      await expect(contractByExternalRef(deps(), externalRef, agent)).resolves.toBeNull();
    }
    // The reference as registerContract stores it: without the spaces around it.
    expect((await contractByExternalRef(deps(), ' C-1  ', agent))?.id).toBe(contractId);
  });

  it('refuses callers who may not read contracts (ForbiddenError), whether the reference exists or not', async () => {
    const memberId = await app.enroll();
    await contractOf(memberId, 'C-1');
    const system: Caller = { actor: { type: 'SYSTEM', id: 'job' } };
    for (const caller of [apiKeyCaller('earn', ['points:earn']), apiKeyCaller('failures', ['failures:report']), system]) {
      for (const externalRef of ['C-1', 'C-404']) {
        await expect(contractByExternalRef(deps(), externalRef, caller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
    }
  });
});
