// No useTestApp(): the scenario runs on a PostgreSQL and Redis of its own (harness.ts), not the suite's, and kills the service's processes.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { freePorts, type ServiceProcess } from '../support/processes.js';
import {
  allCompensated,
  apiKey,
  compensationTally,
  enrollMembers,
  expectClean,
  gql,
  REPORT_FAILURE,
  startApiProcess,
  startWorkerProcess,
  useFaultStack,
  waitFor,
  type GraphQLAnswer,
} from './harness.js';

/**
 * `npm run test:faults`: the service scaled out (docs/scaling.md, "Two API and two worker
 * processes"): two API-only processes on ports of their own and two worker-only processes of the
 * built service, on one PostgreSQL and one Redis. Failure reports go to both APIs; every third is
 * sent again with the same idempotency key to the *other* API — half of those at the same moment,
 * half after the first answer. One worker process is SIGKILLed mid-run and a new one started.
 * Every request is sent once and never retried: every answer must be a proper one, every failure
 * compensated with exactly one voucher, no job failed, and the ledger check clean.
 */

const { cleanups, setUp } = useFaultStack();

const COUNT = 330;
const CLIENTS = 12;
/** The worker is killed when this many requests have been answered (about a third of the run). */
const KILL_AT = 110;
const PREFIX = 'scale';

interface Sent {
  index: number;
  api: number;
  requestId: string;
  answer: GraphQLAnswer;
}

/** The failure id of a proper answer to a report, else undefined. */
function failureIdOf(answer: GraphQLAnswer): string | undefined {
  const payload = answer.data?.reportServiceFailure as { __typename?: string; failure?: { id: string } } | undefined;
  if (answer.status !== 200 || answer.errors?.length || payload?.__typename !== 'ReportServiceFailurePayload') return undefined;
  return payload.failure?.id;
}

function describeAnswer(answer: GraphQLAnswer): string {
  const payload = answer.data?.reportServiceFailure as { __typename?: string; message?: string } | undefined;
  if (payload?.__typename) return `${payload.__typename}${payload.message ? `: ${payload.message}` : ''}`;
  return answer.errors?.[0]?.message ?? `HTTP ${answer.status}`;
}

