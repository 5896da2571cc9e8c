import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

const { prisma, app } = useTestApp();

const DAY = 86_400_000;

async function voucher(memberId: string, n: number, status: 'ISSUED' | 'VOIDED', expiresInDays = 30) {
  await prisma.voucher.create({
    data: {
      code: `COUNT-${memberId.slice(0, 8)}-${n}`,
      memberId,
      kind: 'GOODWILL',
      valueType: 'FIXED',
      amount: '5.00',
      currency: 'EUR',
      status,
      ...(status === 'VOIDED' ? { voidedAt: new Date(), voidReason: 'test' } : {}),
      causeType: 'GESTURE',
      causeRef: `count-${memberId}-${n}`,
      expiresAt: new Date(Date.now() + expiresInDays * DAY),
    },
  });
}

describe('totalCount on connections', () => {
  it('Query.members counts the whole filtered list, whatever the page size', async () => {
    for (let i = 0; i < 5; i++) await app.enroll({ name: `Counted ${i}` });
    await app.enroll({ name: 'Somebody else' });
    const agent = await app.staffToken('AGENT');
    const page = await app.gql(
      `query($f: MemberFilter) { members(first: 2, filter: $f) { totalCount edges { node { name } } pageInfo { hasNextPage } } }`,
      { f: { search: 'counted' } },
      agent,
    );
    expect(page.errors).toBeUndefined();
    expect(page.data!.members.totalCount).toBe(5);
    expect(page.data!.members.edges).toHaveLength(2);
    const all = await app.gql('{ members { totalCount } }', {}, agent);
    expect(all.data!.members.totalCount).toBe(6);
  });

  it('Member.vouchers counts with its status argument (the "3 vouchers" badge) and counts nothing when it is not selected', async () => {
    const member = await app.enroll();
    for (let n = 0; n < 3; n++) await voucher(member, n, 'ISSUED');
    await voucher(member, 3, 'VOIDED');
    await voucher(member, 4, 'ISSUED', -1); // expired by date: not ISSUED "as of now"
    const other = await app.enroll();
    await voucher(other, 0, 'ISSUED');
    const token = await app.memberToken(member);
    const query = `{ me { usable: vouchers(status: ISSUED) { totalCount } all: vouchers(first: 1) { totalCount edges { node { code } } } } }`;
    const { result, statements } = await statementsDuring(() => app.gql(query, {}, token));
    expect(result.errors).toBeUndefined();
    expect(result.data!.me.usable).toEqual({ totalCount: 3 });
    expect(result.data!.me.all.totalCount).toBe(5);
    expect(result.data!.me.all.edges).toHaveLength(1);
    // At most one count per counted connection; none at all when no totalCount is selected.
    expect(statements.filter((sql) => /count\(/i.test(sql)).length).toBeLessThanOrEqual(2);
    const plain = await statementsDuring(() => app.gql('{ me { vouchers(first: 1) { edges { node { code } } } } }', {}, token));
    expect(plain.statements.filter((sql) => /count\(/i.test(sql))).toEqual([]);
  });

  it('Member.ledger and Member.goodwillGestures count the member’s rows only', async () => {
    const member = await app.enroll();
    const other = await app.enroll();
    for (const [id, times] of [
      [member, 4],
      [other, 2],
    ] as const) {
      for (let i = 0; i < times; i++) {
        await adjustPoints(app.deps, { memberId: id, points: 10, reason: 'count', idempotencyKey: `count-${i}` }, staffCaller('ADMIN'));
      }
    }
    const agent = await app.staffToken('AGENT');
    const answer = await app.gql(
      `query($id: ID!) { member(id: $id) { ledger(first: 1) { totalCount } goodwillGestures { totalCount } } }`,
      { id: encodeGlobalID('Member', member) },
      agent,
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.member).toEqual({ ledger: { totalCount: 4 }, goodwillGestures: { totalCount: 0 } });
  });

  it('Query.rewards counts what the caller may see: retired rewards only for an admin who asks', async () => {
    for (const [name, active] of [
      ['a', true],
      ['b', true],
      ['c', false],
    ] as const) {
      await prisma.reward.create({ data: { name, pointsCost: 100, voucherValue: '1.00', currency: 'EUR', active } });
    }
    const member = await app.memberToken(await app.enroll());
    const admin = await app.staffToken('ADMIN');
    const query = 'query($all: Boolean) { rewards(includeRetired: $all) { totalCount } }';
    expect((await app.gql(query, {}, member)).data!.rewards.totalCount).toBe(2);
    expect((await app.gql(query, { all: true }, admin)).data!.rewards.totalCount).toBe(3);
  });

  it('every connection type in the schema has a described totalCount', async () => {
    const { getSchema } = await import('../../src/graphql/schema.js');
    const schema = getSchema();
    const connections = Object.values(schema.getTypeMap()).filter(
      (type) => type.name.endsWith('Connection') && 'getFields' in type && 'pageInfo' in type.getFields(),
    );
    expect(connections.length).toBeGreaterThanOrEqual(19);
    for (const connection of connections) {
      const field = (connection as { getFields(): Record<string, { type: unknown; description?: string | null }> }).getFields().totalCount;
      expect(String(field?.type), connection.name).toBe('Int!');
      expect(field?.description, connection.name).toMatch(/Cheap|Costly/);
    }
  });
});
