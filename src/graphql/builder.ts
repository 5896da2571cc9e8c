import SchemaBuilder, { PothosValidationError } from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin, { decodeGlobalID } from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { Decimal } from 'decimal.js';
import { callerOf, roleOf, type ApiKeyScope, type StaffRole } from '../auth/principal.js';
import { mayCall, mayReadOwnRow, roleAtLeast, type CallerRule } from '../domain/authorization.js';
import { DomainError, ForbiddenError, UnauthenticatedError } from '../domain/errors.js';
import { mayReadMember } from '../domain/members/members.service.js';
import { pointsFromBigint } from '../domain/points/lifetime-points.js';
import { utcDate } from '../domain/time.js';
import { isUuid } from '../domain/validation.js';
import { getDatamodel } from '../generated/pothos-types.js';
import type PrismaTypes from '../generated/pothos-types.js';
import type { GraphQLContext } from './context.js';
import './answer-changes.js';
import './cursor-ownership.js';
import './position-cursors.js';
import './preloaded.js';
import './visibility.js';

/** A refused field or object: no credentials is UNAUTHENTICATED, credentials that may not is FORBIDDEN. */
function refusal(context: GraphQLContext): Error {
  return context.principal.kind === 'anonymous' ? new UnauthenticatedError() : new ForbiddenError();
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
    /** Whoever may read this member id: the members service's rule (`mayReadMember`), a member only themself. */
    readsMember: string;
    /** Whoever `rule` lets see a row of this member: a service's rule for the rows members own (`mayReadOwnRow`). */
    ownRow: { rule: CallerRule; memberId: string };
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    Points: { Input: number; Output: number };
    Decimal: { Input: string; Output: string };
    ID: { Input: string; Output: string | number };
  };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
  // Errors wraps scope-auth, so a refused field becomes a typed ForbiddenError
  // result on fields that list it, and a masked-free GraphQL error elsewhere.
  // Visibility (who may see an object of a type: `visibleTo`) checks the value a field returns, so it sits inside
  // scope-auth (which decides whether the field runs at all) and outside the plugins that load the object.
  // Preloaded (rows a domain read loaded whole, src/graphql/preloaded.ts) sits outside plugin-prisma, whose
  // planning and per-field lookups it skips for such rows.
  // Answer changes (when an answer changes with the clock, src/graphql/answer-changes.ts) sit inside plugin-prisma: they
  // date the rows it loaded onto the parent.
  // Cursor ownership (a cursor of a row outside a connection's parent answers as one of nothing,
  // src/graphql/cursor-ownership.ts) sits outside preloaded and plugin-prisma: it sees the page however it was loaded.
  // Position cursors (src/graphql/position-cursors.ts) sit outside them all: they write the cursors of the page answered.
  plugins: [
    ErrorsPlugin,
    ScopeAuthPlugin,
    'visibility',
    'positionCursors',
    'cursorOwnership',
    'preloaded',
    RelayPlugin,
    PrismaPlugin,
    'answerChanges',
  ],
  visibility: { refusal },
  scopeAuth: {
    // Types name who may see their objects with `visibleTo` (src/graphql/visibility.ts), decided once per object
    // where a field returns it. A type-level `authScopes` would still be enforced, on each of its fields (the
    // default), and a test refuses it.
    authScopes: ({ principal }) => ({
      staff: (role) => roleAtLeast(roleOf(principal), role),
      apiKey: (scope) => principal.kind === 'apiKey' && (principal.scopes.has(scope) || principal.scopes.has('admin')),
      self: (memberId) => principal.kind === 'member' && principal.memberId === memberId,
      member: principal.kind === 'member',
      caller: (rule) => mayCall(callerOf(principal), rule),
      readsMember: (memberId) => mayReadMember(callerOf(principal), memberId),
      ownRow: ({ rule, memberId }) => mayReadOwnRow(callerOf(principal), rule, memberId),
    }),
    unauthorizedError: (_parent, context) => refusal(context),
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
        // The read rule (docs/errors.md): no credentials is UNAUTHENTICATED, whether the id exists or not.
        if (context.principal.kind === 'anonymous') throw new UnauthenticatedError();
        // Every Node type loads through its service's read (src/graphql/node-loader.ts), which refuses a caller outside
        // its rule before reading and gives a member token another member's row as null, as a missing one: a
        // FORBIDDEN would tell that the object exists (tests/graphql/node-loaders.test.ts holds every type to it).
        return (await resolveNode(args.id)) as never;
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

// RFC 3339 section 5.6 date-times only: a date alone, a date without an offset or a
// day that does not exist (2026-02-30) is the caller's mistake, not a moment to guess.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
const NOT_DATE_TIME = 'DateTime must be an RFC 3339 date-time such as 2026-11-23T12:00:00Z';

/** The moment an RFC 3339 date-time string names, or undefined when it is not one. */
export function parseDateTime(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = RFC3339.exec(value);
  if (!parts) return undefined;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHour = 0, offsetMinute = 0] = parts
    .slice(1)
    .map((part) => Number(part ?? 0));
  const daysInMonth = utcDate(year, month, 0).getUTCDate();
  const valid =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHour <= 23 &&
    offsetMinute <= 59;
  const date = new Date(value);
  // An offset can carry 0000-01-01T00:00:00+01:00 into the year -1 in UTC (and 9999-12-31T23:00:00-02:00 into
  // 10000): an output is UTC, and would be written -000001-… or +010000-…, which is no RFC 3339 date-time.
  const utcYear = date.getUTCFullYear();
  return valid && !Number.isNaN(date.getTime()) && utcYear >= 0 && utcYear <= 9999 ? date : undefined;
}

