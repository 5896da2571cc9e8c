import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { getOperationAST, GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RedisClient } from '../redis/redis-client.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Principal } from '../auth/principal.js';
import type { RateBudget, RateLimits } from '../config/env.js';
import { RateLimitedError } from '../domain/errors.js';
import type { GraphQLContext } from '../graphql/context.js';
import type { Logger } from '../logger.js';

/**
 * Root fields that look a voucher up by its code: the fields a code-guesser would hammer (a NotFoundError or
 * not tells whether a code exists). tests/auth/rate-limit.test.ts checks it against every root field of the
 * schema that takes a code.
 */
export const VOUCHER_LOOKUP_FIELDS: ReadonlySet<string> = new Set(['voucher', 'validateVoucher', 'redeemVoucher', 'voidVoucher']);

/** What one operation costs: one point per occurrence of a root field, aliases and fragments included. */
export interface OperationCost {
  mutations: number;
  voucherLookups: number;
}

/**
 * Counts the root fields an operation would execute. Every occurrence counts, so
 * `a: validateVoucher(…) b: validateVoucher(…)` costs two, and fields reached through
 * fragment spreads and inline fragments count like the others. `@skip`/`@include`
 * are not evaluated: a field counts even when a directive would skip it (never less
 * than what runs). Subscriptions and unknown operations cost nothing here.
 */
export function operationCost(document: DocumentNode, operationName: string | null | undefined): OperationCost {
  const operation = getOperationAST(document, operationName);
  if (!operation || operation.operation === 'subscription') return { mutations: 0, voucherLookups: 0 };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const isMutation = operation.operation === 'mutation';
  // What one spread of each fragment costs, worked out once: however deep or often fragments spread one another,
  // every root field they reach is counted, as often as it occurs. Validation has refused fragment cycles; a
  // spread of a fragment still being worked out counts nothing.
  const fragmentCosts = new Map<string, OperationCost | null>();
  const costOf = (selections: SelectionSetNode): OperationCost => {
    const total: OperationCost = { mutations: 0, voucherLookups: 0 };
    for (const selection of selections.selections) {
      let part: OperationCost | null | undefined;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name.startsWith('__')) continue;
        part = { mutations: isMutation ? 1 : 0, voucherLookups: VOUCHER_LOOKUP_FIELDS.has(name) ? 1 : 0 };
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        part = costOf(selection.selectionSet);
      } else {
        const name = selection.name.value;
        part = fragmentCosts.get(name);
        const fragment = fragments.get(name);
        if (part === undefined && fragment) {
          fragmentCosts.set(name, null);
          part = costOf(fragment.selectionSet);
          fragmentCosts.set(name, part);
        }
      }
      if (!part) continue;
      total.mutations += part.mutations;
      total.voucherLookups += part.voucherLookups;
    }
    return total;
  };
  return costOf(operation.selectionSet);
}

/** Whose budget a request spends: an API key's, a member's, or (anyone else) its client address's. */
export interface RateSubject {
  kind: 'apiKey' | 'member' | 'address';
  id: string;
}

export function rateSubject(principal: Principal, address: string): RateSubject {
  if (principal.kind === 'apiKey') return { kind: 'apiKey', id: principal.apiKeyId };
  if (principal.kind === 'member') return { kind: 'member', id: principal.memberId };
  return { kind: 'address', id: address };
}

/**
 * The client's address: the socket's peer, or with `trustProxy` = n reverse proxies in
 * front of the API, the address n hops back in X-Forwarded-For (the last address our
 * own proxies did not add; what a client wrote into the header itself is ignored).
 * An entry with the client's port (`1.2.3.4:5678`, `[2001:db8::7]:443`) counts as its address. IPv4-mapped
 * IPv6 is read as IPv4; IPv6 addresses count per /64, the block one subscriber usually holds. The header is read from
 * the fetch `request` when there is one, else from the node request (a path outside yoga: the queue board).
 */
