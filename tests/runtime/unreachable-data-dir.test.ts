// No useTestApp(): the embedded PostgreSQL of a clone in an unreachable directory; not the suite's database.
import { spawnSync } from 'node:child_process';
import { cp, chmod, lstat, mkdir, mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { placeCluster, startEmbeddedPostgres, type Account, type Binaries } from '../../src/runtime/embedded-postgres.js';
import { freePort } from '../support/processes.js';

// As root, PostgreSQL runs as the 'postgres' user, which cannot enter root's home (mode 700),
// where a clone of the project usually lives. Here: a root-owned 0700 directory standing in
// for /root, a clone inside it, and a traversable relocation root standing in for /var/lib/treue.

const logger = createLogger('silent');
const isRoot = process.getuid?.() === 0;
let scratch: string;
let lockedHome: string;
let relocationRoot: string;
let postgresUser: Account | undefined;

function idOf(flag: '-u' | '-g'): number {
  return Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'treue-unreachable-'));
  await chmod(scratch, 0o755);
  lockedHome = path.join(scratch, 'root-home');
  await mkdir(lockedHome, { mode: 0o700 });
  await chmod(lockedHome, 0o700);
  relocationRoot = path.join(scratch, 'var-lib-treue');
  if (isRoot) postgresUser = { uid: idOf('-u'), gid: idOf('-g') };
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function packagedBinaries(): Promise<Binaries> {
  const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string; initdb: string };
  return { packageDir: path.resolve(path.dirname(mod.postgres), '..', '..'), postgres: mod.postgres, initdb: mod.initdb };
}

describe('embedded PostgreSQL in a directory the postgres user cannot enter', () => {
  it(
    'keeps the cluster in the relocation root, linked from the data directory, and keeps its data across a restart',
    { timeout: 120_000 },
    async () => {
      const dataDir = path.join(lockedHome, 'treue', '.data');
      const port = await freePort();
      const first = await startEmbeddedPostgres({ dataDir, port, logger, relocationRoot });
      try {
        const client = new pg.Client({ connectionString: first.databaseUrl });
        await client.connect();
        await client.query("create table survivor (note text); insert into survivor values ('relocated')");
        await client.end();
      } finally {
        await first.stop();
      }

      const link = path.join(dataDir, 'postgres');
      if (isRoot) {
        expect((await lstat(link)).isSymbolicLink()).toBe(true);
        const target = await readlink(link);
        expect(path.dirname(path.dirname(target))).toBe(relocationRoot);
        expect((await stat(target)).uid).toBe(postgresUser!.uid);
        expect((await stat(lockedHome)).mode & 0o777).toBe(0o700); // nothing was opened up
      } else {
        expect((await lstat(link)).isDirectory()).toBe(true); // runs as ourselves: nothing to move
      }

      const second = await startEmbeddedPostgres({ dataDir, port, logger, relocationRoot });
      try {
        const client = new pg.Client({ connectionString: second.databaseUrl });
        await client.connect();
        expect((await client.query('select note from survivor')).rows).toEqual([{ note: 'relocated' }]);
        await client.end();
      } finally {
        await second.stop();
      }
    },
  );

  it(
    'copies binaries the postgres user cannot reach to the relocation root, once, and they run as that user',
    { timeout: 60_000 },
    async () => {
      const packaged = await packagedBinaries();
      // A clone whose node_modules lies inside the locked home.
      const clonePackage = path.join(lockedHome, 'clone', 'node_modules', 'pg-binaries');
      await cp(path.join(packaged.packageDir, 'native'), path.join(clonePackage, 'native'), { recursive: true, verbatimSymlinks: true });
      const binaries: Binaries = {
        packageDir: clonePackage,
        postgres: path.join(clonePackage, 'native', 'bin', 'postgres'),
        initdb: path.join(clonePackage, 'native', 'bin', 'initdb'),
      };
      const dataDir = path.join(lockedHome, 'clone', '.data');
      await mkdir(dataDir, { recursive: true });

      const placement = await placeCluster({ dataDir, binaries, account: postgresUser, relocationRoot, logger });
      if (!isRoot) {
        expect(placement.binaries).toEqual(binaries);
        return;
      }
      expect(placement.relocatedTo).toBeDefined();
      expect(placement.binaries.postgres.startsWith(`${relocationRoot}${path.sep}`)).toBe(true);
      const version = spawnSync(placement.binaries.postgres, ['--version'], {
        uid: postgresUser!.uid,
        gid: postgresUser!.gid,
        encoding: 'utf8',
      });
      expect(version.status).toBe(0);
      expect(version.stdout).toMatch(/^postgres \(PostgreSQL\) \d+/);
      // The packaged binary itself is out of that user's reach: the copy is what makes it work.
      expect(spawnSync(binaries.postgres, ['--version'], { uid: postgresUser!.uid, gid: postgresUser!.gid }).status).not.toBe(0);

      const copiedAt = (await stat(placement.binaries.postgres)).mtimeMs;
      const again = await placeCluster({ dataDir, binaries, account: postgresUser, relocationRoot, logger });
      expect(again.binaries).toEqual(placement.binaries);
      expect((await stat(again.binaries.postgres)).mtimeMs).toBe(copiedAt); // not copied again
    },
  );

  it('leaves an existing cluster it cannot reach in place and says how to move it', async () => {
    const dataDir = path.join(lockedHome, 'old-clone', '.data');
    await mkdir(path.join(dataDir, 'postgres'), { recursive: true });
    const attempt = placeCluster({ dataDir, binaries: await packagedBinaries(), account: postgresUser, relocationRoot, logger });
    if (!isRoot) {
      await expect(attempt).resolves.toMatchObject({ clusterDir: path.join(dataDir, 'postgres') });
      return;
    }
    await expect(attempt).rejects.toThrow(
      /cannot enter .*root-home.*mv .*\.data\/postgres .*var-lib-treue\/[0-9a-f]{16}\/postgres && chown -R postgres: .* && ln -s /,
    );
    expect((await lstat(path.join(dataDir, 'postgres'))).isDirectory()).toBe(true);
  });
});
