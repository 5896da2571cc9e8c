import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
} from 'graphql';
import { beforeEach, describe, expect, it } from 'vitest';
import { PERMISSION_MATRIX, type CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope, type StaffRole } from '../../src/auth/principal.js';
import { getSchema } from '../../src/graphql/schema.js';
import { useTestApp } from '../support/app.js';

/**
 * docs/errors.md's rule, over the whole schema rather than field by field:
 * - a read refused to its caller is null with a top-level error whose
 *   extensions.code is UNAUTHENTICATED (no credentials) or FORBIDDEN (a caller
 *   beyond its role) — never a silent null, never another code;
 * - a write answers its result union, whose members include the typed errors it
 *   can return: ForbiddenError, UnauthenticatedError and ValidationError on every
 *   mutation, NotFoundError where it names an object by id, IdempotencyConflictError
 *   where it takes an idempotency key; a refused call is one of those, not a
 *   top-level error.
 */
const { app } = useTestApp();
const schema = getSchema();
const queryFields = Object.values(schema.getQueryType()!.getFields());
const mutationFields = Object.values(schema.getMutationType()!.getFields());
let existingMember: string = randomUUID();

beforeEach(async () => {
  existingMember = await app.enroll();
});

/** A value of an input type that passes GraphQL's own validation (the arguments of a refused call do not matter). */
function valueOf(type: GraphQLInputType): unknown {
  const inner = getNullableType(type);
  if (isListType(inner)) return [valueOf(inner.ofType)];
  if (isEnumType(inner)) return inner.getValues()[0]!.value;
  if (isInputObjectType(inner)) {
    return Object.fromEntries(
      Object.values(inner.getFields())
        .filter((field) => isNonNullType(field.type))
        .map((field) => [field.name, valueOf(field.type)]),
    );
  }
  if (isScalarType(inner)) {
    switch (inner.name) {
      case 'ID':
        // An existing member: a refusal must not depend on whether the object exists.
        return encodeGlobalID('Member', existingMember);
      case 'Int':
      case 'Points':
        return 1;
      case 'Float':
        return 1.5;
      case 'Boolean':
        return true;
      case 'DateTime':
        return '2026-11-23T12:00:00Z';
      case 'Decimal':
        return '1.00';
      default:
        return 'x';
    }
  }
  throw new Error(`no value for ${String(type)}`);
}

/** `{ field(args) { __typename } }` with variables for its required arguments. */
function operationOf(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>) {
  const required = field.args.filter((arg: GraphQLArgument) => isNonNullType(arg.type));
  const declarations = required.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = required.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  const selection = isScalarType(getNamedType(field.type)) || isEnumType(getNamedType(field.type)) ? '' : ' { __typename }';
  const query = `${kind}${declarations ? `(${declarations})` : ''} { ${field.name}${args ? `(${args})` : ''}${selection} }`;
  return { query, variables: Object.fromEntries(required.map((arg) => [arg.name, valueOf(arg.type)])) };
}

const isScope = (kind: CallerKind): kind is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(kind);
const STAFF: StaffRole[] = ['AGENT', 'SUPERVISOR', 'ADMIN'];

async function tokenOf(kind: CallerKind): Promise<string | undefined> {
  if (kind === 'anonymous') return undefined;
  if (kind === 'memberSelf' || kind === 'memberOther') return app.memberToken(await app.enroll());
  if (isScope(kind)) return app.apiKeyToken([kind]);
  if ((STAFF as string[]).includes(kind)) return app.staffToken(kind as StaffRole);
  throw new Error(kind);
}

