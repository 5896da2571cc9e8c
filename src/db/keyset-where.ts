/** One column of a list's order, as Prisma's `orderBy` names it. */
export interface OrderKey {
  field: string;
  direction: 'asc' | 'desc';
}

/**
 * The rows strictly after (`forward`) or before the place `values` in the order `keys` (its last key `id`, so that no
 * two rows share a place), as a Prisma `where`: `k1 ≥ v1 AND (k1 > v1 OR (k1 = v1 AND k2 > v2) OR …)`, `<` for a
 * descending key (reversed for `before`). The first key's bound besides the branches lets an index on the parent's key
 * and that column read the page as a range. One filter for every page placed by its values: a looked-up cursor row's
 * (src/db/keyset-pages.ts) and a position cursor's (src/db/position-cursors.ts).
 */
export function keysetWhere(keys: readonly OrderKey[], values: readonly unknown[], forward: boolean): Record<string, unknown> {
  const later = (key: OrderKey) => ((key.direction === 'asc') === forward ? 'gt' : 'lt');
  const branches = keys.map((key, i) => ({
    AND: [...keys.slice(0, i).map((tied, j) => ({ [tied.field]: { equals: values[j] } })), { [key.field]: { [later(key)]: values[i] } }],
  }));
  const first = keys[0]!;
  if (keys.length === 1) return branches[0]!;
  return { AND: [{ [first.field]: { [`${later(first)}e`]: values[0] } }, { OR: branches }] };
}
