import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { delay } from './child-process.js';

/**
 * Orphaned embedded servers. The embedded PostgreSQL and Redis run in their
 * own process groups (so that a terminal's Ctrl-C reaches the service first),
 * which also means they outlive a service that was SIGKILLed or OOM-killed:
 * the next start would find the port and the data directory taken. Each server
 * therefore has an owner file (the pid of the service process that started
 * it) beside its pid file. A server that is running on our data directory
 * while its owner is gone is an orphan of ours, and is stopped; one whose
 * owner is alive belongs to a running service, and is left alone.
 */

const execFileAsync = promisify(execFile);

export interface ProcessFacts {
  pid: number;
  ppid: number | undefined;
  /** The working directory (PostgreSQL and Redis both chdir into their data directory); undefined where unknown. */
  cwd: string | undefined;
  /** The command line, space-separated. */
  command: string;
}

/** Facts about a live process, or undefined when there is none (or only a zombie) with that pid. */
export async function processFacts(pid: number): Promise<ProcessFacts | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat !== undefined) {
    // "pid (comm) state ppid …"; comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z' || state === 'X') return undefined;
    const [cmdline, cwd] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      fs.readlink(`/proc/${pid}/cwd`).catch(() => undefined),
    ]);
    return { pid, ppid: Number(ppid), cwd, command: cmdline.split('\0').join(' ').trim() };
  }
  if (process.platform === 'linux') return undefined; // /proc is authoritative there
  // Elsewhere (macOS): ps knows the parent and the command line, not the working directory.
  try {
    const { stdout } = await execFileAsync('ps', ['-o', 'stat=,ppid=,command=', '-p', String(pid)]);
    const match = /^\s*(\S+)\s+(\d+)\s+(.*)$/.exec(stdout.trim());
    if (!match || match[1]!.startsWith('Z')) return undefined;
    return { pid, ppid: Number(match[2]), cwd: undefined, command: match[3]! };
  } catch {
    return undefined;
  }
}

export async function readPid(file: string): Promise<number | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text?.split('\n')[0]?.trim() ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Records this process as the owner of the server it is about to start. */
export async function writeOwner(file: string): Promise<void> {
  await fs.writeFile(file, `${process.pid}\n`, { mode: 0o644 });
}

export type Occupant =
  /** Nothing of ours runs there (no pid file, a dead pid, or the pid now belongs to something else). */
  | { kind: 'none'; stalePid?: number }
  /** Ours, and the service that started it is gone. */
  | { kind: 'orphan'; pid: number }
  /** Ours, and the service that started it is alive. */
  | { kind: 'owned'; pid: number; ownerPid: number };

/**
 * Who runs on `workDir` according to `pidFile`: a server whose working
 * directory is `workDir` (or, without /proc, whose command line names
 * `looksLike`) counts as ours. It is an orphan unless its parent is the
 * recorded owner and that owner is alive (the owner is its parent: a server
 * outliving its starter is re-parented to init or a subreaper).
 */
export async function findOccupant(args: {
  pidFile: string;
  ownerFile: string;
  workDir: string;
  looksLike: (command: string) => boolean;
}): Promise<Occupant> {
  const pid = await readPid(args.pidFile);
  if (pid === undefined) return { kind: 'none' };
  const facts = await processFacts(pid);
  if (!facts || pid === process.pid) return { kind: 'none', stalePid: pid };
  const ours = facts.cwd !== undefined ? (await realpathOr(facts.cwd)) === (await realpathOr(args.workDir)) : args.looksLike(facts.command);
  if (!ours) return { kind: 'none', stalePid: pid };
  const ownerPid = await readPid(args.ownerFile);
  if (ownerPid !== undefined && facts.ppid === ownerPid && (await processFacts(ownerPid))) {
    return { kind: 'owned', pid, ownerPid };
  }
  return { kind: 'orphan', pid };
}

/**
 * Stops a process that is not our child: sends each signal in turn and waits
 * up to its time for the process to be gone. True when it is gone.
 */
export async function stopProcess(pid: number, steps: { signal: NodeJS.Signals; waitMs: number }[]): Promise<boolean> {
  for (const { signal, waitMs } of steps) {
    try {
      process.kill(pid, signal);
    } catch {
      return true; // ESRCH: gone already
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!(await processFacts(pid))) return true;
      await delay(50);
    }
  }
  return !(await processFacts(pid));
}

async function realpathOr(file: string): Promise<string> {
  return fs.realpath(file).catch(() => path.resolve(file));
}
