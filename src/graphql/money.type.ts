import { builder } from './builder.js';

/** Money as the API shows it: a decimal string and its currency. */
export interface MoneyShape {
  amount: string;
  currency: string;
}

export const Money = builder.objectRef<MoneyShape>('Money').implement({
  description: 'An amount of money.',
  fields: (t) => ({
    amount: t.exposeString('amount', { description: 'Decimal string, e.g. "12.50".' }),
    currency: t.exposeString('currency', { description: 'ISO 4217 currency code.' }),
  }),
});

/** A Money value of an amount and a currency. */
export const money = (amount: string, currency: string): MoneyShape => ({ amount, currency });
