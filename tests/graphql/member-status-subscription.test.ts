import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

const STATUS = `subscription($m: ID) { memberStatusChanged(memberId: $m) {
  change { kind reference } changes { kind }
  member { id balance { available pending } tier status vouchers(first: 5) { edges { node { id kind } } } } } }`;

const { app } = useTestApp();

describe('memberStatusChanged (in process)', () => {
  it('opens with the current status, then sends each committed change', async () => {
    const memberId = await app.enroll();
    const token = await app.memberToken(memberId);
    const stream = await app.subscribe(STATUS, {}, token);
    try {
      const first = await stream.result(0);
      expect(first.errors).toBeUndefined();
      expect(first.data!.memberStatusChanged).toMatchObject({
        change: { kind: 'CURRENT', reference: null },
        member: { id: encodeGlobalID('Member', memberId), balance: { available: 0, pending: 0 } },
      });
      const shop = await app.apiKeyToken(['points:earn']);
      const earned = await app.gql(
        `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`,
        { i: { memberId, orderRef: 'order-1', orderTotal: '25.00', idempotencyKey: 'earn-1' } },
        shop,
      );
      expect(earned.data!.earnPoints.__typename).toBe('EarnPointsPayload');
      const second = await stream.result(1);
      expect(second.data!.memberStatusChanged).toMatchObject({
        change: { kind: 'EARNED', reference: 'order-1' },
        member: { balance: { pending: 25 } },
      });
    } finally {
      await stream.close();
    }
  });
});
