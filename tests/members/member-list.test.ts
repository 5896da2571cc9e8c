import { describe, expect, it } from 'vitest';
import { memberListWhere } from '../../src/domain/members/members.service.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * Who may list members (`members`) is the members service's rule, the same as
 * the permission matrix's row: a worker, the CLI or a new field calling it gets
 * nothing the matrix refuses. A member token lists no one, not even themself.
 */
const { prisma, app } = useTestApp();

describe('members: memberListWhere', () => {
  it('lists for the callers the matrix allows; refuses everyone else (FORBIDDEN), members and workers too', async () => {
    const memberId = await app.enroll({ externalId: 'list-1', name: 'Ada Lovelace' });
    const callers = matrixCallers('Query', 'members', { owner: memberId, stranger: await app.enroll() });
    expect(callers.filter((c) => c.access === 'allow').map((c) => c.kind)).toEqual([
      'members:read',
      'admin',
      'AGENT',
      'SUPERVISOR',
      'ADMIN',
    ]);
    for (const { kind, access, caller } of callers) {
      if (access === 'deny') {
        expect(() => memberListWhere(null, caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
        // Refused before the filter is looked at: a bad one changes nothing.
        expect(() => memberListWhere({ tier: 'not a tier' }, caller), `${kind} is refused`).toThrow(
          expect.objectContaining({ code: 'FORBIDDEN' }),
        );
      } else {
        const where = memberListWhere({ search: 'lovelace' }, caller);
        expect(
          (await prisma.member.findMany({ where })).map((m) => m.id),
          kind,
        ).toEqual([memberId]);
      }
    }
    expect(() => memberListWhere(null, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
