// No useTestApp(): `npm start` as a child process, with its own embedded PostgreSQL and Redis.
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startEmbeddedPostgres } from '../../src/runtime/embedded-postgres.js';
import { startEmbeddedRedis } from '../../src/runtime/embedded-redis.js';
import { readPid } from '../../src/runtime/orphans.js';
import { freePort, freePorts, isAlive, isListening, killServiceProcesses, startServiceProcess } from '../support/processes.js';
import { until } from '../support/until.js';

// `npm start` (src/main.ts) with the embedded PostgreSQL and Redis, killed with SIGKILL as
// the OOM killer would: both servers outlive it. The next start must recover by itself.

let dataDir: string;
const leftovers: string[] = []; // pid files of servers this file started

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'treue-restart-'));
  await chmod(dataDir, 0o755);
});
afterEach(() => killServiceProcesses());
afterAll(async () => {
  for (const file of leftovers) {
    const pid = await readPid(file);
    if (pid !== undefined && (await isAlive(pid))) process.kill(pid, 'SIGKILL');
  }
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start after a SIGKILL', () => {
  it(
    'stops the embedded PostgreSQL and Redis the killed service left behind and comes up on the same data',
    { timeout: 180_000 },
    async () => {
      const data = path.join(dataDir, 'service');
      const [pgPort, redisPort, apiPort] = (await freePorts(3)) as [number, number, number];
      leftovers.push(path.join(data, 'postgres', 'postmaster.pid'), path.join(data, 'redis', 'redis-server.pid'));
      const env = {
        NODE_ENV: 'development',
        DATA_DIR: data,
        EMBEDDED_POSTGRES_PORT: String(pgPort),
        EMBEDDED_REDIS_PORT: String(redisPort),
        PORT: String(apiPort),
        HOST: '127.0.0.1',
        WEB_CONCURRENCY: '1',
        LOG_LEVEL: 'info',
      };

      const first = startServiceProcess('src/main.ts', env);
      await first.waitForLine(/Treue ready/, 120_000);
      const password = (await readFile(path.join(data, 'postgres.password'), 'utf8')).trim();
      const databaseUrl = `postgresql://postgres:${password}@127.0.0.1:${pgPort}/treue`;
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      await db.query("insert into members (external_id, email, name) values ('kept-across-kill', 'kept@example.com', 'Kept')");
      await db.end();
      const redis = new Redis(`redis://127.0.0.1:${redisPort}`);
      await redis.set('treue:kept-across-kill', 'yes');
      redis.disconnect();

      first.kill('SIGKILL');
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
      // The failure mode itself: both servers are still running, their service is gone.
      const orphanPostgres = await readPid(path.join(data, 'postgres', 'postmaster.pid'));
      const orphanRedis = await readPid(path.join(data, 'redis', 'redis-server.pid'));
      expect(orphanPostgres !== undefined && (await isAlive(orphanPostgres))).toBe(true);
      expect(orphanRedis !== undefined && (await isAlive(orphanRedis))).toBe(true);
      expect(await isListening(pgPort)).toBe(true);

      const second = startServiceProcess('src/main.ts', env);
      await second.waitForLine(/Treue ready/, 120_000);
      expect(second.output()).toMatch(/embedded PostgreSQL of an earlier run is still running without its service/);
      expect(second.output()).toMatch(/embedded Redis of an earlier run is still running without its service/);
      expect(await isAlive(orphanPostgres!)).toBe(false);
      expect(await isAlive(orphanRedis!)).toBe(false);

      const again = new pg.Client({ connectionString: databaseUrl });
      await again.connect();
      const { rows } = await again.query("select name from members where external_id = 'kept-across-kill'");
      await again.end();
      expect(rows).toEqual([{ name: 'Kept' }]);
      const redisAgain = new Redis(`redis://127.0.0.1:${redisPort}`);
      expect(await redisAgain.get('treue:kept-across-kill')).toBe('yes');
      redisAgain.disconnect();
      // Ready in the end: on a loaded machine the first check can exceed READINESS_TIMEOUT_MS (the first query of a
      // fresh process), as an orchestrator's first probe can; it asks again.
      const readiness = async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status;
      const ready = await until(async () => ((await readiness()) === 200 ? 200 : null), 15_000, 250, '/readyz answering 200').catch(
        readiness,
      );
      expect(ready).toBe(200);

      second.kill('SIGTERM');
      expect(await second.exited).toEqual({ code: 0, signal: null });
      expect(await isListening(pgPort)).toBe(false);
      expect(await isListening(redisPort)).toBe(false);
    },
  );
});

describe('embedded servers of a running service', () => {
  const logger = createLogger('silent');

  it('are not stopped by a second start on the same data directory, which is refused', { timeout: 90_000 }, async () => {
    const data = path.join(dataDir, 'shared');
    const port = await freePort();
    const running = await startEmbeddedPostgres({ dataDir: data, port, logger });
    const redisPort = await freePort();
    const runningRedis = await startEmbeddedRedis({ dataDir: data, port: redisPort, logger });
    try {
      await expect(startEmbeddedPostgres({ dataDir: data, port: await freePort(), logger })).rejects.toThrow(
        /in use by a running service \(pid \d+; its PostgreSQL is pid \d+\)/,
      );
      await expect(startEmbeddedRedis({ dataDir: data, port: await freePort(), logger })).rejects.toThrow(/in use by a running service/);
      const client = new pg.Client({ connectionString: running.databaseUrl });
      await client.connect();
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await client.end();
      const redis = new Redis(runningRedis.redisUrl);
      expect(await redis.ping()).toBe('PONG');
      redis.disconnect();
    } finally {
      await running.stop();
      await runningRedis.stop();
    }
  });
});
