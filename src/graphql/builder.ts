import SchemaBuilder, { PothosValidationError } from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin, { decodeGlobalID } from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { callerOf, roleOf, type ApiKeyScope, type StaffRole } from '../auth/principal.js';
import { mayCall, roleAtLeast, type CallerRule } from '../domain/authorization.js';
import { DomainError, ForbiddenError, UnauthenticatedError } from '../domain/errors.js';
import { isUuid } from '../domain/validation.js';
import { getDatamodel } from '../generated/pothos-types.js';
import type PrismaTypes from '../generated/pothos-types.js';
import type { GraphQLContext } from './context.js';

/** Node types that belong to no member and that no member may see: a member token reads them as a missing id. */
const NO_MEMBERS_NODE = '';

/** The member a node belongs to, for the node types that belong to one; undefined for the others (rewards). */
function ownerOf(typename: string, node: unknown): string | undefined {
  const row = node as { id?: string; memberId?: string; contract?: { memberId?: string } };
  if (typename === 'Member') return row.id;
  // An incident names many members and belongs to none; it is for staff and reporting keys.
  if (typename === 'ServiceIncident') return NO_MEMBERS_NODE;
  return row.memberId ?? row.contract?.memberId;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  AuthScopes: {
    /** Staff of at least this role (an admin-scoped API key counts as ADMIN). */
    staff: StaffRole;
    /** An API key carrying this scope (or `admin`). */
    apiKey: ApiKeyScope;
    /** A member token for exactly this member id. */
    self: string;
    /** Any member token. */
    member: boolean;
    /** Whoever a service's rule (SERVICE_CALLERS) lets in: the same check the service makes itself. */
    caller: CallerRule;
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    Points: { Input: number; Output: number };
    ID: { Input: string; Output: string | number };
  };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
  // Errors wraps scope-auth, so a refused field becomes a typed ForbiddenError
  // result on fields that list it, and a masked-free GraphQL error elsewhere.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, RelayPlugin, PrismaPlugin],
  scopeAuth: {
    runScopesOnType: true,
    authScopes: ({ principal }) => ({
      staff: (role) => roleAtLeast(roleOf(principal), role),
      apiKey: (scope) => principal.kind === 'apiKey' && (principal.scopes.has(scope) || principal.scopes.has('admin')),
      self: (memberId) => principal.kind === 'member' && principal.memberId === memberId,
      member: principal.kind === 'member',
      caller: (rule) => mayCall(callerOf(principal), rule),
    }),
    unauthorizedError: (_parent, context) => (context.principal.kind === 'anonymous' ? new UnauthenticatedError() : new ForbiddenError()),
  },
  errors: {
    defaultTypes: [],
    defaultUnionOptions: {
      description: 'The payload on success, otherwise one typed error: switch on __typename.',
    },
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Every node has a UUID key: anything else is the caller's mistake, not a query to run.
    decodeGlobalID: (globalID) => {
      try {
        const decoded = decodeGlobalID(globalID);
        if (isUuid(decoded.id)) return decoded;
      } catch {
        // the error below
      }
      throw new PothosValidationError('Argument "id" must be a global id returned by this API.');
    },
    nodeQueryOptions: {
      description:
        'Fetches any object by its global id; access rules of its type apply. For a member token, another member’s object is null, as a missing one is.',
      resolve: async (_root, args, context, _info, resolveNode) => {
        const node: unknown = await resolveNode(args.id);
        if (context.principal.kind !== 'member' || node == null) return node as never;
        const owner = ownerOf(args.id.typename, node);
        // A refusal (FORBIDDEN) would tell that the object exists; null does not.
        return (owner === undefined || owner === context.principal.memberId ? node : null) as never;
      },
    },
    nodesQueryOptions: false,
    nodeTypeOptions: { description: 'An object with a global id, refetchable through `node(id)`.' },
    pageInfoTypeOptions: { description: 'Where a page sits in its list; pass endCursor as `after` for the next page.' },
    defaultConnectionTypeOptions: { description: 'A page of a list (Relay cursor connection).' },
    defaultEdgeTypeOptions: { description: 'One item of a page, with its cursor.' },
  },
  prisma: {
    client: (ctx) => ctx.deps.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
    maxConnectionSize: 100,
    defaultConnectionSize: 20,
  },
});

builder.addScalarType(
  'DateTime',
  new GraphQLScalarType<Date, string>({
    name: 'DateTime',
    description: 'An ISO-8601 date-time in UTC, e.g. 2026-11-23T12:00:00.000Z.',
    serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
    parseValue: (value) => {
      const date = typeof value === 'string' ? new Date(value) : new Date(NaN);
      if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 string');
      return date;
    },
    parseLiteral: (ast) => {
      const date = ast.kind === Kind.STRING ? new Date(ast.value) : new Date(NaN);
      if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 string');
      return date;
    },
  }),
  {},
);

// Point amounts in inputs accept any number so that 0, negative, fractional and
// out-of-range amounts reach the domain and come back as a typed ValidationError
// (a GraphQL Int would refuse them before any resolver, as an untyped error).
builder.addScalarType(
  'Points',
  new GraphQLScalarType<number, number>({
    name: 'Points',
    description: 'A number of points. Inputs must be whole numbers within range; anything else is a ValidationError.',
    serialize: (value) => Number(value),
    parseValue: (value) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new GraphQLError('Points must be a number');
      return value;
    },
    parseLiteral: (ast) => {
      if (ast.kind !== Kind.INT && ast.kind !== Kind.FLOAT) throw new GraphQLError('Points must be a number');
      return Number(ast.value);
    },
  }),
  {},
);

builder.queryType({ description: 'Reads. Every field checks the caller against the data it returns.' });
builder.mutationType({
  description: 'Writes. Results are unions of a payload and typed errors: switch on __typename.',
});

export { DomainError };
