import DataLoader from 'dataloader';
import { nextTurn } from '../batches.js';
import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { pointsFromBigint } from '../../domain/points/lifetime-points.js';
import type { ProgramView } from '../../domain/program/program.service.js';
import { readTierChange, type TierChangeReadShape } from '../../domain/tiers/tier-history.service.js';
import { readTiers, readTierStandings, tierOf, tierProgress, type TierProgress } from '../../domain/tiers/tiers.service.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { knownProgram, knownStanding } from '../members/member-read.js';
import { memberVisibility } from '../members/member.type.js';
import { loadThroughService } from '../node-loader.js';
import { COUNT_COST, counted } from '../total-count.js';
import { perRequest } from '../per-request.js';
import type { ProgramSettings } from '../../domain/program/program-settings.js';
import { knownSettings } from './known-settings.js';
import { TierRef } from './tier.type.js';

interface Standing {
  program: ProgramView;
  qualifyingPoints: number;
  /** When the qualifying points change with the clock alone (`TierStandings.changesAt`); null: not before an event. */
  changesAt: Date | null;
}

/** One ask for a member's standing: the program, and their qualifying points when `withPoints` (else 0). */
interface StandingAsk {
  memberId: string;
  withPoints: boolean;
}

/**
 * Tier reads batched per request: every member asked for in one turn of the event loop is read in one statement
 * (`readTierStandings`: the program settings and the qualifying points of the members whose `tierProgress` is asked
 * for) on the next turn (setImmediate) — the resolvers of a list run in the same turn. A listing of 50 members costs
 * one statement for their tiers and tier progress, not fifty. A member asked for with and without points in one turn
 * is read with them. Nothing is kept after a batch: a later mutation in the same request reads fresh values.
 */
const tierStandings = perRequest(
  (ctx) =>
    new DataLoader<StandingAsk, Standing>(
      async (asks) => {
        const withPoints = new Map<string, boolean>();
        for (const ask of asks) withPoints.set(ask.memberId, withPoints.get(ask.memberId) || ask.withPoints);
        const scored = [...withPoints].filter(([, points]) => points).map(([memberId]) => memberId);
        // The service checks the caller once per batch, in memory: who may read the members may read their standing.
        const { program, qualifyingPoints, changesAt } = await readTierStandings(ctx.deps, scored, callerOf(ctx.principal));
        return asks.map(({ memberId }) => ({
          program,
          qualifyingPoints: qualifyingPoints.get(memberId) ?? 0,
          changesAt: changesAt.get(memberId) ?? null,
        }));
      },
      { cache: false, batchScheduleFn: nextTurn },
    ),
);

/**
 * The program settings for a member's tier fields: read with the member (then at once, without a promise, so
 * the member's fields complete in the same turn), or batched.
 */
function settingsFor(member: { id: string }, ctx: GraphQLContext): ProgramSettings | Promise<ProgramSettings> {
  return (
    knownSettings(member) ??
    knownProgram(member)?.settings ??
    tierStandings(ctx)
      .load({ memberId: member.id, withPoints: false })
      .then((standing) => standing.program.settings)
  );
}

/** The member's tier as the program defines it. */
function currentTier(member: { id: string; tier: string }, settings: ProgramSettings) {
  const tier = tierOf(settings, member.tier);
  // The foreign key to `tiers`, kept in step with the settings, makes a miss a bug.
  if (!tier) throw new Error(`member ${member.id} holds tier ${member.tier}, which the program does not have`);
  return tier;
}

