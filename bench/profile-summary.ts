import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Summarises V8 CPU profiles (`--cpu-prof`, e.g. `npm run bench -- --cpu-prof`):
 * self time by package (or by our own file) and the hottest functions.
 *
 *   npx tsx bench/profile-summary.ts <dir or .cpuprofile>… [--top 25] [--skip 5]
 *   npx tsx bench/profile-summary.ts --allocations <.heapprofile>… [--top 25]
 *
 * `--skip` leaves out the first seconds of each profile (start-up, module loading).
 * `--allocations` reads sampling heap profiles instead (`bench/micro.ts --alloc-profile`):
 * the bytes allocated, by the same owners and functions.
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
/** A sampling heap profile: a call tree whose nodes hold the bytes allocated in that frame. */
interface HeapNode {
  callFrame: Node['callFrame'];
  selfSize: number;
  children?: HeapNode[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function owner(url: string): string {
  if (!url) return '(native/idle)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node:internal';
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

async function files(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    if ((await stat(arg)).isDirectory()) {
      for (const name of await readdir(arg)) if (name.endsWith('.cpuprofile')) out.push(path.join(arg, name));
    } else out.push(arg);
  }
  return out;
}

function show(title: string, map: Map<string, number>, total: number, top: number, unit: (value: number) => string): void {
  console.log(`\n${title}`);
  for (const [key, value] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((value / total) * 100).toFixed(1).padStart(5)} %  ${unit(value).padStart(10)}  ${key}`);
  }
}

async function allocations(paths: string[], top: number): Promise<void> {
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  const visit = (node: HeapNode) => {
    const who = owner(node.callFrame.url);
    const key = `${node.callFrame.functionName || '(anonymous)'} ${who}:${node.callFrame.lineNumber + 1}`;
    total += node.selfSize;
    byOwner.set(who, (byOwner.get(who) ?? 0) + node.selfSize);
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    for (const child of node.children ?? []) visit(child);
  };
  for (const file of paths) visit((JSON.parse(await readFile(file, 'utf8')) as { head: HeapNode }).head);
  const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  console.log(`allocated: ${megabytes(total)}`);
  show('bytes allocated by package / file', byOwner, total, top, megabytes);
  show('functions allocating the most (self)', byFunction, total, top, megabytes);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const topIndex = argv.indexOf('--top');
  const top = topIndex >= 0 ? Number(argv.splice(topIndex, 2)[1]) : 25;
  const allocationsIndex = argv.indexOf('--allocations');
  if (allocationsIndex >= 0) {
    argv.splice(allocationsIndex, 1);
    return allocations(argv, top);
  }
  const skipIndex = argv.indexOf('--skip');
  const skipMicros = skipIndex >= 0 ? Number(argv.splice(skipIndex, 2)[1]) * 1e6 : 0;
  const byOwner = new Map<string, number>();
  /** Native and node-internal time charged to the nearest package or file that called it. */
  const byCaller = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const file of await files(argv)) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    const callerOf = (id: number): string => {
      for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
        const who = owner(nodes.get(current)!.callFrame.url);
        if (who !== '(native/idle)' && who !== 'node:internal') return who;
      }
      return '(native/idle)';
    };
    let elapsed = 0;
    profile.samples.forEach((id, index) => {
      const node = nodes.get(id)!;
      const micros = profile.timeDeltas[index] ?? 0;
      elapsed += micros;
      if (elapsed < skipMicros) return;
      const name = node.callFrame.functionName || '(anonymous)';
      if (name === '(idle)' || name === '(program)') return;
      total += micros;
      const who = name === '(garbage collector)' ? '(garbage collector)' : owner(node.callFrame.url);
      byOwner.set(who, (byOwner.get(who) ?? 0) + micros);
      const caller = who === '(garbage collector)' ? who : callerOf(id);
      byCaller.set(caller, (byCaller.get(caller) ?? 0) + micros);
      const key = `${name} ${who}:${node.callFrame.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    });
  }
  const milliseconds = (micros: number) => `${(micros / 1000).toFixed(0)} ms`;
  console.log(`busy CPU time: ${(total / 1e6).toFixed(1)} s`);
  show('self time by package / file', byOwner, total, top, milliseconds);
  show('self time with native and node-internal work charged to its caller', byCaller, total, top, milliseconds);
  show('hottest functions (self time)', byFunction, total, top, milliseconds);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
