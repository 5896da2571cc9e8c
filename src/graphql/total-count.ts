import type { MaybePromise } from '@pothos/core';
import { builder } from './builder.js';

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** A page as Pothos's prisma connections build it: the count is a number or a thunk, loaded only when selected. */
interface CountedPage {
  totalCount?: number | (() => MaybePromise<number>) | null;
}

/**
 * The `totalCount` field of a connection, described. Pothos's prisma plugin adds an
 * undescribed one when a connection has `totalCount`; this one replaces it (the
 * extension keeps the plugin's "count only" shortcut when nothing else is selected).
 */
export function totalCountField(t: PothosSchemaTypes.ObjectFieldBuilder<Types, object>, cost: string) {
  return t.int({
    description: `How many items the whole list holds with these arguments (not only this page). ${cost}`,
    extensions: { pothosPrismaTotalCount: true },
    resolve: (page) => {
      const count = (page as CountedPage).totalCount;
      const value = typeof count === 'function' ? count() : count;
      if (value == null) throw new Error('totalCount was selected but not loaded');
      return value;
    },
  });
}

/** Connection options adding a described `totalCount` to a prisma connection. */
export const counted = (cost: string) => ({
  fields: (t: PothosSchemaTypes.ObjectFieldBuilder<Types, object>) => ({ totalCount: totalCountField(t, cost) }),
});

/** The cost notes of totalCount, one wording per case, so docs/connections.md can list them. */
export const COUNT_COST = {
  indexed: 'Cheap: one count over an index of the parent’s rows.',
  small: 'Cheap: the list is short (program configuration).',
  scan: 'Costly on large programs: counts every matching row (an index narrows it only for the filters that have one); select it only where a badge or pager needs it.',
} as const;
