// No useTestApp(): the scenario runs on a PostgreSQL and Redis of its own (harness.ts), not the suite's, and kills the service's processes.
import { describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { freePort } from '../support/processes.js';
import { apiKey, burst, enrollMembers, gql, print, startApiProcess, useFaultStack, startWorkerProcess, waitFor } from './harness.js';

/**
 * `npm run test:faults`: a service incident of 5 000 members, reported over
 * HTTP to the API process in pages, expanded by the worker process — which is
 * SIGKILLed while pages are still waiting and started again. Every member must
 * end with exactly one failure, and that failure with one voucher or, over the
 * incident's budget, a review: nothing lost, nothing doubled.
 * (`npm run bench:incident` runs the same with 100 000 members and reports the time.)
 */

const { setUp } = useFaultStack();

const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
  __typename ... on ReportServiceIncidentPayload { named alreadyNamed incident { id } } ... on Error { message } } }`;

interface IncidentTally {
  failures: number;
  members: number;
  compensated: number;
  needsReview: number;
  vouchers: number;
  doubledVouchers: number;
  unexpanded: number;
}

async function tally(prisma: PrismaClient): Promise<IncidentTally> {
  const [row] = await prisma.$queryRaw<IncidentTally[]>`
    SELECT (SELECT count(*)::int FROM service_failures) AS failures,
           (SELECT count(DISTINCT member_id)::int FROM service_failures) AS members,
           (SELECT count(*)::int FROM service_failures WHERE status = 'COMPENSATED') AS compensated,
           (SELECT count(*)::int FROM service_failures WHERE status = 'NEEDS_REVIEW') AS "needsReview",
           (SELECT count(*)::int FROM vouchers WHERE kind = 'COMPENSATION') AS vouchers,
           (SELECT count(*)::int FROM (SELECT cause_ref FROM vouchers GROUP BY cause_ref HAVING count(*) > 1) d) AS "doubledVouchers",
           (SELECT count(*)::int FROM service_incident_members WHERE expanded_at IS NULL) AS unexpanded`;
  return row!;
}

describe('fault scripts: service incidents', () => {
  it(
    'worker SIGKILLed while expanding an incident of 5 000 members: one failure and one voucher or review each',
    { timeout: 150_000 },
    async () => {
      const { scenario, prisma } = await setUp('incident_kill');
      const COUNT = 5_000;
      const PAGE = 100;
      const PAGES = COUNT / PAGE;
      // LOW failures of BRONZE members: 5.00 each. The budget pays 90 %; the rest waits for a decision.
      const budget = ((COUNT * 5 * 9) / 10).toFixed(2);
      const members = await enrollMembers(prisma, 'incident', COUNT);
      const token = await apiKey(prisma, ['failures:report']);
      const port = await freePort();
      await startApiProcess(scenario, port);

      const page = (p: number) => members.slice(p * PAGE, (p + 1) * PAGE).map((memberId) => ({ memberId }));
      const first = await gql(port, token, REPORT, {
        i: { type: 'OUTAGE', severity: 'LOW', budget, affected: page(0), idempotencyKey: 'incident-page-0' },
      });
      const incidentId = first.data?.reportServiceIncident?.incident?.id as string;
      expect(first.data?.reportServiceIncident).toMatchObject({ __typename: 'ReportServiceIncidentPayload', named: PAGE });
      // The other pages from 4 clients, each retried with its key until accepted.
      const rest = await burst({
        count: PAGES - 1,
        clients: 4,
        send: async (i) => {
          const answer = await gql(port, token, REPORT, {
            i: { incidentId, affected: page(i + 1), idempotencyKey: `incident-page-${i + 1}` },
          });
          return answer.data?.reportServiceIncident?.__typename === 'ReportServiceIncidentPayload';
        },
      });
      expect(rest.gaveUp).toEqual([]);

      const expandedPages = () => prisma.serviceIncidentPage.count({ where: { expandedAt: { not: null } } });
      const worker = await startWorkerProcess(scenario);
      await waitFor('a fifth of the pages expanded', async () => (await expandedPages()) >= PAGES / 5, 60_000, 20);
      worker.kill('SIGKILL');
      await worker.exited;
      const atKill = await expandedPages();
      // The kill must have hit a worker with work left, or it proved nothing.
      expect(atKill).toBeLessThan(PAGES);
      await startWorkerProcess(scenario);
      await waitFor(
        'every page expanded and every incident job done',
        async () =>
          (await expandedPages()) === PAGES && (await prisma.outboxEvent.count({ where: { queue: 'incidents', completedAt: null } })) === 0,
        90_000,
      );

      const found = await tally(prisma);
      const lost = COUNT - found.members;
      const doubled = found.failures - found.members + found.doubledVouchers + Math.max(0, found.vouchers - found.compensated);
      print({
        scenario: 'worker SIGKILLed while expanding an incident',
        injected: `SIGKILL of the worker process with ${atKill}/${PAGES} pages expanded; worker started again`,
        accepted: PAGES - rest.gaveUp.length,
        expected: COUNT,
        found: found.vouchers + found.needsReview,
        lost,
        doubled,
        notes: `${found.failures} failures, ${found.compensated} compensated, ${found.needsReview} held over the budget`,
      });
      expect(found).toEqual({
        failures: COUNT,
        members: COUNT,
        compensated: (COUNT * 9) / 10,
        needsReview: COUNT / 10,
        vouchers: (COUNT * 9) / 10,
        doubledVouchers: 0,
        unexpanded: 0,
      });
      expect(await findLedgerMismatches({ prisma })).toEqual([]);
    },
  );
});
