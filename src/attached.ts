/**
 * State kept on an object itself, under a symbol of its own: what a WeakMap keyed by the object would hold, for
 * objects that live as long as one request — its GraphQL context, the node:http request, the rows of its answer.
 *
 * Not a module-level WeakMap, because of what V8's garbage collector made of those here. With the request's state
 * in such maps, more of each request outlived the young generation's collections (scavenges, every few dozen
 * requests) and was copied into the old generation, there to wait for a full collection: `bench/micro.ts --query
 * status-compiled` under `node --trace-gc-nvp` promoted 337 MB over its 13 500 reads with the maps, 240 MB with the
 * state on the objects, and `bench/ab.ts` measured 0.86x the API CPU per member-status answer (bench/README.md, the
 * stop of 2026-12-05 evening). On the object itself, the state is garbage with the object. (Why, found on 2026-12-07: a
 * scavenge on Node 20's V8 treats the values of an old WeakMap's entries as live, whether their keys are or not, so
 * whatever a value holds outlives the request. A script keying a module-level WeakMap by 400 000 short-lived objects,
 * each value holding its key's 50 rows, had 6.8 MB survive each scavenge and 35 full collections, against 69 kB and
 * one without the map. src/graphql/scope-cache-release.ts: plugin-scope-auth's cache of the same kind.)
 *
 * The same semantics as the WeakMap: per object (a copy of it, `{ ...object }`, does not carry the state; the
 * property is not enumerable), invisible to `JSON.stringify` and `Object.keys`. The object must be extensible.
 */
export interface Attached<Key extends object, Value> {
  get(key: Key): Value | undefined;
  has(key: Key): boolean;
  set(key: Key, value: Value): void;
}

/** An `Attached` of its own: `name` only names the symbol (for a debugger). */
export function attached<Key extends object, Value>(name: string): Attached<Key, Value> {
  const symbol = Symbol(name);
  type Holder = { [symbol]?: Value };
  return {
    get: (key) => (key as Holder)[symbol],
    has: (key) => symbol in key,
    set: (key, value) => {
      Object.defineProperty(key, symbol, { value, writable: true, configurable: true, enumerable: false });
    },
  };
}
