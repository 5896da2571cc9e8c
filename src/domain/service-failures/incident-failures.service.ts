import type { Caller } from '../../auth/principal.js';
import { Prisma, type ServiceFailure, type ServiceFailureStatus } from '../../generated/prisma/client.js';
import type { ServiceDeps } from '../deps.js';
import { ValidationError } from '../errors.js';
import * as check from '../validation.js';
import { readableIncidentWhere } from './incidents.service.js';

/** Which of an incident's failures a list holds: all, or those of one status. */
export interface IncidentFailureFilter {
  status?: ServiceFailureStatus | null;
}

/**
 * A page as the GraphQL connection plans it, in Prisma's words: what to load with each failure (`select`/`include`),
 * how many rows (`take`: the page and one more; negative for the rows before the cursor, or the last ones) and from
 * where (`cursor: { id }` with `skip: 1`: strictly after — before — that failure's place).
 */
export type IncidentFailurePage = Pick<Prisma.ServiceFailureFindManyArgs, 'select' | 'include' | 'cursor' | 'skip' | 'take'>;

/** Who may read an incident's failures: who may read the incident (`readableIncidentWhere`), as a SQL condition on `i.id`. */
function readableIncidentsSql(caller: Caller): Prisma.Sql {
  const mayRead = readableIncidentWhere(caller);
  if (mayRead.reporterType === undefined) return Prisma.sql`TRUE`;
  return Prisma.sql`EXISTS (SELECT 1 FROM service_incidents own WHERE own.id = i.id
                      AND own.reporter_type = ${mayRead.reporterType}::"ActorType" AND own.reporter_id = ${mayRead.reporterId}::text)`;
}

const statusSql = (filter: IncidentFailureFilter): Prisma.Sql =>
  filter.status ? Prisma.sql`AND f.status = ${filter.status}::"ServiceFailureStatus"` : Prisma.empty;

/** The page's cursor (a failure id) and whether the cursor's own row is left out; null for a page without one. */
function cursorOf(page: IncidentFailurePage): { id: string; exclusive: boolean } | null {
  const skip = page.skip ?? 0;
  if (skip !== 0 && skip !== 1) throw new ValidationError('skip', 'must be 0 or 1');
  if (page.cursor === undefined) {
    if (skip !== 0) throw new ValidationError('skip', 'needs a cursor');
    return null;
  }
  const id = page.cursor.id;
  if (typeof id !== 'string' || Object.keys(page.cursor).length !== 1) throw new ValidationError('cursor', 'must name a failure by its id');
  return { id: check.uuid('cursor', id), exclusive: skip === 1 };
}

/**
 * The failures of each incident of `incidentIds`, one page each, in the order of their ids — the rows Prisma's
 * `findMany({ where: { incidentId, status }, orderBy: { id: 'asc' }, ...page })` answers, `take` of them at most,
 * ascending also for a negative `take` — with what `page` says to load with them, by incident id (an incident
 * without rows: none). Two statements whatever the number of incidents, in one REPEATABLE READ snapshot: the pages'
 * ids, then their rows by key.
 *
 * Who reads them: whoever may read the incident (`readableIncidentWhere`: staff every incident, a key with
 * `failures:report` those it reported, the failures of another's none; anyone else is refused before anything is
 * read). Each failure's own visibility is the reader's to check (the GraphQL type's `visibleTo`).
 *
 * A cursor is a place: the page holds the incident's failures after (before) the cursor's id, whether or not the
 * cursor's failure still has the filter's status. A cursor of a failure that is not the incident's — another
 * incident's, one without an incident, none at all — answers an empty page for that incident, telling nothing of it.
 *
 * Each incident's page reads its own rows and no more, through the partial index (incident_id, id) (migration
 * 202612241000): PostgreSQL walks it from the cursor's place and stops at the page's last row (with `status`, it
 * passes over the incident's failures of other statuses on its way). The statement is written so that no estimate
 * can make PostgreSQL walk another way — the planner knows an incident's id only as "one of the array", and
 * estimates every incident alike, the one with 90 000 failures as the one with 3:
 * - the incident is `= ANY (ARRAY[i.id])`, not `= i.id`, and the order `(incident_id, id)`: with an equality the
 *   planner takes the incident for a constant of the order, and where an incident looks like most of the table it
 *   walked the whole primary key in id order instead (from the oldest failure of all, through every older incident's);
 * - the page size comes from a subquery: a LIMIT it cannot read is one it expects to stop early, where with a known
 *   LIMIT above the rows it estimates for an incident it read every row of the incident and sorted them.
 * tests/service-failures/incident-failures-page.test.ts holds each page to its rows under statistics of both kinds (a
 * statement with `= i.id` and a known LIMIT read 5 000 to 21 000 rows there for a page of 10, from one run to the next).
 */