export function clientAddress(
  request: { headers: { get(name: string): string | null } } | undefined,
  req: (Pick<IncomingMessage, 'socket'> & Partial<Pick<IncomingMessage, 'headers'>>) | undefined,
  trustProxy: number,
): string {
  const peer = req?.socket?.remoteAddress ?? 'unknown';
  let address = peer;
  if (trustProxy > 0) {
    // A node request holds repeated headers as a list; a fetch request joins them with commas.
    const header = request ? request.headers.get('x-forwarded-for') : req?.headers?.['x-forwarded-for'];
    const forwarded = [header ?? '']
      .flat()
      .join(',')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    const chain = [...forwarded, peer];
    const candidate = withoutPort(chain[Math.max(0, chain.length - 1 - trustProxy)]!);
    if (candidate !== undefined) address = candidate;
  }
  return addressKey(address);
}

/**
 * The address of an X-Forwarded-For entry, also when the proxy wrote it with the client's port (some load balancers
 * do): `1.2.3.4:5678`, `[2001:db8::7]:443`, `[2001:db8::7]`. A bare IPv6 address is read whole (its last group is
 * never a port). Undefined when the entry is no address: the socket's peer counts then. Read as the proxy's own
 * address, every client behind it would share one budget (one client could spend everyone's).
 */
function withoutPort(entry: string): string | undefined {
  if (isIP(unmapped(entry))) return entry;
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(entry);
  if (!match || (match[3] !== undefined && Number(match[3]) > 65_535)) return undefined;
  const [, bracketed, plain] = match;
  if (bracketed !== undefined) return isIP(bracketed) === 6 ? bracketed : undefined;
  return match[3] !== undefined && isIP(plain!) === 4 ? plain : undefined;
}

