import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../support/processes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The fault scripts' one build of the service, relative to the repository (tests/faults/global-setup.ts). */
    faultsBuild: string;
  }
}

/**
 * Builds the service once for all fault scripts, as `npm run build` builds it but without the console
 * (`--server-only`), into .build/faults-<pid> (never dist/, a developer's). The scripts start and kill
 * the API and the workers many times: plain JavaScript starts in a second or two, where tsx would
 * compile the sources again in every process (tens of seconds on a loaded machine).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = `.build/faults-${process.pid}`;
  await promisify(execFile)('npm', ['run', '-s', 'build', '--', '--out', dir, '--server-only'], { cwd: ROOT, timeout: 180_000 });
  project.provide('faultsBuild', dir);
  return () => rm(path.join(ROOT, dir), { recursive: true, force: true });
}
