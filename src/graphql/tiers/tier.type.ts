import type { TierView } from '../../domain/tiers/tiers.service.js';
import { builder } from '../builder.js';

/** A tier of the program (program data since issue 13: how many, their keys and names are the operator's). */
export const TierRef = builder.objectRef<TierView>('Tier').implement({
  description:
    'A tier of the loyalty program. Operators choose how many there are (2–10), their keys, names and rules ' +
    '(`updateProgram(input: { tiers })`); `tiers` lists them lowest first.',
  fields: (t) => ({
    key: t.exposeString('key', {
      description: 'Stable identifier, e.g. "GOLD" (capital letters, digits, _): what filters, tier history and webhooks use.',
    }),
    name: t.exposeString('name', { description: 'Display name, e.g. "Gold".' }),
    position: t.exposeInt('position', { description: 'Place in the order of tiers: 1 is the lowest.' }),
    threshold: t.field({
      type: 'Points',
      description: 'Qualifying points in the rolling window to reach it (0 for the lowest tier).',
      resolve: (tier) => tier.threshold,
    }),
    multiplier: t.exposeFloat('multiplier', { description: 'Earn multiplier on points from orders (and renewal bonuses).' }),
    compensationFactor: t.exposeFloat('compensationFactor', { description: 'Factor on compensation vouchers.' }),
    benefits: t.exposeString('benefits', { description: 'What the tier offers, as text for members (may be empty).' }),
  }),
});
