import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Summarises V8 CPU profiles (`--cpu-prof`, e.g. `npm run bench -- --cpu-prof`):
 * self time by package (or by our own file) and the hottest functions.
 *
 *   npx tsx bench/profile-summary.ts <dir or .cpuprofile>… [--top 25] [--skip 5]
 *   npx tsx bench/profile-summary.ts --allocations <.heapprofile>… [--top 25]
 *   npx tsx bench/profile-summary.ts --maps <v8.log>… [--top 25] [--after 0.5]
 *
 * `--skip` leaves out the first seconds of each profile (start-up, module loading).
 * `--allocations` reads sampling heap profiles instead (`bench/micro.ts --alloc-profile`):
 * the bytes allocated, by the same owners and functions.
 * `--maps` reads V8's map log (`node --log-maps --logfile=F --no-logfile-per-isolate`, e.g. through
 * `bench/ab.ts --node-args`) and counts the hidden classes made after the `--after` fraction of each
 * log's time, by event, property and the code that made them. A service in its steady state makes
 * almost none: what keeps coming is objects getting maps of their own.
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

/** A code object from the log: its address range and what V8 named it, shortened as `owner()` does. */
interface Code {
  start: number;
  end: number;
  name: string;
}

function codeName(name: string): string {
  const located = /^(.*) (\S*):(\d+):(\d+)$/.exec(name.replaceAll('\\x2C', ','));
  if (!located) return name.replaceAll('\\x2C', ',');
  const [, functionName, url, line, column] = located;
  // A script without a name is an eval or a `new Function` (graphql-jit compiles its queries so).
  return `${functionName || '(anonymous)'} ${url ? owner(url) : '(eval)'}:${line}:${column}`;
}

/**
 * A copy of a string cut from a line: V8 keeps such a string as a slice of the whole chunk readline read, so
 * each one kept would hold on to 64 kB of the log.
 */
function detached(text: string): string {
  return structuredClone(text);
}

/** The index of the first code starting after `address`, in codes sorted by start. */
function firstAfter(codes: Code[], address: number): number {
  let low = 0;
  let high = codes.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (codes[middle]!.start <= address) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Reads one log in order and charges each map event to the code holding its pc at that moment. V8 puts new
 * code only where old code has died, so a new code object replaces every one it overlaps and the table stays
 * a sorted list of disjoint ranges. Returns each event's time and the id of its key in `keys`, the last time,
 * and the count of lines too garbled to read (isolates that share a log can interleave their writes).
 */
async function mapEvents(
  file: string,
  keys: Map<string, number>,
): Promise<{ times: number[]; keyIds: number[]; last: number; garbled: number }> {
  const codes: Code[] = [];
  const times: number[] = [];
  const keyIds: number[] = [];
  let last = 0;
  let garbled = 0;
  // V8 writes printable ASCII only (anything else escaped), so latin1 reads it exactly, and faster than utf8.
  const lines = createInterface({ input: createReadStream(file, 'latin1'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.startsWith('code-creation,')) {
      // code-creation,<type>,<kind>,<time>,<start>,<size>,<name>[,<shared function info>,<tier>]: V8 writes a
      // comma inside a name as \x2C, so the name is the one field.
      const fields = line.split(',');
      const start = Number.parseInt(fields[4] ?? '', 16);
      const size = Number(fields[5]);
      if (!Number.isFinite(start) || !(size > 0)) {
        garbled++;
        continue;
      }
      const code = { start, end: start + size, name: detached(codeName(fields[6] ?? '')) };
      let from = firstAfter(codes, start);
      let to = from;
      if (from > 0 && codes[from - 1]!.end > start) from--;
      while (to < codes.length && codes[to]!.start < code.end) to++;
      codes.splice(from, to - from, code);
    } else if (line.startsWith('map,')) {
      // map,<event>,<time µs>,<from map>,<to map>,<pc>,<line>,<column>,<reason>,<property>
      const [, event, time, , , pcHex, sourceLine, column, reason, property] = line.split(',');
      const micros = Number(time);
      const pc = Number.parseInt(pcHex ?? '', 16);
      if (!Number.isInteger(micros) || !Number.isFinite(pc) || property === undefined) {
        garbled++;
        continue;
      }
      const index = firstAfter(codes, pc) - 1;
      const code = index >= 0 && pc < codes[index]!.end ? codes[index]!.name : pc === 0 ? '(no JavaScript frame)' : '(code not in the log)';
      const name = property.replaceAll('\\x2C', ',');
      const key = `${event}${reason ? ` ${reason}` : ''}${name ? ` .${name}` : ''}  ${code}  at ${sourceLine}:${column}`;
      if (!keys.has(key)) keys.set(detached(key), keys.size);
      last = Math.max(last, micros);
      times.push(micros);
      keyIds.push(keys.get(key)!);
    }
  }
  return { times, keyIds, last, garbled };
}

async function maps(paths: string[], top: number, after: number): Promise<void> {
  const keys = new Map<string, number>();
  const counts: number[] = [];
  let total = 0;
  let kept = 0;
  let garbledLines = 0;
  for (const file of paths) {
    const { times, keyIds, last, garbled } = await mapEvents(file, keys);
    const from = last * after;
    times.forEach((micros, index) => {
      if (micros < from) return;
      kept++;
      counts[keyIds[index]!] = (counts[keyIds[index]!] ?? 0) + 1;
    });
    total += times.length;
    garbledLines += garbled;
  }
  console.log(`map events after ${after * 100} % of each log's time: ${kept} of ${total}`);
  if (garbledLines > 0) console.log(`(${garbledLines} garbled lines left out: do several isolates share the log?)`);
  const byKey = new Map([...keys].filter(([, id]) => counts[id]).map(([key, id]) => [key, counts[id]!]));
  show('map events by event, property, code and position', byKey, kept, top, String);
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
  const mapsIndex = argv.indexOf('--maps');
  if (mapsIndex >= 0) {
    argv.splice(mapsIndex, 1);
    const afterIndex = argv.indexOf('--after');
    return maps(argv, top, afterIndex >= 0 ? Number(argv.splice(afterIndex, 2)[1]) : 0.5);
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
