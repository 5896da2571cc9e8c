import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { isClusterUrl, parseClusterUrl, type ClusterTarget } from './redis-url.js';

/**
 * One Redis or a Redis Cluster (src/redis/redis-url.ts), behind the same commands. On a cluster, BullMQ needs every key of a queue in one hash slot: the queue prefix must be a
 * hash tag such as `{treue}` (src/config/env.ts refuses anything else).
 */
export type RedisClient = Redis | Cluster;

/**
 * A client for `url` with the options one server takes. On a cluster they are split between the
 * cluster (lazyConnect, enableOfflineQueue, retryStrategy → clusterRetryStrategy) and each node's
 * connection (timeouts, maxRetriesPerRequest — BullMQ reads it there).
 */
export function connectRedis(url: string, options: RedisOptions = {}): RedisClient {
  if (!isClusterUrl(url)) return new Redis(url, options);
  const target = parseClusterUrl(url);
  return new Cluster(target.nodes, clusterOptions(options, target));
}

/** A second connection to the same Redis or cluster (a subscriber, BullMQ's blocking connection). */
export function duplicateRedis(client: RedisClient, options: RedisOptions = {}): RedisClient {
  if (!(client instanceof Cluster)) return client.duplicate(options);
  const base = client.options;
  return client.duplicate([], clusterOptions({ ...base.redisOptions, ...options }, undefined, base));
}

function clusterOptions(options: RedisOptions, target: ClusterTarget | undefined, base: ClusterOptions = {}): ClusterOptions {
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...node } = options;
  return {
    ...base,
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
    redisOptions: {
      ...node,
      ...(target?.username ? { username: target.username } : {}),
      ...(target?.password ? { password: target.password } : {}),
      ...(target?.tls ? { tls: {} } : {}),
    },
  };
}

/** Runs `command` on every primary of a cluster, or on the one server. */
export async function onEveryPrimary<T>(client: RedisClient, command: (node: Redis) => Promise<T>): Promise<T[]> {
  if (client instanceof Cluster) return Promise.all(client.nodes('master').map(command));
  return [await command(client)];
}
