import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readMember, readMemberStatus } from '../../src/domain/members/member-status.service.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller, MEMBER_READER_KINDS } from '../support/matrix-callers.js';
import { statementsDuring } from '../support/statements.js';

/**
 * Who may read a member — `member(id)`, `me` and the live status' member, on the
 * one-statement path (`readMemberStatus`) and through Prisma (`readMember`) — is
 * the members service's rule (SERVICE_CALLERS.readMembers, a member only
 * themself), the same as the permission matrix's row for `member`: a worker, the
 * console's server code or a new field calling the read gets nothing the matrix
 * refuses. Refused is what GraphQL answers: FORBIDDEN for a caller outside the
 * rule, and for a member token aiming at another member the same null as an id
 * nobody has (member(id) answers null, the live status NOT_FOUND).
 */
const { prisma, app } = useTestApp();

/** The whole status screen: member, both pages, expiries and tier standing. */
const EVERYTHING = { vouchers: { take: 3, status: null }, ledger: { take: 3 }, expiries: true, standing: true } as const;

describe('member read: readMemberStatus and readMember check their caller', () => {
  it('give the member to the callers the matrix allows; refuse everyone else, a worker too, reading nothing', async () => {
    const owner = await app.enroll();
    const stranger = await app.enroll();
    const callers = matrixCallers('Query', 'member', { owner, stranger });
    expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual(MEMBER_READER_KINDS);
    const refused = callers.filter((c) => c.access === 'deny' && c.kind !== 'memberOther');
    expect(refused.map((c) => c.kind)).toContain('points:earn');

    // Refused first, while the program row does not exist yet: a standing read past the check would create it.
    expect(await prisma.program.count()).toBe(0);
    for (const { kind, caller } of [...refused, { kind: 'system', caller: systemCaller }]) {
      const { statements } = await statementsDuring(async () => {
        await expect(readMemberStatus(app.deps, owner, EVERYTHING, caller), `${kind}: status`).rejects.toMatchObject({
          code: 'FORBIDDEN',
        });
        await expect(readMember(app.deps, owner, {}, caller), `${kind}: Prisma`).rejects.toMatchObject({ code: 'FORBIDDEN' });
      });
      expect(statements, `${kind} reads nothing`).toEqual([]);
    }
    expect(await prisma.program.count()).toBe(0);

    for (const { kind, caller } of callers.filter((c) => c.access !== 'deny')) {
      const status = await readMemberStatus(app.deps, owner, EVERYTHING, caller);
      expect(status?.member.id, kind).toBe(owner);
      expect(status?.standing?.qualifyingPoints, kind).toBe(0);
      expect((await readMember(app.deps, owner, { include: { vouchers: true } }, caller))?.id, kind).toBe(owner);
    }
  });

  it('answer a member token aiming at another member null, as an id nobody has, and read nothing for it', async () => {
    const owner = await app.enroll();
    const stranger = await app.enroll();
    await adjustPoints(app.deps, { memberId: owner, points: 40, reason: 'opening', idempotencyKey: 'open' }, staffCaller('ADMIN'));
    const other = memberCaller(stranger);

    const { statements } = await statementsDuring(async () => {
      expect(await readMemberStatus(app.deps, owner, EVERYTHING, other)).toBeNull();
      expect(await readMemberStatus(app.deps, owner, {}, other)).toBeNull();
      expect(await readMember(app.deps, owner, { include: { ledger: true } }, other)).toBeNull();
      expect(await readMember(app.deps, owner.toUpperCase(), {}, other)).toBeNull();
    });
    expect(statements).toEqual([]);
    // An unknown id reads the same to anyone allowed.
    expect(await readMemberStatus(app.deps, randomUUID(), EVERYTHING, staffCaller('AGENT'))).toBeNull();
    expect(await readMember(app.deps, randomUUID(), {}, apiKeyCaller('shop', ['members:read']))).toBeNull();

    // Their own member, on either path, with what they hold.
    const mine = await readMemberStatus(app.deps, owner, EVERYTHING, memberCaller(owner));
    expect(mine?.member.ledger?.map((entry) => entry.amount)).toEqual([40]);
    expect((await readMember(app.deps, owner, { include: { ledger: true } }, memberCaller(owner)))?.id).toBe(owner);
  });

  it('refuses an id that is not one (VALIDATION) to a caller who may read members', async () => {
    await expect(readMemberStatus(app.deps, 'nope', {}, staffCaller('AGENT'))).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
    await expect(readMember(app.deps, 'nope', {}, staffCaller('AGENT'))).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
  });

  it('the one-statement read stays one statement for an allowed caller (the check is in memory)', async () => {
    const owner = await app.enroll();
    await readMemberStatus(app.deps, owner, EVERYTHING, staffCaller('AGENT')); // creates the program row
    const { statements, result } = await statementsDuring(() => readMemberStatus(app.deps, owner, EVERYTHING, memberCaller(owner)));
    expect(result?.member.id).toBe(owner);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/FROM members m/);
  });
});
