import { GraphQLObjectType, isObjectType, type GraphQLSchema } from 'graphql';

/**
 * The member-status query of the bench (`status` path): what a member screen shows, built from
 * schema.graphql so that it follows the schema (fields not there yet are listed in `missing`).
 */
export function statusQuery(schema: GraphQLSchema): { query: string; fields: string[]; missing: string[] } {
  const member = schema.getType('Member') as GraphQLObjectType;
  const has = (type: GraphQLObjectType, field: string) => field in type.getFields();
  const objectOf = (type: GraphQLObjectType, field: string): GraphQLObjectType | null => {
    let t = type.getFields()[field]?.type;
    while (t && 'ofType' in t) t = t.ofType;
    return t && isObjectType(t) ? t : null;
  };
  const leaves = (type: GraphQLObjectType | null, depth = 1): string => {
    if (!type) return '';
    return Object.values(type.getFields())
      .filter((f) => f.args.every((a) => !('ofType' in a.type) || a.defaultValue !== undefined))
      .map((f) => {
        const object = objectOf(type, f.name);
        if (!object) return f.name;
        if (depth === 0 || object.name === 'Member') return '';
        return `${f.name} { ${leaves(object, depth - 1)} }`;
      })
      .filter(Boolean)
      .join(' ');
  };
  const pick = (type: GraphQLObjectType | null, names: string[]) => (type ? names.filter((n) => has(type, n)).join(' ') : '');
  const parts: string[] = [];
  const fields: string[] = [];
  const missing: string[] = [];
  const want = (name: string, selection: () => string) => {
    if (has(member, name)) {
      parts.push(selection());
      fields.push(name);
    } else missing.push(name);
  };
  want('id', () => 'id status');
  // Tiers are objects since issue 13 (an enum before).
  want('tier', () => (objectOf(member, 'tier') ? 'tier { key name } tierSince' : 'tier tierSince'));
  want('tierProgress', () => `tierProgress { ${leaves(objectOf(member, 'tierProgress'))} }`);
  want('balance', () => 'balance { available pending lifetime }');
  want('expiringPoints', () => 'expiringPoints { expiresAt points }');
  if (has(member, 'vouchers')) {
    const connection = objectOf(member, 'vouchers');
    const node = connection && objectOf(objectOf(connection, 'edges')!, 'node');
    const status = member.getFields().vouchers!.args.some((a) => a.name === 'status') ? ', status: ISSUED' : '';
    parts.push(
      `vouchers(first: 5${status}) { edges { node { ${pick(node, ['code', 'kind', 'status', 'valueType', 'percent', 'expiresAt'])} ${node && has(node, 'value') ? 'value { amount currency }' : ''} } } }`,
    );
    fields.push('vouchers(first: 5)');
  } else missing.push('vouchers');
  if (has(member, 'ledger')) {
    const node = objectOf(objectOf(objectOf(member, 'ledger')!, 'edges')!, 'node');
    parts.push(
      `ledger(first: 10) { edges { node { ${pick(node, ['kind', 'amount', 'balanceAfter', 'causeType', 'causeRef', 'createdAt'])} } } }`,
    );
    fields.push('ledger(first: 10)');
  } else missing.push('ledger');
  return { query: `query MemberStatus($id: ID!) { member(id: $id) { ${parts.join(' ')} } }`, fields, missing };
}
