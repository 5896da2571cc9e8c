/**
 * `{ ...base, ...fields }` for objects made on every request: the same own properties, in the same order, with the
 * same values (a field of `fields` replaces `base`'s of that name), and `base` left as it was. Typed as TypeScript
 * types a spread of type parameters (`Base & Fields`): it is for adding fields.
 *
 * Not the spread, because of what V8 (Node 20's, 11.3) makes of an object literal that spreads one object and then
 * adds a property the spread object did not have (`{ ...row, replayed: false }`): every such object gets a hidden
 * class (a map) of its own, made on the spot, where objects built alike otherwise share one. Making it costs about
 * a microsecond and allocates in the old generation, and every property access that then meets these objects sees
 * a new map each time: its inline cache goes megamorphic and misses. `Object.assign` onto a fresh `{}` adds the
 * properties one by one along the map transitions V8 keeps, so the objects share their maps. Seen in the service
 * with `node --log-maps` (bench/README.md, "Where objects get maps of their own"): every earn made seven such maps,
 * and every request's GraphQL context ten. A spread that only replaces properties the object has
 * (`{ ...row, createdAt: new Date(row.createdAt) }`) keeps its map and is left as it is.
 *
 * For the service's own objects: an own property named `__proto__` (JSON a client sent, say) would set the result's
 * prototype here, where the spread copies it as a property.
 */
export function withFields<Base extends object, Fields extends object>(base: Base, fields: Fields): Base & Fields {
  return Object.assign({}, base, fields);
}
