import { cp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

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
 */

const OUT = 'dist';

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
  logLevel: 'warning',
});
await cp('prisma/migrations', path.join(OUT, 'prisma', 'migrations'), { recursive: true });
console.log(`built ${OUT}/ in ${Date.now() - started} ms`);