export async function serviceIncidentFailures(
  deps: Pick<ServiceDeps, 'prisma'>,
  incidentIds: readonly string[],
  filter: IncidentFailureFilter,
  caller: Caller,
  page: IncidentFailurePage = {},
): Promise<Map<string, ServiceFailure[]>> {
  const readable = readableIncidentsSql(caller);
  const incidents = [...new Set(incidentIds.map((id) => check.uuid('incidentId', id)))];
  const take = page.take;
  if (take === undefined || !Number.isSafeInteger(take) || take === 0)
    throw new ValidationError('take', 'must be a whole number other than 0');
  const cursor = cursorOf(page);
  const pages = new Map<string, ServiceFailure[]>();
  if (incidents.length === 0) return pages;

  const forward = take > 0;
  const order = forward ? Prisma.sql`f.incident_id, f.id` : Prisma.sql`f.incident_id DESC, f.id DESC`;
  const from =
    cursor === null
      ? Prisma.empty
      : Prisma.sql`AND f.id ${Prisma.raw(forward ? (cursor.exclusive ? '>' : '>=') : cursor.exclusive ? '<' : '<=')} ${cursor.id}::uuid`;
  // The cursor's failure must be the incident's: a place in another incident's list is none in this one. Its incident
  // is read once for the statement, by key (not once per row of the page, as a join may be planned).
  const ownCursor =
    cursor === null ? Prisma.empty : Prisma.sql`AND i.id = (SELECT c.incident_id FROM service_failures c WHERE c.id = ${cursor.id}::uuid)`;
  const { select, include } = page;
  // The page's ids and their rows in one snapshot: a failure whose status changed in between, or that went, would
  // otherwise stand in a page of the status it no longer has, or leave the page short.
  const [rows, loaded] = await deps.prisma.$transaction(
    async (tx) => {
      const ids = await tx.$queryRaw<{ id: string; incidentId: string }[]>`
        SELECT f.id::text AS id, f.incident_id::text AS "incidentId"
        FROM unnest(${incidents}::uuid[]) AS i(id)
        CROSS JOIN LATERAL (
          SELECT f.id, f.incident_id FROM service_failures f
          WHERE f.incident_id = ANY (ARRAY[i.id]) ${statusSql(filter)} ${from}
          ORDER BY ${order}
          LIMIT (SELECT ${Math.abs(take)}::int)
        ) f
        WHERE ${readable} ${ownCursor}`;
      if (ids.length === 0) return [ids, []] as const;
      const found = await tx.serviceFailure.findMany({
        ...(select ? { select: { ...select, id: true } } : include ? { include } : {}),
        where: { id: { in: ids.map((row) => row.id) } },
      });
      return [ids, found as ServiceFailure[]] as const;
    },
    { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead },
  );
  const byId = new Map(loaded.map((row) => [row.id, row]));
  for (const { id, incidentId } of rows) {
    const row = byId.get(id)!;
    const rowsOfIncident = pages.get(incidentId);
    if (rowsOfIncident) rowsOfIncident.push(row);
    else pages.set(incidentId, [row]);
  }
  // Each page in the order of its ids, whichever way the statement walked (backwards for a page before the cursor)
  // and in whatever order PostgreSQL returned the incidents' rows.
  for (const rowsOfIncident of pages.values()) rowsOfIncident.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return pages;
}

/**
 * How many failures each incident of `incidentIds` holds with the filter (`totalCount`), in one statement, by incident
 * id; an incident the caller may not read (`readableIncidentWhere`) counts none, as one without failures.
 */
export async function serviceIncidentFailureCounts(
  deps: Pick<ServiceDeps, 'prisma'>,
  incidentIds: readonly string[],
  filter: IncidentFailureFilter,
  caller: Caller,
): Promise<Map<string, number>> {
  const readable = readableIncidentsSql(caller);
  const ids = [...new Set(incidentIds.map((id) => check.uuid('incidentId', id)))];
  const rows = await deps.prisma.$queryRaw<{ incidentId: string; count: number }[]>`
    SELECT i.id::text AS "incidentId", count(*)::int AS count
    FROM unnest(${ids}::uuid[]) AS i(id) JOIN service_failures f ON f.incident_id = i.id ${statusSql(filter)}
    WHERE ${readable}
    GROUP BY i.id`;
  const counts = new Map(ids.map((id) => [id, 0]));
  for (const { incidentId, count } of rows) counts.set(incidentId, count);
  return counts;
}
