import { nowOf } from '../../domain/deps.js';
import { VOUCHERS_NEWEST_FIRST } from '../../domain/members/member-status.service.js';
import {
  readVoucher,
  voucherListChangesAt,
  voucherStatusAt,
  voucherStatusesChangeAt,
  voucherStatusWhere,
  type VoucherListRead,
  type VoucherReadShape,
} from '../../domain/vouchers/vouchers.service.js';
import type { Voucher } from '../../generated/prisma/client.js';
import { VoucherKind, VoucherStatus, VoucherValueType } from '../../generated/prisma/enums.js';
import type { AnswerChangesAt } from '../answer-changes.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { CauseTypeEnum } from '../enums.js';
import { perMember } from '../member-scopes.js';
import { loadThroughService } from '../node-loader.js';
import { Money } from '../money.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { REFUSED_AS_NULL, STAFF_ONLY } from '../staff-only.js';

/** How many active vouchers `member.activeVouchers` lists at most. */
const ACTIVE_VOUCHERS_LIMIT = 50;

/** A member as a vouchers field of it gets it: the rows plugin-prisma loaded (the page with its extra row) and the count. */
interface MemberWithVouchers {
  vouchers?: Voucher[];
  _count?: { vouchers?: number };
}

/** When a member's voucher list, as its field read it, changes with the clock alone (see `voucherListChangesAt`). */
const listChangesAt = (member: MemberWithVouchers, read: VoucherListRead, ctx: GraphQLContext): Date | null =>
  voucherListChangesAt(member.vouchers ?? [], read, nowOf(ctx.deps));

export const VoucherKindEnum = builder.enumType(VoucherKind, {
  name: 'VoucherKind',
  description: 'Why a voucher was issued: compensation, goodwill, contract renewal or a reward bought with points.',
  values: {
    COMPENSATION: { description: 'Compensation for a recorded service failure.' },
    GOODWILL: { description: 'A goodwill gesture by an agent.' },
    RENEWAL: { description: 'The bonus for extending a contract.' },
    REWARD: { description: 'A reward the member bought with points.' },
  },
});
export const VoucherStatusEnum = builder.enumType(VoucherStatus, {
  name: 'VoucherStatus',
  description: 'ISSUED vouchers can be redeemed; REDEEMED, EXPIRED and VOIDED ones cannot.',
  values: {
    ISSUED: { description: 'Usable: can be validated and redeemed until it expires.' },
    REDEEMED: { description: 'Used once at checkout; final.' },
    EXPIRED: { description: 'Reached its expiry date unused; final.' },
    VOIDED: { description: 'Cancelled before use, with a reason (`voidReason`); final.' },
  },
});
export const VoucherValueTypeEnum = builder.enumType(VoucherValueType, {
  name: 'VoucherValueType',
  description: 'FIXED takes an amount off the order; PERCENT a percentage of it.',
  values: {
    FIXED: { description: 'A fixed amount of money off the order (`value`).' },
    PERCENT: { description: 'A percentage off the order (`percent`, 1–100).' },
  },
});

/**
 * Who may see a voucher and its code: staff, storefront keys that redeem
 * vouchers or read members, and the member it belongs to.
 */
export const voucherVisibility = (memberId: string) => ({
  staff: 'AGENT' as const,
  apiKey: 'vouchers:redeem' as const,
  self: memberId,
  $any: { apiKey: 'members:read' as const },
});

const visibleWithMember = perMember(voucherVisibility);

