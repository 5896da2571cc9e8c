import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { API_DRAIN_TIMEOUT_MS, startApi, type AppDeps, type SharedMetrics } from './app.js';
import { loadConfig } from './config/env.js';
import { createPrisma } from './db/prisma.js';
import { createLogger, type Logger } from './logger.js';
import { withDevelopmentJwtSecret } from './runtime/dev-secret.js';

/**
 * One Node process uses about one core, so the API runs as several processes
 * on one machine: `WEB_CONCURRENCY` of them (default: the number of cores),
 * node:cluster workers sharing one listening socket. With one, the API runs in
 * the calling process as before. The BullMQ workers and the embedded
 * PostgreSQL/Redis stay in the primary, started once (src/main.ts).
 *
 * Each API process accepts from the shared socket itself (`SCHED_NONE`): the
 * kernel's accept queue is the only queue of new connections, as with one
 * process. Under node's default round-robin the primary accepts every
 * connection and queues it until an API process takes it; when the last API
 * process stops listening, the primary closes what it still holds. During a
 * drain (each process answering with `Connection: close`) clients reconnect at
 * once, so those connections were reset, not refused.
 *
 * Stopping is in two steps for the same reason: first every API process closes
 * its copy of the listening socket, so that the port refuses new connections;
 * only then do they drain their open connections (src/app.ts).
 */

/** This file is also the entry of every API worker (`cluster.setupPrimary({ exec })`). */
const THIS_FILE = fileURLToPath(import.meta.url);
/** A worker that does not report ready within this time counts as failed. */
const READY_TIMEOUT_MS = 60_000;
/** How long a worker gets to finish its requests and close when asked to stop: above the API's own drain deadline. */
const WORKER_STOP_TIMEOUT_MS = API_DRAIN_TIMEOUT_MS + 2_000;
/** How long the primary waits for an API process to report that it stopped listening before draining anyway. */
const STOP_ACCEPTING_TIMEOUT_MS = 2_000;
/**
 * How long an API process that stopped accepting on its own SIGTERM waits before it drains: a SIGTERM to the whole
 * process group reaches the primary too, and its word of the worker's can come first — draining at once would send the
 * worker's clients to a sibling that is about to close its listener too, which resets the connections still queued
 * there (tests/runtime/graceful-shutdown.test.ts).
 */
const RETIRE_GRACE_MS = 1_000;
/** A crashed worker is replaced after this pause, unless workers crash faster than this: */
const RESTART_DELAY_MS = 1_000;
const MAX_RESTARTS_PER_MINUTE = 5;

type ToPrimary =
  | { type: 'ready'; url: string }
  /** /metrics was asked of this API process: the primary answers with every API process's metrics, summed. */
  | { type: 'metrics'; id: number }
  | { type: 'failed'; message: string }
  /** The API process closed its copy of the listening socket. */
  | { type: 'stopped-accepting' }
  /** The API process got SIGTERM: the primary stops it in the two steps (and replaces it unless closing). */
  | { type: 'sigterm' };
type ToWorker =
  | { type: 'stop-accepting' }
  | { type: 'stop' }
  | { type: 'metrics'; id: number; text: string }
  | { type: 'metrics'; id: number; error: string };

export interface ApiHandle {
  url: string;
  close(): Promise<void>;
}

/** The number of API processes: `WEB_CONCURRENCY`, else one per core. */
export function apiProcessCount(webConcurrency: number | undefined): number {
  return webConcurrency ?? availableParallelism();
}

/**
 * Asks an API process to close its listening socket and resolves once it reports so (or exits, or
 * after STOP_ACCEPTING_TIMEOUT_MS). Its report travels behind node:cluster's own message that the
 * socket is closed, so by then the primary has dropped its copy too.
 */
function stopAccepting(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (worker.isDead() || !worker.isConnected()) return resolve();
    const done = () => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', done);
      resolve();
    };
    const onMessage = (message: ToPrimary) => {
      if (message.type === 'stopped-accepting') done();
    };
    const timer = setTimeout(done, STOP_ACCEPTING_TIMEOUT_MS);
    worker.on('message', onMessage);
    worker.once('exit', done);
    worker.send({ type: 'stop-accepting' } satisfies ToWorker);
  });
}

/**
 * Starts the API: in this process when `count` is 1, else as `count` cluster
 * workers that get `DATABASE_URL` and `REDIS_URL` as resolved by the primary
 * (the embedded ones included). Resolves once every worker listens; a worker
 * that dies later is replaced. `close()` asks every worker to stop listening,
 * then to finish its requests and exit, and kills one that does not within 10 s.
 */
