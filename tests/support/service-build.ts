import { execFile } from 'node:child_process';
import { access, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openMaintenanceClient } from './postgres.js';

/**
 * The built service (`npm run build`, scripts/build.ts: what `npm start` runs) for the tests that
 * spawn it, built once per `vitest` run, at the first test that asks, into a directory of the run
 * (`.build/run-<run id>`): never `dist/`, which a developer's `npm start` owns, and never a directory
 * another run rebuilds under a running service. An advisory lock of the run makes the workers take
 * turns: the first builds, the others wait for it and use what it built. Plain `pg` only, like
 * postgres.ts: global-setup.ts (main process) removes the directories of runs that are gone.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILDS = '.build';
const BUILD_PREFIX = 'run-';
const COMPLETE = '.complete';

/** A build that takes longer is stopped and fails the test that asked (tens of seconds on a quiet 2-core machine). */
const BUILD_TIMEOUT_MS = 300_000;

/** For the `beforeAll` of a test file that calls builtService: the build, or waiting for another worker's, and a start. */
export const BUILT_SERVICE_HOOK_TIMEOUT_MS = BUILD_TIMEOUT_MS + 120_000;

/** Advisory-lock namespace of the build locks (second key: the run's key, as in RUN_LOCK_NAMESPACE). */
export const BUILD_LOCK_NAMESPACE = 0x7472_7566;

/** Where a run's build goes, relative to the repository. */
export function runBuildDir(runId: string): string {
  return `${BUILDS}/${BUILD_PREFIX}${runId}`;
}

/**
 * The run's build, relative to the repository (`<dir>/src/main.js`, `<dir>/workers/main.js`), built by
 * the first caller of the run and reused by every later one, in any worker.
 */
export async function ensureServiceBuild(runId: string): Promise<string> {
  const dir = runBuildDir(runId);
  const complete = path.join(ROOT, dir, COMPLETE);
  const client = await openMaintenanceClient();
  try {
    // Session-level: released when this session ends (finally, below), also when this worker dies mid-build.
    await client.query('SELECT pg_advisory_lock($1, $2)', [BUILD_LOCK_NAMESPACE, Number.parseInt(runId, 36)]);
    if (!(await exists(complete))) {
      // Asynchronous: the worker stays responsive (and its hook timeout able to fire) while it builds.
      await promisify(execFile)('npm', ['run', '-s', 'build', '--', '--out', dir], {
        cwd: ROOT,
        timeout: BUILD_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      });
      await writeFile(complete, `${new Date().toISOString()}\n`);
    }
    return dir;
  } finally {
    await client.end();
  }
}

/** Run keys of the build directories there are, to be checked for liveness by global-setup.ts. */
export async function buildDirRunIds(): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, BUILDS), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isDirectory() && entry.name.startsWith(BUILD_PREFIX))
    .map((entry) => entry.name.slice(BUILD_PREFIX.length));
}

export async function removeRunBuild(runId: string): Promise<void> {
  await rm(path.join(ROOT, runBuildDir(runId)), { recursive: true, force: true });
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
