import {
  GOODWILL_AUDIT_ACTIONS,
  GOODWILL_GESTURE_READERS,
  readGoodwillGesture,
  type AgentAuthorityView,
  type GoodwillAuditAction,
  type GoodwillGestureReadShape,
} from '../../domain/goodwill/goodwill.service.js';
import { GoodwillNotPendingError } from '../../domain/errors.js';
import { GoodwillKind, GoodwillReason, GoodwillStatus } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import { ErrorInterface } from '../errors.type.js';
import { loadThroughService } from '../node-loader.js';
import { Money } from '../money.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { REFUSED_AS_NULL, STAFF_ONLY } from '../staff-only.js';

export const GoodwillKindEnum = builder.enumType(GoodwillKind, {
  name: 'GoodwillKind',
  description: 'What a goodwill gesture gives: points (available at once) or a voucher.',
  values: {
    POINTS: { description: 'Points, posted as a GOODWILL ledger entry and available at once.' },
    VOUCHER: { description: 'A GOODWILL voucher of a fixed amount of money.' },
  },
});
export const GoodwillStatusEnum = builder.enumType(GoodwillStatus, {
  name: 'GoodwillStatus',
  description:
    'GRANTED gestures have been given; PENDING_APPROVAL ones were above the agent’s authority and wait for a supervisor; REJECTED ones were refused.',
  values: {
    GRANTED: { description: 'Given: the points were posted or the voucher issued (at once, or on a supervisor’s approval).' },
    PENDING_APPROVAL: {
      description: 'Above the issuing agent’s authority: waits for a supervisor to approve or reject it; nothing given yet.',
    },
    REJECTED: { description: 'Refused by a supervisor: nothing was given.' },
  },
});
export const GoodwillReasonEnum = builder.enumType(GoodwillReason, {
  name: 'GoodwillReason',
  description: 'Why an agent made a goodwill gesture.',
  values: {
    DELAYED_DELIVERY: { description: 'An order arrived late.' },
    DEFECTIVE_PRODUCT: { description: 'A product was faulty or damaged.' },
    BILLING_ERROR: { description: 'The member was charged wrongly.' },
    POOR_EXPERIENCE: { description: 'Service or an experience fell short in another way the member noticed.' },
    LONG_WAIT: { description: 'The member waited too long for service (queue, call, reply).' },
    OTHER: { description: 'None of the above: the gesture’s note says why.' },
  },
});

const AUDIT_ACTION_DESCRIPTIONS: Record<GoodwillAuditAction, string> = {
  ISSUED: 'An agent issued the gesture.',
  GRANTED: 'Granted at once, within the agent’s authority.',
  HELD_FOR_APPROVAL: 'Above the agent’s authority: held for a supervisor (the note says which limit).',
  APPROVED: 'A supervisor approved it; the points or voucher were granted.',
  REJECTED: 'A supervisor rejected it; nothing was granted.',
  VOUCHER_VOIDED:
    'Staff voided its voucher (the note says why): the member got nothing from it. A supervisor or admin other than the issuing agent voiding it gives its value back to the agent’s monthly budget; the agent’s own void, or another agent’s, does not.',
};

export const GoodwillAuditActionEnum = builder.enumType('GoodwillAuditAction', {
  description: 'A step in the life of a goodwill gesture.',
  values: Object.fromEntries(
    GOODWILL_AUDIT_ACTIONS.map((action) => [action, { description: AUDIT_ACTION_DESCRIPTIONS[action] }]),
  ) as Record<GoodwillAuditAction, { description: string }>,
});

const ACTION_ORDER = new Map<string, number>(GOODWILL_AUDIT_ACTIONS.map((action, i) => [action, i]));

export const GoodwillAuditEntryRef = builder.prismaObject('GoodwillAuditEntry', {
  description: 'One step of a goodwill gesture: who did what, in which role, when, and why.',
  fields: (t) => ({
    action: t.field({
      type: GoodwillAuditActionEnum,
      description: 'What happened.',
      resolve: (entry) => entry.action as GoodwillAuditAction,
    }),
    actorId: t.exposeString('actorId', { description: 'Staff id of who did it (`treue` for the system).' }),
    actorRole: t.exposeString('actorRole', { description: 'Their role then: AGENT, SUPERVISOR, ADMIN or SYSTEM.' }),
    note: t.exposeString('note', { nullable: true, description: 'The note given with this step.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it happened.' }),
  }),
});

/**
 * Who may see a member's goodwill gestures: staff (SERVICE_CALLERS.readGoodwill) and the member they are for, the
 * rule the goodwill service's read checks too (GOODWILL_GESTURE_READERS).
 */
const goodwillGestureVisibility = (memberId: string) => ({ ownRow: { rule: GOODWILL_GESTURE_READERS, memberId } });

