import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/** Checks that hold: a member token reaches no other member's data through the changed reads, whatever the id's form. */
const { prisma, app } = useTestApp();

describe('member token boundaries on the moved reads (holds)', () => {
  it('member(id), order(...) and contractByExternalRef give another member null for raw, upper-case and global ids and padded refs', async () => {
    const mine = await app.enroll();
    const theirs = await app.enroll();
    await prisma.pointOrder.create({ data: { memberId: theirs, orderRef: 'ORD-1', currency: 'EUR', placedAt: new Date() } });
    await prisma.contract.create({
      data: {
        memberId: theirs,
        externalRef: 'C-theirs',
        plan: 'p',
        startsAt: new Date(),
        endsAt: new Date(Date.now() + 1e10),
        termMonths: 12,
      },
    });
    const token = await app.memberToken(mine);
    for (const id of [theirs, theirs.toUpperCase(), encodeGlobalID('Member', theirs)]) {
      expect(await app.gql(`query($id: ID!) { member(id: $id) { id } }`, { id }, token)).toEqual({ data: { member: null } });
      expect(await app.gql(`query($id: ID!) { order(memberId: $id, reference: "ORD-1") { id } }`, { id }, token)).toEqual({
        data: { order: null },
      });
    }
    for (const ref of ['C-theirs', ' C-theirs ']) {
      expect(await app.gql(`query($r: String!) { contractByExternalRef(externalRef: $r) { id } }`, { r: ref }, token)).toEqual({
        data: { contractByExternalRef: null },
      });
    }
    // Their own id in upper case still reads themself.
    const own = await app.gql(`query($id: ID!) { member(id: $id) { id } }`, { id: mine.toUpperCase() }, token);
    expect(own.data?.member?.id).toBe(encodeGlobalID('Member', mine));
  });
});
