import { isDeepStrictEqual } from 'node:util';
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { readMemberStatus, type MemberStatus, type MemberStatusRequest } from '../../domain/members/member-status.service.js';
import type { UpcomingExpiry } from '../../domain/points/expiring.service.js';
import { voucherStatusWhere } from '../../domain/vouchers/vouchers.service.js';
import type { Member, VoucherStatus } from '../../generated/prisma/client.js';
import type { GraphQLContext } from '../context.js';

/**
 * Reads one member for `member(id)` and `me`: the member status screen in one
 * statement (`readMemberStatus`) when plugin-prisma's query for the selection
 * is one it can answer — the member with `vouchers` and `ledger` pages as the
 * connections ask for them — and through Prisma otherwise (`select` mode,
 * cursors, totals, other relations, nested relations).
 *
 * The answer has the shape Prisma would give for that query, so plugin-prisma
 * resolves the connections from it as from Prisma's; a test compares the two
 * for every shape this accepts. Expiries and tier standing read in the same
 * statement are kept with the member object (`statusExtras`) for its
 * `expiringPoints` and `tierProgress` fields.
 */
export async function resolveMember(
  query: { include?: unknown; select?: unknown },
  memberId: string,
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
): Promise<Member | null> {
  const request = statusRequestOf(query, info);
  if (!request) return ctx.deps.prisma.member.findUnique({ ...query, where: { id: memberId } } as never);
  const status = await readMemberStatus(ctx.deps, memberId, request);
  if (!status) return null;
  extras.set(status.member, status);
  return status.member;
}

const extras = new WeakMap<object, MemberStatus>();

/** Expiries read with this member object by `resolveMember`, if they were. */
export function knownExpiries(member: object): UpcomingExpiry[] | undefined {
  return extras.get(member)?.expiries;
}

/** Tier standing read with this member object by `resolveMember`, if it was. */
export function knownStanding(member: object): MemberStatus['standing'] {
  return extras.get(member)?.standing;
}

const LEDGER_ORDER = [{ createdAt: 'desc' }, { id: 'desc' }];
const VOUCHER_ORDER = [{ issuedAt: 'desc' }, { id: 'desc' }];
const VOUCHER_STATUSES: VoucherStatus[] = ['ISSUED', 'REDEEMED', 'EXPIRED', 'VOIDED'];

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `take` of a first page in newest-first order, or null for anything else (cursors, skips, other orders). */
function pageTake(args: Record<string, unknown>, order: unknown): number | null {
  const { take, skip, orderBy, where: _where, ...rest } = args;
  if (Object.keys(rest).length > 0 || (skip !== undefined && skip !== 0)) return null;
  if (!isDeepStrictEqual(orderBy, order)) return null;
  return typeof take === 'number' && Number.isInteger(take) && take > 0 ? take : null;
}

/** The status filter that `voucherStatusWhere` turned into this `where`; undefined when it is not one of them. */
function voucherStatusOf(where: unknown): VoucherStatus | null | undefined {
  if (where === undefined || (isRecord(where) && Object.keys(where).length === 0)) return null;
  const now = findDate(where);
  return VOUCHER_STATUSES.find((status) => isDeepStrictEqual(voucherStatusWhere(status, now ?? new Date(0)), where));
}

function findDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map(findDate).find(Boolean);
  if (isRecord(value)) return Object.values(value).map(findDate).find(Boolean);
  return undefined;
}

/** What `readMemberStatus` must read for this plugin-prisma query, or null when only Prisma can answer it. */
export function statusRequestOf(query: unknown, info: GraphQLResolveInfo): MemberStatusRequest | null {
  if (!isRecord(query)) return null;
  const { include = {}, ...rest } = query;
  if (Object.keys(rest).length > 0 || !isRecord(include)) return null;
  const request: MemberStatusRequest = {};
  for (const [relation, args] of Object.entries(include)) {
    if (!isRecord(args)) return null;
    if (relation === 'ledger') {
      const take = pageTake(args, LEDGER_ORDER);
      if (take === null || (args.where !== undefined && !isDeepStrictEqual(args.where, {}))) return null;
      request.ledger = { take };
    } else if (relation === 'vouchers') {
      const take = pageTake(args, VOUCHER_ORDER);
      const status = voucherStatusOf(args.where);
      if (take === null || status === undefined) return null;
      request.vouchers = { take, status };
    } else {
      return null;
    }
  }
  request.expiries = selects(info, 'expiringPoints');
  request.standing = selects(info, 'tierProgress');
  return request;
}

/** Whether the field's selection asks for `name` on the member (through fragments too). */
function selects(info: GraphQLResolveInfo, name: string): boolean {
  const visit = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === name;
      if (selection.kind === Kind.INLINE_FRAGMENT) return visit(selection.selectionSet);
      return visit(info.fragments[selection.name.value]?.selectionSet);
    });
  return info.fieldNodes.some((node) => visit(node.selectionSet));
}
