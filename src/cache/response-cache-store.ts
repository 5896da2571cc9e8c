import type { RedisClient } from '../redis/redis-client.js';
import type { Logger } from '../logger.js';

/**
 * Cached GraphQL answers of members, in Redis so that every API process shares them.
 *
 * Each member has one hash (`<prefix>:response-cache:member:<id>`) holding the member's version
 * (field `v`) and one field per cached answer (document and variables). An answer is stored with
 * the member version and the program version it was computed under, and served only while both
 * are still current, it is younger than the TTL, and the service's clock has not reached the instant it
 * is valid until, if it has one (an answer that changes with the clock alone: a listed voucher expires, or
 * qualifying points drop as their rolling window moves, and no event marks it). A change bumps the version
 * to a fresh number from one counter (never reused, even after the hash expired), so whatever was stored before
 * is never served again. A read that began before a change and stores its (old) answer after the
 * bump stores it under the old version, which no later read accepts: the store is conditional on
 * the version the read saw, so such an answer is not even written. A member's version is kept as long as an
 * answer of theirs could be served, then falls back to "0"; so that a read that saw "0" before a change cannot
 * store its answer once that version is "0" again, a store more than one TTL after its lookup (Redis's clock)
 * writes nothing.
 *
 * Every operation is one round trip (a script); a member change's invalidation also publishes the change to live
 * screens (`invalidateMembers`' `after`), so a change costs one command, not two. Redis being away makes every read
 * a miss and every store a no-op; the caller logs it.
 *
 * A bump Redis refused is not forgotten: the member's older answer may still be in Redis when it
 * comes back. From then on this process serves and stores nothing from the cache (every lookup
 * fails, as when Redis is away) and tries every RECOVERY_RETRY_MS to make every cached answer
 * stale (the program-wide bump); once that succeeded, it uses the cache again. Another process
 * that reached Redis meanwhile may serve such an older answer until then (docs/caching.md).
 */
export interface ResponseCacheStore {
  /** The answer stored for this member and key if still current at `now` (the service's clock); always the versions to store under. */
  lookup(memberId: string, key: string, now: Date): Promise<CacheLookup>;
  /**
   * Stores an answer computed under `versions`, to be served only before `validUntil` (the service's clock) when it
   * has one; a no-op when either version moved meanwhile.
   */
  store(memberId: string, key: string, versions: CacheVersions, body: string, validUntil?: Date): Promise<void>;
  /**
   * Makes every cached answer of these members stale (a committed change), then publishes `after`'s messages on its
   * channel in the same command: a listener that reads a member again on a message finds no answer from before.
   */
  invalidateMembers(memberIds: readonly string[], after?: Publication): Promise<void>;
  /** Makes every cached answer stale (program settings, tiers, rewards: what every member's answer may show). */
  invalidateAll(): Promise<void>;
}

/** Messages to publish once the members are stale (src/live/member-change-bus.ts `messagesFor`). */
export interface Publication {
  channel: string;
  messages: readonly string[];
}

export interface CacheVersions {
  member: string;
  program: string;
  /** When the lookup read them, in ms by Redis's clock: a store a TTL or more later writes nothing. */
  readAt: string;
}

export interface CacheLookup {
  versions: CacheVersions;
  body: string | undefined;
}

/** Cached answers per member beyond which the member's hash is emptied (a client sending ever new variables). */
const MAX_ANSWERS_PER_MEMBER = 32;

// An answer's entry: `<member version>/<valid until> <program version> <stored at> <body>`, times in ms since the
// epoch; valid until is empty when the answer has no such instant. It is the service's clock (the lookup brings its
// now), the stored at Redis's (TIME, for the TTL). The valid until rides on the member version so that a process
// of the release before, which compares that field with the member's version, takes the entry for a stale one
// rather than serving it; an entry of that release (`<member version> <program version> <stored at> <body>`) does
// not match here and is a miss, which the next store replaces.

// KEYS: member hash, program version. ARGV: field, ttl ms, now ms (the service's clock).
// Returns { member version, program version, Redis's now in ms, body or false }.
const LOOKUP = `
local v = redis.call('HGET', KEYS[1], 'v') or '0'
local p = redis.call('GET', KEYS[2]) or '0'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local read = tostring(now)
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return { v, p, read, false } end
local ev, valid, ep, at, body = string.match(entry, '^([^ /]*)/([0-9]*) ([^ ]*) ([^ ]*) (.*)$')
if ev ~= v or ep ~= p then return { v, p, read, false } end
if valid ~= '' and tonumber(ARGV[3]) >= tonumber(valid) then return { v, p, read, false } end
if now - tonumber(at) >= tonumber(ARGV[2]) then return { v, p, read, false } end
return { v, p, read, body }`;

// KEYS: member hash, program version. ARGV: field, member version, program version, body, ttl ms, max answers,
// valid until ms ('' for none), the lookup's Redis time in ms.
const STORE = `
local v = redis.call('HGET', KEYS[1], 'v') or '0'
local p = redis.call('GET', KEYS[2]) or '0'
if v ~= ARGV[2] or p ~= ARGV[3] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now - tonumber(ARGV[8]) >= tonumber(ARGV[5]) then return 0 end
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[6]) then
  redis.call('DEL', KEYS[1])
  if v ~= '0' then redis.call('HSET', KEYS[1], 'v', v) end
end
redis.call('HSET', KEYS[1], ARGV[1], v .. '/' .. ARGV[7] .. ' ' .. p .. ' ' .. now .. ' ' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

// KEYS: the counter, then one hash per member. ARGV: ttl ms, then (optional) a channel and the messages to publish on
// it. The messages go out after the bump: whoever reads the member again on one (an app refreshing its status screen
// on a live event) gets no answer cached before the change. The channel is no key: on a Redis Cluster the script runs
// on the prefix's node, and a classic PUBLISH from there reaches the subscribers of every node.
const INVALIDATE_MEMBERS = `
local n = redis.call('INCR', KEYS[1])
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('HSET', KEYS[i], 'v', n)
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
for i = 3, #ARGV do
  redis.call('PUBLISH', ARGV[2], ARGV[i])
