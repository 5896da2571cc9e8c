import { builder } from './builder.js';

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
