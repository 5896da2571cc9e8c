import type { ServiceDeps } from '../domain/deps.js';
import { ValidationError } from '../domain/errors.js';
import { amountInProgramCurrency, programCurrencyOf } from '../domain/program/program.service.js';
import { builder } from './builder.js';
import type { GraphQLContext } from './context.js';
import { perRequest } from './per-request.js';

/** Money as the API shows it: a decimal string and its currency. */
export interface MoneyShape {
  amount: string;
  currency: string;
}

export const Money = builder.objectRef<MoneyShape>('Money').implement({
  description: 'An amount of money.',
  fields: (t) => ({
    amount: t.expose('amount', { type: 'Decimal', description: 'The amount in the currency\u2019s minor units, e.g. "12.50".' }),
    currency: t.exposeString('currency', { description: 'ISO 4217 currency code.' }),
  }),
});

/** The program currency, read once per request. */
export const programCurrency: (ctx: GraphQLContext) => Promise<string> = perRequest((ctx) => programCurrencyOf(ctx.deps.prisma));

/** A Money value of an amount and a currency. */
export const money = (amount: string, currency: string): MoneyShape => ({ amount, currency });

/** What a MoneyInput holds once parsed by GraphQL: the domain validates the amount for its field. */
export interface MoneyInputShape {
  amount: string;
  currency: string;
}

export const MoneyInput = builder.inputType('MoneyInput', {
  description: 'An amount of money, the same shape as `Money`: what a form read it can send back.',
  fields: (t) => ({
    amount: t.field({ type: 'Decimal', required: true, description: 'Decimal string, e.g. "12.50".' }),
    currency: t.string({ required: true, description: 'ISO 4217 currency code, e.g. "EUR".' }),
  }),
});

/** An input's deprecated decimal-string field and the MoneyInput field that replaces it. */
export interface AmountFields {
  /** The deprecated field, e.g. `voucherValue`. */
  legacy: string;
  /** Its MoneyInput successor, e.g. `voucherValueMoney`. */
  money: string;
}

/**
 * The amount an input gives through its deprecated decimal-string field or its
 * MoneyInput successor (issue 16: money goes in as it comes out). Exactly one when
 * `required`, at most one otherwise, else a ValidationError naming the new field. What
 * a MoneyInput must hold is the domain's rule (`amountInProgramCurrency`); the service
 * validates the amount's range as before.
 */
export async function amountOf(
  deps: ServiceDeps,
  fields: AmountFields,
  legacy: string | null | undefined,
  given: MoneyInputShape | null | undefined,
  { required }: { required: boolean },
): Promise<string | undefined> {
  const money = moneyGiven(fields, legacy, given, { required });
  if (given != null) return amountInProgramCurrency(deps.prisma, fields.money, given);
  return money?.amount;
}

/**
 * The amount and, when the MoneyInput was sent, its currency, for a service that checks the currency itself (an
 * amount of an order, in the order's currency): one of the two fields at most (exactly one when `required`).
 */
export function moneyGiven(
  fields: AmountFields,
  legacy: string | null | undefined,
  given: MoneyInputShape | null | undefined,
  { required }: { required: boolean },
): { amount: string; currency: string | null } | undefined {
  if (legacy != null && given != null) {
    throw new ValidationError(fields.money, `give ${fields.money} or the deprecated ${fields.legacy}, not both`);
  }
  if (given != null) return { amount: given.amount, currency: given.currency };
  if (legacy != null) return { amount: legacy, currency: null };
  if (required) throw new ValidationError(fields.money, `is required (or the deprecated ${fields.legacy})`);
  return undefined;
}

/**
 * Runs a service call whose ValidationErrors name the deprecated fields, and names
 * the MoneyInput field instead where the client sent that one (`renames`: service
 * field → the field the client sent).
 */
export async function namingSentFields<T>(renames: Record<string, string>, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ValidationError && Object.hasOwn(renames, error.field)) {
      throw new ValidationError(renames[error.field]!, error.message);
    }
    throw error;
  }
}

/** The renames for namingSentFields: the service's name for the amount → `<money>.amount`, when the MoneyInput was sent. */
export const renamesFor = (fields: AmountFields, given: unknown, serviceField = fields.legacy): Record<string, string> =>
  given != null ? { [serviceField]: `${fields.money}.amount` } : {};

/**
 * The renames for a service that also holds the MoneyInput's currency against the program's under its locks (its
 * `currency` field, or `serviceCurrencyField` where the service names it otherwise): the amount's, as `renamesFor`,
 * and the currency's → `<money>.currency`, when the MoneyInput was sent.
 */
export const renamesWithCurrency = (fields: AmountFields, given: unknown, serviceCurrencyField = 'currency'): Record<string, string> =>
  given != null ? { ...renamesFor(fields, given), [serviceCurrencyField]: `${fields.money}.currency` } : {};

/** The deprecation of a decimal-string money field replaced by `replacement`. */
export const deprecatedFor = (replacement: string) => `Use ${replacement}. Removed after 2027-06-30.`;