end
return n`;

// KEYS: the counter, the program version.
const INVALIDATE_ALL = `
local n = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], n)
return n`;

type ScriptedRedis = RedisClient & {
  responseCacheLookup(
    member: string,
    program: string,
    field: string,
    ttlMs: number,
    nowMs: number,
  ): Promise<[string, string, string, string | null]>;
  responseCacheStore(
    member: string,
    program: string,
    field: string,
    memberVersion: string,
    programVersion: string,
    body: string,
    ttlMs: number,
    max: number,
    validUntilMs: number | '',
    readAtMs: string,
  ): Promise<number>;
  responseCacheInvalidateMembers(numberOfKeys: number, ...args: (string | number)[]): Promise<number>;
  responseCacheInvalidateAll(counter: string, program: string): Promise<number>;
};

/** Members changed in one invalidation at most (a batch of thousands goes in slices). */
const MEMBERS_PER_INVALIDATION = 500;

/** How often a process whose bump Redis refused tries to make every cached answer stale. */
export const RECOVERY_RETRY_MS = 1_000;

/** What a lookup fails with while a refused bump is not yet made good. */
export class CacheRecoveringError extends Error {
  constructor() {
    super('response cache not in use: a change could not be made stale while Redis was away, every answer is being made stale');
  }
}

export function createResponseCacheStore(deps: {
  /** A fail-fast connection (commands only). Keys live under `prefix` (a hash tag keeps them in one cluster slot). */
  redis: RedisClient;
  prefix: string;
  /** How long an answer may be served after it was computed. */
  ttlSeconds: number;
  logger: Logger;
}): ResponseCacheStore {
  const redis = deps.redis as ScriptedRedis;
  if (!('responseCacheLookup' in deps.redis)) {
    redis.defineCommand('responseCacheLookup', { numberOfKeys: 2, lua: LOOKUP });
    redis.defineCommand('responseCacheStore', { numberOfKeys: 2, lua: STORE });
    redis.defineCommand('responseCacheInvalidateMembers', { lua: INVALIDATE_MEMBERS });
    redis.defineCommand('responseCacheInvalidateAll', { numberOfKeys: 2, lua: INVALIDATE_ALL });
  }
  const ttlMs = deps.ttlSeconds * 1000;
  const base = `${deps.prefix}:response-cache`;
  const memberKey = (memberId: string) => `${base}:member:${memberId}`;
  const programKey = `${base}:program`;
  const counterKey = `${base}:counter`;
  const invalidateAll = async () => {
    await redis.responseCacheInvalidateAll(counterKey, programKey);
  };

  // Set from a refused bump until every answer has been made stale after the last refused one.
  let recovering: Promise<void> | undefined;
  let refused = 0;
  const recover = async () => {
    for (;;) {
      // The connection was closed on purpose (shutdown): nobody reads through this process any more.
      if (redis.status === 'end') return;
      const covered = refused;
      try {
        await invalidateAll();
        // A bump refused while this one was on its way may be of a change made after it: once more.
        if (refused !== covered) continue;
        deps.logger.info('every cached answer made stale after a change Redis had refused: the response cache is in use again');
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RECOVERY_RETRY_MS).unref());
      }
    }
  };
  /** Runs a bump; when Redis refuses it, the cache is out of use here until every answer is stale. */
  const bumping = async (bump: () => Promise<void>) => {
    try {
      await bump();
    } catch (error) {
      refused += 1;
      recovering ??= recover().finally(() => (recovering = undefined));
      throw error;
    }
  };

  return {
    lookup: async (memberId, key, now) => {
      if (recovering) throw new CacheRecoveringError();
      const [member, program, readAt, body] = await redis.responseCacheLookup(memberKey(memberId), programKey, key, ttlMs, now.getTime());
      return { versions: { member, program, readAt }, body: body ?? undefined };
    },
    store: async (memberId, key, versions, body, validUntil) => {
      if (recovering) return;
      await redis.responseCacheStore(
        memberKey(memberId),
        programKey,
        key,
        versions.member,
        versions.program,
        body,
        ttlMs,
        MAX_ANSWERS_PER_MEMBER,
        validUntil ? validUntil.getTime() : '',
        versions.readAt,
      );
    },
    invalidateMembers: (memberIds, after) =>
      bumping(async () => {
        const unique = [...new Set(memberIds)];
        for (let start = 0; start < unique.length; start += MEMBERS_PER_INVALIDATION) {
          const keys = unique.slice(start, start + MEMBERS_PER_INVALIDATION).map(memberKey);
          // The messages ride on the last slice: every member is stale before any of them goes out.
          const last = start + MEMBERS_PER_INVALIDATION >= unique.length;
          const publish = last && after && after.messages.length > 0 ? [after.channel, ...after.messages] : [];
          // The member's hash outlives any answer stored in it, so a version is not forgotten while answers could be served.
          await redis.responseCacheInvalidateMembers(keys.length + 1, counterKey, ...keys, ttlMs * 2, ...publish);
        }
      }),
    invalidateAll: () => bumping(invalidateAll),
  };
}
