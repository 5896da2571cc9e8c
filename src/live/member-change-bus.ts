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

/** What the bus publishes for some changes: its channel and the messages, in order. */
export interface MemberChangeMessages {
  channel: string;
  messages: string[];
}

/** The reports services make (MemberChangeEvents) and, with Redis, what a report would publish. */
export interface MemberChangeBusEvents extends MemberChangeEvents {
  /**
   * The messages `changed` would publish for these changes, for a caller that sends them itself within one command
   * of its own instead of calling `changed` (src/cache/invalidating-changes.ts: the response cache's invalidation
   * script publishes them). Absent without Redis, where `changed` hands the changes to this process's streams.
   */
  messagesFor?(changes: readonly MemberChange[]): MemberChangeMessages;
}

/**
 * Member changes between processes: services in the API and the workers report
 * them (`events`, ServiceDeps.memberChanges), every API process hears all of
 * them and hands each to the live streams of that member (`listen`).
 * Ids only go over the wire; each stream reads the member's status itself.
 * Publishing never waits for Redis and never throws: a change lost while Redis
 * is away reaches no screen, and the next change (or a reconnect, whose first
 * event is the current status) brings the screen up to date. Where the members'
 * response cache is in use, its invalidation script publishes the same messages
 * (`messagesFor`): one command per change, not two.
 */
export interface MemberChangeBus {
  events: MemberChangeBusEvents;
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

/** The messages of these changes on the wire, at most CHANGES_PER_MESSAGE changes each. */
function toWire(changes: readonly MemberChange[]): string[] {
  const messages: string[] = [];
  for (let start = 0; start < changes.length; start += CHANGES_PER_MESSAGE) {
    const wire: WireChange[] = changes
      .slice(start, start + CHANGES_PER_MESSAGE)
      .map((change) => [change.memberId, change.kind, change.reference]);
    messages.push(JSON.stringify(wire));
  }
  return messages;
}

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
    toWire(changes).forEach((message, i) => {
      client.publish(channel, message).catch((error: unknown) => {
        const count = Math.min(CHANGES_PER_MESSAGE, changes.length - i * CHANGES_PER_MESSAGE);
        logger.warn({ err: error, changes: count }, 'could not publish member changes: live screens catch up with the next change');
      });
    });
  };
  const events: MemberChangeBusEvents = {
    changed: publish,
    messagesFor: (changes) => ({ channel, messages: toWire(changes) }),
  };
  if (!deps.listen) return { events, listen, onResync, ready: Promise.resolve(), close: async () => undefined };

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
    events,
    listen,
    onResync,
    ready: listener.ready,
    close: listener.close,
  };
}
