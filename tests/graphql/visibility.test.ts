// No useTestApp(): it reads the built schema only; the refusals themselves are sent in compiled-execution.test.ts,
// refetchable-nodes.test.ts and the permission matrix.
import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { execute, getNamedType, isAbstractType, isInterfaceType, isObjectType, parse, type GraphQLNamedType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.js';
import '../../src/graphql/visibility.js';

/**
 * Who may see an object of a type (`visibleTo`, src/graphql/visibility.ts) is decided by the field that returns
 * it. That holds only if every field that can return such an object checks it: a field added later that returns
 * a Member, a list of vouchers or a Node must be wrapped too, which the plugin does by the field's type — this
 * proves it did, for every field of the schema.
 */
const schema = getSchema();
const types = Object.values(schema.getTypeMap()).filter((type) => !type.name.startsWith('__'));
const ruled = new Set(
  types.filter((type) => isObjectType(type) && type.extensions.pothosOptions && 'visibleTo' in (type.extensions.pothosOptions as object)),
);

/** Whether a field of this (named) type can put an object with a visibility rule into an answer. */
function canReturnRuled(type: GraphQLNamedType): boolean {
  if (isAbstractType(type)) return schema.getPossibleTypes(type).some((object) => ruled.has(object));
  return ruled.has(type);
}

describe('visibility is decided where an object enters an answer', () => {
  it('the member-owned types and the admin records have a rule', () => {
    const names = [...ruled].map((type) => type.name);
    for (const name of [
      'Member',
      'LedgerEntry',
      'Voucher',
      'Order',
      'TierChange',
      'ServiceFailure',
      'GoodwillGesture',
      'Contract',
      'ContractRenewal',
      'ApiKey',
      'ProgramChange',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('every field that can return an object with a rule checks it, and no other field is wrapped', () => {
    const checked: string[] = [];
    const unchecked: string[] = [];
    for (const type of types) {
      if (!isObjectType(type) && !isInterfaceType(type)) continue;
      for (const field of Object.values(type.getFields())) {
        const checks = field.extensions.checksVisibility === true;
        const needs = canReturnRuled(getNamedType(field.type));
        if (needs && !checks) unchecked.push(`${type.name}.${field.name}`);
        if (needs && checks) checked.push(`${type.name}.${field.name}`);
        // A field that cannot return such an object stays plain (payload unions included), so the compiled
        // executor reads it inline; only an interface's fields are checked at run time whatever they hold.
        if (!needs && checks && !isInterfaceType(getNamedType(field.type))) unchecked.push(`${type.name}.${field.name} (needlessly)`);
      }
    }
    expect(unchecked).toEqual([]);
    // The ways a member object enters an answer, among others: by id, as the caller, as a page's node, in a payload.
    expect(checked).toEqual(expect.arrayContaining(['Query.member', 'Query.me', 'Query.node', 'EarnPointsPayload.member']));
    expect(checked.some((name) => /Edge\.node$/.test(name))).toBe(true);
  });

  it('no type uses scope-auth’s type-level scopes, which would run on each of its fields or need the context in isTypeOf', () => {
    const typeScoped = types.filter((type) => type.extensions.pothosOptions && 'authScopes' in (type.extensions.pothosOptions as object));
    expect(typeScoped.map((type) => type.name)).toEqual([]);
  });

  it('checks each object of a list, promises of objects included, and refuses the field when one is refused', async () => {
    // A schema of its own: a thing is visible to its owner; the list comes as objects or as promises of them.
    // (Cast: the service's plugin-prisma declares its options required for every builder of this program.)
    const small = new SchemaBuilder<{ Context: { who: string }; AuthScopes: { self: string } }>({
      plugins: [ScopeAuthPlugin, 'visibility'],
      scopeAuth: { authScopes: (context: { who: string }) => ({ self: (owner: string) => context.who === owner }) },
    } as never);
    const Thing = small.objectRef<{ owner: string }>('Thing').implement({
      visibleTo: (thing) => ({ self: thing.owner }),
      fields: (t) => ({ owner: t.exposeString('owner') }),
    });
    small.queryType({
      fields: (t) => ({
        things: t.field({
          type: [Thing],
          args: { owners: t.arg.stringList({ required: true }), promised: t.arg.boolean({ required: true }) },
          resolve: (_root, { owners, promised }) => owners.map((owner) => (promised ? Promise.resolve({ owner }) : { owner })) as never,
        }),
      }),
    });
    const schema = small.toSchema();
    const read = async (owners: string[], promised: boolean) => {
      const document = parse('query($owners: [String!]!, $promised: Boolean!) { things(owners: $owners, promised: $promised) { owner } }');
      const result = await execute({ schema, document, variableValues: { owners, promised }, contextValue: { who: 'ann' } });
      return { data: result.data, errors: result.errors?.map((error) => error.message) };
    };
    for (const promised of [false, true]) {
      expect(await read(['ann', 'ann'], promised)).toEqual({ data: { things: [{ owner: 'ann' }, { owner: 'ann' }] }, errors: undefined });
      const refused = await read(['ann', 'bob'], promised);
      expect(refused.data).toEqual({ things: null });
      expect(refused.errors).toHaveLength(1);
    }
  });
});
