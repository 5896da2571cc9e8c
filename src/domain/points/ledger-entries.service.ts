import type { Caller } from '../../auth/principal.js';
import type { LedgerEntry, Prisma } from '../../generated/prisma/client.js';
import type { ServiceDeps } from '../deps.js';
import { memberRowsWhere } from '../members/members.service.js';
import * as check from '../validation.js';

/** What a read loads with the entry: plugin-prisma's plan of a GraphQL selection, say. */
export type LedgerEntryReadShape = Pick<Prisma.LedgerEntryFindUniqueArgs, 'select' | 'include'>;

/**
 * A ledger entry by its id (`node(id)`), with what `shape` loads with it, or null when there is none. Whoever may
 * read the member may read their entries (`memberRowsWhere`: anyone else is refused before anything is read); a
 * member token finds only their own: another member's entry is not returned, as one nobody wrote. The id must be a
 * UUID (ValidationError). In a file of its own, not points.service.ts: the members service imports that one,
 * so importing the members service there would close a cycle.
 */
export async function readLedgerEntry(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: LedgerEntryReadShape,
  caller: Caller,
): Promise<LedgerEntry | null> {
  const mayRead = memberRowsWhere(caller);
  return deps.prisma.ledgerEntry.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}
