import { execFileSync } from 'node:child_process';
import { cp, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { build as buildConsole, type Manifest } from 'vite';

/**
 * `npm run build` (run before `npm start` and `npm run workers`): compiles
 * src/ and workers/ to plain JavaScript in dist/, so production runs without
 * a TypeScript loader (tsx keeps its module hooks in a second V8 isolate:
 * ~40 MB in every process, each API process included).
 *
 * File by file, as tsx and vitest run them, not bundled: dist/ mirrors the
 * repository (dist/src, dist/workers, dist/prisma/migrations), so module
 * paths relative to `import.meta.url` (the API processes' entry in
 * src/cluster.ts, the migrations in src/db/migrate.ts) hold unchanged, and
 * packages stay imports resolved from node_modules. Source maps let
 * `--enable-source-maps` print stack traces in TypeScript terms. esbuild only
 * strips types; `npm run check` checks them.
 *
 * Then the agent console (console/, docs/console.md): its typed GraphQL documents are generated from
 * schema.graphql and Vite builds it into dist/console, which the service serves at /console. The build
 * fails when the first page's JavaScript (the entry and what it imports statically; the dashboard's
 * charts load later) is above FIRST_PAGE_BUDGET_BYTES gzipped.
 */

/** `--out DIR` builds elsewhere inside the repository (a test that must not race another test's build of dist/). */
const outFlag = process.argv.indexOf('--out');
const OUT = outFlag === -1 ? 'dist' : process.argv[outFlag + 1]!;
/** `--server-only` leaves the console out (the fault scripts: a build in seconds; the API then serves no /console). */
const SERVER_ONLY = process.argv.includes('--server-only');
const FIRST_PAGE_BUDGET_BYTES = 250 * 1024;

async function typescriptFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await typescriptFiles(file)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(file);
  }
  return files;
}

const started = Date.now();
await rm(OUT, { recursive: true, force: true });
await build({
  entryPoints: [...(await typescriptFiles('src')), ...(await typescriptFiles('workers'))],
  outdir: OUT,
  outbase: '.',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // Stack traces need only the mappings; the TypeScript sources inside the maps were ~2 MB of every process's heap.
  sourcesContent: false,
  logLevel: 'warning',
});
await cp('prisma/migrations', path.join(OUT, 'prisma', 'migrations'), { recursive: true });
if (SERVER_ONLY) {
  console.log(`built ${OUT}/ in ${Date.now() - started} ms (server only, no console)`);
  process.exit(0);
}
execFileSync('npx', ['graphql-codegen', '--config', 'console/codegen.ts'], { stdio: 'inherit' });
// React's production build whatever NODE_ENV the caller has (a test runner sets `test`, and Vite follows it).
process.env.NODE_ENV = 'production';
await buildConsole({ configFile: 'console/vite.config.ts', logLevel: 'warn', build: { outDir: path.resolve(OUT, 'console') } });
const firstPage = await firstPageGzippedBytes(path.join(OUT, 'console'));
if (firstPage > FIRST_PAGE_BUDGET_BYTES) {
  throw new Error(
    `console: first page ${(firstPage / 1024).toFixed(1)} KB gzipped, above the budget of ${FIRST_PAGE_BUDGET_BYTES / 1024} KB`,
  );
}
console.log(`built ${OUT}/ in ${Date.now() - started} ms (console first page: ${(firstPage / 1024).toFixed(1)} KB gzipped)`);

/** Gzipped bytes of the JavaScript and CSS the console's index.html loads before anything lazy. */
async function firstPageGzippedBytes(dir: string): Promise<number> {
  const manifest = JSON.parse(await readFile(path.join(dir, '.vite', 'manifest.json'), 'utf8')) as Manifest;
  const seen = new Set<string>();
  const visit = (key: string) => {
    const chunk = manifest[key];
    if (!chunk || seen.has(chunk.file)) return;
    seen.add(chunk.file);
    for (const css of chunk.css ?? []) seen.add(css);
    for (const imported of chunk.imports ?? []) visit(imported);
  };
  visit('index.html');
  let total = 0;
  for (const file of seen) total += gzipSync(await readFile(path.join(dir, file)), { level: 9 }).length;
  return total;
}