export async function startApiProcesses(
  deps: AppDeps & { databaseUrl: string },
  count: number = apiProcessCount(deps.config.webConcurrency),
): Promise<ApiHandle> {
  if (count <= 1) return startApi(deps);
  const { logger } = deps;
  // The API processes get the primary's node flags: `npm start`'s heap limit and source maps
  // (package.json), or tsx's loader when it runs from TypeScript (THIS_FILE is then src/cluster.ts).
  // Set before the first setupPrimary/fork, which freeze it.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: THIS_FILE, execArgv: process.execArgv, args: [], silent: false });
  // Sums what every API process's registry holds (prom-client asks each over IPC) when one of them is scraped.
  const metricsOfAll = new AggregatorRegistry();
  const env = { DATABASE_URL: deps.databaseUrl, REDIS_URL: deps.redisUrl };

  let closing = false;
  const workers = new Set<Worker>();
  const restarts: number[] = [];
  /** API processes that reported ready: they listen and answer the stop messages. */
  const ready = new Set<Worker>();
  /** API processes being stopped on their own SIGTERM (not a crash: replaced, logged at info). */
  const retiring = new Set<Worker>();

  const fork = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork(env);
      workers.add(worker);
      const timer = setTimeout(() => {
        reject(new Error(`API process ${worker.process.pid} did not start within ${READY_TIMEOUT_MS / 1000} s`));
        worker.kill('SIGKILL');
      }, READY_TIMEOUT_MS);
      worker.on('message', (message: ToPrimary) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          ready.add(worker);
          resolve(message.url);
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`API process ${worker.process.pid} failed to start: ${message.message}`));
        } else if (message.type === 'metrics') {
          metricsOfAll.clusterMetrics().then(
            (text) => worker.isConnected() && worker.send({ type: 'metrics', id: message.id, text } satisfies ToWorker),
            (error: Error) =>
              worker.isConnected() && worker.send({ type: 'metrics', id: message.id, error: error.message } satisfies ToWorker),
          );
        } else if (message.type === 'sigterm' && !closing && !retiring.has(worker)) {
          retiring.add(worker);
          logger.info({ pid: worker.process.pid }, 'API process got SIGTERM: stopping it, then replacing it');
          void retire(worker);
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        workers.delete(worker);
        ready.delete(worker);
        reject(new Error(`API process ${worker.process.pid} exited during startup (${signal ?? code})`));
        if (closing) return;
        if (retiring.delete(worker)) logger.info({ pid: worker.process.pid, code, signal }, 'API process stopped; replacing it');
        else logger.error({ pid: worker.process.pid, code, signal }, 'API process exited; replacing it');
        const now = Date.now();
        restarts.push(now);
        while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
        if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
          logger.fatal(`API processes crashed ${restarts.length} times within a minute: not replacing them any more`);
          return;
        }
        setTimeout(() => {
          if (!closing) fork().catch((error: Error) => logger.error({ err: error }, 'replacing an API process failed'));
        }, RESTART_DELAY_MS).unref();
      });
    });

  /** Resolves when stopAll begins. */
  let markClosing!: () => void;
  const closingBegun = new Promise<void>((resolve) => (markClosing = resolve));
  /** Resolves once every API process has stopped listening, when stopAll has begun. */
  let allStoppedAccepting: Promise<void> | undefined;
  const drain = (worker: Worker) => {
    if (worker.isDead()) return;
    if (worker.isConnected()) worker.send({ type: 'stop' } satisfies ToWorker);
    else worker.process.kill('SIGTERM');
  };
  /** Resolves when `worker` has exited; kills it if it has not within WORKER_STOP_TIMEOUT_MS. */
  const exited = (worker: Worker) =>
    new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), WORKER_STOP_TIMEOUT_MS);
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
    });
  /** One API process on its own SIGTERM: the others keep listening, so its clients reconnect there. */
  const retire = async (worker: Worker) => {
    await stopAccepting(worker);
    // A SIGTERM to the whole process group also reaches the primary, perhaps after the worker's word of its own: wait
    // a moment for it, and then drain only once no API process listens.
    if (!closing) await Promise.race([closingBegun, delay(RETIRE_GRACE_MS, undefined, { ref: false })]);
    await allStoppedAccepting;
    drain(worker);
    await exited(worker);
  };
  /**
   * Stops every API process: first each closes its copy of the listening socket (once all have, the
   * port refuses new connections), then each drains and exits. One still starting has no connections
   * and may not listen to messages yet: it is killed at once.
   */
  const stopAll = async () => {
    closing = true;
    markClosing();
    const targets = [...workers];
    const serving = targets.filter((worker) => ready.has(worker));
    for (const worker of targets) if (!ready.has(worker)) worker.process.kill('SIGKILL');
    allStoppedAccepting = Promise.all(serving.map(stopAccepting)).then(() => undefined);
    await allStoppedAccepting;
    serving.forEach(drain);
    await Promise.all(targets.map(exited));
  };

  let urls: string[];
  try {
    urls = await Promise.all(Array.from({ length: count }, fork));
  } catch (error) {
    await stopAll();
    throw error;
  }
  logger.info({ processes: count, pids: [...workers].map((worker) => worker.process.pid) }, 'API processes listening');
  return { url: urls[0]!, close: stopAll };
}