const TierProgressRef = builder.objectRef<TierProgress>('TierProgress').implement({
  description: "A member's standing in the tiers: where they are, what is next, and when the tier is reviewed.",
  fields: (t) => ({
    current: t.field({ type: TierRef, description: 'The current tier.', resolve: (p) => p.current }),
    next: t.field({
      type: TierRef,
      nullable: true,
      description: 'The tier directly above; null at the top tier.',
      resolve: (p) => p.next,
    }),
    qualifyingPoints: t.expose('qualifyingPoints', {
      type: 'Points',
      description:
        'Points earned in the rolling qualifying window: earns and renewal bonuses, minus refund reversals written in the window. ' +
        'May pass 2^31 − 1, as lifetime points do.',
    }),
    pointsToNext: t.expose('pointsToNext', {
      type: 'Points',
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

builder.prismaNode('TierChange', {
  id: { field: 'id' },
  nullable: true,
  // The tier history's read (`readTierChange`): refused before reading, a member token's read only of their own
  // changes (tests/members/member-rows-node-read.test.ts). Visibility still guards a change reached through other fields.
  ...loadThroughService<TierChangeReadShape>('TierChange', readTierChange),
  description: "One step of a member's tier history: an upgrade, a downgrade, or a review that kept the tier.",
  visibleTo: (change) => memberVisibility(change.memberId),
  fields: (t) => ({
    fromTierKey: t.exposeString('fromTier', { description: 'Key of the tier before (kept even when the tier was removed since).' }),
    toTierKey: t.exposeString('toTier', {
      description: 'Key of the tier after (the same for RETAINED and PROTECTED; kept even when the tier was removed since).',
    }),
    fromTier: t.field({
      type: TierRef,
      nullable: true,
      description: 'The tier before, as the program defines it now; null when the program no longer has it (see fromTierKey).',
      select: { memberId: true, fromTier: true },
      resolve: async (change, _args, ctx) => tierOf(await settingsFor({ id: change.memberId }, ctx), change.fromTier),
    }),
    toTier: t.field({
      type: TierRef,
      nullable: true,
      description: 'The tier after, as the program defines it now; null when the program no longer has it (see toTierKey).',
      select: { memberId: true, toTier: true },
      resolve: async (change, _args, ctx) => tierOf(await settingsFor({ id: change.memberId }, ctx), change.toTier),
    }),
    reason: t.expose('reason', {
      type: builder.enumType('TierChangeReason', {
        description: 'Why a tier changed or was kept.',
        values: {
          UPGRADE: { description: 'Qualifying points reached a higher threshold.' },
          DOWNGRADE: { description: 'Too few qualifying points at the anniversary: one level down.' },
          RETAINED: { description: 'Enough qualifying points at the anniversary.' },
          PROTECTED: { description: 'Too few points, but kept after a recent service failure.' },
          TIER_REMOVED: {
            description:
              'The program removed the tier a closed member held: moved to the tier their qualifying points reach (closed members only).',
          },
        } as const,
      }),
      description: 'Why.',
    }),
    qualifyingPoints: t.field({
      type: 'Points',
      description: 'Qualifying points at that moment. May pass 2^31 − 1, as lifetime points do.',
      resolve: (change) => pointsFromBigint(change.qualifyingPoints),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it happened.' }),
  }),
});

builder.prismaObjectFields('Member', (t) => ({
  tier: t.field({
    type: TierRef,
    description: 'Current tier (an object since issue 13: select `tier { key name }`).',
    select: { tier: true },
    resolve: (member, _args, ctx) => {
      const settings = settingsFor(member, ctx);
      return settings instanceof Promise ? settings.then((read) => currentTier(member, read)) : currentTier(member, settings);
    },
  }),
  tierProgress: t.field({
    type: TierProgressRef,
    description: 'Current and next tier, qualifying points and points to go, and the next review.',
    select: { tier: true, tierSince: true },
    // Batched per request (tierStandings): no query per member in a listing.
    resolve: (member, _args, ctx) => {
      // Read with the member by the status statement, which told when it changes with the clock (member-read.ts).
      const known = knownStanding(member);
      if (known) return tierProgress(member, known.program.settings, known.qualifyingPoints);
      return tierStandings(ctx)
        .load({ memberId: member.id, withPoints: true })
        .then(({ program, qualifyingPoints, changesAt }) => {
          // Qualifying points drop, with no event, when the oldest entry leaves the rolling window (for the response cache).
          if (changesAt) ctx.answerChangesAt?.(changesAt);
          return tierProgress(member, program.settings, qualifyingPoints);
        });
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
    type: [TierRef],
    description: 'The tiers of the program, lowest first. Any authenticated caller.',
    authScopes: { caller: SERVICE_CALLERS.readTiers },
    resolve: (_root, _args, ctx) => readTiers(ctx.deps, callerOf(ctx.principal)),
  }),
);
