import { describe, expect, it } from 'vitest';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { expandIncidentPage, reportServiceIncident } from '../../src/domain/service-failures/incidents.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { enrolMembers, incidentPages } from '../support/incidents.js';

/**
 * An audit of the numeric limits on every path that creates or moves value, across areas: what one area accepts
 * (a setting, an input) multiplied, summed or carried into another area's column. Points are int4, money numeric.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);

describe('an incident without a budget, whose compensations add up past what one voucher may be', () => {
  it('compensates every member, and its budgetUsed holds their sum', async () => {
    // A careless but storable policy (each voucher fits, as updateProgram checks): 2 000 000 000.00 a MEDIUM failure.
    // In a currency of small units (VND, IDR) an outage of some thousand members at ordinary values adds up as much.
    await updateProgram(
      app.deps,
      { patch: { compensation: { baseBySeverity: { MEDIUM: '2000000000.00' }, capAmount: '9999999999.99' } } },
      admin,
    );
    const members = await enrolMembers(() => app.enroll(), 6);
    const { firstPage } = incidentPages('big-outage');
    const page = await reportServiceIncident(app.deps, firstPage(members.map((memberId) => ({ memberId }))), shop);
    const expansion = await expandIncidentPage(app.deps, page.pageId);
    expect(expansion).toMatchObject({ recorded: 6, compensated: 6 });
    const incident = await prisma.serviceIncident.findUniqueOrThrow({ where: { id: page.incidentId } });
    expect(incident.budgetUsed.toFixed(2)).toBe('12000000000.00');
    expect(await prisma.voucher.count({ where: { kind: 'COMPENSATION' } })).toBe(6);
  });
});

describe("a member's balance, as PostgreSQL holds it", () => {
  it('refuses available + pending past 2^31 − 1, which every read of the balance adds up as an integer', async () => {
    // The ledger kernel refuses such a grant (assertRoomFor); this is the last line of defence behind it. Each column
    // alone fits, but `available_points + pending_points` (the status read, the ledger check) would fail with 22003.
    const memberId = await app.enroll();
    await expect(
      prisma.$executeRaw`UPDATE members SET available_points = ${MAX_POINTS}, pending_points = 1, lifetime_points = ${MAX_POINTS}
                         WHERE id = ${memberId}::uuid`,
    ).rejects.toThrow(/members_balance_fits_an_integer/);
    // Exactly the limit is a balance.
    await prisma.$executeRaw`UPDATE members SET available_points = ${MAX_POINTS - 1}, pending_points = 1, lifetime_points = ${MAX_POINTS}
                             WHERE id = ${memberId}::uuid`;
    await prisma.$executeRaw`UPDATE members SET available_points = 0, pending_points = 0, lifetime_points = 0 WHERE id = ${memberId}::uuid`;
  });
});