/**
 * The body of an API cluster worker: the API on the shared port, with its own
 * Prisma pool. Stops on the primary's request, on SIGTERM, or when the primary
 * goes away. SIGINT is left to the primary: a terminal's Ctrl-C reaches the
 * whole process group, and the primary closes the API before the workers.
 */
async function runApiWorker(): Promise<void> {
  let logger: Logger = createLogger('info');
  const send = (message: ToPrimary) => process.send?.(message);
  try {
    const config = await withDevelopmentJwtSecret(loadConfig());
    logger = createLogger(config.logLevel, { apiProcess: cluster.worker?.id });
    const prisma = createPrisma(config.databaseUrl!, config.databasePoolSize, config.databaseTimeouts);
    const processMetrics = metricsThroughPrimary(send);
    const api = await startApi({ config, logger, prisma, redisUrl: config.redisUrl!, processMetrics });
    let stopping = false;
    const stop = async (reason: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason }, 'API process stopping');
      const deadline = setTimeout(() => process.exit(1), WORKER_STOP_TIMEOUT_MS - 1_000);
      deadline.unref();
      await api.close().catch((error: Error) => logger.error({ err: error }, 'closing the API failed'));
      await prisma.$disconnect().catch(() => undefined);
      clearTimeout(deadline);
      process.exit(0);
    };
    process.on('message', (message: ToWorker) => {
      if (message.type === 'metrics') processMetrics.answered(message);
      else if (message.type === 'stop-accepting') {
        api.stopAccepting();
        send({ type: 'stopped-accepting' });
      } else if (message.type === 'stop') void stop('asked by the primary');
    });
    process.on('disconnect', () => void stop('primary went away'));
    // Draining alone while another API process still listens would send its clients there just as
    // that one stops listening (a whole process group gets SIGTERM from systemd, for one): the
    // primary, when there is one, stops this process in the two steps.
    process.on('SIGTERM', () => {
      if (process.connected) send({ type: 'sigterm' });
      else void stop('SIGTERM');
    });
    process.on('SIGINT', () => logger.debug('SIGINT: left to the primary'));
    process.on('uncaughtException', (error) => {
      logger.fatal({ err: error }, 'uncaught exception in an API process');
      process.exit(1); // the primary replaces this process
    });
    send({ type: 'ready', url: api.url });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ err: error }, `API process failed to start: ${message}`);
    send({ type: 'failed', message });
    process.exitCode = 1;
    process.disconnect?.();
  }
}

if (cluster.isWorker && process.argv[1] === THIS_FILE) void runApiWorker();

/** How long an API process waits for the primary's sum of every process's metrics (prom-client gives up on a silent process after 5 s). */
const METRICS_TIMEOUT_MS = 6_000;

/**
 * An API cluster worker's metrics: its registry answers the primary's requests (prom-client's
 * AggregatorRegistry, set up before the API starts, so that a process still starting answers with
 * nothing instead of making a scrape wait), and /metrics asks the primary for the sum.
 */
function metricsThroughPrimary(send: (message: ToPrimary) => void): SharedMetrics & {
  answered(message: Extract<ToWorker, { type: 'metrics' }>): void;
} {
  new AggregatorRegistry(); // installs this process's answer to the primary's requests
  AggregatorRegistry.setRegistries([]);
  let next = 0;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  return {
    share: (registry: Registry) => AggregatorRegistry.setRegistries([registry]),
    all: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the cluster primary did not answer with the metrics'));
        }, METRICS_TIMEOUT_MS);
        waiting.set(id, { resolve, reject, timer });
        send({ type: 'metrics', id });
      }),
    answered: (message) => {
      const request = waiting.get(message.id);
      if (!request) return;
      waiting.delete(message.id);
      clearTimeout(request.timer);
      if ('text' in message) request.resolve(message.text);
      else request.reject(new Error(message.error));
    },
  };
}