builder.addScalarType(
  'DateTime',
  new GraphQLScalarType<Date, string>({
    name: 'DateTime',
    description:
      'A date-time as an RFC 3339 string. Outputs are always UTC with milliseconds, e.g. 2026-11-23T12:00:00.000Z; inputs may carry any offset (2026-11-23T13:00:00+01:00) and up to nanoseconds (kept to the millisecond). A date alone, a missing offset, a day that does not exist or an instant outside the years 0000–9999 in UTC is refused before execution as BAD_USER_INPUT naming the argument. docs/scalars.md.',
    specifiedByURL: 'https://datatracker.ietf.org/doc/html/rfc3339#section-5.6',
    serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
    parseValue: (value) => {
      const date = parseDateTime(value);
      if (!date) throw new GraphQLError(NOT_DATE_TIME);
      return date;
    },
    parseLiteral: (ast) => {
      const date = ast.kind === Kind.STRING ? parseDateTime(ast.value) : undefined;
      if (!date) throw new GraphQLError(NOT_DATE_TIME);
      return date;
    },
  }),
  {},
);

// Point amounts in inputs accept any number, and a string that is a plain decimal
// numeral ("250", "-5", "1.5"), so that 0, negative, fractional and out-of-range
// amounts reach the domain and come back as a typed ValidationError (a GraphQL Int
// would refuse them before any resolver, as an untyped error). What is not a number
// at all ("abc", "", true, "1e3") is refused before execution: there is no amount
// to validate. docs/scalars.md is the format's specification.
const POINTS_NUMERAL = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;
const NOT_POINTS = 'Points must be a number or a string of decimal digits such as "250"';

/** The number a Points input stands for, or undefined when it is not a number at all. */
export function parsePoints(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.length <= 32 && POINTS_NUMERAL.test(value)) return pointsOfNumeral(value);
  return undefined;
}

/**
 * A numeral's number (a literal's may have an exponent); NaN, which no field takes as a whole amount, for a numeral
 * with a fraction that the nearest double rounds away: Number("1.00000000000000001") is 1, and such an amount would
 * be granted as 1 point where "1.5" is refused. "250.000" and 1.5e1 are whole.
 */
