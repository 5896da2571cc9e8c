import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { type GraphQLResponse, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { currencySwitch } from '../support/currency-switch.js';
import { tableRowCounts } from '../support/db.js';
import { type Hold, holdMember, whileHolding } from '../support/holding.js';

/**
 * Money keeps the currency it was decided in (docs/domain-rules.md): an amount a client gives as a MoneyInput is
 * held against the program currency by the service, under the locks its decision waits for, not by the resolver
 * before them. Each case queues the request behind a row another connection holds, switches the program from EUR
 * to JPY meanwhile, and expects a ValidationError on the MoneyInput's currency with nothing written.
 */
const { prisma, app } = useTestApp();

const REDEEM = `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename
  ... on RedeemVoucherPayload { discount { amount currency } }
  ... on VoucherNotRedeemableError { reason }
  ... on ValidationError { field }
  ... on Error { message code } } }`;
const REPORT_INCIDENT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) { __typename
  ... on ReportServiceIncidentPayload { incident { id } }
  ... on ValidationError { field }
  ... on Error { message code } } }`;

/** Rows of every application table: what a refused request must leave as it was. */
const rowCounts = () => tableRowCounts(prisma);

/**
 * Sends `request` while another connection holds what `hold` locks in an open transaction, waits until the
 * request is queued behind it, switches the program to JPY, then releases (`release`: COMMIT, or ROLLBACK when the
 * held row must not stay).
 */
const whileSwitchingToYen = (hold: Hold, request: () => Promise<GraphQLResponse>, release: 'COMMIT' | 'ROLLBACK' = 'COMMIT') =>
  whileHolding(prisma, hold, request, {
    meanwhile: async () => updateProgram(app.deps, { patch: await currencySwitch(prisma, 'JPY') }, staffCaller('ADMIN')),
    release,
  });

describe('redeemVoucher: the order total keeps its currency', () => {
  it('an order total given in EUR is not taken as JPY when the program switched while the redemption waited', async () => {
    const memberId = await app.enroll();
    // A percentage without a minimum is no money of its own: only the order total's currency can refuse it.
    const voucher = await prisma.$transaction(async (tx) => {
      const issued = await issueVoucher(tx, {
        memberId,
        kind: 'GOODWILL',
        value: { type: 'PERCENT', percent: 10 },
        causeType: 'GESTURE',
        causeRef: randomUUID(),
        now: new Date(),
      });
      return issued.voucher;
    });
    await loadProgram(prisma);
    const storefront = await app.apiKeyToken(['vouchers:redeem'], 'shop-currency');
    const before = await rowCounts();

    const answer = await whileSwitchingToYen(holdMember(memberId), () =>
      app.gql(
        REDEEM,
        {
          i: {
            code: voucher.code,
            orderRef: 'order-eur',
            orderTotalMoney: { amount: '49.90', currency: 'EUR' },
            idempotencyKey: 'redeem-eur',
          },
        },
        storefront,
      ),
    );

    // Before: checked against EUR before the locks, then redeemed under them on an order of 49.90 JPY (4.99 JPY off).
    expect(answer.data?.redeemVoucher, JSON.stringify(answer)).toMatchObject({
      __typename: 'ValidationError',
      field: 'orderTotalMoney.currency',
    });
    expect((await prisma.voucher.findUniqueOrThrow({ where: { id: voucher.id } })).status).toBe('ISSUED');
    const after = await rowCounts();
    expect({ ...after, program_changes: before.program_changes }).toEqual(before);
  });
});

describe('reportServiceIncident: the budget keeps its currency', () => {
  it('a budget given in EUR is not stored as JPY when the program switched while the page waited for its key', async () => {
    const memberId = await app.enroll();
    await loadProgram(prisma);
    const agent = await app.staffToken('AGENT', 'agent-currency');
    const before = await rowCounts();

    const answer = await whileSwitchingToYen(
      // The same key, reserved by a request still in flight: this page waits on the key's unique index.
      (holder) =>
        holder.query(
          `INSERT INTO idempotency_records (operation, key, request_hash, result) VALUES ('reportServiceIncident:STAFF:agent-currency', $1, 'other', 'null'::jsonb)`,
          ['incident-eur'],
        ),
      () =>
        app.gql(
          REPORT_INCIDENT,
          {
            i: {
              type: 'OUTAGE',
              severity: 'MEDIUM',
              budgetMoney: { amount: '500.00', currency: 'EUR' },
              affected: [{ memberId }],
              idempotencyKey: 'incident-eur',
            },
          },
          agent,
        ),
      'ROLLBACK',
    );

    // Before: checked against EUR before the key's wait, then stored under it as a budget of 500 JPY.
    expect(answer.data?.reportServiceIncident, JSON.stringify(answer)).toMatchObject({
      __typename: 'ValidationError',
      field: 'budgetMoney.currency',
    });
    expect(await prisma.serviceIncident.count()).toBe(0);
    const after = await rowCounts();
    expect({ ...after, program_changes: before.program_changes }).toEqual(before);
  });
});
