import type { PrismaClient } from '../../src/db/prisma.js';
import { loadProgram, type ProgramPatch } from '../../src/domain/program/program.service.js';
import { DEFAULT_PROGRAM_SETTINGS, type ProgramSettings } from '../../src/domain/program/program-settings.js';

/**
 * A change of the program's currency as `updateProgram` takes it: the new currency with every setting bound to
 * the currency restated in the same change (docs/domain-rules.md, "A change of currency restates the money
 * settings"), here with the figures of `settings` — the decision a test makes when the figures are not its subject.
 */
export function currencySwitchPatch(settings: ProgramSettings, currency: string): ProgramPatch {
  const inNew = (amount: string) => ({ amount, currency });
  const base = settings.compensation.baseBySeverity;
  return {
    currency,
    pointsPerCurrencyUnit: settings.pointsPerCurrencyUnit,
    pointValue: inNew(settings.pointValue),
    compensation: {
      baseBySeverity: { LOW: inNew(base.LOW), MEDIUM: inNew(base.MEDIUM), HIGH: inNew(base.HIGH), CRITICAL: inNew(base.CRITICAL) },
      capAmount: inNew(settings.compensation.capAmount),
    },
    goodwill: { perGestureLimit: inNew(settings.goodwill.perGestureLimit), monthlyBudget: inNew(settings.goodwill.monthlyBudget) },
  };
}

/** `currencySwitchPatch` of the program as stored now. */
export async function currencySwitch(prisma: PrismaClient, currency: string): Promise<ProgramPatch> {
  return currencySwitchPatch((await loadProgram(prisma)).settings, currency);
}

/** The same change as an `UpdateProgramInput` (MoneyInput fields), for tests that switch through GraphQL. */
export function currencySwitchInput(settings: ProgramSettings, currency: string): Record<string, unknown> {
  const inNew = (amount: string) => ({ amount, currency });
  const base = settings.compensation.baseBySeverity;
  return {
    currency,
    pointsPerCurrencyUnit: settings.pointsPerCurrencyUnit,
    pointValueMoney: inNew(settings.pointValue),
    compensation: {
      baseBySeverityMoney: { low: inNew(base.LOW), medium: inNew(base.MEDIUM), high: inNew(base.HIGH), critical: inNew(base.CRITICAL) },
      capAmountMoney: inNew(settings.compensation.capAmount),
    },
    goodwill: {
      perGestureLimitMoney: inNew(settings.goodwill.perGestureLimit),
      monthlyBudgetMoney: inNew(settings.goodwill.monthlyBudget),
    },
  };
}

/** A GraphQL input literal of `value`: object keys bare, strings quoted. */
const literal = (value: unknown): string =>
  value !== null && typeof value === 'object'
    ? `{ ${Object.entries(value)
        .map(([key, inner]) => `${key}: ${literal(inner)}`)
        .join(', ')} }`
    : JSON.stringify(value);

/**
 * The `updateProgram` mutation, without variables, that switches a program on `settings` (the defaults unless
 * given) to `currency`, restating its figures as they are; it selects `__typename` (and an error's message).
 */
export const switchCurrencyMutation = (currency: string, settings: ProgramSettings = DEFAULT_PROGRAM_SETTINGS): string =>
  `mutation { updateProgram(input: ${literal(currencySwitchInput(settings, currency))}) { __typename ... on Error { message } } }`;
