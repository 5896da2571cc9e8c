import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import * as check from '../../src/domain/validation.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { currencySwitchInput } from '../support/currency-switch.js';
import { whileHolding } from '../support/holding.js';
import { untilWaitingForLocks } from '../support/until.js';

const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);

const UPDATE = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
  __typename
  ... on UpdateProgramPayload { program { version currency goodwill { monthlyBudget { amount currency } } } }
  ... on ValidationError { field message }
  ... on Error { message }
} }`;

async function update(input: Record<string, unknown>) {
  return app.gql(UPDATE, { i: input }, await app.staffToken('ADMIN'));
}

/** The stored settings and version, read as a client reads them (the row is created with the defaults on first use). */
async function stored() {
  const response = await app.gql(
    `{ program { version currency
      compensation { baseBySeverity { critical { amount } } laterFailureFactor }
      tiers { key compensationFactor }
      goodwill { monthlyBudget { amount currency } } } }`,
    {},
    await app.staffToken('ADMIN'),
  );
  return response.data?.program;
}

describe('updateProgram: the currency', () => {
  it('a well-formed code that is not ISO 4217 ("ABC") is a ValidationError on currency, and nothing is stored', async () => {
    expect(Intl.supportedValuesOf('currency')).not.toContain('ABC');
    const result = await update({ currency: 'ABC' });
    expect(result.data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'currency' });
    expect(await stored()).toMatchObject({ version: 1, currency: 'EUR' });
    expect(await prisma.programChange.count()).toBe(0);

    // The same one check for every other input that names a currency.
    expect(() => check.currency('amount.currency', 'ABC')).toThrow(ValidationError);
    expect(check.currency('amount.currency', 'CHF')).toBe('CHF');
    expect((await update(currencySwitchInput(DEFAULT_PROGRAM_SETTINGS, 'CHF'))).data?.updateProgram).toMatchObject({
      program: { version: 2, currency: 'CHF' },
    });
  });
});

describe('updateProgram: the compensation policy fits a voucher', () => {
  it('a base whose largest voucher exceeds 9 999 999 999.99 is refused, naming the setting; nothing is stored', async () => {
    // 9 000 000 000.00 × PLATINUM 2 × repeat 2 = 36 000 000 000.00: no voucher holds it, the job would fail for ever.
    const refused = updateProgram(app.deps, { patch: { compensation: { baseBySeverity: { CRITICAL: '9000000000.00' } } } }, admin);
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toMatchObject({
      field: 'compensation.baseBySeverity.CRITICAL',
      message: expect.stringMatching(/too large.*PLATINUM \(2\).*repeat factor 2.*36000000000\.00/),
    });

    // Through GraphQL the error names the field the client sent.
    const sent = await update({ compensation: { baseBySeverityMoney: { high: { amount: '5000000000.00', currency: 'EUR' } } } });
    expect(sent.data?.updateProgram).toMatchObject({
      __typename: 'ValidationError',
      field: 'compensation.baseBySeverityMoney.high.amount',
    });
    const capped = await update({ compensation: { capAmount: '10000000000.00' } });
    expect(capped.data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'compensation.capAmount' });

    expect(await stored()).toMatchObject({ version: 1, compensation: { baseBySeverity: { critical: { amount: '50.00' } } } });
    expect(await prisma.programChange.count()).toBe(0);
  });

  it('a later change of a factor is held to the same bound, whatever the patch touches', async () => {
    // 4 999 999 999.99 × PLATINUM 2 × repeat 1 = 9 999 999 999.98: the largest voucher just fits.
    const patch = { compensation: { baseBySeverity: { CRITICAL: '4999999999.99' }, secondFailureFactor: 1, laterFailureFactor: 1 } };
    expect((await updateProgram(app.deps, { patch }, admin)).version).toBe(2);

    const raisedTier = await update({
      tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }, { key: 'PLATINUM', compensationFactor: 2.5 }],
    });
    expect(raisedTier.data?.updateProgram).toMatchObject({
      __typename: 'ValidationError',
      field: 'compensation.baseBySeverity.CRITICAL',
      message: expect.stringContaining('PLATINUM (2.5)'),
    });
    const newTier = await update({
      tiers: [
        { key: 'BRONZE' },
        { key: 'PLATINUM' },
        { key: 'DIAMOND', name: 'Diamond', threshold: 50_000, multiplier: 3, compensationFactor: 3 },
      ],
    });
    expect(newTier.data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'compensation.baseBySeverity.CRITICAL' });
    const raisedRepeat = await update({ compensation: { laterFailureFactor: 1.5 } });
    expect(raisedRepeat.data?.updateProgram).toMatchObject({
      __typename: 'ValidationError',
      field: 'compensation.baseBySeverity.CRITICAL',
    });
    expect(await stored()).toMatchObject({
      version: 2,
      compensation: { laterFailureFactor: 1 },
      tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }, { key: 'PLATINUM', compensationFactor: 2 }],
    });

    // Settings stored before the rule (written behind the service): the next change, of anything, must mend them first.
    await prisma.$executeRaw`
      UPDATE program SET settings = jsonb_set(settings, '{compensation,baseBySeverity,CRITICAL}', '"9000000000.00"') WHERE id = 1`;
    const unrelated = await update({ pointsPerCurrencyUnit: 2 });
    expect(unrelated.data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'compensation.baseBySeverity.CRITICAL' });
  });

  it('the largest voucher an accepted policy computes is issued by the compensation job', async () => {
    const patch = {
      compensation: {
        baseBySeverity: { CRITICAL: '4999999999.99' },
        secondFailureFactor: 1,
        laterFailureFactor: 1,
        capAmount: '9999999999.99',
      },
    };
    await updateProgram(app.deps, { patch }, admin);
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { tier: 'PLATINUM' } });
    const reported = await reportServiceFailure(
      app.deps,
      { memberId, type: 'LATE_DELIVERY', severity: 'CRITICAL', orderRef: 'order-1', idempotencyKey: 'k-1' },
      storefront,
    );

    expect(await processCompensation({ failureId: reported.failureId }, app.deps)).toMatchObject({
      outcome: 'COMPENSATED',
      amount: '9999999999.98',
    });
    const failure = await prisma.serviceFailure.findUniqueOrThrow({ where: { id: reported.failureId } });
    expect(failure.status).toBe('COMPENSATED');
    const voucher = await prisma.voucher.findUniqueOrThrow({ where: { id: failure.voucherId! } });
    expect(voucher.amount?.toFixed(2)).toBe('9999999999.98');
  });
});

describe('updateProgram: money settings keep the currency they were decided in', () => {
  it('an amount in another currency than the program has after the change is a ValidationError naming its field', async () => {
    // A change of currency restates every money setting (tests/program/currency-switch.test.ts); here the budget's.
    const toUsd = currencySwitchInput(DEFAULT_PROGRAM_SETTINGS, 'USD');
    const withBudget = (monthlyBudgetMoney: { amount: string; currency: string }) => ({
      ...toUsd,
      goodwill: { ...(toUsd.goodwill as object), monthlyBudgetMoney },
    });
    const late = await update(withBudget({ amount: '900.00', currency: 'EUR' }));
    expect(late.data?.updateProgram).toMatchObject({
      __typename: 'ValidationError',
      field: 'goodwill.monthlyBudgetMoney.currency',
      message: expect.stringContaining('USD'),
    });
    expect(await stored()).toMatchObject({ version: 1, currency: 'EUR' });

    const both = await update(withBudget({ amount: '900.00', currency: 'USD' }));
    expect(both.data?.updateProgram).toMatchObject({
      program: { version: 2, currency: 'USD', goodwill: { monthlyBudget: { amount: '900.00', currency: 'USD' } } },
    });
    const old = await update({ compensation: { baseBySeverityMoney: { low: { amount: '5.00', currency: 'EUR' } } } });
    expect(old.data?.updateProgram).toMatchObject({
      __typename: 'ValidationError',
      field: 'compensation.baseBySeverityMoney.low.currency',
    });
  });

  it('an amount given in the old currency is refused when another admin changed the currency meanwhile', async () => {
    // A third change of the settings holds the program row; admin A (to USD) and then admin B (a budget in EUR) wait for it.
    await stored();
    let b!: ReturnType<typeof update>;
    const a = whileHolding(
      prisma,
      (holder) => holder.query('SELECT 1 FROM program WHERE id = 1 FOR UPDATE'),
      () => update(currencySwitchInput(DEFAULT_PROGRAM_SETTINGS, 'USD')),
      {
        meanwhile: async () => {
          b = update({ goodwill: { monthlyBudgetMoney: { amount: '900.00', currency: 'EUR' } } });
          await untilWaitingForLocks(prisma, 2, 'B to wait');
        },
      },
    );

    expect((await a).data?.updateProgram.__typename).toBe('UpdateProgramPayload');
    expect((await b).data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'goodwill.monthlyBudgetMoney.currency' });
    // 900 EUR did not become a budget of 900 USD.
    expect(await stored()).toMatchObject({
      version: 2,
      currency: 'USD',
      goodwill: { monthlyBudget: { amount: '500.00', currency: 'USD' } },
    });
  });
});
