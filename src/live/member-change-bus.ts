import type { MemberChange, MemberChangeEvents } from '../domain/deps.js';
import { MEMBER_CHANGE_KINDS } from '../domain/members/member-changes.js';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis/redis-client.js';
import { listenOnChannel } from './channel-listener.js';

/** The Redis pub/sub channel of member changes (under the queue prefix, so a Redis can host several installations). */
export const memberChangeChannel = (prefix: string): string => `${prefix}:member-changes`;

/** At most this many changes per message: a batch compensation of thousands becomes a few messages, not one huge one. */
const CHANGES_PER_MESSAGE = 500;

export type MemberChangeListener = (change: MemberChange) => void;

/**
 * Member changes between processes: services in the API and the workers report
 * them (`events`, ServiceDeps.memberChanges), every API process hears all of
 * them and hands each to the live streams of that member (`listen`).
 * Ids only go over the wire; each stream reads the member's status itself.
 * Publishing never waits for Redis and never throws: a change lost while Redis
 * is away reaches no screen, and the next change (or a reconnect, whose first
 * event is the current status) brings the screen up to date.
 */
export interface MemberChangeBus {
  events: MemberChangeEvents;
  /** Hears every change of one member, from any process; returns the unsubscribe. */
  listen(memberId: string, listener: MemberChangeListener): () => void;
  /**
   * Called when this process hears changes again after it lost the channel (Redis restarted, the
   * connection dropped): what was published meanwhile is lost, so streams read the status afresh.
   */
  onResync(listener: () => void): void;
  /** Resolves once this process hears changes published elsewhere (at once without Redis or without listening). */
  ready: Promise<void>;
  close(): Promise<void>;
}

type WireChange = [memberId: string, kind: string, reference: string | null];

const KINDS: ReadonlySet<string> = new Set(MEMBER_CHANGE_KINDS);

function fromWire(message: string): MemberChange[] {
  const parsed: unknown = JSON.parse(message);
  if (!Array.isArray(parsed)) throw new Error('not a list of changes');
  return parsed.flatMap((item: unknown) => {
    if (!Array.isArray(item)) return [];
    const [memberId, kind, reference] = item as unknown[];
    if (typeof memberId !== 'string' || typeof kind !== 'string' || !KINDS.has(kind)) return [];
    if (reference !== null && typeof reference !== 'string') return [];
    return [{ memberId, kind: kind as MemberChange['kind'], reference }];
  });
}

export function createMemberChangeBus(deps: {
  logger: Logger;
  /** Commands only (publish): a fail-fast connection, so a Redis that is away costs nothing. */
  redis?: { client: RedisClient; prefix: string };
  /** Whether this process hands changes to live streams (API processes); workers only publish. */
  listen?: boolean;
}): MemberChangeBus {
  const { logger } = deps;
  const listeners = new Map<string, Set<MemberChangeListener>>();
  const dispatch = (changes: readonly MemberChange[]) => {
    for (const change of changes) {
      for (const listener of listeners.get(change.memberId) ?? []) {
        try {
          listener(change);
        } catch (error) {
          logger.warn({ err: error }, 'a live member status listener failed');
        }
      }
    }
  };
  const listen = (memberId: string, listener: MemberChangeListener) => {
    let set = listeners.get(memberId);
    if (!set) listeners.set(memberId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && listeners.get(memberId) === set) listeners.delete(memberId);
    };
  };

  const resyncListeners: (() => void)[] = [];
  const onResync = (listener: () => void) => void resyncListeners.push(listener);
  if (!deps.redis) {
    return { events: { changed: dispatch }, listen, onResync, ready: Promise.resolve(), close: async () => undefined };
  }

  const { client, prefix } = deps.redis;
  const channel = memberChangeChannel(prefix);
  const publish = (changes: readonly MemberChange[]) => {
    for (let start = 0; start < changes.length; start += CHANGES_PER_MESSAGE) {
      const wire: WireChange[] = changes
        .slice(start, start + CHANGES_PER_MESSAGE)
        .map((change) => [change.memberId, change.kind, change.reference]);
      client.publish(channel, JSON.stringify(wire)).catch((error: unknown) => {
        logger.warn({ err: error, changes: wire.length }, 'could not publish member changes: live screens catch up with the next change');
      });
    }
  };
  if (!deps.listen) return { events: { changed: publish }, listen, onResync, ready: Promise.resolve(), close: async () => undefined };

  const listener = listenOnChannel({
    client,
    channel,
    logger,
    subject: 'member changes',
    whileAway: 'live member status streams get no updates',
    onMessage: (message) => dispatch(fromWire(message)),
    onResync: () => {
      for (const resync of resyncListeners) resync();
    },
  });
  return {
    events: { changed: publish },
    listen,
    onResync,
    ready: listener.ready,
    close: listener.close,
  };
}