describe('fault scripts: scaled out', () => {
  it(
    'two API and two worker processes, one worker SIGKILLed and replaced: every failure reported through both APIs compensated exactly once',
    { timeout: 150_000 },
    async () => {
      const started = performance.now();
      const { scenario, prisma } = await setUp('scale_out');
      const members = await enrollMembers(prisma, PREFIX, COUNT);
      const token = await apiKey(prisma, ['failures:report']);
      const ports = await freePorts(2);
      const [apiA, apiB, ...firstWorkers] = await Promise.all([
        startApiProcess(scenario, ports[0]!),
        startApiProcess(scenario, ports[1]!),
        startWorkerProcess(scenario),
        startWorkerProcess(scenario),
      ]);
      const apis = [apiA!, apiB!];
      const workers: ServiceProcess[] = [...firstWorkers];
      const setupMs = Math.round(performance.now() - started);

      const redis = new Redis(scenario.redisUrl, { maxRetriesPerRequest: null });
      const queue = new Queue('compensation', { connection: redis, prefix: scenario.queuePrefix });
      cleanups.push(async () => {
        await queue.close();
        redis.disconnect();
      });

      const sent: Sent[] = [];
      const send = async (index: number, api: number, attempt: 'first' | 'again'): Promise<Sent> => {
        const requestId = `${PREFIX}-${index}-${attempt}`;
        const answer = await gql(
          ports[api]!,
          token,
          REPORT_FAILURE,
          {
            i: {
              memberId: members[index],
              type: 'LATE_DELIVERY',
              severity: 'LOW',
              orderRef: `${PREFIX}-order-${index}`,
              idempotencyKey: `${PREFIX}-${index}`,
            },
          },
          requestId,
        );
        const record = { index, api, requestId, answer };
        sent.push(record);
        return record;
      };

      // Request i goes to API i % 2; every third again to the other API with the same key:
      // i % 6 === 0 at the same moment as the first, i % 6 === 3 after the first was answered.
      let kill: Promise<void> | undefined;
      let compensatedAtKill = 0;
      let activeAtKill = 0;
      const failureIds = new Map<number, string>();
      let next = 0;
      const client = async () => {
        for (let index = next++; index < COUNT; index = next++) {
          const api = index % 2;
          const other = 1 - api;
          let answers: Sent[];
          if (index % 6 === 0) answers = await Promise.all([send(index, api, 'first'), send(index, other, 'again')]);
          else {
            answers = [await send(index, api, 'first')];
            if (index % 6 === 3) answers.push(await send(index, other, 'again'));
          }
          const id = failureIdOf(answers[0]!.answer);
          if (id) failureIds.set(index, id);
          if (sent.length >= KILL_AT && !kill) {
            kill = (async () => {
              [compensatedAtKill, activeAtKill] = await Promise.all([
                prisma.serviceFailure.count({ where: { status: 'COMPENSATED' } }),
                queue.getJobCounts('active').then((counts) => counts.active ?? 0),
              ]);
              workers[0]!.kill('SIGKILL');
              await workers[0]!.exited;
              workers.push(await startWorkerProcess(scenario));
            })();
          }
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      await kill;
      const requestsDoneMs = Math.round(performance.now() - started);

      // Every answer proper; for an unexpected one, what the process that answered it logged about it: lines with
      // its request id, and the "unexpected error" lines (the error masker logs those without the request id).
      const improper = sent.filter((record) => failureIdOf(record.answer) === undefined);
      const explained = improper.map((record) => {
        const lines = apis[record.api]!.output()
          .split('\n')
          .filter((line) => line.includes(record.requestId) || line.includes('"msg":"unexpected error"'));
        return `${record.requestId} → API ${record.api}: ${describeAnswer(record.answer)}\n  ${lines.join('\n  ')}`;
      });
      // A key sent twice is answered twice with the same failure.
      const byIndex = new Map<number, Set<string | undefined>>();
      for (const record of sent) byIndex.set(record.index, (byIndex.get(record.index) ?? new Set()).add(failureIdOf(record.answer)));
      const splitAnswers = [...byIndex].filter(([, ids]) => ids.size !== 1).map(([index]) => index);
      const duplicatesAnswered = sent.filter((record) => record.requestId.endsWith('-again')).length;

      await allCompensated(prisma, 60_000);
      // A job the killed worker held may still be active in Redis after its effect committed: the stalled-job
      // check hands it to a live worker once its lock expires, which finds it decided and completes it.
      await waitFor(
        'no compensation job active, waiting or delayed',
        async () => {
          const pending = await queue.getJobCounts('active', 'waiting', 'delayed');
          return pending.active === 0 && pending.waiting === 0 && pending.delayed === 0;
        },
        30_000,
      );
      const counts = await queue.getJobCounts('failed', 'active', 'waiting', 'delayed');
      const [failures, vouchers] = await Promise.all([
        prisma.serviceFailure.count(),
        prisma.voucher.count({ where: { kind: 'COMPENSATION' } }),
      ]);
      const mismatches = await findLedgerMismatches({ prisma });
      const totalMs = Math.round(performance.now() - started);

      const tally = await compensationTally(prisma, {
        scenario: 'two API and two worker processes',
        injected:
          `${sent.length} requests over 2 API processes (${duplicatesAnswered} sent again to the other API, half at once); ` +
          `SIGKILL of one of 2 worker processes after ${KILL_AT} answers (${compensatedAtKill}/${COUNT} compensated, ${activeAtKill} jobs active), replacement started`,
        count: COUNT,
        prefix: PREFIX,
        failureIds,
        notes:
          `improper answers ${improper.length}; failures ${failures}, vouchers ${vouchers}; jobs failed ${counts.failed}; ` +
          `ledger mismatches ${mismatches.length}; 4 processes up at ${setupMs} ms, requests done at ${requestsDoneMs} ms, all compensated at ${totalMs} ms`,
      });
      if (explained.length) process.stdout.write(`[fault] improper answers:\n${explained.join('\n')}\n`);
      expectClean(tally);
      expect(explained, 'answers that were not a ReportServiceFailurePayload').toEqual([]);
      expect(splitAnswers, 'keys answered with different failures by the two APIs').toEqual([]);
      expect({ sent: sent.length, failures, vouchers, failed: counts.failed, active: counts.active, waiting: counts.waiting }).toEqual({
        sent: COUNT + Math.ceil(COUNT / 3),
        failures: COUNT,
        vouchers: COUNT,
        failed: 0,
        active: 0,
        waiting: 0,
      });
      expect(mismatches).toEqual([]);
      expect(workers).toHaveLength(3); // the kill happened, and a replacement ran
    },
  );
});
