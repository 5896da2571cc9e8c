import { getConnectionPageSize } from '@pothos/core';
import { queryFromInfo } from '@pothos/plugin-prisma';
import {
  getArgumentValues,
  Kind,
  type FieldNode,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { attached } from '../../attached.js';
import { callerOf } from '../../auth/principal.js';
import {
  readMember,
  readMemberStatus,
  SCREEN_ENTRY_COLUMNS,
  type MemberReadShape,
  type MemberStatus,
  type MemberStatusRequest,
} from '../../domain/members/member-status.service.js';
import type { UpcomingExpiry } from '../../domain/points/expiring.service.js';
import type { ProgramView } from '../../domain/program/program.service.js';
import type { LedgerEntry, Member, Voucher, VoucherStatus } from '../../generated/prisma/client.js';
import { SCREEN_VOUCHER_COLUMNS } from '../../domain/vouchers/vouchers.service.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { markPreloaded } from '../preloaded.js';

/**
 * Reads one member for `member(id)`, `me` and the live status, for the request's caller (both reads check it:
 * whoever may read the member, a member only themself): the member status
 * screen in one statement (`readMemberStatus`) when the GraphQL selection is one it
 * answers — member fields that are columns or computed from them,
 * `expiringPoints`, `tierProgress`, and first pages of `vouchers` (optionally by
 * status) and `ledger` whose nodes ask for no relation — and through Prisma
 * otherwise (`readMember`: cursors, last pages, other relations, nested relations, directives),
 * with the query plugin-prisma plans for the selection.
 *
 * What to read is decided from the selection set alone. The member row the
 * status read returns is marked preloaded (src/graphql/preloaded.ts): its pages and
 * `select` fields resolve from it without plugin-prisma planning the selection (its
 * walk of every selected field was ~12 % of the API's CPU per status answer). A page holds as
 * many rows as plugin-prisma's connection asks for (`getConnectionPageSize` with
 * the builder's sizes: one more than `first`, to know whether there is a next
 * page), so the connection resolves from them as from its own query. A test
 * compares both paths for every shape this accepts, and the statement-count tests
 * fail when the fast path stops being taken. Expiries and tier standing read in
 * the same statement are kept with the member object (a WeakMap) for its
 * `expiringPoints` and `tierProgress` fields. When its vouchers change status, and when its qualifying points
 * change (an entry leaves the rolling window), with the clock alone is told to the request (`answerChangesAt`), as
 * the vouchers and `tierProgress` fields tell it on the Prisma path.
 */
export async function resolveMember(memberId: string, ctx: GraphQLContext, info: GraphQLResolveInfo): Promise<Member | null> {
  const caller = callerOf(ctx.principal);
  const request = statusRequestOf(info);
  if (!request) return readMember(ctx.deps, memberId, queryFromInfo({ context: ctx, info }) as MemberReadShape, caller);
  const status = await readMemberStatus(ctx.deps, memberId, request, caller);
  if (!status) return null;
  // Its pages resolve from the row without plugin-prisma (below), and so without their fields' rules of when the
  // answer changes with the clock (src/graphql/answer-changes.ts), and its tier progress from the standing read with
  // it: the read tells its own.
  if (status.vouchersChangeAt) ctx.answerChangesAt?.(status.vouchersChangeAt);
  if (status.standing?.changesAt) ctx.answerChangesAt?.(status.standing.changesAt);
  extras.set(status.member, status);
  // The member only: the pages' rows are asked for columns alone (NODE_FIELDS), which plugin-prisma does not wrap.
  markPreloaded(status.member);
  return status.member;
}

/**
 * A member for a field that has the member's row at hand (a point operation's payload: the row its
 * transaction returned): the row, marked preloaded when the selection asks only for what a row
 * answers (its columns and what is computed from them, no page), so that plugin-prisma plans
 * nothing; otherwise the row behind plugin-prisma's plan (its relations load through plugin-prisma's
 * loader, as for any row without them). Without a row, read through Prisma with that plan.
 */
export function rowOrPlanned(
  row: Member | undefined,
  memberId: string,
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
): Member | Promise<Member> {
  if (row && onlyMemberFields(info)) {
    markPreloaded(row);
    return row;
  }
  // Planned with the row at hand too: planning records the plan on the context, where plugin-prisma's fields
  // beneath the row (balance, tier) find what it holds, and its relations, which the row lacks, their loader.
  const query = queryFromInfo({ context: ctx, info });
  if (row) return row;
  return ctx.deps.prisma.member.findUniqueOrThrow({ ...query, where: { id: memberId } } as never);
}

/** Whether the selection asks only for member fields a row answers (no page, no other relation, no directive). */
function onlyMemberFields(info: GraphQLResolveInfo): boolean {
  const fields = fieldsOf(
    info.fieldNodes.map((node) => node.selectionSet),
    info,
  );
  return fields !== null && fields.every((field) => MEMBER_FIELDS.has(field.name.value));
}

const extras = attached<object, MemberStatus>('member status');

/** Expiries read with this member object by `resolveMember`, if they were. */
export function knownExpiries(member: object): UpcomingExpiry[] | undefined {
  return extras.get(member)?.expiries;
}

/** The program settings read with this member object by `resolveMember` (for its `tier`), if they were. */
export function knownProgram(member: object): ProgramView | undefined {
  const status = extras.get(member);
  return status?.standing?.program ?? status?.program;
}

/** Tier standing read with this member object by `resolveMember`, if it was. */
export function knownStanding(member: object): MemberStatus['standing'] {
  return extras.get(member)?.standing;
}

/** Member fields the status statement answers: its columns and what is computed from them or read with them. */
const MEMBER_FIELDS = new Set([
  '__typename',
  'id',
  'externalId',
  'email',
  'name',
  'locale',
  'status',
  'tier',
  'tierSince',
  'enrolledAt',
  'lastActivityAt',
  'atRisk',
  'atRiskSince',
  'balance',
  'expiringPoints',
  'tierProgress',
]);

/**
 * Node fields of the two pages that their row answers (no relation), each with the columns its resolver reads
 * (voucher.type.ts, member.type.ts' LedgerEntryRef; both types' `visibleTo` read `memberId`, which every row the
 * status read returns has). A page whose fields read only the status screen's columns (`SCREEN_VOUCHER_COLUMNS`,
 * `SCREEN_ENTRY_COLUMNS`) is read with those alone; `cursor` reads `id`, which both screens have.
 */
const NODE_FIELDS: Record<'ledger', Record<string, readonly (keyof LedgerEntry)[]>> &
  Record<'vouchers', Record<string, readonly (keyof Voucher)[]>> = {
  ledger: {
    __typename: [],
    id: ['id'],
    kind: ['kind'],
    amount: ['amount'],
    balanceAfter: ['balanceAfter'],
    causeType: ['causeType'],
    causeRef: ['causeRef'],
    actorType: ['actorType'],
    // Their scopes depend on who wrote the entry and why (a goodwill gesture's are staff-only).
    actorId: ['actorId', 'causeType'],
    note: ['note', 'actorType', 'causeType'],
    createdAt: ['createdAt'],
  },
  vouchers: {
    __typename: [],
    id: ['id'],
    code: ['code'],
    kind: ['kind'],
    // EXPIRED once past its expiry.
    status: ['status', 'expiresAt'],
    valueType: ['valueType'],
    value: ['amount', 'currency'],
    percent: ['percent'],
    minimumOrderValue: ['minimumOrderValue', 'currency'],
    causeType: ['causeType'],
    causeRef: ['causeRef'],
    issuedAt: ['issuedAt'],
    expiresAt: ['expiresAt'],
    redeemedAt: ['redeemedAt'],
    voidedAt: ['voidedAt'],
    voidReason: ['voidReason'],
  },
};

const SCREEN_COLUMNS: Record<Page, ReadonlySet<string>> = {
  ledger: new Set(SCREEN_ENTRY_COLUMNS),
  vouchers: new Set(SCREEN_VOUCHER_COLUMNS),
};

type Page = keyof typeof NODE_FIELDS;

/** The fields of a selection set, fragments spread in; null when a directive (@skip, @include) could change it. */
function fieldsOf(sets: readonly (SelectionSetNode | undefined)[], info: GraphQLResolveInfo): FieldNode[] | null {
  const fields: FieldNode[] = [];
  const visit = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).every((selection) => {
      if (selection.directives?.length) return false;
      if (selection.kind === Kind.FIELD) {
        fields.push(selection);
        return true;
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) return visit(selection.selectionSet);
      const fragment = info.fragments[selection.name.value];
      return fragment !== undefined && !fragment.directives?.length && visit(fragment.selectionSet);
    });
  return sets.every(visit) ? fields : null;
}

