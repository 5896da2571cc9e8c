import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { describe, expect, it } from 'vitest';
import { sqlTransaction } from '../../src/db/sql.js';
import { issueVoucher, redeemVoucher, voidVoucher, type IssueVoucherInput } from '../../src/domain/vouchers/vouchers.service.js';
import { Prisma, PrismaClient } from '../../src/generated/prisma/client.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { testDatabaseUrl } from '../support/db.js';
import { statementsDuring } from '../support/statements.js';

/**
 * redeemVoucher answers with the voucher row its UPDATE returned (no read after
 * COMMIT); the stored answer, and so a replay, has the outcome only. The row
 * must read exactly as Prisma reads it, Decimals included.
 */
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const agent = { actor: { type: 'STAFF' as const, id: 'agent' }, role: 'AGENT' as const };

const { prisma, app } = useTestApp();

const deps = () => ({ prisma, logger: testLogger });
const stored = (id: string) => prisma.voucher.findUniqueOrThrow({ where: { id } });

function grant(memberId: string, overrides: Partial<IssueVoucherInput> = {}): IssueVoucherInput {
  return {
    memberId,
    kind: 'GOODWILL',
    value: { type: 'FIXED', amount: '10.00' },
    minimumOrderValue: '25.00',
    causeType: 'GESTURE',
    causeRef: randomUUID(),
    now: new Date(),
    ...overrides,
  };
}

describe('the voucher row', () => {
  it('issueVoucher reads it exactly as prisma.voucher.findUnique does, every field, on node-postgres and on Prisma raw queries', async () => {
    const memberId = await app.enroll();
    const plain = new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 1 }) });
    try {
      const fixed = grant(memberId);
      const created = await sqlTransaction(prisma, (tx) => issueVoucher(tx, fixed));
      expect(created.created).toBe(true);
      expect(created.voucher.amount).toBeInstanceOf(Prisma.Decimal);
      expect(created.voucher).toStrictEqual(await stored(created.voucher.id));
      const percent = await plain.$transaction((tx) =>
        issueVoucher(tx, grant(memberId, { value: { type: 'PERCENT', percent: 15 }, minimumOrderValue: null })),
      );
      expect(percent.voucher).toStrictEqual(await stored(percent.voucher.id));

      // Voided, so that every nullable column has a value; the retried grant reads the existing row.
      await voidVoucher(deps(), { code: created.voucher.code, reason: 'sent twice', idempotencyKey: 'v-1' }, agent);
      for (const db of [prisma, plain]) {
        const again = await sqlTransaction(db, (tx) => issueVoucher(tx, fixed));
        expect(again.created).toBe(false);
        expect(again.voucher.voidedAt).not.toBeNull();
        expect(again.voucher).toStrictEqual(await stored(created.voucher.id));
      }
    } finally {
      await plain.$disconnect();
    }
  });

  it('redeemVoucher answers with the row as stored; the stored answer stays the outcome; a replay has no row', async () => {
    const memberId = await app.enroll();
    for (const value of [
      { type: 'FIXED', amount: '10.00' },
      { type: 'PERCENT', percent: 15 },
    ] as const) {
      const { voucher } = await sqlTransaction(prisma, (tx) => issueVoucher(tx, grant(memberId, { value })));
      const input = { code: voucher.code, orderRef: `order-${value.type}`, orderTotal: '40.00', memberId, idempotencyKey: 'pay-1' };

      const redeemed = await redeemVoucher(deps(), input, storefront);
      expect(redeemed.voucher).toMatchObject({ status: 'REDEEMED' });
      expect(redeemed.voucher).toStrictEqual(await stored(voucher.id));
      const { voucher: _row, replayed: _replayed, ...outcome } = redeemed;
      const [record] = await prisma.$queryRaw<{ result: unknown }[]>`
        SELECT result FROM idempotency_records WHERE operation = ${`redeemVoucher:${voucher.code}`} AND key = 'pay-1'`;
      expect(record?.result).toStrictEqual(outcome);
      expect(Object.keys(outcome).sort()).toEqual(['currency', 'discount', 'orderRef', 'redemptionId', 'voucherId']);

      expect(await redeemVoucher(deps(), input, storefront)).toStrictEqual({ ...outcome, replayed: true });
    }
  });
});

const REDEEM = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
  ... on RedeemVoucherPayload { orderRef discount { amount } voucher { code status redeemedAt value { amount } member { id name } } }
  ... on Error { message code } } }`;

describe('the redeemVoucher payload', () => {
  it('the member selected on the voucher it answers with loads through plugin-prisma, and a replay answers alike', async () => {
    const key = await app.apiKeyToken(['vouchers:redeem', 'members:read']);
    const memberId = await app.enroll({ name: 'Ada' });
    const { voucher } = await sqlTransaction(prisma, (tx) => issueVoucher(tx, grant(memberId)));
    const input = { code: voucher.code, orderRef: 'order-1', orderTotal: '40.00', memberId, idempotencyKey: 'pay-1' };

    const first = await app.gql(REDEEM, { i: input }, key);
    expect(first.errors).toBeUndefined();
    expect(first.data?.redeemVoucher).toMatchObject({
      __typename: 'RedeemVoucherPayload',
      discount: { amount: '10.00' },
      voucher: { code: voucher.code, status: 'REDEEMED', value: { amount: '10.00' }, member: { name: 'Ada' } },
    });
    expect(first.data?.redeemVoucher.voucher.redeemedAt).toBe((await stored(voucher.id)).redeemedAt?.toISOString());
    expect(await app.gql(REDEEM, { i: input }, key)).toEqual(first);
  });

  it('redeemVoucher sends 4 statements and ends with COMMIT: the payload reads nothing after it', async () => {
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const memberId = await app.enroll();
    const redeem = async (code: string, orderRef: string) => {
      const { statements, result } = await statementsDuring(() =>
        app.gql(REDEEM.replace(' member { id name }', ''), { i: { code, orderRef, orderTotal: '40.00', idempotencyKey: orderRef } }, key),
      );
      expect(result.data?.redeemVoucher.__typename).toBe('RedeemVoucherPayload');
      return statements;
    };
    const warm = await sqlTransaction(prisma, (tx) => issueVoucher(tx, grant(memberId)));
    const measured = await sqlTransaction(prisma, (tx) => issueVoucher(tx, grant(memberId)));
    await redeem(warm.voucher.code, 'warm'); // the API key and the program settings are cached after their first use

    const sent = await redeem(measured.voucher.code, 'order-1');
    expect(sent).toHaveLength(4);
    expect(sent.at(-1)).toBe('COMMIT');
  });
});
