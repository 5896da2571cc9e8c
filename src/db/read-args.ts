import { getDatamodel } from '../generated/pothos-types.js';

/**
 * A Prisma read's arguments as the query extensions of src/db/cursor-pages.ts and src/db/keyset-pages.ts walk them:
 * the read of a model, and the arguments of each relation its `select` or `include` reads, recursively.
 */

export type Args = Record<string, unknown>;

/** A model's relation fields (the related model, by field name) and scalar fields. */
export interface ModelShape {
  relations: Map<string, string>;
  scalars: Set<string>;
}

export const MODELS: ReadonlyMap<string, ModelShape> = new Map(
  Object.entries(getDatamodel().datamodel.models).map(([name, model]) => {
    const relations = new Map<string, string>();
    const scalars = new Set<string>();
    for (const field of model.fields) {
      if (field.kind === 'object') relations.set(field.name, field.type);
      else scalars.add(field.name);
    }
    return [name, { relations, scalars }];
  }),
);

const SELECTIONS = ['select', 'include'] as const;

export function isObject(value: unknown): value is Args {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Calls `visit` with the model and arguments of each relation the read of `model` selects (`select` or `include`), one
 * level down (`visit` goes deeper itself), until `visit` answers true.
 */
export function eachRelation(model: string, args: Args, visit: (related: string, relation: Args) => boolean): void {
  const shape = MODELS.get(model);
  if (!shape) return;
  for (const key of SELECTIONS) {
    const selection = args[key];
    if (!isObject(selection)) continue;
    for (const field in selection) {
      const related = shape.relations.get(field);
      const relation = selection[field];
      if (related !== undefined && isObject(relation) && visit(related, relation)) return;
    }
  }
}

/**
 * The read's arguments with `rewrite` applied to them and to the arguments of every relation they read, at any depth
 * (a rewritten read's relations are walked from what `rewrite` returned). Only the objects on the way to a rewritten
 * one are copied: `args` itself when `rewrite` changes nothing, and a read without relations is walked, nothing
 * allocated.
 */
export function rewriteReads(model: string, args: Args, rewrite: (model: string, args: Args) => Args): Args {
  let result = rewrite(model, args);
  const shape = MODELS.get(model);
  if (!shape) return result;
  for (const key of SELECTIONS) {
    const selection = result[key];
    if (!isObject(selection)) continue;
    let copy = selection;
    for (const field in selection) {
      const related = shape.relations.get(field);
      const relation = selection[field];
      if (related === undefined || !isObject(relation)) continue;
      const next = rewriteReads(related, relation, rewrite);
      if (next === relation) continue;
      if (copy === selection) copy = { ...selection };
      copy[field] = next;
    }
    if (copy === selection) continue;
    if (result === args) result = { ...args };
    result[key] = copy;
  }
  return result;
}
