import { getProgram, type ProgramView } from '../../domain/program/program.service.js';
import type { ProgramSettings } from '../../domain/program/program-settings.js';
import { builder } from '../builder.js';
import { TierEnum } from '../enums.js';

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

type TierName = keyof ProgramSettings['tiers'];
const TierRule = builder
  .objectRef<{ tier: TierName } & ProgramSettings['tiers'][TierName]>('TierRule')
  .implement({
    description: 'How a tier is reached and what it is worth.',
    fields: (t) => ({
      tier: t.expose('tier', { type: TierEnum, description: 'The tier.' }),
      threshold: t.exposeInt('threshold', { description: 'Qualifying points in the rolling window to reach it.' }),
      multiplier: t.exposeFloat('multiplier', { description: 'Earn multiplier.' }),
      compensationFactor: t.exposeFloat('compensationFactor', { description: 'Factor on compensation vouchers.' }),
    }),
  });

const ProgramRef = builder.objectRef<ProgramView>('Program').implement({
  description: 'The program settings: every rule that can be changed without code or restart.',
  fields: (t) => ({
    version: t.exposeInt('version', { description: 'Increases with every change.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the settings last changed.' }),
    currency: t.string({ description: 'Program currency.', resolve: (p) => p.settings.currency }),
    pointsPerCurrencyUnit: t.float({
      description: 'Points per 1.00 of order value, before the tier multiplier.',
      resolve: (p) => p.settings.pointsPerCurrencyUnit,
    }),
    pointValue: t.field({
      type: Money,
      description: 'Money value of one point.',
      resolve: (p) => ({ amount: p.settings.pointValue, currency: p.settings.currency }),
    }),
    returnWindowDays: t.int({
      description: 'Days earned points stay pending.',
      resolve: (p) => p.settings.returnWindowDays,
    }),
    pointExpiryMonths: t.int({
      description: 'Months after which earned points expire.',
      resolve: (p) => p.settings.pointExpiryMonths,
    }),
    passiveAfterMonths: t.int({
      description: 'Months without activity after which a member becomes PASSIVE.',
      resolve: (p) => p.settings.passiveAfterMonths,
    }),
    voucherValidityDays: t.int({
      description: 'Default validity of issued vouchers.',
      resolve: (p) => p.settings.voucherValidityDays,
    }),
    tiers: t.field({
      type: [TierRule],
      description: 'Tier rules, lowest first.',
      resolve: (p) =>
        (['BRONZE', 'SILVER', 'GOLD', 'PLATINUM'] as const).map((tier) => ({ tier, ...p.settings.tiers[tier] })),
    }),
  }),
});

builder.queryField('program', (t) =>
  t.field({
    type: ProgramRef,
    description: 'The current program settings.',
    authScopes: { staff: 'AGENT', apiKey: 'members:read', member: true },
    resolve: (_root, _args, ctx) => getProgram(ctx.deps),
  }),
);