describe('one error path: reads', () => {
  it('every Query field answers an anonymous caller with null and UNAUTHENTICATED', async () => {
    const problems: string[] = [];
    for (const field of queryFields) {
      const { query, variables } = operationOf('query', field);
      const answer = await app.gql(query, variables);
      const codes = (answer.errors ?? []).map((error) => `${String(error.extensions?.code)}@${error.path?.join('.')}`);
      if ((answer.data?.[field.name] ?? null) !== null || codes.join() !== `UNAUTHENTICATED@${field.name}`) {
        problems.push(`${field.name}: ${JSON.stringify(answer).slice(0, 200)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(queryFields.length).toBeGreaterThanOrEqual(20);
  });

  it('every Query field a caller may not call answers it null with FORBIDDEN (each denied cell of the matrix)', async () => {
    const problems: string[] = [];
    const tokens = new Map<CallerKind, string | undefined>();
    let cells = 0;
    for (const field of queryFields) {
      const row = PERMISSION_MATRIX.Query[field.name];
      if (!row) {
        problems.push(`${field.name}: no row in the permission matrix`);
        continue;
      }
      for (const [kind, access] of Object.entries(row.access) as [CallerKind, string][]) {
        // memberOther is the other side of `own`: answered as if the object did not exist (docs/errors.md).
        if (access !== 'deny' || kind === 'anonymous' || kind === 'memberOther') continue;
        if (!tokens.has(kind)) tokens.set(kind, await tokenOf(kind));
        const { query, variables } = operationOf('query', field);
        const answer = await app.gql(query, variables, tokens.get(kind));
        cells += 1;
        const codes = (answer.errors ?? []).map((error) => `${String(error.extensions?.code)}@${error.path?.join('.')}`);
        if ((answer.data?.[field.name] ?? null) !== null || codes.join() !== `FORBIDDEN@${field.name}`) {
          problems.push(`${field.name} as ${kind}: ${JSON.stringify(answer).slice(0, 200)}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(cells).toBeGreaterThan(100);
  });
});

describe('one error path: writes', () => {
  it('every Mutation answers a union of its payload and the typed errors it can return', () => {
    const problems: string[] = [];
    for (const field of mutationFields) {
      const type = getNullableType(field.type);
      if (!isUnionType(type)) {
        problems.push(`${field.name}: answers ${String(field.type)}, not a union`);
        continue;
      }
      const members = new Set(type.getTypes().map((member) => member.name));
      const input = field.args.find((arg) => arg.name === 'input');
      const inputType = input && getNamedType(input.type);
      const inputFields = inputType && isInputObjectType(inputType) ? Object.values(inputType.getFields()) : [];
      const expected = ['ForbiddenError', 'UnauthenticatedError', 'ValidationError'];
      if (inputFields.some((inputField) => getNamedType(inputField.type).name === 'ID')) expected.push('NotFoundError');
      if (inputFields.some((inputField) => inputField.name === 'idempotencyKey')) expected.push('IdempotencyConflictError');
      const missing = expected.filter((name) => !members.has(name));
      if (missing.length > 0) problems.push(`${field.name}: ${type.name} lacks ${missing.join(', ')}`);
      if (![...members].some((name) => name.endsWith('Payload'))) problems.push(`${field.name}: ${type.name} has no payload`);
    }
    expect(problems).toEqual([]);
  });

  it('every Mutation answers an anonymous caller with its typed UnauthenticatedError, not a top-level error', async () => {
    const problems: string[] = [];
    for (const field of mutationFields) {
      const { query, variables } = operationOf('mutation', field);
      const answer = await app.gql(query.replace('__typename', '__typename ... on Error { code }'), variables);
      const value = answer.data?.[field.name];
      if (answer.errors || value?.__typename !== 'UnauthenticatedError' || value.code !== 'UNAUTHENTICATED') {
        problems.push(`${field.name}: ${JSON.stringify(answer).slice(0, 200)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('ErrorCode', () => {
  it('every typed error answers a code of the ErrorCode enum, and the enum describes each value', () => {
    const codes = schema.getType('ErrorCode');
    expect(isEnumType(codes)).toBe(true);
    if (!isEnumType(codes)) return;
    for (const value of codes.getValues()) expect(value.description, value.name).toBeTruthy();
    const implementations = schema.getImplementations(schema.getType('Error') as any).objects;
    expect(implementations.length).toBeGreaterThanOrEqual(12);
    for (const type of implementations) expect(String(type.getFields().code!.type), type.name).toBe('ErrorCode!');
  });
});
