/**
 * `npm test`: the checks (types, lint, formatting), then the suite and the fault scripts side by side.
 *
 * The fault scripts (vitest.faults.config.ts) start their own PostgreSQL and Redis on free ports and
 * spend most of their time waiting for processes they killed to come back, so they share the machine
 * with the suite instead of running after it (about two minutes less). Their output is kept apart and
 * printed when the suite's is done, so each reads as one piece. Exits non-zero if either failed.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

function run(command: string, args: string[], output?: NodeJS.WritableStream): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: output ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    if (output) {
      child.stdout!.pipe(output, { end: false });
      child.stderr!.pipe(output, { end: false });
    }
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

const checked = await run('npm', ['run', '-s', 'check']);
if (checked !== 0) process.exit(checked);

const dir = await mkdtemp(path.join(tmpdir(), 'treue-faults-'));
const faultsLog = path.join(dir, 'faults.log');
const faultsOutput = createWriteStream(faultsLog);
const faults = run('npx', ['vitest', 'run', '--config', 'vitest.faults.config.ts'], faultsOutput);
const suite = await run('npx', ['vitest', 'run']);
console.log('\n— fault scripts (ran beside the suite) —\n');
const faultsStatus = await faults;
await new Promise((resolve) => faultsOutput.end(resolve));
process.stdout.write(await readFile(faultsLog, 'utf8'));
await rm(dir, { recursive: true, force: true });
console.log(`\nsuite: exit ${suite}; fault scripts: exit ${faultsStatus}`);
process.exit(suite !== 0 ? suite : faultsStatus);
