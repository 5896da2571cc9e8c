import { AuthenticationError } from '../../auth/jwt.js';
import { callerKeyOf, callerOf, type Principal } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { DomainError, NotFoundError } from '../../domain/errors.js';
import { MEMBER_CHANGE_KINDS } from '../../domain/members/member-changes.js';
import { memberToWatch } from '../../domain/members/member-watch.service.js';
import type { LiveChange, MemberStatusEvent } from '../../live/member-status-stream.js';
import { builder } from '../builder.js';
import { decodeId } from '../ids.js';
import { resolveMember } from './member-read.js';
import { MemberRef } from './member.type.js';

const MemberChangeKindEnum = builder.enumType('MemberChangeKind', {
  description: 'Why a live member status event was sent.',
  values: {
    CURRENT: { description: 'The first event of a stream: the status as it is now (also after a reconnect).' },
    EARNED: { description: 'Points earned on an order (reference: the order reference).' },
    REDEEMED: { description: 'Points redeemed (reference: what they paid for, if given).' },
    REFUNDED: { description: 'Points taken back for a refunded order (reference: the order reference).' },
    ORDER_RETURNED: {
      description:
        'An order was cancelled or returned: earned points reversed, redeemed points and vouchers given back (reference: the order reference).',
    },
    ADJUSTED: { description: 'Points adjusted by staff or clawed back with a cancelled contract.' },
    GOODWILL_GRANTED: { description: 'A goodwill gesture granted points or a voucher (reference: the gesture id).' },
    RENEWAL_BONUS: { description: 'A contract renewal bonus (reference: the renewal id).' },
    REWARD_REDEEMED: { description: 'A reward bought with points (reference: the reward id).' },
    RELEASED: { description: 'Pending points became available (their return window passed).' },
    EXPIRED: { description: 'Points expired.' },
    VOUCHER_ISSUED: { description: 'A voucher was issued, e.g. a compensation (reference: the voucher id).' },
    VOUCHER_REDEEMED: { description: 'A voucher was redeemed (reference: the voucher id).' },
    VOUCHER_VOIDED: { description: 'A voucher was voided (reference: the voucher id).' },
    VOUCHER_EXPIRED: { description: 'A voucher passed its expiry (reference: the voucher id).' },
    TIER_CHANGED: { description: 'The tier changed (reference: the new tier).' },
    TIER_REVIEWED: {
      description:
        'The tier was reviewed and kept: the member holds it since the review, and the next review is a year on (reference: the tier).',
    },
    STATUS_CHANGED: { description: "The member's account status changed (reference: the new status)." },
    PROFILE_UPDATED: { description: 'Name, e-mail or locale changed.' },
  } satisfies Record<(typeof MEMBER_CHANGE_KINDS)[number] | 'CURRENT', { description: string }>,
});

const MemberChangeRef = builder.objectRef<LiveChange>('MemberChange').implement({
  description: 'One change that led to a live member status event.',
  fields: (t) => ({
    kind: t.field({ type: MemberChangeKindEnum, description: 'What happened.', resolve: (change) => change.kind }),
    reference: t.string({
      nullable: true,
      description: 'What caused it, when there is one (see the kind).',
      resolve: (change) => change.reference,
    }),
  }),
});

const MemberStatusEventRef = builder.objectRef<MemberStatusEvent>('MemberStatusEvent').implement({
  description: "One event of a member's live status: the status as it is now, and what changed since the previous event.",
  fields: (t) => ({
    member: t.field({
      type: MemberRef,
      description: 'The member as stored right now: balance, tier, vouchers — select what `me` selects.',
      resolve: async (event, _args, ctx, info) =>
        (await resolveMember(event.memberId, ctx, info)) ?? Promise.reject(new NotFoundError('Member', event.memberId)),
    }),
    change: t.field({
      type: MemberChangeRef,
      description: 'The latest change this event reports (CURRENT for the first event).',
      resolve: (event) => event.changes.at(-1)!,
    }),
    changes: t.field({
      type: [MemberChangeRef],
      description: 'Every change since the previous event, oldest first (a burst becomes one event; at most the last 100).',
      resolve: (event) => event.changes,
    }),
  }),
});

/** Credentials whose change (revocation, member status) must re-check the stream at once. */
function credentialIdsOf(principal: Principal): string[] {
  if (principal.kind === 'apiKey') return [principal.apiKeyId];
  if (principal.kind === 'member') return [principal.memberId];
  return [];
}

builder.subscriptionType({
  description: 'Live streams over Server-Sent Events (send `Accept: text/event-stream`). See docs/live-status.md.',
});

builder.subscriptionFields((t) => ({
  memberStatusChanged: t.field({
    type: MemberStatusEventRef,
    description:
      "A member's status, live: the first event is the current status, then one event after every committed change (bursts coalesced), from any API process or worker. Member tokens watch their own member (memberId omitted or their own; another member's id is NOT_FOUND, as a missing one is); staff and keys with members:read any member. The stream ends when the caller's credentials no longer hold (member closed, key revoked, token expired).",
    authScopes: { caller: SERVICE_CALLERS.watchMemberStatus },
    args: { memberId: t.arg.id({ required: false, description: 'Member id (global or raw UUID); member tokens may omit it.' }) },
    subscribe: async (_root, args, ctx) => {
      const asked = args.memberId == null ? null : decodeId('Member', 'memberId', String(args.memberId));
      const memberId = await memberToWatch(ctx.deps, { memberId: asked }, callerOf(ctx.principal));
      const { live, reauthenticate } = ctx;
      if (!live || !reauthenticate) throw new Error('live member status needs the HTTP handler’s live streams');
      const expiresAt = ctx.credentialsExpireAt?.();
      return live.open({
        memberId,
        watcher: callerKeyOf(ctx.principal),
        credentialIds: credentialIdsOf(ctx.principal),
        // A token's stream ends when the token does, not at the next periodic re-check.
        ...(expiresAt === undefined ? {} : { expiresAt }),
        // A client gone while the member was looked up gets a stream that is ended already.
        signal: ctx.signal,
        stillAllowed: async () => {
          try {
            await memberToWatch(ctx.deps, { memberId }, callerOf(await reauthenticate()));
            return true;
          } catch (error) {
            // Refused now (credentials gone, member closed): the stream ends. Anything else is a real failure.
            if (error instanceof DomainError || error instanceof AuthenticationError) return false;
            throw error;
          }
        },
      });
    },
    resolve: (event: MemberStatusEvent) => event,
  }),
}));
