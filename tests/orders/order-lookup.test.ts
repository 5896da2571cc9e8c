import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { orderByReference } from '../../src/domain/orders/orders.service.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';

/**
 * The lookup behind `order(memberId, reference)` is the orders service's: who
 * may read an order, which orders a member token finds and what a reference
 * may be are decided there, for GraphQL and any other caller alike.
 */
const { prisma, app } = useTestApp();
const deps = () => ({ prisma, logger: app.deps.logger });
const shop = apiKeyCaller('shop', ['points:earn']);

async function orderOf(memberId: string, orderRef: string): Promise<void> {
  await earnPoints(deps(), { memberId, orderRef, orderTotal: '20.00', idempotencyKey: `earn-${orderRef}` }, shop);
}

describe('orderByReference (orders service)', () => {
  it('a member finds their own order and not another member’s; staff and members:read keys find both', async () => {
    const mine = await app.enroll();
    const theirs = await app.enroll();
    await orderOf(mine, 'o-mine');
    await orderOf(theirs, 'o-theirs');

    const member = memberCaller(mine);
    expect(await orderByReference(deps(), { memberId: mine, reference: 'o-mine' }, member)).toMatchObject({ orderRef: 'o-mine' });
    // Another member's order is null, exactly as an order nobody placed, whatever the reference.
    for (const reference of ['o-theirs', 'o-nobody', 'bad\nreference']) {
      expect(await orderByReference(deps(), { memberId: theirs, reference }, member)).toBeNull();
    }

    for (const reader of [staffCaller('AGENT'), apiKeyCaller('reader', ['members:read']), apiKeyCaller('root', ['admin'])]) {
      expect(await orderByReference(deps(), { memberId: mine, reference: ' o-mine ' }, reader)).toMatchObject({ memberId: mine });
      expect(await orderByReference(deps(), { memberId: theirs, reference: 'o-theirs' }, reader)).toMatchObject({ memberId: theirs });
    }
  });

  it('passes the selection through; a reference is looked up as stored, its length and NUL refused', async () => {
    const memberId = await app.enroll();
    await orderOf(memberId, 'o-1');
    const agent = staffCaller('AGENT');
    const found = await orderByReference(deps(), { memberId, reference: 'o-1' }, agent, { include: { member: true } });
    expect(found).toMatchObject({ orderRef: 'o-1', member: { id: memberId } });

    await expect(orderByReference(deps(), { memberId: 'nope', reference: 'o-1' }, agent)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'memberId',
    });
    for (const reference of ['x'.repeat(201), '   ', 'o-\u00001']) {
      await expect(orderByReference(deps(), { memberId, reference }, agent)).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'reference',
      });
    }
    // A reference an order placed today could not have, but one placed before the naming rules may: not found here.
    for (const reference of ['A\nB', 'o-\u202E1']) {
      await expect(orderByReference(deps(), { memberId, reference }, agent)).resolves.toBeNull();
    }
  });

  it('refuses callers who may not read members’ orders (ForbiddenError)', async () => {
    const memberId = await app.enroll();
    await orderOf(memberId, 'o-1');
    const system: Caller = { actor: { type: 'SYSTEM', id: 'job' } };
    for (const caller of [shop, apiKeyCaller('writer', ['members:write']), system]) {
      await expect(orderByReference(deps(), { memberId, reference: 'o-1' }, caller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  });
});