/**
 * Whether a page's selection asks only for edges (cursor, node fields its row answers) and pageInfo: null when not,
 * else whether its node fields read only the status screen's columns.
 */
function plainPage(page: Page, nodes: FieldNode[], info: GraphQLResolveInfo): { screen: boolean } | null {
  const connection = fieldsOf(
    nodes.map((node) => node.selectionSet),
    info,
  );
  if (!connection) return null;
  const columns = NODE_FIELDS[page];
  let screen = true;
  const plain = connection.every((field) => {
    const name = field.name.value;
    if (name === '__typename' || name === 'pageInfo') return true;
    if (name !== 'edges') return false;
    const edge = fieldsOf([field.selectionSet], info);
    return (
      edge !== null &&
      edge.every((edgeField) => {
        const edgeName = edgeField.name.value;
        if (edgeName === '__typename' || edgeName === 'cursor') return true;
        if (edgeName !== 'node') return false;
        const nodeFields = fieldsOf([edgeField.selectionSet], info);
        return (
          nodeFields !== null &&
          nodeFields.every((nodeField) => {
            const read = Object.hasOwn(columns, nodeField.name.value) ? columns[nodeField.name.value] : undefined;
            if (read === undefined) return false;
            screen &&= read.every((column) => SCREEN_COLUMNS[page].has(column));
            return true;
          })
        );
      })
    );
  });
  return plain ? { screen } : null;
}

