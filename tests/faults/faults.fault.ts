// No useTestApp(): the scenarios run on a PostgreSQL and Redis of their own (harness.ts), not the suite's.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { freePort, type ServiceProcess } from '../support/processes.js';
import {
  allCompensated,
  apiKey,
  burst,
  compensationTally,
  enrollMembers,
  expectClean,
  gql,
  REPORT_FAILURE,
  startApiProcess,
  startWorkerProcess,
  useFaultStack,
  waitFor,
} from './harness.js';

/**
 * `npm run test:faults`: faults injected into a running service, on a private
 * PostgreSQL and Redis, counting grants afterwards. "Accepted" means the API
 * answered success; a request that failed is retried by its client with the
 * same idempotency key, so every request ends with exactly one effect — or
 * the scenario fails. Each prints what it injected and expected vs found.
 */

const { stack, cleanups, setUp } = useFaultStack();

/** Sends failure report `i` (one per member: no cap, no escalation); records the failure id it was answered with. */
function failureReporter(args: { port: () => number; token: string; members: string[]; prefix: string; failureIds: Map<number, string> }) {
  return async (i: number): Promise<boolean> => {
    const answer = await gql(args.port(), args.token, REPORT_FAILURE, {
      i: {
        memberId: args.members[i],
        type: 'LATE_DELIVERY',
        severity: 'LOW',
        orderRef: `${args.prefix}-order-${i}`,
        idempotencyKey: `${args.prefix}-${i}`,
      },
    });
    const payload = answer.data?.reportServiceFailure as { __typename: string; failure?: { id: string } } | undefined;
    if (payload?.__typename !== 'ReportServiceFailurePayload' || !payload.failure) return false;
    args.failureIds.set(i, payload.failure.id);
    return true;
  };
}

/** A scenario whose `count` members each had one failure reported through the API, with no worker running yet. */
async function reportedBurst(name: string, prefix: string, count: number) {
  const { scenario, prisma } = await setUp(name);
  const members = await enrollMembers(prisma, prefix, count);
  const token = await apiKey(prisma, ['failures:report']);
  const port = await freePort();
  await startApiProcess(scenario, port);
  const failureIds = new Map<number, string>();
  const accepted = await burst({
    count,
    clients: 8,
    send: failureReporter({ port: () => port, token, members, prefix, failureIds }),
  });
  return { scenario, prisma, failureIds, accepted };
}