function unmapped(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function addressKey(address: string): string {
  const plain = unmapped(address);
  if (isIP(plain) !== 6) return plain;
  const [head = '', tail] = plain.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.padStart(4, '0'))
    .join(':')}::/64`;
}

type Bucket = keyof RateBudget;
const BUCKETS: readonly Bucket[] = ['mutations', 'voucherLookups'];
const SUBJECT_KINDS: readonly RateSubject['kind'][] = ['apiKey', 'member', 'address'];

export interface RateLimiter {
  /** Spends `cost` from the subject's budgets; a `RateLimitedError` when any is exhausted. */
  consume(subject: RateSubject, cost: OperationCost): Promise<RateLimitedError | null>;
  /**
   * Counts one request from `address` whose credentials did not verify; a `RateLimitedError` once the address's
   * failed authentications exceed their budget within the window (RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS).
   */
  failedAuthentication(address: string): Promise<RateLimitedError | null>;
  /**
   * Whether `address` has used up its budget of failed authentications, read without spending it: a
   * `RateLimitedError` (its wait until the window ends) when the next failure would be refused, else null. Rejects
   * when Redis and the in-memory insurance both fail.
   */
  failedAuthenticationsSpent(address: string): Promise<RateLimitedError | null>;
}

/**
 * Why credentials that were sent do not verify, of those that are not counted against the address's budget of failed
 * authentications: a token signed by us or the identity provider that has expired or whose member is closed (an app
 * that has to refresh its token or sign in again, many of them behind one carrier NAT address), and the service's own
 * trouble (no JWT configuration, the JWKS out of reach). What is counted are credentials nobody issued.
 */
const UNCOUNTED_FAILURES: ReadonlySet<string> = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_MEMBER_CLOSED',
  'ERR_JWKS_FETCH',
  'ERR_JWT_NOT_CONFIGURED',
]);

/** Whether a failed authentication (its AuthenticationError's `reason`) counts against the address's budget. */
export const countsAsFailedAuthentication = (reason: string | undefined): boolean => !UNCOUNTED_FAILURES.has(reason ?? '');

/**
 * Budgets shared by every API process through Redis (rate-limiter-flexible, fixed
 * windows, keys `<prefix>:rate:<kind>:<bucket>:<id>`, the prefix without braces). When Redis does not answer
 * (down, or slower than the client's command timeout) each process falls back to an
 * in-memory limiter with the same budgets: limits still hold per process (N processes
 * allow at most N times the budget) and no request fails because Redis is away.
 * Without Redis at all (some tests) the in-memory limiters are the limiters.
 * An API key's budgets are taken from Redis in leases (`leasedBudget`): one command per lease, not per request.
 */
export function createRateLimiter(deps: { limits: RateLimits; redis?: RedisClient; prefix: string }): RateLimiter {
  // Without the prefix's hash tag: on a cluster the budgets spread over all nodes (each is one key).
  const keyPrefixOf = (name: string) => `${deps.prefix.replace(/[{}]/g, '')}:rate:${name}`;
  const limiterOf = (name: string, points: number): RateLimiterAbstract => {
    const duration = deps.limits.windowSeconds;
    const memory = new RateLimiterMemory({ points, duration });
    return deps.redis
      ? new RateLimiterRedis({
          storeClient: deps.redis,
          keyPrefix: keyPrefixOf(name),
          points,
          duration,
          rejectIfRedisNotReady: true,
          insuranceLimiter: memory,
        })
      : memory;
  };
  const limiters = new Map<string, Budget>();
  for (const kind of SUBJECT_KINDS) {
    for (const bucket of BUCKETS) {
      const points = deps.limits[kind][bucket];
      if (points <= 0) continue;
      const limiter = limiterOf(`${kind}:${bucket}`, points);
      const lease = kind === 'apiKey' ? leaseSize(points) : 1;
      limiters.set(
        `${kind}:${bucket}`,
        deps.redis && lease > 1
          ? leasedBudget({
              redis: deps.redis,
              keyOf: (id) => `${keyPrefixOf(`${kind}:${bucket}`)}:${id}`,
              points,
              windowSeconds: deps.limits.windowSeconds,
              lease,
              fallback: limiter,
            })
          : (id, cost) => limiter.consume(id, cost),
      );
    }
  }
  const failures = deps.limits.failedAuthentications;
  const failedAuthentications = failures > 0 ? limiterOf('address:failedAuthentications', failures) : undefined;

  return {
    consume: async (subject, cost) => {
      const spends = BUCKETS.filter((bucket) => cost[bucket] > 0).flatMap((bucket) => {
        const limiter = limiters.get(`${subject.kind}:${bucket}`);
        return limiter ? [limiter(subject.id, cost[bucket])] : [];
      });
      return refusalOf(await Promise.allSettled(spends));
    },
    failedAuthentication: async (address) =>
      failedAuthentications ? refusalOf(await Promise.allSettled([failedAuthentications.consume(address, 1)])) : null,
    failedAuthenticationsSpent: async (address) => {
      const spent = failedAuthentications ? await failedAuthentications.get(address) : null;
      return spent && spent.consumedPoints >= failures ? new RateLimitedError(Math.max(1, Math.ceil(spent.msBeforeNext / 1000))) : null;
    },
  };
}

/** Spends `cost` points of one subject's budget: resolves when granted, rejects with a `RateLimiterRes` when refused. */
type Budget = (id: string, cost: number) => Promise<unknown>;

/** At most this many points per lease: what one process can hold unspent at a window's end. */
const MAX_LEASE = 50;

/**
 * The points an API process takes from an API key's budget at once: half a percent of the budget, 1 to MAX_LEASE
 * (30 of the default 6 000 mutations a minute). 1 is no lease: every request spends from Redis, as a member's and an
 * address's do (their budgets are small, and an address's ids are anyone's to make up).
 */
export const leaseSize = (points: number): number => Math.max(1, Math.min(MAX_LEASE, Math.floor(points / 200)));

/**
 * Takes up to ARGV[1] (`want`) points of a fixed window's budget ARGV[3] in one step, on the counter
 * rate-limiter-flexible keeps (the same key, the same `SET NX EX` for a new window), but only when at least ARGV[2]
 * (`need`, what the request waiting for it lacks) are left: a request the rest cannot pay for takes nothing. Answers
 * {taken, the window's ms left, points left before}. Nothing is ever given back, so no step can land in another window.
 */
const TAKE_LEASE = `
redis.call('set', KEYS[1], 0, 'EX', ARGV[4], 'NX')
local left = tonumber(ARGV[3]) - tonumber(redis.call('get', KEYS[1]))
local taken = 0
if left >= tonumber(ARGV[2]) then
  taken = math.min(tonumber(ARGV[1]), left)
  redis.call('incrby', KEYS[1], taken)
