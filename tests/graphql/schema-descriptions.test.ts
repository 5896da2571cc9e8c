// No useTestApp(): it reads the schema printed from code; no database or Redis is involved.
import { buildSchema, isEnumType, isScalarType, isSpecifiedScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printSortedSchema } from '../../src/graphql/schema.js';

const schema = buildSchema(printSortedSchema());
const types = Object.values(schema.getTypeMap()).filter((type) => !type.name.startsWith('__'));

describe('the printed schema documents its enums and scalars', () => {
  it('has enums to check (the walk sees the schema)', () => {
    expect(types.filter(isEnumType).length).toBeGreaterThan(10);
  });

  it('describes every enum and every enum value', () => {
    const undocumented = types.filter(isEnumType).flatMap((type) => [
      ...(type.description?.trim() ? [] : [type.name]),
      ...type
        .getValues()
        .filter((value) => !value.description?.trim())
        .map((value) => `${type.name}.${value.name}`),
    ]);
    expect(undocumented).toEqual([]);
  });

  it('describes every custom scalar and links its specification (@specifiedBy)', () => {
    const custom = types.filter(isScalarType).filter((type) => !isSpecifiedScalarType(type));
    expect(custom.map((type) => type.name)).toEqual(expect.arrayContaining(['DateTime', 'Points']));
    expect(custom.filter((type) => !type.description?.trim()).map((type) => type.name)).toEqual([]);
    expect(custom.filter((type) => !type.specifiedByURL).map((type) => type.name)).toEqual([]);
  });

  it('spells out the order of every enum whose description relies on one', () => {
    // schema.graphql lists enum values alphabetically: "lowest first" would mislead, so such enums name their order.
    const ordered = types.filter(isEnumType).filter((type) => /lowest|highest|least|most severe/i.test(type.description ?? ''));
    expect(ordered.map((type) => type.name)).toEqual(expect.arrayContaining(['Severity']));
    expect(ordered.filter((type) => !/\w < \w/.test(type.description ?? '')).map((type) => type.name)).toEqual([]);
  });
});
