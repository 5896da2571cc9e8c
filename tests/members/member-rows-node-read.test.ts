import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { apiKeyCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, MEMBER_READER_KINDS } from '../support/matrix-callers.js';
import {
  expectIdsInAnyCase,
  expectNodeReadsByCallerKind,
  type MemberNodeType,
  readsDuring,
  withReadMembersRule,
} from '../support/node-reads.js';

/**
 * A member's ledger entry, order, tier change and voucher read through `node(id)` are their services' reads, as a
 * Member is the members service's (tests/members/member-node-read.test.ts): a caller outside the service's rule
 * (SERVICE_CALLERS.readMembers; readVouchers for a voucher, as `voucher(code)`) is refused before anything is read,
 * and for a member token the row is read only where it is theirs, so another member's row never leaves the database.
 * The types' visibility still guards such objects wherever else they enter an answer.
 */
const { prisma, app } = useTestApp();

/** Who reads vouchers in the permission matrix (`voucher`): the kinds the matrix lets in, in its order. */
const VOUCHER_READER_KINDS = ['memberSelf', 'members:read', 'vouchers:redeem', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];

/**
 * The member-owned node types read through a service: the matrix row of the field that reads the type by the same rule
 * (`node`'s is the member-read rule), the kinds it lets in, the rule a refusal names, the table each reads, a selection
 * and its answer.
 */
const TYPES = [
  {
    typename: 'LedgerEntry',
    field: 'node',
    readers: MEMBER_READER_KINDS,
    refusal: /^readMembers is for /,
    table: /\bledger_entries\b/,
    selection: 'kind amount causeRef member { id }',
    answer: (owner: string) => ({ kind: 'EARN', amount: 1000, causeRef: 'o-1', member: { id: encodeGlobalID('Member', owner) } }),
    rowOf: async (owner: string) => (await prisma.ledgerEntry.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'Order',
    field: 'node',
    readers: MEMBER_READER_KINDS,
    refusal: /^readMembers is for /,
    table: /\bpoint_orders\b/,
    selection: 'reference total { amount } member { id }',
    answer: (owner: string) => ({ reference: 'o-1', total: { amount: '1000.00' }, member: { id: encodeGlobalID('Member', owner) } }),
    rowOf: async (owner: string) => (await prisma.pointOrder.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'TierChange',
    field: 'node',
    readers: MEMBER_READER_KINDS,
    refusal: /^readMembers is for /,
    table: /\btier_changes\b/,
    selection: 'fromTierKey reason toTier { key }',
    answer: () => ({ fromTierKey: 'BRONZE', reason: 'UPGRADE', toTier: { key: 'SILVER' } }),
    rowOf: async (owner: string) => (await prisma.tierChange.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'Voucher',
    field: 'voucher',
    readers: VOUCHER_READER_KINDS,
    refusal: /^readVouchers is for /,
    table: /\bvouchers\b/,
    selection: 'kind value { amount } causeRef',
    answer: () => ({ kind: 'GOODWILL', value: { amount: '5.00' }, causeRef: 'gesture-1' }),
    rowOf: async (owner: string) => (await prisma.voucher.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
] as const satisfies readonly (MemberNodeType & { field: string })[];

/**
 * A member with one order of 1000.00 (its EARN entry, the order, and the tier change it brought: BRONZE to SILVER)
 * and a goodwill voucher of 5.00.
 */
async function memberWithOrder(): Promise<string> {
  const owner = await app.enroll();
  const shop = apiKeyCaller('shop', ['points:earn']);
  await earnPoints(app.deps, { memberId: owner, orderRef: 'o-1', orderTotal: '1000.00', idempotencyKey: 'earn-o-1' }, shop);
  await issueVoucher(prisma, {
    memberId: owner,
    kind: 'GOODWILL',
    value: { type: 'FIXED', amount: '5.00' },
    causeType: 'GESTURE',
    causeRef: 'gesture-1',
    now: new Date(),
  });
  return owner;
}

describe('node(id) of a member’s ledger entry, order, tier change and voucher is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: answers the callers the matrix lets read it; the service refuses the others before reading`, async () => {
      const owner = await memberWithOrder();
      const stranger = await app.enroll();
      const callers = matrixCallers('Query', type.field, { owner, stranger });
      expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual(type.readers);
      await expectNodeReadsByCallerKind(app, type, owner, stranger);
    });
  }

  it('reads a row by its id in any case, as the Member node does', async () => {
    await expectIdsInAnyCase(app, TYPES, await memberWithOrder());
  });
});

describe('AtRiskMember.member is the members service read', () => {
  const DESK = '{ atRiskMembers(first: 5) { edges { node { score member { id name } } } } }';

  /** A member on the save desk: two service failures in the last days. */
  async function atRisk(): Promise<string> {
    const memberId = await app.enroll({ name: 'At Risk' });
    for (const days of [2, 4]) {
      await prisma.serviceFailure.create({
        data: {
          memberId,
          type: 'LATE_DELIVERY',
          severity: 'LOW',
          occurredAt: new Date(Date.now() - days * 86_400_000),
          orderRef: `order-${days}`,
          reporterType: 'STAFF',
          reporterId: 'agent',
        },
      });
    }
    return memberId;
  }

  it('answers an agent with the member', async () => {
    const memberId = await atRisk();
    const result = await app.gql(DESK, {}, await app.staffToken('AGENT'));
    expect(result.errors).toBeUndefined();
    expect(result.data?.atRiskMembers.edges).toEqual([
      { node: { score: 30, member: { id: encodeGlobalID('Member', memberId), name: 'At Risk' } } },
    ]);
  });

  it('asks the members service, whose rule refuses before the member is read', async () => {
    await atRisk();
    const token = await app.staffToken('AGENT');
    await app.gql(DESK, {}, token);
    const { reads, result } = await withReadMembersRule({ staff: 'SUPERVISOR', apiKeys: ['members:read'], members: true }, () =>
      readsDuring(() => app.gql(DESK, {}, token)),
    );
    expect(result.errors?.map((e) => [e.extensions?.code, e.message, e.path?.join('.')])).toEqual([
      ['FORBIDDEN', expect.stringMatching(/^readMembers is for /), 'atRiskMembers.edges.0.node.member'],
    ]);
    // The ranking is read; the member row is not.
    expect(reads.filter((read) => /FROM "public"\."members"/.test(read.sql))).toEqual([]);
  });
});
