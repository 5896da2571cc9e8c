import { describe, expect, it } from 'vitest';
import {
  reportServiceIncident,
  serviceIncidentById,
  serviceIncidentListWhere,
  serviceIncidentProgress,
  serviceIncidentsProgress,
} from '../../src/domain/service-failures/incidents.service.js';
import { reportServiceFailure, serviceFailureListWhere } from '../../src/domain/service-failures/service-failures.service.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * Who may read service failures and incidents is the service's rule, the same
 * as the permission matrix's row of the GraphQL field: a worker, the CLI or a
 * new field calling the service gets nothing the matrix refuses. A key with
 * `failures:report` is let in, and finds only the incidents it reported: the
 * agent's incident here is, to it, one nobody reported
 * (tests/service-failures/incident-permissions-audit.test.ts).
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);

async function incident(): Promise<{ memberId: string; incidentId: string }> {
  const memberId = await app.enroll();
  const page = await reportServiceIncident(
    app.deps,
    { type: 'LATE_DELIVERY', severity: 'MEDIUM', affected: [{ memberId }], idempotencyKey: 'incident-1' },
    staffCaller('AGENT'),
  );
  return { memberId, incidentId: page.incidentId };
}

describe('serviceIncident(id): serviceIncidentById', () => {
  it('gives the incident to the callers the matrix allows; refuses everyone else (FORBIDDEN), a worker too', async () => {
    const { memberId, incidentId } = await incident();
    const callers = matrixCallers('Query', 'serviceIncident', { owner: memberId, stranger: await app.enroll() });
    expect(callers.filter((c) => c.access === 'allow').map((c) => c.kind)).toEqual([
      'failures:report',
      'admin',
      'AGENT',
      'SUPERVISOR',
      'ADMIN',
    ]);
    for (const { kind, access, caller } of callers) {
      const read = serviceIncidentById(app.deps, incidentId, caller);
      if (access === 'deny') await expect(read, `${kind} is refused`).rejects.toMatchObject({ code: 'FORBIDDEN' });
      else if (kind === 'failures:report') expect(await read, kind).toBeNull();
      else expect(await read, kind).toMatchObject({ id: incidentId, type: 'LATE_DELIVERY' });
    }
    await expect(serviceIncidentById(app.deps, incidentId, systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('loads what the selection asks for; an unknown id is null and one that is not an id a VALIDATION error', async () => {
    const { incidentId } = await incident();
    const agent = staffCaller('AGENT');
    expect(await serviceIncidentById(app.deps, incidentId, agent, { select: { id: true, severity: true } })).toEqual({
      id: incidentId,
      severity: 'MEDIUM',
    });
    expect(await serviceIncidentById(app.deps, '6f1c0a52-2f4e-4b7a-9d3e-0c1d2e3f4a5b', agent)).toBeNull();
    await expect(serviceIncidentById(app.deps, 'nope', agent)).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
    // A refused caller learns nothing of the id either.
    await expect(serviceIncidentById(app.deps, 'nope', systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('ServiceIncident.progress: serviceIncidentProgress, serviceIncidentsProgress', () => {
  it('counts for the callers the matrix allows; refuses everyone else (FORBIDDEN) before the id is looked at, a malformed one too', async () => {
    const { memberId, incidentId } = await incident();
    for (const { kind, access, caller } of matrixCallers('Query', 'serviceIncident', { owner: memberId, stranger: await app.enroll() })) {
      if (access === 'deny') {
        // A malformed id tells a refused caller nothing of the id's format: FORBIDDEN, as for a real one.
        for (const id of ['nope', incidentId]) {
          await expect(serviceIncidentProgress(app.deps, id, caller), `${kind} is refused (${id})`).rejects.toMatchObject({
            code: 'FORBIDDEN',
          });
          await expect(serviceIncidentsProgress(app.deps, [id], caller), `${kind} is refused (${id})`).rejects.toMatchObject({
            code: 'FORBIDDEN',
          });
        }
      } else {
        expect(await serviceIncidentProgress(app.deps, incidentId, caller), kind).toMatchObject(
          kind === 'failures:report' ? { affected: 0, pages: 0 } : { affected: 1, pages: 1 },
        );
        await expect(serviceIncidentProgress(app.deps, 'nope', caller), kind).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'incidentId',
        });
      }
    }
    await expect(serviceIncidentProgress(app.deps, 'nope', systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('serviceIncidents: serviceIncidentListWhere', () => {
  it('lists for the callers the matrix allows; refuses everyone else (FORBIDDEN), a worker too', async () => {
    const { memberId, incidentId } = await incident();
    for (const { kind, access, caller } of matrixCallers('Query', 'serviceIncidents', { owner: memberId, stranger: await app.enroll() })) {
      if (access === 'deny')
        expect(() => serviceIncidentListWhere(null, caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
      else
        expect(
          (await prisma.serviceIncident.findMany({ where: serviceIncidentListWhere(null, caller) })).map((i) => i.id),
          kind,
        ).toEqual(kind === 'failures:report' ? [] : [incidentId]);
    }
    expect(() => serviceIncidentListWhere(null, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});

describe('serviceFailures: serviceFailureListWhere', () => {
  it('lists for the callers the matrix allows (staff); refuses everyone else (FORBIDDEN), a worker too', async () => {
    const memberId = await app.enroll();
    const { failureId } = await reportServiceFailure(
      app.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'o-1', idempotencyKey: 'failure-1' },
      shop,
    );
    const callers = matrixCallers('Query', 'serviceFailures', { owner: memberId, stranger: await app.enroll() });
    expect(callers.filter((c) => c.access === 'allow').map((c) => c.kind)).toEqual(['admin', 'AGENT', 'SUPERVISOR', 'ADMIN']);
    for (const { kind, access, caller } of callers) {
      if (access === 'deny') {
        expect(() => serviceFailureListWhere(null, caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
        // The filter does not change the answer: refused before anything else is looked at.
        expect(() => serviceFailureListWhere({ memberId }, caller), `${kind} is refused`).toThrow(
          expect.objectContaining({ code: 'FORBIDDEN' }),
        );
      } else {
        const where = serviceFailureListWhere({ memberId }, caller);
        expect(
          (await prisma.serviceFailure.findMany({ where })).map((f) => f.id),
          kind,
        ).toEqual([failureId]);
      }
    }
    expect(() => serviceFailureListWhere(null, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