function pointsOfNumeral(numeral: string): number {
  const points = Number(numeral);
  return Number.isInteger(points) && !new Decimal(numeral).isInteger() ? Number.NaN : points;
}

builder.addScalarType(
  'Points',
  new GraphQLScalarType<number, number>({
    name: 'Points',
    description:
      'A number of points, written as a JSON number (250). Outputs are whole numbers; lifetime points (which only grow) and qualifying points may pass 2^31 − 1, up to 2^53 − 1 (which a JSON number carries exactly): read them into a 64-bit integer or a double, not a 32-bit integer. Inputs also accept a string holding a plain decimal numeral ("250", "-5", "1.5"), read as that number. Any number that is not a whole amount within the field’s range (0, negative where not allowed, fractional, above 2^31 − 1) is a ValidationError naming the field in the mutation’s result; a value that is not a number at all ("abc", "", true, "1e3") is refused before execution as BAD_USER_INPUT naming the argument. docs/scalars.md.',
    specifiedByURL: 'docs/scalars.md#points',
    // A bigint (a bigint column read through Prisma) exactly, or not at all: never rounded to the nearest double.
    serialize: (value) => (typeof value === 'bigint' ? pointsFromBigint(value) : Number(value)),
    parseValue: (value) => {
      const points = parsePoints(value);
      if (points === undefined) throw new GraphQLError(NOT_POINTS);
      return points;
    },
    parseLiteral: (ast) => {
      const points =
        ast.kind === Kind.INT
          ? Number(ast.value)
          : ast.kind === Kind.FLOAT
            ? pointsOfNumeral(ast.value)
            : ast.kind === Kind.STRING
              ? parsePoints(ast.value)
              : undefined;
      if (points === undefined) throw new GraphQLError(NOT_POINTS);
      return points;
    },
  }),
  {},
);

// Money amounts are decimal strings both ways ("12.50"), never floats. The scalar
// refuses only what is not a decimal numeral at all; the range and the number of
// places depend on the field and come back from the domain as a typed
// ValidationError naming it. docs/scalars.md#decimal is the format's specification.
const DECIMAL_NUMERAL = /^-?[0-9]+(?:\.[0-9]+)?$/;
const NOT_DECIMAL = 'Decimal must be a string holding a decimal numeral such as "12.50"';

/** The Decimal input as given, or undefined when it is not a decimal numeral string. */
export function parseDecimal(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 32 && DECIMAL_NUMERAL.test(value) ? value : undefined;
}

builder.addScalarType(
  'Decimal',
  new GraphQLScalarType<string, string>({
    name: 'Decimal',
    description:
      'An exact decimal number as a JSON string: optional "-", digits, optional "." and digits ("12.50", "0.5", "-3"). Used for money amounts, always with their currency beside them. Outputs carry the currency\u2019s minor units ("12.50"). An input outside the field\u2019s range or with too many decimal places is a ValidationError naming the field in the mutation\u2019s result; a value that is not such a string (12.5 as a JSON number, "1e3", "12,50", "") is refused before execution as BAD_USER_INPUT naming the argument. docs/scalars.md.',
    specifiedByURL: 'docs/scalars.md#decimal',
    serialize: (value) => String(value),
    parseValue: (value) => {
      const decimal = parseDecimal(value);
      if (decimal === undefined) throw new GraphQLError(NOT_DECIMAL);
      return decimal;
    },
    parseLiteral: (ast) => {
      const decimal = ast.kind === Kind.STRING ? parseDecimal(ast.value) : undefined;
      if (decimal === undefined) throw new GraphQLError(NOT_DECIMAL);
      return decimal;
    },
  }),
  {},
);

builder.queryType({ description: 'Reads. Every field checks the caller against the data it returns.' });
builder.mutationType({
  description: 'Writes. Results are unions of a payload and typed errors: switch on __typename.',
});

export { DomainError };