export const GoodwillGestureRef = builder.prismaNode('GoodwillGesture', {
  id: { field: 'id' },
  nullable: true,
  // The goodwill service's read (`readGoodwillGesture`, this type's visibility rule): refused before reading, a
  // member token's read only of their own gestures (tests/service-failures/failure-gesture-node-read.test.ts).
  // Visibility still guards a gesture reached through other fields.
  ...loadThroughService<GoodwillGestureReadShape>('GoodwillGesture', readGoodwillGesture),
  description: 'A goodwill gesture: points or a voucher an agent gave a member, granted within authority or decided by a supervisor.',
  visibleTo: (gesture) => goodwillGestureVisibility(gesture.memberId),
  fields: (t) => ({
    kind: t.expose('kind', { type: GoodwillKindEnum, description: 'Points or a voucher.' }),
    status: t.expose('status', { type: GoodwillStatusEnum, description: 'Granted, waiting for approval, or rejected.' }),
    points: t.expose('points', { type: 'Points', nullable: true, description: 'Points given (POINTS gestures); else null.' }),
    amount: t.field({
      type: Money,
      nullable: true,
      description: 'Value of the voucher (VOUCHER gestures); else null.',
      resolve: (g) => (g.amount ? { amount: g.amount.toFixed(2), currency: g.currency } : null),
    }),
    value: t.field({
      type: Money,
      description: 'What the gesture is worth in money (points × point value), as compared with authority.',
      resolve: (g) => ({ amount: g.moneyValue.toFixed(2), currency: g.currency }),
    }),
    reason: t.expose('reason', { type: GoodwillReasonEnum, description: 'Reason code.' }),
    note: t.exposeString('note', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'The agent’s note (staff only).',
    }),
    caseRef: t.exposeString('caseRef', { nullable: true, description: 'The service case it belongs to.' }),
    agentId: t.exposeString('agentId', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'The issuing agent (staff only).',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was issued.' }),
    decidedBy: t.exposeString('decidedBy', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'The supervisor who approved or rejected it (staff only); null when granted within authority or still pending.',
    }),
    decidedAt: t.expose('decidedAt', { type: 'DateTime', nullable: true, description: 'When a supervisor decided.' }),
    decisionNote: t.exposeString('decisionNote', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'The supervisor’s note (staff only).',
    }),
    member: t.relation('member', { description: 'The member it is for.' }),
    audit: t.field({
      type: [GoodwillAuditEntryRef],
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'Every step, oldest first: issued, granted or held, approved or rejected, its voucher voided (staff only).',
      select: { audit: { orderBy: [{ createdAt: 'asc' as const }] } },
      // Steps of one request share a timestamp: order those by the life of a gesture.
      resolve: (g) =>
        [...g.audit].sort(
          (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (ACTION_ORDER.get(a.action) ?? 0) - (ACTION_ORDER.get(b.action) ?? 0),
        ),
    }),
    ledgerEntry: t.prismaField({
      type: 'LedgerEntry',
      nullable: true,
      description: 'The GOODWILL ledger entry of a granted POINTS gesture; else null.',
      resolve: (query, g, _args, ctx) =>
        g.ledgerEntryId ? ctx.deps.prisma.ledgerEntry.findUnique({ ...query, where: { id: g.ledgerEntryId } }) : null,
    }),
    voucher: t.prismaField({
      type: 'Voucher',
      nullable: true,
      description: 'The GOODWILL voucher of a granted VOUCHER gesture; else null.',
      resolve: (query, g, _args, ctx) =>
        g.voucherId ? ctx.deps.prisma.voucher.findUnique({ ...query, where: { id: g.voucherId } }) : null,
    }),
  }),
});

builder.prismaObjectField('Member', 'goodwillGestures', (t) =>
  t.relatedConnection(
    'goodwillGestures',
    {
      cursor: 'id',
      nullable: true,
      description: 'Goodwill gestures for the member, newest first (staff and the member themself).',
      authScopes: (member) => goodwillGestureVisibility(member.id),
      totalCount: true,
      query: () => ({ orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }] }),
    },
    counted(COUNT_COST.indexed),
  ),
);

export const AgentAuthorityRef = builder.objectRef<AgentAuthorityView>('AgentAuthority').implement({
  description: 'An agent’s goodwill authority: their own limits where a supervisor set them, else the program’s.',
  fields: (t) => ({
    agentId: t.exposeString('agentId', { description: 'The agent’s staff id.' }),
    perGestureLimit: t.field({
      type: Money,
      description: 'Highest value one gesture may have to be granted at once.',
      resolve: (a) => ({ amount: a.perGestureLimit, currency: a.currency }),
    }),
    perGesturePointsLimit: t.expose('perGesturePointsLimit', {
      type: 'Points',
      description: 'Most points one gesture may give to be granted at once.',
    }),
    monthlyBudget: t.field({
      type: Money,
      description: 'Most value of gestures granted per calendar month (UTC).',
      resolve: (a) => ({ amount: a.monthlyBudget, currency: a.currency }),
    }),
    spentThisMonth: t.field({
      type: Money,
      description:
        'Value of the agent’s gestures granted this calendar month (UTC), approvals included, less those whose voucher a supervisor or admin other than the agent voided (the agent’s own void gives nothing back).',
      resolve: (a) => ({ amount: a.spentThisMonth, currency: a.currency }),
    }),
    remainingThisMonth: t.field({
      type: Money,
      description: 'What is left of the monthly budget this calendar month (UTC), never below zero.',
      resolve: (a) => ({ amount: a.remainingThisMonth, currency: a.currency }),
    }),
    usesProgramDefaults: t.exposeBoolean('usesProgramDefaults', {
      description: 'True when no limit of the agent’s own is set.',
    }),
    updatedBy: t.exposeString('updatedBy', { nullable: true, description: 'Who last set these limits.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true, description: 'When they were last set.' }),
  }),
});

builder.objectType(GoodwillNotPendingError, {
  name: 'GoodwillNotPendingError',
  description: 'The gesture is not waiting for approval any more: it was already granted or rejected. Nothing changed.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    status: t.expose('status', { type: GoodwillStatusEnum, description: 'The status the gesture has.' }),
  }),
});