describe('fault scripts', () => {
  it('PostgreSQL restarted during a burst of earns: every accepted earn has exactly one ledger entry', { timeout: 150_000 }, async () => {
    const { scenario, prisma } = await setUp('pg_restart');
    const members = await enrollMembers(prisma, 'earn', 40);
    const token = await apiKey(prisma, ['points:earn']);
    const port = await freePort();
    await startApiProcess(scenario, port);

    const COUNT = 240;
    let restart: Promise<number> | undefined;
    let acceptedAtRestart = 0;
    const refusals = new Map<string, number>();
    const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points } ... on Error { message } } }`;
    const result = await burst({
      count: COUNT,
      clients: 8,
      send: async (i) => {
        const answer = await gql(port, token, EARN, {
          i: { memberId: members[i % members.length], orderRef: `earn-order-${i}`, orderTotal: '10.00', idempotencyKey: `earn-${i}` },
        });
        const payload = answer.data?.earnPoints as { __typename?: string; message?: string } | undefined;
        if (payload?.__typename === 'EarnPointsPayload') return true;
        const why = payload?.__typename
          ? `${payload.__typename}: ${payload.message}`
          : (answer.errors?.[0]?.message ?? `HTTP ${answer.status}`);
        refusals.set(why, (refusals.get(why) ?? 0) + 1);
        return false;
      },
      onAccepted: (accepted) => {
        if (accepted === 60 && !restart) {
          acceptedAtRestart = accepted;
          restart = stack().restartPostgres();
        }
      },
    });
    const downMs = await restart!;

    const verify = prisma; // reconnects after the restart
    const entries = await verify.ledgerEntry.groupBy({ by: ['causeRef'], where: { kind: 'EARN' }, _count: { _all: true } });
    const byOrder = new Map(entries.map((row) => [row.causeRef, row._count._all]));
    let lost = 0;
    let doubled = 0;
    for (let i = 0; i < COUNT; i++) {
      const n = byOrder.get(`earn-order-${i}`) ?? 0;
      if (n === 0) lost += 1;
      if (n > 1) doubled += 1;
    }
    const mismatches = await findLedgerMismatches({ prisma: verify });
    expectClean(
      {
        scenario: 'PostgreSQL restarted during a burst of earns',
        injected: `PostgreSQL fast shutdown + start after ${acceptedAtRestart} accepted earns (down ${downMs} ms)`,
        accepted: result.accepted.size,
        expected: COUNT,
        found: entries.reduce((sum, row) => sum + row._count._all, 0),
        lost,
        doubled,
        notes: `${result.retries} retried attempts (${[...refusals].map(([why, n]) => `${n}× ${why}`).join(', ')}); ledger mismatches ${mismatches.length}`,
      },
      result.gaveUp,
    );
    expect(mismatches).toEqual([]);
  });

  it('Redis restarted during failure reports: every recorded failure gets exactly one voucher', { timeout: 150_000 }, async () => {
    const { scenario, prisma } = await setUp('redis_restart');
    const COUNT = 200;
    const members = await enrollMembers(prisma, 'redis', COUNT);
    const token = await apiKey(prisma, ['failures:report']);
    const port = await freePort();
    await Promise.all([startApiProcess(scenario, port), startWorkerProcess(scenario)]);

    const failureIds = new Map<number, string>();
    let restart: Promise<number> | undefined;
    let acceptedAtRestart = 0;
    const result = await burst({
      count: COUNT,
      clients: 8,
      send: failureReporter({ port: () => port, token, members, prefix: 'redis', failureIds }),
      onAccepted: (accepted) => {
        if (accepted === 50 && !restart) {
          acceptedAtRestart = accepted;
          restart = stack().restartRedis();
        }
      },
    });
    const downMs = await restart!;
    await allCompensated(prisma);
    expectClean(
      await compensationTally(prisma, {
        scenario: 'Redis restarted during failure reports',
        injected: `Redis SIGTERM + start after ${acceptedAtRestart} accepted reports (down ${downMs} ms)`,
        count: COUNT,
        prefix: 'redis',
        failureIds,
        notes: `${result.retries} retried attempts`,
      }),
      result.gaveUp,
    );
  });

  it('API SIGKILLed between commit and enqueue: every recorded failure gets exactly one voucher', { timeout: 150_000 }, async () => {
    const { scenario, prisma } = await setUp('api_kill');
    const COUNT = 200;
    const members = await enrollMembers(prisma, 'apikill', COUNT);
    const token = await apiKey(prisma, ['failures:report']);
    const port = await freePort();
    let api: ServiceProcess = await startApiProcess(scenario, port);
    await startWorkerProcess(scenario);

    const failureIds = new Map<number, string>();
    let restarted: Promise<void> | undefined;
    let acceptedAtKill = 0;
    const result = await burst({
      count: COUNT,
      clients: 16,
      send: failureReporter({ port: () => port, token, members, prefix: 'apikill', failureIds }),
      onAccepted: (accepted) => {
        if (accepted === 60 && !restarted) {
          acceptedAtKill = accepted;
          // 16 requests in flight: some have committed and not yet enqueued when the process dies.
          api.kill('SIGKILL');
          restarted = api.exited.then(async () => {
            api = await startApiProcess(scenario, port);
          });
        }
      },
    });
    await restarted;
    const relayed = await prisma.outboxEvent.count({ where: { enqueues: { gt: 0 } } });
    await allCompensated(prisma);
    expectClean(
      await compensationTally(prisma, {
        scenario: 'API SIGKILLed between commit and enqueue',
        injected: `SIGKILL of the API process after ${acceptedAtKill} accepted reports, 16 in flight; API started again`,
        count: COUNT,
        prefix: 'apikill',
        failureIds,
        notes: `${result.retries} retried attempts; ${relayed} events handed over by the worker's relay`,
      }),
      result.gaveUp,
    );
  });

  it('worker SIGKILLed mid-batch: every failure gets exactly one voucher after a restart', { timeout: 150_000 }, async () => {
    const COUNT = 200;
    const { scenario, prisma, failureIds, accepted } = await reportedBurst('worker_kill', 'wkill', COUNT);

    const first = await startWorkerProcess(scenario);
    await waitFor(
      'a fifth of the batch compensated',
      async () => (await prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } })) >= COUNT / 5,
      60_000,
      20,
    );
    first.kill('SIGKILL');
    await first.exited;
    const atKill = await prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } });
    await startWorkerProcess(scenario);
    await allCompensated(prisma);
    expectClean(
      await compensationTally(prisma, {
        scenario: 'worker SIGKILLed mid-batch',
        injected: `SIGKILL of the worker process with ${atKill}/${COUNT} compensated; worker started again`,
        count: COUNT,
        prefix: 'wkill',
        failureIds,
      }),
      accepted.gaveUp,
    );
  });

  it(
    'SIGTERM with jobs in flight: the worker finishes its running jobs, exits 0, and nothing is lost or doubled',
    { timeout: 150_000 },
    async () => {
      const COUNT = 200;
      const { scenario, prisma, failureIds, accepted } = await reportedBurst('sigterm', 'term', COUNT);

      const redis = new Redis(scenario.redisUrl, { maxRetriesPerRequest: null });
      const queue = new Queue('compensation', { connection: redis, prefix: scenario.queuePrefix });
      cleanups.push(async () => {
        await queue.close();
        redis.disconnect();
      });
      const first = await startWorkerProcess(scenario);
      await waitFor(
        'the first compensations',
        async () => (await prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } })) >= 10,
        60_000,
        20,
      );
      const inFlight = (await queue.getJobCounts('active')).active ?? 0;
      first.kill('SIGTERM');
      const exit = await first.exited;
      const atStop = await prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } });
      // Graceful: the running jobs finished; none was left active for the stalled-job check to recover.
      const leftActive = (await queue.getJobCounts('active')).active ?? 0;

      await startWorkerProcess(scenario);
      await allCompensated(prisma);
      const tally = await compensationTally(prisma, {
        scenario: 'SIGTERM with jobs in flight',
        injected: `SIGTERM to the worker process with ${inFlight} jobs active (${atStop}/${COUNT} compensated when it had exited); worker started again`,
        count: COUNT,
        prefix: 'term',
        failureIds,
        notes: `worker exit ${exit.code ?? exit.signal}, jobs left active ${leftActive}`,
      });
      expectClean(tally, accepted.gaveUp);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(leftActive).toBe(0);
      expect(inFlight).toBeGreaterThan(0); // the stop came with jobs running
    },
  );
});
