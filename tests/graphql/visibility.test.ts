// No useTestApp(): it reads the built schema only; the refusals themselves are sent in compiled-execution.test.ts,
// refetchable-nodes.test.ts and the permission matrix.
import { getNamedType, isAbstractType, isInterfaceType, isObjectType, type GraphQLNamedType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.js';

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
});
