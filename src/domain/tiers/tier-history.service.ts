import type { Caller } from '../../auth/principal.js';
import type { Prisma, TierChange } from '../../generated/prisma/client.js';
import type { ServiceDeps } from '../deps.js';
import { memberRowsWhere } from '../members/members.service.js';
import * as check from '../validation.js';

/** What a read loads with the tier change: plugin-prisma's plan of a GraphQL selection, say. */
export type TierChangeReadShape = Pick<Prisma.TierChangeFindUniqueArgs, 'select' | 'include'>;

/**
 * A step of a member's tier history by its id (`node(id)`), with what `shape` loads with it, or null when there is
 * none. Whoever may read the member may read their tier history (`memberRowsWhere`: anyone else is refused before
 * anything is read); a member token finds only their own: another member's change is not returned, as one nobody
 * had. The id must be a UUID (ValidationError). In a file of its own, not tiers.service.ts: the members service
 * imports that one, so importing the members service there would close a cycle.
 */
export async function readTierChange(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: TierChangeReadShape,
  caller: Caller,
): Promise<TierChange | null> {
  const mayRead = memberRowsWhere(caller);
  return deps.prisma.tierChange.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}
