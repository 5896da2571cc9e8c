import { getArgumentValues, Kind, type FieldNode, type GraphQLObjectType, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { readMemberStatus, type MemberStatus, type MemberStatusRequest } from '../../domain/members/member-status.service.js';
import type { UpcomingExpiry } from '../../domain/points/expiring.service.js';
import type { ProgramView } from '../../domain/program/program.service.js';
import type { Member, VoucherStatus } from '../../generated/prisma/client.js';
import type { GraphQLContext } from '../context.js';

/**
 * Reads one member for `member(id)` and `me`: the member status screen in one
 * statement (`readMemberStatus`) when the GraphQL selection is one it answers —
 * member fields that are columns or computed from them, `expiringPoints`,
 * `tierProgress`, and first pages of `vouchers` (optionally by status) and
 * `ledger` whose nodes ask for no relation — and through Prisma otherwise
 * (cursors, last pages, other relations, nested relations, directives).
 *
 * What to read is decided from the selection set, which is ours, not from
 * plugin-prisma's generated query, which is the plugin's. Only the number of
 * rows per page is taken from that query (`take`: it asks for one more row than
 * `first` to know whether there is a next page), because the answer must have
 * the shape the plugin resolves the connections from; when its query no longer
 * looks like that, the read falls back to Prisma and says so in the log, and
 * the statement-count tests fail. A test compares both paths for every shape
 * this accepts. Expiries and tier standing read in the same statement are kept
 * with the member object (a WeakMap) for its `expiringPoints` and
 * `tierProgress` fields.
 */
export async function resolveMember(
  query: { include?: unknown; select?: unknown },
  memberId: string,
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
): Promise<Member | null> {
  const request = statusRequestOf(query, info, ctx);
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

/** Node fields of the two pages that are columns of their row (no relation). */
const NODE_FIELDS = {
  ledger: new Set([
    '__typename',
    'id',
    'kind',
    'amount',
    'balanceAfter',
    'causeType',
    'causeRef',
    'actorType',
    'actorId',
    'note',
    'createdAt',
  ]),
  vouchers: new Set([
    '__typename',
    'id',
    'code',
    'kind',
    'status',
    'valueType',
    'value',
    'percent',
    'minimumOrderValue',
    'causeType',
    'causeRef',
    'issuedAt',
    'expiresAt',
    'redeemedAt',
    'voidedAt',
    'voidReason',
  ]),
} as const;

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

/** Whether a page's selection asks only for edges (cursor, node columns) and pageInfo. */
function plainPage(page: Page, nodes: FieldNode[], info: GraphQLResolveInfo): boolean {
  const connection = fieldsOf(
    nodes.map((node) => node.selectionSet),
    info,
  );
  if (!connection) return false;
  return connection.every((field) => {
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
        const columns = fieldsOf([edgeField.selectionSet], info);
        return columns !== null && columns.every((column) => NODE_FIELDS[page].has(column.name.value));
      })
    );
  });
}

/** The arguments of a page: only `first` (and `status` for vouchers); null for cursors, last pages or aliases that differ. */
function pageArguments(page: Page, nodes: FieldNode[], info: GraphQLResolveInfo): { status: VoucherStatus | null } | null {
  const member = info.schema.getType('Member') as GraphQLObjectType;
  const definition = member.getFields()[page]!;
  const values = nodes.map((node) => getArgumentValues(definition, node, info.variableValues));
  const [first, ...others] = values;
  if (!first || others.some((other) => JSON.stringify(other) !== JSON.stringify(first))) return null;
  if (nodes.some((node) => (node.alias?.value ?? page) !== (nodes[0]!.alias?.value ?? page))) return null;
  const { first: size, status, ...rest } = first as { first?: unknown; status?: unknown };
  if (Object.values(rest).some((value) => value != null)) return null;
  if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) return null;
  return { status: (status ?? null) as VoucherStatus | null };
}

/** Rows per page as plugin-prisma's query asks for them; null when its query has another shape. */
function takesOf(query: unknown, pages: readonly Page[]): Map<Page, number> | null {
  if (typeof query !== 'object' || query === null) return null;
  const { include = {}, ...rest } = query as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || typeof include !== 'object' || include === null) return null;
  const relations = include as Record<string, unknown>;
  if (Object.keys(relations).some((relation) => !(pages as readonly string[]).includes(relation))) return null;
  const takes = new Map<Page, number>();
  for (const page of pages) {
    const take = (relations[page] as { take?: unknown } | undefined)?.take;
    if (typeof take !== 'number' || !Number.isInteger(take) || take <= 0) return null;
    takes.set(page, take);
  }
  return takes;
}

let warnedAboutQueryShape = false;

/** What `readMemberStatus` must read for this selection, or null when only Prisma can answer it. */
export function statusRequestOf(query: unknown, info: GraphQLResolveInfo, ctx?: GraphQLContext): MemberStatusRequest | null {
  const fields = fieldsOf(
    info.fieldNodes.map((node) => node.selectionSet),
    info,
  );
  if (!fields) return null;
  const pages = new Map<Page, FieldNode[]>();
  for (const field of fields) {
    const name = field.name.value;
    if (name === 'ledger' || name === 'vouchers') pages.set(name, [...(pages.get(name) ?? []), field]);
    else if (!MEMBER_FIELDS.has(name)) return null;
  }
  const request: MemberStatusRequest = {};
  const statuses = new Map<Page, VoucherStatus | null>();
  for (const [page, nodes] of pages) {
    const args = pageArguments(page, nodes, info);
    if (!args || !plainPage(page, nodes, info)) return null;
    statuses.set(page, args.status);
  }
  const takes = takesOf(query, [...pages.keys()]);
  if (!takes) {
    if (!warnedAboutQueryShape) {
      warnedAboutQueryShape = true;
      ctx?.logger.warn({ query }, 'member status read: plugin-prisma query has an unexpected shape; reading through Prisma');
    }
    return null;
  }
  if (takes.has('ledger')) request.ledger = { take: takes.get('ledger')! };
  if (takes.has('vouchers')) request.vouchers = { take: takes.get('vouchers')!, status: statuses.get('vouchers') ?? null };
  request.expiries = fields.some((field) => field.name.value === 'expiringPoints');
  request.standing = fields.some((field) => field.name.value === 'tierProgress');
  request.program = fields.some((field) => field.name.value === 'tier');
  return request;
}
