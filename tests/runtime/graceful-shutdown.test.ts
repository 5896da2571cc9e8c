// No useTestApp(): the built service runs as a child process; the requests write no rows.
import http from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_SERVICE_HOOK_TIMEOUT_MS, builtService, resetDatabase, createTestPrisma } from '../support/db.js';
import { builtServiceEnv } from '../support/built-service-env.js';
import { freePort, killServiceProcesses, startServiceProcess } from '../support/processes.js';

// SIGTERM under load, on the built service (the run's `npm run build`, started as `npm run api` starts
// dist/src/main.js):
// 50 keep-alive clients send `{ __typename }` in a loop; mid-load the service gets SIGTERM.
// Every request that reached the service must be answered; after the listener closed a new
// connection may be refused (ECONNREFUSED), but no socket may be reset or hung up.
// With 2 API processes (the default on this machine) each client reconnects when its answer says
// `Connection: close`: a reset there means a process drained while the port still took connections.
// SIGTERM goes to the main process (`kill PID`), or to its whole process group as systemd's default
// KillMode sends it (every API process gets it too).

const CLIENTS = 50;
let built: string;

beforeAll(async () => {
  built = await builtService();
  const prisma = createTestPrisma(2);
  await resetDatabase(prisma);
  await prisma.$disconnect();
}, BUILT_SERVICE_HOOK_TIMEOUT_MS);
afterEach(() => killServiceProcesses());

interface Tally {
  ok: number;
  /** Answers per client before SIGTERM. */
  answeredBefore: number[];
  refused: number;
  failures: Map<string, number>;
}

function post(agent: http.Agent, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ query: '{ __typename }' });
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (response.statusCode === 200 && text.includes('"__typename":"Query"')) resolve();
          else
            reject(Object.assign(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`), { code: `HTTP_${response.statusCode}` }));
        });
        response.on('error', reject);
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      // Whether the connection was new (never reached the service's listener) or kept alive tells the kinds apart.
      error.code = `${error.code ?? error.message}${request.reusedSocket ? ' (kept-alive socket)' : ''}`;
      reject(error);
    });
    request.end(body);
  });
}

/** One client: requests back to back on the shared keep-alive agent until the service refuses connections. */
async function client(agent: http.Agent, port: number, tally: Tally, stop: { signalled: boolean }): Promise<void> {
  const me = tally.answeredBefore.push(0) - 1;
  for (let sent = 0; sent < 100_000; sent += 1) {
    try {
      await post(agent, port);
      tally.ok += 1;
      if (!stop.signalled) tally.answeredBefore[me]! += 1;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (code === 'ECONNREFUSED' && stop.signalled) {
        tally.refused += 1;
        return;
      }
      tally.failures.set(code, (tally.failures.get(code) ?? 0) + 1);
      if (!stop.signalled) return; // a failure before SIGTERM: the test fails on it anyway
    }
  }
}

const CASES = [
  { processes: 1, target: 'process' },
  { processes: 2, target: 'process' },
  { processes: 2, target: 'process group' },
  // A process group's SIGTERM as the primary may see it: an API process's word of its own first, the primary's 100 ms
  // later. Draining that process at once sent its clients to the other one, whose listener closed next: the new
  // connections queued there were reset (ECONNRESET; seen in CI with the process-group case).
  { processes: 2, target: 'API process, then the primary' },
] as const;

describe('graceful shutdown under load', () => {
  for (const { processes, target } of CASES) {
    it(
      `WEB_CONCURRENCY=${processes}: SIGTERM to the ${target} during 50 keep-alive clients answers every request that arrived and exits 0`,
      { timeout: 120_000 },
      async () => {
        const port = await freePort();
        const api = startServiceProcess(
          `${built}/src/main.js`,
          builtServiceEnv(port, { TREUE_ROLE: 'api', WEB_CONCURRENCY: String(processes) }),
          { ownProcessGroup: target === 'process group' },
        );
        await api.waitForLine(/Treue ready: GraphQL at/, 60_000);

        const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
        const tally: Tally = { ok: 0, answeredBefore: [], refused: 0, failures: new Map() };
        const stop = { signalled: false };
        const clients = Array.from({ length: CLIENTS }, () => client(agent, port, tally, stop));
        // Mid-load: once every client has had answers on its keep-alive socket. Waiting for a total alone
        // let SIGTERM come while one client's first connection still sat in the kernel's accept queue, never
        // taken by the service (it is reset when the listener closes, with any number of processes: a
        // connection that never reached the service, which no drain can answer — docs/operations.md).
        const everyClientAnswered = () => tally.answeredBefore.every((answered) => answered >= 3);
        while ((tally.ok < CLIENTS * 20 || !everyClientAnswered()) && tally.failures.size === 0)
          await new Promise((resolve) => setImmediate(resolve));
        const answeredBefore = tally.ok;
        stop.signalled = true;
        if (target === 'process group') api.killGroup('SIGTERM');
        else if (target === 'API process, then the primary') {
          const pids = /"pids":\[(\d+),(\d+)\]/.exec(api.output());
          expect(pids, "the API processes' pids in the log").not.toBeNull();
          process.kill(Number(pids![1]), 'SIGTERM');
          await new Promise((resolve) => setTimeout(resolve, 100));
          api.kill('SIGTERM');
        } else api.kill('SIGTERM');
        await Promise.all(clients);
        agent.destroy();

        expect(Object.fromEntries(tally.failures), api.output().slice(-3_000)).toEqual({});
        expect(tally.ok).toBeGreaterThan(answeredBefore); // the requests in flight at SIGTERM were answered
        expect(tally.refused).toBe(CLIENTS);
        expect(await api.exited).toEqual({ code: 0, signal: null });
      },
    );
  }
});
