import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { programChangeListWhere, readProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * Who may read the program settings (`program`) and their audit trail
 * (`Program.changes`) is the program service's rule (SERVICE_CALLERS.readProgram,
 * readProgramChanges), the same as the permission matrix's: a worker, the
 * console's server code or a new field calling the service gets nothing the
 * matrix refuses.
 */
const { prisma, app } = useTestApp();

describe('program: readProgram', () => {
  it('gives the settings to the callers the matrix allows; refuses everyone else (FORBIDDEN), a worker too, writing nothing', async () => {
    const callers = matrixCallers('Query', 'program', { owner: randomUUID(), stranger: randomUUID() });
    expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual([
      'memberSelf',
      'memberOther',
      'members:read',
      'admin',
      'AGENT',
      'SUPERVISOR',
      'ADMIN',
    ]);
    // Refused first, while the program row does not exist yet: a read past the check would create it.
    expect(await prisma.program.count()).toBe(0);
    for (const { kind, caller } of callers.filter((c) => c.access === 'deny')) {
      await expect(readProgram(app.deps, caller), `${kind} is refused`).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
    await expect(readProgram(app.deps, systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await prisma.program.count()).toBe(0);

    for (const { kind, caller } of callers.filter((c) => c.access !== 'deny')) {
      expect(await readProgram(app.deps, caller), kind).toMatchObject({ version: 1, settings: DEFAULT_PROGRAM_SETTINGS });
    }
  });
});

describe('Program.changes: programChangeListWhere', () => {
  it('lists the audit trail for admins only (the matrix’s note on `program`); refuses everyone else (FORBIDDEN), a worker too', async () => {
    await updateProgram(app.deps, { patch: { returnWindowDays: 21 } }, staffCaller('ADMIN', 'admin-ada'));
    const callers = matrixCallers('Query', 'program', { owner: randomUUID(), stranger: randomUUID() });
    for (const { kind, caller } of callers) {
      if (kind === 'admin' || kind === 'ADMIN') {
        const changes = await prisma.programChange.findMany({ where: programChangeListWhere(caller) });
        expect(changes, kind).toMatchObject([{ version: 2, actorType: 'STAFF', actorId: 'admin-ada' }]);
      } else {
        expect(() => programChangeListWhere(caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
      }
    }
    expect(() => programChangeListWhere(systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