end
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
  redis.call('expire', KEYS[1], ARGV[4])
  ttl = 1000 * tonumber(ARGV[4])
end
return {taken, ttl, left}
`;

type LeasingRedis = RedisClient & {
  rateLimitLease(key: string, want: number, need: number, points: number, seconds: number): Promise<[number, number, number]>;
};

/**
 * A budget spent from Redis in leases: a process takes `lease` points with one command (TAKE_LEASE: fewer when fewer
 * are left) and grants the next requests from them until they are used up or the window ends; a storefront's earns
 * then cost one Redis command per `lease` requests instead of one each. Redis counts a lease before any point of it
 * is granted and never gives points back, so processes sharing a key never grant more than its budget in a window.
 * The window's end is read from Redis's own clock (the key's TTL, measured from before the command was sent), so a
 * process stops using a window's points no later than Redis starts the next. The price: points a process leased and
 * did not use by the window's end are lost, so with P processes a key may be refused up to P × (lease − 1) points
 * early, never late. Once a window has nothing left, the process refuses the key without asking Redis until the
 * window ends (a key hammering past its budget costs Redis nothing; an operator who deletes the key lifts the
 * refusal at that window's end). Requests of one key in one process wait for its one lease command in flight; the
 * next lease is as large as what they wait for. When Redis does not answer, a request spends from `fallback` (its
 * Redis limiter with the in-memory insurance) as every request did before leases.
 */
export function leasedBudget(deps: {
  redis: RedisClient;
  /** The key of a subject's counter: rate-limiter-flexible's own (`<keyPrefix>:<id>`). */
  keyOf: (id: string) => string;
  points: number;
  windowSeconds: number;
  lease: number;
  fallback: RateLimiterAbstract;
  /** A monotonic clock, ms. */
  now?: () => number;
}): Budget {
  const { points, lease, fallback } = deps;
  const now = deps.now ?? (() => performance.now());
  const redis = deps.redis as LeasingRedis;
  if (!('rateLimitLease' in deps.redis)) redis.defineCommand('rateLimitLease', { numberOfKeys: 1, lua: TAKE_LEASE });
  interface Held {
    left: number;
    /** When the window the points were leased in ends, on `now`'s clock. */
    until: number;
    /** Nothing left in Redis for this window. */
    spent: boolean;
  }
  const held = new Map<string, Held>();
  /** Each key's lease in flight: resolves false when Redis did not answer it. */
  const leasing = new Map<string, Promise<boolean>>();
  /** What the requests waiting for a key's lease in flight cost together. */
  const waiting = new Map<string, number>();
  let sweepAt = 1_000;
  const refusal = (until: number) => new RateLimiterRes(0, Math.max(1, until - now()), points, false);
  const current = (id: string): Held | undefined => {
    const entry = held.get(id);
    if (entry && entry.until <= now()) held.delete(id);
    else return entry;
  };

  /** Leases up to `want` points (`need` of them at least, or none) and adds them to what the key holds. */
  const takeLease = async (id: string, want: number, need: number): Promise<boolean> => {
    const sent = now();
    let answer: [number, number, number];
    try {
      if (redis.status !== 'ready') return false;
      answer = await redis.rateLimitLease(deps.keyOf(id), want, need, points, deps.windowSeconds);
    } catch {
      return false;
    }
    const [taken, ttl, left] = answer.map(Number) as [number, number, number];
    const entry = current(id) ?? { left: 0, until: sent + ttl, spent: false };
    entry.until = Math.min(entry.until, sent + ttl);
    entry.left += taken;
    if (left <= taken) entry.spent = true;
    held.set(id, entry);
    if (held.size > sweepAt) {
      for (const key of [...held.keys()]) current(key);
      sweepAt = Math.max(1_000, held.size * 2);
    }
    return true;
  };

  return async (id, cost) => {
    for (;;) {
      const entry = current(id);
      if (entry && entry.left >= cost) {
        entry.left -= cost;
        return;
      }
      if (entry?.spent) throw refusal(entry.until);
      const inFlight = leasing.get(id);
      if (inFlight) {
        waiting.set(id, (waiting.get(id) ?? 0) + cost);
        const answered = await inFlight;
        waiting.set(id, waiting.get(id)! - cost);
        if (waiting.get(id) === 0) waiting.delete(id);
        if (answered) continue;
        return fallback.consume(id, cost);
      }
      const need = cost - (entry?.left ?? 0);
      const taking = takeLease(id, Math.max(lease, need + (waiting.get(id) ?? 0)), need).finally(() => leasing.delete(id));
      leasing.set(id, taking);
      if (!(await taking)) return fallback.consume(id, cost);
      const after = current(id);
      // The rest could not pay for this request: refused, and what is left kept for cheaper ones.
      if (after && after.left < cost && !after.spent) throw refusal(after.until);
    }
  };
}

/** The outcome of spending from budgets: a `RateLimitedError` with the longest wait when any refused, else null. */
function refusalOf(outcomes: PromiseSettledResult<unknown>[]): RateLimitedError | null {
  let retryAfterMs = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') continue;
    // Refused: a RateLimiterRes. Anything else (Redis and insurance both failing) is not the caller's fault.
    if (!(outcome.reason instanceof RateLimiterRes)) throw outcome.reason;
    retryAfterMs = Math.max(retryAfterMs, outcome.reason.msBeforeNext);
  }
  return outcomes.some((outcome) => outcome.status === 'rejected')
    ? new RateLimitedError(Math.max(1, Math.ceil(retryAfterMs / 1000)))
    : null;
}

/** The whole request refused: HTTP 429 with Retry-After, and the error's code and retryAfterSeconds in the body. */
export function rateLimitedGraphQLError(error: RateLimitedError): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      retryAfterSeconds: error.retryAfterSeconds,
      http: { status: 429, headers: { 'Retry-After': String(error.retryAfterSeconds) } },
    },
  });
}

type LimitedContext = GraphQLContext & { request: Request; req?: IncomingMessage };

/**
 * Charges every operation with mutations or voucher-code lookups to its caller before
 * anything executes; over budget, the whole operation is refused (nothing runs).
 */
export function useRateLimits(deps: {
  limiter: RateLimiter;
  trustProxy: number;
  logger: Logger;
  /** Counts each refusal by whose budget was spent (a bounded label: the subject's kind). */
  refused?: (subject: RateSubject['kind']) => void;
}): Plugin {
  return {
    onExecute: async ({ args, setResultAndStopExecution }) => {
      const cost = operationCost(args.document, args.operationName);
      if (cost.mutations === 0 && cost.voucherLookups === 0) return;
      const context = args.contextValue as unknown as LimitedContext;
      const subject = rateSubject(context.principal, clientAddress(context.request, context.req, deps.trustProxy));
      const refused = await deps.limiter.consume(subject, cost);
      if (!refused) return;
      deps.refused?.(subject.kind);
      // Debug: anyone can provoke this, so it must not be able to fill the logs.
      deps.logger.debug({ subject: subject.kind, cost, retryAfterSeconds: refused.retryAfterSeconds }, 'rate limited');
      setResultAndStopExecution({ errors: [rateLimitedGraphQLError(refused)] });
    },
  };
}
