import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { readReward, type RewardReadShape } from '../../domain/rewards/rewards.service.js';
import { builder } from '../builder.js';
import { loadThroughService } from '../node-loader.js';
import { Money } from '../money.type.js';

/**
 * Who may browse the catalogue and see a reward: the rewards service's rule (SERVICE_CALLERS.readRewards: staff,
 * storefront keys that read members or redeem points, and members), which its read checks itself.
 */
export const REWARD_READERS = { caller: SERVICE_CALLERS.readRewards };

export const RewardRef = builder.prismaNode('Reward', {
  id: { field: 'id' },
  nullable: true,
  // The rewards' read (`readReward`), by REWARD_READERS' rule: refused before reading
  // (tests/graphql/unowned-node-read.test.ts). Visibility still guards a reward reached through other fields.
  ...loadThroughService<RewardReadShape>('Reward', readReward),
  description: 'Something members buy with points: the price in points buys a REWARD voucher.',
  visibleTo: REWARD_READERS,
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Name shown to members.' }),
    description: t.exposeString('description', { nullable: true, description: 'Longer text shown to members.' }),
    pointsCost: t.expose('pointsCost', { type: 'Points', description: 'Points it costs.' }),
    voucherValue: t.field({
      type: Money,
      description: 'Value of the voucher a purchase issues.',
      resolve: (reward) => ({ amount: reward.voucherValue.toFixed(2), currency: reward.currency }),
    }),
    stock: t.exposeInt('stock', { nullable: true, description: 'Units left; null means unlimited.' }),
    active: t.exposeBoolean('active', { description: 'False once retired: it can no longer be bought.' }),
    retiredAt: t.expose('retiredAt', { type: 'DateTime', nullable: true, description: 'When it was retired.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was added to the catalogue.' }),
  }),
});
