import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { delay, exitsWithin, pipeLines } from './child-process.js';
import { findOccupant, stopProcess, writeOwner } from './orphans.js';

/**
 * The "embedded default" Redis: a private `redis-server` from the PATH, with
 * its append-only file under `<dataDir>/redis`, on 127.0.0.1 and a non-standard
 * port. `noeviction`, because BullMQ must never lose queue keys to eviction.
 * A redis-server left running on this directory by a service that was killed
 * (SIGKILL, OOM) is stopped at the next start (src/runtime/orphans.ts).
 */

export const DEFAULT_EMBEDDED_REDIS_PORT = 63790;

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 8_000;
const INSTALL_HINT =
  'redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL';

export interface EmbeddedRedisHandle {
  redisUrl: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** The service's data directory; Redis keeps its files in `<dataDir>/redis`. */
  dataDir: string;
  /** Defaults to 63790, clear of a system Redis on 6379. */
  port?: number;
  logger: Logger;
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedisHandle> {
  const port = opts.port ?? DEFAULT_EMBEDDED_REDIS_PORT;
  const dir = path.resolve(opts.dataDir, 'redis');
  const logger = opts.logger.child({ component: 'embedded-redis' });
  const started = Date.now();

  await fs.mkdir(dir, { recursive: true });
  const pidFile = path.join(dir, 'redis-server.pid');
  const ownerFile = path.join(dir, 'redis-server.owner');
  await stopOrphan({ dir, pidFile, ownerFile, port, logger });
  await writeOwner(ownerFile);

  const child = spawn(
    'redis-server', // from the PATH
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--protected-mode',
      'yes',
      '--dir',
      dir,
      '--pidfile',
      pidFile,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      '--logfile',
      '',
      '--loglevel',
      'notice',
    ],
    // Its own process group: a terminal's Ctrl-C goes to us, and we stop it after the workers.
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );

  let stopping = false;
  let ready = false;
  const recentLog: string[] = [];
  const onLine = (line: string) => {
    if (!line.trim()) return;
    recentLog.push(line);
    if (recentLog.length > 40) recentLog.shift();
    // Redis logs its start banner at warning level ('#') too, so pick real trouble by wording.
    // (The memory-overcommit advice is about the host, shown at every start: debug.)
    if (!stopping && /\b(fail\w*|error|can't|could not|unable)\b/i.test(line) && !/overcommit/.test(line)) logger.warn(line);
    else logger.debug(line);
  };
  pipeLines(child.stdout, onLine);
  pipeLines(child.stderr, onLine);

  let spawnError: Error | undefined;
  const spawned = new Promise<void>((resolve) => {
    child.once('spawn', () => resolve());
    child.once('error', () => resolve());
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      spawnError = error;
      resolve({ code: null, signal: null });
    });
  });
  const hasExited = () => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;

  // If this process ends without stop() (crash, forced exit), let redis flush and exit too.
  const onProcessExit = () => {
    if (!hasExited()) child.kill('SIGTERM');
  };
  process.on('exit', onProcessExit);
  void exited.then(({ code, signal }) => {
    process.removeListener('exit', onProcessExit);
    if (ready && !stopping) logger.error({ code, signal }, 'embedded Redis exited unexpectedly');
  });

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      if (child.pid === undefined || hasExited()) return;
      // SIGTERM: redis fsyncs the append-only file and exits.
      child.kill('SIGTERM');
      if (await exitsWithin(exited, STOP_TIMEOUT_MS)) return;
      logger.warn('embedded Redis did not stop in time; sending SIGKILL');
      child.kill('SIGKILL');
      await exited;
    })();
    return stopped;
  };

  try {
    await spawned;
    await waitForPong(port, () => hasExited(), READY_TIMEOUT_MS);
    // The port answered, but was it ours? A leftover redis of an earlier run answers too while ours fails.
    const pid = await serverPid(port);
    if (hasExited() || pid !== child.pid) {
      throw new Error(
        `embedded Redis: another redis-server (pid ${pid ?? '?'}) is already listening on 127.0.0.1:${port}; stop it or set EMBEDDED_REDIS_PORT`,
      );
    }
  } catch (error) {
    stopping = true;
    await stop();
    if (spawnError) {
      throw new Error((spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? INSTALL_HINT : `embedded Redis: ${spawnError.message}`);
    }
    if (error instanceof EarlyExit) {
      const reasons = recentLog.filter((line) => / # /.test(line)).map((line) => line.replace(/^.*? # /, ''));
      throw new Error(
        `embedded Redis exited during startup (code ${child.exitCode ?? 'none'}): ${oneLine(reasons.join(' ') || recentLog.slice(-3).join(' ') || 'no output')}`,
      );
    }
    throw error;
  }

  ready = true;
  logger.info({ port, dir, ms: Date.now() - started }, 'embedded Redis ready');
  return { redisUrl: `redis://127.0.0.1:${port}`, port, stop };
}

/**
 * A redis-server still running on this directory from an earlier start whose
 * service is gone is stopped (SIGTERM: it writes its append-only file out and
 * exits); one whose service is alive is refused.
 */
async function stopOrphan(args: { dir: string; pidFile: string; ownerFile: string; port: number; logger: Logger }): Promise<void> {
  const occupant = await findOccupant({
    pidFile: args.pidFile,
    ownerFile: args.ownerFile,
    workDir: args.dir,
    looksLike: (command) => /redis-server/.test(command) && command.includes(`:${args.port}`),
  });
  if (occupant.kind === 'none') return;
  if (occupant.kind === 'owned') {
    throw new Error(
      `embedded Redis: ${args.dir} is in use by a running service (pid ${occupant.ownerPid}; its redis-server is pid ${occupant.pid}); stop that service first, or give this one another DATA_DIR`,
    );
  }
  args.logger.warn(
    { pid: occupant.pid, dir: args.dir },
    'embedded Redis of an earlier run is still running without its service (killed?): stopping it',
  );
  const gone = await stopProcess(occupant.pid, [
    { signal: 'SIGTERM', waitMs: 15_000 },
    { signal: 'SIGKILL', waitMs: 2_000 },
  ]);
  if (!gone)
    throw new Error(
      `embedded Redis: the orphaned redis-server (pid ${occupant.pid}) on ${args.dir} did not stop; stop it with: kill ${occupant.pid}`,
    );
}

// ---------------------------------------------------------------------------

class EarlyExit extends Error {}

/** Polls with a raw PING until the server answers +PONG (not -LOADING while it replays its AOF). */
async function waitForPong(port: number, hasExited: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (hasExited()) throw new EarlyExit();
    last = await command(port, 'PING').catch((error: Error) => error.message);
    if (last.startsWith('+PONG')) return;
    await delay(50);
  }
  throw new Error(
    `embedded Redis did not answer PING on 127.0.0.1:${port} within ${Math.round(timeoutMs / 1000)} s (last answer: ${oneLine(last)})`,
  );
}

async function serverPid(port: number): Promise<number | undefined> {
  const info = await command(port, 'INFO server');
  const match = /process_id:(\d+)/.exec(info);
  return match?.[1] ? Number(match[1]) : undefined;
}

/** Sends one inline command and returns the raw reply (enough for PING and INFO). */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 2_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (isComplete(reply)) socket.end();
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

function isComplete(reply: string): boolean {
  if (reply.startsWith('$')) {
    const header = reply.indexOf('\r\n');
    if (header < 0) return false;
    const length = Number(reply.slice(1, header));
    return length < 0 || Buffer.byteLength(reply.slice(header + 2)) >= length + 2;
  }
  return reply.includes('\r\n');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
