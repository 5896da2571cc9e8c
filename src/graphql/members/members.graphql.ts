import { encodeGlobalID } from '@pothos/plugin-relay';
import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { enrollMember, memberByExternalIdWhere, memberListWhere, updateMember } from '../../domain/members/members.service.js';
import { AlreadyExistsError, NotFoundError } from '../../domain/errors.js';
import { builder } from '../builder.js';
import { MemberStatusEnum } from '../enums.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { resolveMember } from './member-read.js';
import { MemberRef } from './member.type.js';
import { COUNT_COST, counted } from '../total-count.js';

const MemberFilter = builder.inputType('MemberFilter', {
  description: 'Narrows a member listing; all given conditions must hold.',
  fields: (t) => ({
    status: t.field({ type: MemberStatusEnum, required: false, description: 'Only members with this status.' }),
    tier: t.string({ required: false, description: 'Only members in the tier with this key (e.g. "GOLD").' }),
    search: t.string({ required: false, description: 'Case-insensitive text in e-mail or name.' }),
  }),
});

builder.queryFields((t) => ({
  me: t.field({
    type: MemberRef,
    nullable: true,
    description: 'The member of a member token: status, balance, tier, vouchers and activity in one query.',
    authScopes: { member: true },
    resolve: (_root, _args, ctx, info) => (ctx.principal.kind === 'member' ? resolveMember(ctx.principal.memberId, ctx, info) : null),
  }),
  member: t.field({
    type: MemberRef,
    nullable: true,
    description: 'A member by id (global or raw UUID). Null when there is none; for a member token, null for anyone but themselves.',
    authScopes: { caller: SERVICE_CALLERS.readMembers },
    args: { id: t.arg.id({ required: true, description: 'Member id.' }) },
    // resolveMember's reads check the caller (a member only themself: null for another) and the id.
    resolve: (_root, args, ctx, info) => resolveMember(decodeId('Member', 'id', String(args.id)), ctx, info),
  }),
  memberByExternalId: t.prismaField({
    type: 'Member',
    nullable: true,
    description:
      "A member by the storefront's customer id (spaces around it do not matter). Null when there is none; for a member token, null for anyone but themselves. A blank id, one over 120 characters or one holding NUL is a top-level VALIDATION error; any other finds what is stored under it, or null.",
    authScopes: { caller: SERVICE_CALLERS.readMembers },
    args: { externalId: t.arg.string({ required: true, description: 'External (storefront) customer id.' }) },
    resolve: (query, _root, args, ctx) =>
      ctx.deps.prisma.member.findFirst({ ...query, where: memberByExternalIdWhere(args.externalId, callerOf(ctx.principal)) }),
  }),
  members: t.prismaConnection(
    {
      type: 'Member',
      cursor: 'id',
      description: 'Members, filtered; staff and storefront keys only.',
      authScopes: { caller: SERVICE_CALLERS.listMembers },
      args: { filter: t.arg({ type: MemberFilter, required: false, description: 'Conditions to match.' }) },
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.member.findMany({ ...query, where: memberListWhere(args.filter, callerOf(ctx.principal)), orderBy: { id: 'asc' } }),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.member.count({ where: memberListWhere(args.filter, callerOf(ctx.principal)) }),
    },
    counted(COUNT_COST.scan),
  ),
}));

const MemberPayload = (name: string, description: string) =>
  builder.objectRef<{ memberId: string }>(name).implement({
    description,
    fields: (t) => ({
      member: t.prismaField({
        type: 'Member',
        description: 'The member, as stored.',
        resolve: (query, parent, _args, ctx) => ctx.deps.prisma.member.findUniqueOrThrow({ ...query, where: { id: parent.memberId } }),
      }),
    }),
  });

const EnrollMemberPayload = MemberPayload('EnrollMemberPayload', 'The enrolled member.');
// The answer to the caller's own write, so shown to whoever may enrol: a `members:write` key that may not read members
// (FORBIDDEN on `member`) learns the id of the member it enrolled, and of no other (a taken external id or e-mail is
// an AlreadyExistsError naming the field only).
builder.objectFields(EnrollMemberPayload, (t) => ({
  memberId: t.id({
    description:
      'The enrolled member’s global id (what `member { id }` reads), shown to every caller that may enrol — also to a key that may not read members — to earn for or update the member next.',
    resolve: (parent) => encodeGlobalID('Member', parent.memberId),
  }),
}));
const UpdateMemberPayload = MemberPayload('UpdateMemberPayload', 'The updated member.');

const EnrollMemberInput = builder.inputType('EnrollMemberInput', {
  description: 'A new member.',
  fields: (t) => ({
    externalId: t.string({ required: true, description: "The storefront's customer id (unique)." }),
    email: t.string({
      required: false,
      description: 'E-mail address (unique when given); optional for shop-floor and phone-only customers.',
    }),
    name: t.string({ required: true, description: 'Display name.' }),
    locale: t.string({ required: false, description: 'Language tag, default "en".' }),
  }),
});

const UpdateMemberInput = builder.inputType('UpdateMemberInput', {
  description: 'Changes to a member; omitted fields stay as they are.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'Member id.' }),
    email: t.string({ required: false, description: 'New e-mail address (storefront and staff only).' }),
    name: t.string({ required: false, description: 'New display name.' }),
    locale: t.string({ required: false, description: 'New language tag.' }),
    status: t.field({ type: MemberStatusEnum, required: false, description: 'New status (staff SUPERVISOR+ only).' }),
  }),
});

builder.mutationFields((t) => ({
  enrollMember: t.field({
    type: EnrollMemberPayload,
    description: 'Enrols a customer. Duplicate external id or e-mail → AlreadyExistsError.',
    authScopes: { caller: SERVICE_CALLERS.enrollMember },
    errors: { types: [...COMMON_ERRORS, AlreadyExistsError], directResult: true, union: { name: 'EnrollMemberResult' } },
    args: { input: t.arg({ type: EnrollMemberInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const member = await enrollMember(ctx.deps, input, callerOf(ctx.principal));
      return { memberId: member.id };
    },
  }),
  updateMember: t.field({
    type: UpdateMemberPayload,
    description:
      "Changes a member's details. Members may change their own name and locale (not their e-mail: the storefront or staff change it); the status is changed by staff SUPERVISOR+ only (ForbiddenError for anyone else).",
    authScopes: { caller: SERVICE_CALLERS.updateMember },
    errors: {
      types: [...COMMON_ERRORS, AlreadyExistsError, NotFoundError],
      directResult: true,
      union: { name: 'UpdateMemberResult' },
    },
    args: { input: t.arg({ type: UpdateMemberInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeId('Member', 'id', String(input.id));
      const member = await updateMember(ctx.deps, { ...input, id }, callerOf(ctx.principal));
      return { memberId: member.id };
    },
  }),
}));

export { MemberRef };
