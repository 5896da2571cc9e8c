import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './processes.js';
import { until } from './until.js';

const run = promisify(execFile);

export interface RedisClusterHandle {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`, as REDIS_URL takes it. */
  url: string;
  ports: number[];
  stop(): Promise<void>;
}

/**
 * A private Redis Cluster of `size` primaries (no replicas) from the `redis-server` on the PATH, on
 * free ports, in a temporary directory, without persistence: `redis-cli --cluster create` assigns
 * the 16 384 slots. About a second to start; `stop` ends the servers and removes the directory.
 */
export async function startRedisCluster(size = 3): Promise<RedisClusterHandle> {
  const dir = await mkdtemp(path.join(tmpdir(), 'treue-redis-cluster-'));
  // Client and cluster-bus ports both from the free ones: the default bus port (client + 10 000) may be taken or out of range.
  const ports = await freePorts(size * 2);
  const clientPorts = ports.slice(0, size);
  const servers: ChildProcess[] = clientPorts.map((port, i) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(ports[size + i]),
        '--cluster-config-file',
        `nodes-${port}.conf`,
        // Long: on a crowded machine a starved node must not be marked failed (no replica would take over).
        '--cluster-node-timeout',
        '15000',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if (server.exitCode !== null || server.signalCode !== null) return resolve();
            server.once('exit', () => resolve());
            server.kill('SIGTERM');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const cli = (port: number, ...args: string[]) => run('redis-cli', ['-p', String(port), ...args]).then((out) => out.stdout);
    await Promise.all(clientPorts.map((port) => until(async () => (await cli(port, 'PING').catch(() => '')).includes('PONG'), 10_000)));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...clientPorts.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await Promise.all(
      clientPorts.map((port) =>
        until(async () => (await cli(port, 'CLUSTER', 'INFO').catch(() => '')).includes('cluster_state:ok'), 15_000),
      ),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis+cluster://${clientPorts.map((port) => `127.0.0.1:${port}`).join(',')}`, ports: clientPorts, stop };
}
