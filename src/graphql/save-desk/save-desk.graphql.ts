import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { AgentAuthorityView } from '../../domain/goodwill/goodwill.service.js';
import { readMember, type MemberReadShape } from '../../domain/members/member-status.service.js';
import {
  countAtRiskMembers,
  listAtRiskMembers,
  type AtRiskMember,
  type AtRiskReason,
  type AtRiskReasonKind,
} from '../../domain/save-desk/save-desk.service.js';
import { builder } from '../builder.js';
import { decodeAtRiskCursor, encodeAtRiskCursor } from '../cursors.js';
import { AgentAuthorityRef } from '../goodwill/goodwill-gesture.type.js';
import { totalCountField } from '../total-count.js';

const AtRiskReasonKindEnum = builder.enumType('AtRiskReasonKind', {
  description: 'Why a member is on the save desk; each adds points by the program’s `saveDesk` weights.',
  values: {
    SERVICE_FAILURES: { description: 'Service failures in the window (failurePoints each).' },
    REPEATED_FAILURES: { description: 'Failures after the first in the window (repeatFailurePoints each): repeats weigh more.' },
    DETRACTOR_ANSWERS: { description: 'NPS answers of 0–6 in the window (detractorPoints each).' },
    OPEN_CASES: { description: 'Service cases still open (openCasePoints each).' },
    CONTRACT_ENDING: { description: 'An active contract ends within contractEndingDays (contractEndingPoints once).' },
    DRIFTING: { description: 'An ACTIVE member without activity for driftAfterMonths (driftPoints).' },
  } as const satisfies Record<AtRiskReasonKind, { description: string }>,
});

const AtRiskReasonRef = builder.objectRef<AtRiskReason>('AtRiskReason').implement({
  description: 'One reason a member is at risk, and what it adds to their score.',
  fields: (t) => ({
    kind: t.expose('kind', { type: AtRiskReasonKindEnum, description: 'What kind of reason.' }),
    count: t.exposeInt('count', { description: 'How many: failures, repeats, answers, open cases, contracts ending; 1 for drifting.' }),
    detail: t.exposeString('detail', { description: 'The reason in words, with its numbers and dates.' }),
    points: t.exposeInt('points', { description: 'Points it adds to the score.' }),
  }),
});

type AtRiskEntry = AtRiskMember & { goodwillAuthority: AgentAuthorityView };

const AtRiskMemberRef = builder.objectRef<AtRiskEntry>('AtRiskMember').implement({
  description: 'A member the save desk should call: their score, the reasons behind it, and what the agent may grant at once.',
  fields: (t) => ({
    member: t.prismaField({
      type: 'Member',
      description: 'The member.',
      // The members service's read, as `member(id)`'s; sibling lookups in one tick are batched by Prisma into one query.
      resolve: async (query, entry, _args, ctx) => {
        const member = await readMember(ctx.deps, entry.memberId, query as MemberReadShape, callerOf(ctx.principal));
        // Never null for the staff the desk is for (they read any member; members are not deleted): the field is non-null.
        if (!member) throw new NotFoundError('Member', entry.memberId);
        return member;
      },
    }),
    score: t.exposeInt('score', { description: 'The sum of the reasons’ points; higher is more at risk.' }),
    reasons: t.field({
      type: [AtRiskReasonRef],
      description: 'The reasons, highest points first.',
      resolve: (entry) => entry.reasons,
    }),
    goodwillAuthority: t.field({
      type: AgentAuthorityRef,
      description: 'The calling agent’s goodwill authority (per-gesture limit, monthly budget and what is left of it).',
      resolve: (entry) => entry.goodwillAuthority,
    }),
  }),
});

const AtRiskMemberConnection = builder.connectionObject({
  type: AtRiskMemberRef,
  name: 'AtRiskMemberConnection',
  description: 'A page of the save desk’s ranking.',
  fields: (t) => ({
    totalCount: totalCountField(
      t,
      'Costly: ranks every member with a signal in the window and counts every drifting member; select it only where a badge or pager needs it.',
    ),
  }),
});

builder.queryField('atRiskMembers', (t) =>
  t.field({
    type: AtRiskMemberConnection,
    description:
      'The save desk: ACTIVE and PASSIVE members ranked by a transparent at-risk score (recent and repeated failures, ' +
      'detractor answers, open cases, a contract ending soon, drifting towards PASSIVE), highest first, with the ' +
      'reasons and the calling agent’s goodwill authority. Staff from AGENT up. docs/metrics.md explains the score.',
    authScopes: { caller: SERVICE_CALLERS.atRiskMembers },
    args: {
      first: t.arg.int({ required: false, description: 'Page size, 1–100 (default 20).' }),
      after: t.arg.string({ required: false, description: 'The endCursor of the previous page.' }),
    },
    resolve: async (_root, args, ctx) => {
      const after = args.after == null ? null : decodeAtRiskCursor(args.after);
      if (args.after != null && after === null) throw new ValidationError('after', 'is not a cursor of this list');
      const page = await listAtRiskMembers(ctx.deps, { first: args.first, after }, callerOf(ctx.principal));
      const edges = page.members.map((entry) => ({
        cursor: encodeAtRiskCursor(entry),
        node: { ...entry, goodwillAuthority: page.goodwillAuthority },
      }));
      const connection = {
        edges,
        // Counted only when selected: it costs a ranking of its own.
        totalCount: () => countAtRiskMembers(ctx.deps, callerOf(ctx.principal)),
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: after !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
      return connection;
    },
  }),
);
