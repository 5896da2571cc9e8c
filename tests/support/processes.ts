import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
export { until } from './until.js';

/**
 * The service's own entry points as child processes (`src/main.ts`,
 * `workers/main.ts`), run from TypeScript with `node --import tsx` — one
 * process, so that a SIGKILL hits the service itself (the tsx CLI would fork
 * a second one).
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** Resolves once a line matching `pattern` was printed; rejects when the process exits first or after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  kill(signal: NodeJS.Signals): void;
  /** Signals its whole process group (the service and the processes it forked), as systemd's default stop does; needs `ownProcessGroup`. */
  killGroup(signal: NodeJS.Signals): void;
}

export interface ServiceProcessOptions {
  /** Starts it as the leader of a process group of its own (killServiceProcesses then SIGKILLs the group). */
  ownProcessGroup?: boolean;
  /** Command-line arguments after the entry. */
  args?: string[];
}

const running = new Set<ServiceProcess>();
/** Process groups of services started with `ownProcessGroup`: what they forked outlives them on a SIGKILL. */
const groups = new Set<number>();

/** Starts `entry` (relative to the repository; `.ts` through tsx, a built `.js` as is) with exactly `env` on top of PATH/HOME. */
export function startServiceProcess(entry: string, env: Record<string, string>, options: ServiceProcessOptions = {}): ServiceProcess {
  // A built entry (dist/…/*.js) runs as production runs it, without the TypeScript loader.
  const args = [...(entry.endsWith('.js') ? ['--enable-source-maps', entry] : ['--import', 'tsx', entry]), ...(options.args ?? [])];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    // Not the test's environment: DATABASE_URL, REDIS_URL and friends must come from `env` only.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup ?? false,
  });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-200_000);
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(handle);
      for (const waiter of waiters) waiter();
      resolve({ code, signal });
    }),
  );
  const handle: ServiceProcess = {
    child,
    pid: child.pid!,
    exited,
    output: () => text,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    killGroup: (signal) => {
      if (!options.ownProcessGroup) throw new Error(`${entry} was not started with ownProcessGroup`);
      try {
        process.kill(-child.pid!, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // ESRCH: the group is gone
      }
    },
    waitForLine: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = text.split('\n').find((candidate) => pattern.test(candidate));
          if (line !== undefined) return done(() => resolve(line));
          if (child.exitCode !== null || child.signalCode !== null) {
            return done(() =>
              reject(new Error(`${entry} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${tail(text)}`)),
            );
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`${entry} did not print ${pattern} within ${timeoutMs} ms:\n${tail(text)}`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      }),
  };
  running.add(handle);
  if (options.ownProcessGroup) groups.add(child.pid!);
  return handle;
}

/** SIGKILLs every service process still running (for afterEach/afterAll). */
export function killServiceProcesses(): void {
  for (const handle of running) handle.kill('SIGKILL');
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  groups.clear();
}

function tail(text: string): string {
  return text.split('\n').slice(-30).join('\n');
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * Ports below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 by default). A port
 * the kernel handed out with listen(0) can be taken, between the probe and the service's own bind, by any
 * outgoing connection of any process on the machine (its local port comes from that range): the fault
 * scripts and the suite, run side by side, open thousands. A port below the range is taken only by a listener.
 */
const PORT_RANGE = { from: 10_000, to: 32_767 };

function listenOn(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `count` distinct free ports, chosen at random below the ephemeral range: every probe listens until all
 * have their port, so two calls in a row cannot hand out the same port.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let attempts = 0; servers.length < count; attempts++) {
      if (attempts > 1_000) throw new Error(`no ${count} free ports between ${PORT_RANGE.from} and ${PORT_RANGE.to}`);
      const server = await listenOn(PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from + 1)));
      if (server) servers.push(server);
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True while a process with this pid exists (a zombie counts as gone). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined ? true : !/^\S+ \(.*\) Z/.test(stat);
}
