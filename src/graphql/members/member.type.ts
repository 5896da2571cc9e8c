import { LEDGER_NEWEST_FIRST, readMember, type MemberReadShape } from '../../domain/members/member-status.service.js';
import { upcomingExpiries } from '../../domain/points/expiring.service.js';
import { pointsFromBigint } from '../../domain/points/lifetime-points.js';
import { readLedgerEntry, type LedgerEntryReadShape } from '../../domain/points/ledger-entries.service.js';
import { builder } from '../builder.js';
import { loadThroughService } from '../node-loader.js';
import { knownExpiries } from './member-read.js';
import { ActorTypeEnum, CauseTypeEnum, LedgerEntryKindEnum, MemberStatusEnum } from '../enums.js';
import { perMember } from '../member-scopes.js';
import { COUNT_COST, counted } from '../total-count.js';
import { REFUSED_AS_NULL, STAFF_ONLY } from '../staff-only.js';

/**
 * Who may see a member, and their orders, feedback and tier history: whoever the members service lets read them
 * (`mayReadMember`: SERVICE_CALLERS.readMembers, a member only themself). The rule is the service's; this names it.
 */
export const memberVisibility = (memberId: string) => ({ readsMember: memberId });

/** `memberVisibility` as one scope map per member per request, for the types on the status screen. */
const visibleWithMember = perMember(memberVisibility);

interface BalanceShape {
  available: number;
  pending: number;
  lifetime: number;
}

const Balance = builder.objectRef<BalanceShape>('Balance').implement({
  description: "A member's points. available + pending is the sum of their ledger entries.",
  fields: (t) => ({
    available: t.expose('available', { type: 'Points', description: 'Points that can be spent now.' }),
    pending: t.expose('pending', { type: 'Points', description: 'Points still inside the return window of their order.' }),
    lifetime: t.expose('lifetime', {
      type: 'Points',
      description: 'All points ever granted. Only grows: may pass 2^31 − 1 (up to 2^53 − 1, which a JSON number carries exactly).',
    }),
  }),
});

const PointsExpiry = builder.objectRef<{ expiresAt: Date; points: number }>('PointsExpiry').implement({
  description: 'Points that expire on one day.',
  fields: (t) => ({
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'When these points expire.' }),
    points: t.expose('points', { type: 'Points', description: 'How many points expire then.' }),
  }),
});

/**
 * How `node(id)` loads a Member: the members service's read (`readMember`), as `member(id)`'s. The service checks the
 * caller first: one outside SERVICE_CALLERS.readMembers is refused (FORBIDDEN) and a member token aiming at another
 * member gets null, neither reading anything (tests/members/member-node-read.test.ts fails if the type stops loading
 * through the service).
 */
const LOAD_THROUGH_MEMBERS_SERVICE = loadThroughService<MemberReadShape>('Member', readMember);

