import { rawSql } from '../../db/sql.js';
import { nowOf } from '../../domain/deps.js';
import { getProgram, type ProgramView } from '../../domain/program/program.service.js';
import { tierProgress, tierRules, tierStandings, type TierProgress } from '../../domain/tiers/tiers.service.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { TierEnum } from '../enums.js';
import { knownStanding } from '../members/member-read.js';
import { memberVisibility } from '../members/member.type.js';
import { TierRule } from '../program/program.graphql.js';
import { COUNT_COST, counted } from '../total-count.js';

interface Standing {
  program: ProgramView;
  qualifyingPoints: number;
}

/**
 * Batches `tierProgress` per request: every member asked for in one turn of
 * the event loop is read in one statement (`tierStandings`: the program
 * settings and each member's qualifying points) on the next turn
 * (setImmediate), DataLoader style — the resolvers of a list run in the same
 * turn. A listing of 50 members costs one statement for tier progress, not
 * fifty. Nothing is kept after a batch: a later mutation in the same request
 * reads fresh values.
 */
class TierProgressBatch {
  private queued = new Map<string, { standing: Promise<Standing>; resolve(s: Standing): void; reject(e: unknown): void }>();

  constructor(private readonly ctx: GraphQLContext) {}

  standing(memberId: string): Promise<Standing> {
    const waiting = this.queued.get(memberId);
    if (waiting) return waiting.standing;
    if (this.queued.size === 0) setImmediate(() => void this.flush());
    let resolve!: (standing: Standing) => void;
    let reject!: (error: unknown) => void;
    const standing = new Promise<Standing>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.queued.set(memberId, { standing, resolve, reject });
    return standing;
  }

  private async flush(): Promise<void> {
    const batch = this.queued;
    this.queued = new Map();
    try {
      const { program, qualifyingPoints } = await tierStandings(rawSql(this.ctx.deps.prisma), [...batch.keys()], nowOf(this.ctx.deps));
      for (const [memberId, waiter] of batch) {
        waiter.resolve({ program, qualifyingPoints: qualifyingPoints.get(memberId) ?? 0 });
      }
    } catch (error) {
      for (const waiter of batch.values()) waiter.reject(error);
    }
  }
}

const batches = new WeakMap<GraphQLContext, TierProgressBatch>();
function tierProgressBatch(ctx: GraphQLContext): TierProgressBatch {
  let batch = batches.get(ctx);
  if (!batch) {
    batch = new TierProgressBatch(ctx);
    batches.set(ctx, batch);
  }
  return batch;
}

const TierProgressRef = builder.objectRef<TierProgress>('TierProgress').implement({
  description: "A member's standing in the tiers: where they are, what is next, and when the tier is reviewed.",
  fields: (t) => ({
    current: t.field({ type: TierRule, description: 'The current tier and its rule.', resolve: (p) => p.current }),
    next: t.field({
      type: TierRule,
      nullable: true,
      description: 'The tier directly above; null at the top tier.',
      resolve: (p) => p.next,
    }),
    qualifyingPoints: t.exposeInt('qualifyingPoints', {
      description:
        'Points earned in the rolling qualifying window: earns and renewal bonuses, minus refund reversals written in the window.',
    }),
    pointsToNext: t.exposeInt('pointsToNext', {
      nullable: true,
      description: 'Qualifying points still needed for the next tier (0 once reached); null at the top tier.',
    }),
    reviewAt: t.expose('reviewAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the current tier is up for review (12 months after it was reached or last reviewed); null for the lowest tier.',
    }),
  }),
});

builder.prismaObject('TierChange', {
  description: "One step of a member's tier history: an upgrade, a downgrade, or a review that kept the tier.",
  authScopes: (change) => memberVisibility(change.memberId),
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Tier change id.' }),
    fromTier: t.expose('fromTier', { type: TierEnum, description: 'Tier before.' }),
    toTier: t.expose('toTier', { type: TierEnum, description: 'Tier after (the same for RETAINED and PROTECTED).' }),
    reason: t.expose('reason', {
      type: builder.enumType('TierChangeReason', {
        description: 'Why a tier changed or was kept.',
        values: {
          UPGRADE: { description: 'Qualifying points reached a higher threshold.' },
          DOWNGRADE: { description: 'Too few qualifying points at the anniversary: one level down.' },
          RETAINED: { description: 'Enough qualifying points at the anniversary.' },
          PROTECTED: { description: 'Too few points, but kept after a recent service failure.' },
        } as const,
      }),
      description: 'Why.',
    }),
    qualifyingPoints: t.exposeInt('qualifyingPoints', { description: 'Qualifying points at that moment.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it happened.' }),
  }),
});

builder.prismaObjectFields('Member', (t) => ({
  tierProgress: t.field({
    type: TierProgressRef,
    description: 'Current and next tier, qualifying points and points to go, and the next review.',
    select: { tier: true, tierSince: true },
    // Batched per request (TierProgressBatch): no query per member in a listing.
    resolve: async (member, _args, ctx) => {
      const { program, qualifyingPoints } = knownStanding(member) ?? (await tierProgressBatch(ctx).standing(member.id));
      return tierProgress(member, program.settings, qualifyingPoints);
    },
  }),
  tierHistory: t.relatedConnection(
    'tierChanges',
    {
      cursor: 'id',
      description: 'Tier changes and reviews, newest first.',
      totalCount: true,
      query: () => ({ orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }] }),
    },
    counted(COUNT_COST.indexed),
  ),
}));

builder.queryField('tiers', (t) =>
  t.field({
    type: [TierRule],
    description: 'The tiers and their rules, lowest first. Any authenticated caller.',
    authScopes: (_root, _args, ctx) => ctx.principal.kind !== 'anonymous',
    resolve: async (_root, _args, ctx) => tierRules((await getProgram(ctx.deps)).settings),
  }),
);