export const VoucherRef = builder.prismaNode('Voucher', {
  id: { field: 'id' },
  nullable: true,
  // The vouchers service's read (`readVoucher`, the rule of `voucher(code)`): refused before reading, a member token's
  // read only of their own vouchers (tests/members/member-rows-node-read.test.ts). Visibility still guards a voucher
  // reached through other fields.
  ...loadThroughService<VoucherReadShape>('Voucher', readVoucher),
  description: 'A voucher a member can redeem once at checkout.',
  visibleTo: (voucher, ctx) => visibleWithMember(voucher.memberId, ctx),
  fields: (t) => ({
    code: t.exposeString('code', { description: 'The code to type at checkout (unguessable, unique).' }),
    kind: t.expose('kind', { type: VoucherKindEnum, description: 'Why it was issued.' }),
    status: t.field({
      type: VoucherStatusEnum,
      description: 'Status now: an ISSUED voucher past its expiry reads EXPIRED.',
      resolve: (voucher, _args, ctx) => {
        const now = nowOf(ctx.deps);
        const changesAt = ctx.answerChangesAt && voucherStatusesChangeAt([voucher], now);
        if (changesAt) ctx.answerChangesAt?.(changesAt);
        return voucherStatusAt(voucher, now);
      },
    }),
    valueType: t.expose('valueType', { type: VoucherValueTypeEnum, description: 'Fixed amount or percentage.' }),
    value: t.field({
      type: Money,
      nullable: true,
      description: 'The amount a FIXED voucher takes off; null for PERCENT vouchers.',
      resolve: (voucher) => (voucher.amount ? { amount: voucher.amount.toFixed(2), currency: voucher.currency } : null),
    }),
    percent: t.exposeInt('percent', { nullable: true, description: 'Percent off (1–100) for PERCENT vouchers; else null.' }),
    minimumOrderValue: t.field({
      type: Money,
      nullable: true,
      description: 'The order must reach this value; null when there is no minimum.',
      resolve: (voucher) =>
        voucher.minimumOrderValue ? { amount: voucher.minimumOrderValue.toFixed(2), currency: voucher.currency } : null,
    }),
    causeType: t.expose('causeType', { type: CauseTypeEnum, description: 'What it was issued for.' }),
    causeRef: t.exposeString('causeRef', { description: 'Reference of the cause (failure, gesture, reward purchase, …).' }),
    issuedAt: t.expose('issuedAt', { type: 'DateTime', description: 'When it was issued.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'It can be redeemed until this moment.' }),
    redeemedAt: t.expose('redeemedAt', { type: 'DateTime', nullable: true, description: 'When it was redeemed.' }),
    voidedAt: t.expose('voidedAt', { type: 'DateTime', nullable: true, description: 'When staff voided it.' }),
    voidReason: t.exposeString('voidReason', {
      authScopes: STAFF_ONLY,
      ...REFUSED_AS_NULL,
      description: 'Why staff voided it (staff only).',
    }),
    member: t.relation('member', { description: 'The member the voucher belongs to.' }),
  }),
});

builder.prismaObjectField('Member', 'vouchers', (t) =>
  t.relatedConnection(
    'vouchers',
    {
      cursor: 'id',
      description: 'The member’s vouchers, newest first; optionally only those with a status (as of now).',
      args: {
        status: t.arg({ type: VoucherStatusEnum, required: false, description: 'Only vouchers with this status now.' }),
      },
      query: (args, ctx) => ({
        where: args.status ? voucherStatusWhere(args.status, nowOf(ctx.deps)) : {},
        orderBy: VOUCHERS_NEWEST_FIRST,
      }),
      totalCount: true,
      extensions: {
        answerChangesAt: ((member: MemberWithVouchers, args: { status?: VoucherStatus | null }, ctx) =>
          listChangesAt(
            member,
            { status: args.status ?? null, counted: member._count?.vouchers !== undefined },
            ctx,
          )) satisfies AnswerChangesAt,
      },
    },
    counted(COUNT_COST.indexed),
  ),
);

builder.prismaObjectField('Member', 'activeVouchers', (t) =>
  t.relation('vouchers', {
    description:
      `Vouchers that can be redeemed now, soonest expiry first: at most ${ACTIVE_VOUCHERS_LIMIT} (a status screen’s worth; a plain list, ` +
      'not paged). For every one of them, or for a count ("3 vouchers"), use `vouchers(status: ISSUED)` and its `totalCount`.',
    query: (_args, ctx) => ({
      where: voucherStatusWhere('ISSUED', nowOf(ctx.deps)),
      orderBy: [{ expiresAt: 'asc' as const }, { id: 'asc' as const }],
      take: ACTIVE_VOUCHERS_LIMIT,
    }),
    extensions: {
      answerChangesAt: ((member: MemberWithVouchers, _args, ctx) =>
        listChangesAt(member, { status: 'ISSUED' }, ctx)) satisfies AnswerChangesAt,
    },
  }),
);