export const MemberRef = builder.prismaNode('Member', {
  id: { field: 'id' },
  // Here and on every node type: node(id) of an unknown id answers null (findUnique), not a masked not-found error.
  nullable: true,
  ...LOAD_THROUGH_MEMBERS_SERVICE,
  description: 'A customer enrolled in the loyalty program.',
  visibleTo: (member, ctx) => visibleWithMember(member.id, ctx),
  fields: (t) => ({
    externalId: t.exposeString('externalId', { description: "The storefront's customer id (unique)." }),
    email: t.exposeString('email', { nullable: true, description: 'E-mail address (unique, lower-case); null when enrolled without one.' }),
    name: t.exposeString('name', { description: 'Display name.' }),
    locale: t.exposeString('locale', { description: 'Language tag for communication.' }),
    status: t.expose('status', { type: MemberStatusEnum, description: 'Lifecycle status.' }),
    tierSince: t.expose('tierSince', {
      type: 'DateTime',
      description: 'When the current tier was reached or last confirmed at a review; the next review is 12 months later.',
    }),
    enrolledAt: t.expose('enrolledAt', { type: 'DateTime', description: 'When the member enrolled.' }),
    lastActivityAt: t.expose('lastActivityAt', {
      type: 'DateTime',
      description: 'Last earn, redeem, renewal or purchase.',
    }),
    balance: t.field({
      type: Balance,
      description: 'Available, pending and lifetime points.',
      select: { availablePoints: true, pendingPoints: true, lifetimePoints: true },
      resolve: (member) => ({
        available: member.availablePoints,
        pending: member.pendingPoints,
        lifetime: pointsFromBigint(member.lifetimePoints),
      }),
    }),
    ledger: t.relatedConnection(
      'ledger',
      {
        cursor: 'id',
        description: 'Ledger entries, newest first.',
        totalCount: true,
        query: () => ({ orderBy: LEDGER_NEWEST_FIRST }),
      },
      counted(COUNT_COST.indexed),
    ),
    expiringPoints: t.field({
      type: [PointsExpiry],
      description: 'Every upcoming expiry of the member’s points, soonest first.',
      resolve: (member, _args, ctx) => knownExpiries(member) ?? upcomingExpiries(ctx.deps, member.id),
    }),
  }),
});

/** Staff and the storefronts that read members. */
const NOT_THE_MEMBER = { staff: 'AGENT', apiKey: 'members:read' } as const;

/**
 * Who reads who at the program made an entry and what staff wrote on it: a goodwill gesture's entry carries the
 * gesture's agent and note, which are the gesture's staff-only details (GoodwillGesture.agentId, .note) wherever they
 * are read; any other entry's are for staff and the storefronts that read members, not for the member.
 */
const staffDetailsOf = (entry: { causeType: string }) => (entry.causeType === 'GESTURE' ? STAFF_ONLY : NOT_THE_MEMBER);

export const LedgerEntryRef = builder.prismaNode('LedgerEntry', {
  id: { field: 'id' },
  nullable: true,
  // The points' read (`readLedgerEntry`): refused before reading, a member token's read only of their own entries
  // (tests/members/member-rows-node-read.test.ts). Visibility still guards an entry reached through other fields.
  ...loadThroughService<LedgerEntryReadShape>('LedgerEntry', readLedgerEntry),
  description: 'An immutable change of a member’s points.',
  visibleTo: (entry, ctx) => visibleWithMember(entry.memberId, ctx),
  fields: (t) => ({
    kind: t.expose('kind', { type: LedgerEntryKindEnum, description: 'Why the points changed.' }),
    amount: t.expose('amount', { type: 'Points', description: 'Signed change in points.' }),
    balanceAfter: t.expose('balanceAfter', { type: 'Points', description: 'Balance (available + pending) after this entry.' }),
    causeType: t.expose('causeType', { type: CauseTypeEnum, description: 'What the entry refers to.' }),
    causeRef: t.exposeString('causeRef', { description: 'Reference of the cause (order, case, failure, …).' }),
    actorType: t.expose('actorType', { type: ActorTypeEnum, description: 'Kind of caller that made the change.' }),
    // Who at the program did it, and what staff wrote, are not for the member (as GoodwillGesture.agentId and
    // .note): a member token reads null, without an error (docs/errors.md).
    actorId: t.exposeString('actorId', {
      authScopes: staffDetailsOf,
      ...REFUSED_AS_NULL,
      description: 'Id of that caller: null for member tokens, and on a goodwill gesture’s entry for anyone but staff.',
    }),
    note: t.exposeString('note', {
      authScopes: (entry) => (entry.actorType === 'STAFF' ? staffDetailsOf(entry) : true),
      ...REFUSED_AS_NULL,
      description:
        'Reason or remark; a staff member’s (an adjustment’s reason, a goodwill gesture’s note) is null for member tokens, ' +
        'and a goodwill gesture’s for anyone but staff.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the entry was written.' }),
    member: t.relation('member', { description: 'The member whose points changed.' }),
  }),
});
