import { randomUUID } from 'node:crypto';
import { Cluster, Command } from 'ioredis';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis/redis-client.js';

/** The client with the places' scripts defined on it (EVALSHA, the script sent once per connection), as the response cache does. */
type ScriptedRedis = RedisClient & {
  streamPlaceTake(key: string, max: number, leaseMs: number, place: string): Promise<number>;
};
type ScriptedPipeline = { streamPlacesRenew(key: string, leaseMs: number, ...places: string[]): unknown };

/** The kinds of live stream; each has its own places per caller. */
export type LiveStreamKind = 'memberStatus' | 'approvalQueue';

/**
 * The places of open live streams, per caller (`member:…`, `staff:…`, `apiKey:…`) and kind of stream, shared by
 * every API process through Redis: a caller holds LIVE_MAX_STREAMS_PER_CALLER streams of a kind in all, whichever
 * processes the load balancer sends them to.
 *
 * One sorted set per caller and kind, `<prefix>:live-streams:<kind>:<caller>` (the prefix without its braces: on a
 * cluster the callers spread over the nodes, and each caller's places are one key, so one slot). A member is one
 * stream's place, its score the end of its lease by Redis's clock: the process holding it renews it every third of
 * the lease and removes it when the stream ends. A process that dies without ending its streams renews nothing, and
 * their places are free once their leases ran out. A count removes the expired places first, in the same script.
 *
 * The rate limiter's stance when Redis does not answer (src/http/rate-limit.ts): each process falls back to its own
 * count, with the same limit, so the limit still holds per process and no stream is refused because Redis is away.
 * A place taken so is written to Redis by the next renewal once Redis answers again (as are places lost with a
 * Redis emptied or restarted): for a while the caller may hold more than the limit in all, and gets no more until
 * enough of them end. Without Redis (some tests, a single process) the process's own count is the count.
 */
export interface StreamPlaces {
  /** The release of a place taken for a stream of `kind` (freeing it, once), or undefined when the caller holds all. */
  take(kind: LiveStreamKind, watcher: string): Promise<(() => void) | undefined>;
  /** Resolves once places are counted in Redis (at once without Redis); until then each process counts its own. */
  ready: Promise<void>;
  /** Stops renewing leases: places still held expire with them (the process stops). */
  close(): void;
}

/** The lease's end by Redis's clock, in ms since the epoch; a script may call TIME before writing (effects replication). */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] the caller's places; ARGV: the limit, the lease (ms), the new place. 1: taken, 0: the caller holds all. */
const TAKE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** KEYS[1] the caller's places; ARGV: the lease (ms), then the places this process holds (written again when gone). */
const RENEW = `${NOW}
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

export function createStreamPlaces(deps: {
  logger: Logger;
  /** Commands only: a fail-fast connection (no offline queue, a short command timeout). */
  redis?: { client: RedisClient; prefix: string };
  maxPerWatcher: number;
  /** How long a place lasts unless renewed (LIVE_STREAM_LEASE_MS). */
  leaseMs: number;
  /** Counts each stream refused, by kind (a bounded label: never the caller). */
  refused?: (kind: LiveStreamKind) => void;
}): StreamPlaces {
  const { logger, maxPerWatcher: max, leaseMs } = deps;
  const refuse = (kind: LiveStreamKind) => {
    deps.refused?.(kind);
    return undefined;
  };
  // This process's places by `<kind>:<watcher>`: those taken (renewed) and those being taken (counted, not renewed:
  // a renewal must not write a place that Redis may be refusing right now).
  const held = new Map<string, Set<string>>();
  const taking = new Map<string, number>();
  const heldBy = (subject: string) => held.get(subject)?.size ?? 0;
  const forget = (subject: string, place: string) => {
    const places = held.get(subject);
    places?.delete(place);
    if (places?.size === 0) held.delete(subject);
  };
  const stopTaking = (subject: string) => {
    const left = (taking.get(subject) ?? 1) - 1;
    if (left > 0) taking.set(subject, left);
    else taking.delete(subject);
  };

  const redis = deps.redis;
  if (redis && !('streamPlaceTake' in redis.client)) {
    redis.client.defineCommand('streamPlaceTake', { numberOfKeys: 1, lua: TAKE });
    redis.client.defineCommand('streamPlacesRenew', { numberOfKeys: 1, lua: RENEW });
  }
  const keyOf = (subject: string) => `${redis!.prefix.replace(/[{}]/g, '')}:live-streams:${subject}`;
  let away = false;
  const answered = () => {
    if (!away) return;
    away = false;
    logger.info('live stream limits are counted across API processes again');
  };
  const unanswered = (error: unknown) => {
    if (away) return;
    away = true;
    logger.warn({ err: error }, 'live stream limits counted per API process until Redis answers again');
  };

  // Every caller's renewal in one pipeline per tick (one round trip, not one per caller). A cluster's pipeline must
  // address one node's slots (ioredis refuses it otherwise, it does not split it): one pipeline per node there, by the
  // slot map ioredis holds. A renewal that fails (Redis away, a slot moved since) is tried again at the next tick.
  const renew = () => {
    if (!redis || held.size === 0) return;
    const { client } = redis;
    const batches = new Map<string, [key: string, places: string[]][]>();
    for (const [subject, places] of held) {
      const key = keyOf(subject);
      const node = client instanceof Cluster ? (client.slots[new Command('zadd', [key]).getSlot()] ?? []).join(';') : '';
      const batch = batches.get(node) ?? [];
      batch.push([key, [...places]]);
      batches.set(node, batch);
    }
    const failed = (error: unknown) => logger.debug({ err: error }, 'could not renew the leases of live stream places');
    for (const batch of batches.values()) {
      const pipeline = client.pipeline();
      for (const [key, places] of batch) (pipeline as unknown as ScriptedPipeline).streamPlacesRenew(key, leaseMs, ...places);
      pipeline.exec().then((results) => {
        const errors = (results ?? []).flatMap(([error]) => (error ? [error] : []));
        if (errors.length < batch.length) answered();
        if (errors.length > 0) failed(errors[0]);
      }, failed);
    }
  };
  const renewal = redis ? setInterval(renew, Math.max(1, Math.floor(leaseMs / 3))) : undefined;
  renewal?.unref();

  const ready = redis
    ? new Promise<void>((resolve) => {
        if (redis.client.status === 'ready') resolve();
        else redis.client.once('ready', () => resolve());
      })
    : Promise.resolve();

  return {
    async take(kind, watcher) {
      const subject = `${kind}:${watcher}`;
      if (heldBy(subject) + (taking.get(subject) ?? 0) >= max) return refuse(kind);
      const place = randomUUID();
      taking.set(subject, (taking.get(subject) ?? 0) + 1);
      let taken = true;
      if (redis) {
        try {
          taken = (await (redis.client as ScriptedRedis).streamPlaceTake(keyOf(subject), max, leaseMs, place)) === 1;
          answered();
        } catch (error) {
          // Counted here alone: this process's count above allowed it.
          unanswered(error);
        }
      }
      stopTaking(subject);
      if (!taken) return refuse(kind);
      const places = held.get(subject) ?? new Set<string>();
      places.add(place);
      held.set(subject, places);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        forget(subject, place);
        // Not removed (Redis away): the place is free when its lease runs out.
        redis?.client.zrem(keyOf(subject), place).catch((error: unknown) => {
          logger.debug({ err: error }, 'could not release a live stream place: it is freed when its lease runs out');
        });
      };
    },
    ready,
    close() {
      clearInterval(renewal);
    },
  };
}