/** The arguments of a page: only `first` (and `status` for vouchers); null for cursors, last pages or aliases that differ. */
function pageArguments(page: Page, nodes: FieldNode[], info: GraphQLResolveInfo): { first: number; status: VoucherStatus | null } | null {
  const member = info.schema.getType('Member') as GraphQLObjectType;
  const definition = member.getFields()[page]!;
  const values = nodes.map((node) => getArgumentValues(definition, node, info.variableValues));
  const [first, ...others] = values;
  if (!first || others.some((other) => JSON.stringify(other) !== JSON.stringify(first))) return null;
  if (nodes.some((node) => (node.alias?.value ?? page) !== (nodes[0]!.alias?.value ?? page))) return null;
  const { first: size, status, ...rest } = first as { first?: unknown; status?: unknown };
  if (Object.values(rest).some((value) => value != null)) return null;
  if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) return null;
  return { first: size, status: (status ?? null) as VoucherStatus | null };
}

/** Rows a first page of `first` reads, as plugin-prisma's connections count them (the builder's sizes; neither page sets its own). */
function rowsPerPage(first: number): number {
  const { maxConnectionSize: maxSize, defaultConnectionSize: defaultSize } = builder.options.prisma;
  return getConnectionPageSize({ args: { first }, maxSize, defaultSize }).limit;
}

/** What `readMemberStatus` must read for this selection, or null when only Prisma can answer it. */
function statusRequestOf(info: GraphQLResolveInfo): MemberStatusRequest | null {
  const known = decided.get(info.fieldNodes[0]!);
  if (known && sameNodes(known.nodes, info.fieldNodes)) return known.request;
  const { request, fromVariables } = decideStatusRequest(info);
  if (!fromVariables) decided.set(info.fieldNodes[0]!, { nodes: info.fieldNodes, request: request && frozen(request) });
  return request;
}

/**
 * What `statusRequestOf` decided for a selection whose answer no variable changes, by its first field node: a
 * document is parsed once and its nodes kept (yoga's parse cache, the compiled operations), so a selection's read is
 * decided once, not on every request. Kept with the nodes it was decided for: one field node can be merged with
 * others in another operation of the document.
 */
const decided = new WeakMap<FieldNode, { nodes: readonly FieldNode[]; request: Readonly<MemberStatusRequest> | null }>();

/** A decision shared by every request of its document: none may change it, nor its pages' parts. */
function frozen(request: MemberStatusRequest): Readonly<MemberStatusRequest> {
  if (request.vouchers) Object.freeze(request.vouchers);
  if (request.ledger) Object.freeze(request.ledger);
  return Object.freeze(request);
}

function sameNodes(a: readonly FieldNode[], b: readonly FieldNode[]): boolean {
  return a === b || (a.length === b.length && a.every((node, index) => node === b[index]));
}

/** Whether a value written in a document names a variable, anywhere in it. */
function hasVariable(value: ValueNode): boolean {
  if (value.kind === Kind.VARIABLE) return true;
  if (value.kind === Kind.LIST) return value.values.some(hasVariable);
  if (value.kind === Kind.OBJECT) return value.fields.some((field) => hasVariable(field.value));
  return false;
}

/**
 * `statusRequestOf`'s decision, and whether a variable's value could change it: a page's arguments that name one
 * (the fields, fragments and directives a read is decided by are the document's own).
 */
function decideStatusRequest(info: GraphQLResolveInfo): { request: MemberStatusRequest | null; fromVariables: boolean } {
  const fields = fieldsOf(
    info.fieldNodes.map((node) => node.selectionSet),
    info,
  );
  if (!fields) return { request: null, fromVariables: false };
  const pages = new Map<Page, FieldNode[]>();
  for (const field of fields) {
    const name = field.name.value;
    if (name === 'ledger' || name === 'vouchers') pages.set(name, [...(pages.get(name) ?? []), field]);
    else if (!MEMBER_FIELDS.has(name)) return { request: null, fromVariables: false };
  }
  const fromVariables = [...pages.values()].some((nodes) =>
    nodes.some((node) => node.arguments?.some((argument) => hasVariable(argument.value))),
  );
  const request: MemberStatusRequest = {};
  for (const [page, nodes] of pages) {
    const args = pageArguments(page, nodes, info);
    const plain = args && plainPage(page, nodes, info);
    if (!args || !plain) return { request: null, fromVariables };
    const take = rowsPerPage(args.first);
    if (page === 'ledger') request.ledger = { take, screen: plain.screen };
    else request.vouchers = { take, status: args.status, screen: plain.screen };
  }
  request.expiries = fields.some((field) => field.name.value === 'expiringPoints');
  request.standing = fields.some((field) => field.name.value === 'tierProgress');
  request.program = fields.some((field) => field.name.value === 'tier');
  return { request, fromVariables };
}
