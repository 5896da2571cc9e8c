import { APPROVAL_QUEUE_CHANGE_KINDS } from '../domain/approvals/approval-queue.js';
import type { ApprovalQueueChange, ApprovalQueueEvents } from '../domain/deps.js';
import { RateLimitedError } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis/redis-client.js';
import { listenOnChannel } from './channel-listener.js';
import { createCredentialWatchers } from './credential-watchers.js';
import { createStreamPlaces, type StreamPlaces } from './stream-places.js';

/** The Redis pub/sub channel of approval queue changes (under the queue prefix, like the member changes). */
export const approvalQueueChannel = (prefix: string): string => `${prefix}:approval-queue`;

export type ApprovalQueueListener = (changes: readonly ApprovalQueueChange[]) => void;

/**
 * Changes of the supervisors' approval queue between processes: services in
 * the API and the workers report them (`events`, ServiceDeps.approvalQueue),
 * every API process hears all of them and hands them to its open
 * `approvalQueueChanged` streams (`listen`). Ids only go over the wire; a
 * screen reads the queue itself. As with member changes, publishing never
 * waits for Redis and never throws: a change lost while Redis is away reaches
 * no screen, and a process that hears the channel again after losing it tells
 * its streams to read afresh (`onResync`).
 */
export interface ApprovalQueueBus {
  events: ApprovalQueueEvents;
  /** Hears every change, from any process; returns the unsubscribe. */
  listen(listener: ApprovalQueueListener): () => void;
  /** Called when this process hears changes again after it lost the channel. */
  onResync(listener: () => void): () => void;
  /**
   * Counts an open stream of a watcher against the per-watcher limit (RateLimitedError beyond it; the places are shared
   * by the API processes, src/live/stream-places.ts) and keeps its `end` for `endStreams`; resolves to the release, or
   * to undefined once the streams were ended (the stream is to end at once).
   */
  admit(watcher: string, end: () => void): Promise<(() => void) | undefined>;
  /** Ends every open stream, and admits none after: the process stops, clients reconnect elsewhere. */
  endStreams(): void;
  /** Calls `listener` when the credential `id` (an API key's id) changes: the stream re-checks its caller at once. */
  onCredentialChanged(id: string, listener: () => void): () => void;
  /** A credential changed somewhere (an API key revoked): what watches with it re-checks now. */
  credentialChanged(id: string): void;
  /** Resolves once this process hears changes published elsewhere (at once without Redis or without listening). */
  ready: Promise<void>;
  close(): Promise<void>;
}

const KINDS: ReadonlySet<string> = new Set(APPROVAL_QUEUE_CHANGE_KINDS);

function fromWire(message: string): ApprovalQueueChange[] {
  const parsed: unknown = JSON.parse(message);
  if (!Array.isArray(parsed)) throw new Error('not a list of changes');
  return parsed.flatMap((item: unknown) => {
    if (!Array.isArray(item)) return [];
    const [kind, reference] = item as unknown[];
    if (typeof kind !== 'string' || !KINDS.has(kind) || typeof reference !== 'string') return [];
    return [{ kind: kind as ApprovalQueueChange['kind'], reference }];
  });
}

export function createApprovalQueueBus(deps: {
  logger: Logger;
  /** Commands only (publish): a fail-fast connection. */
  redis?: { client: RedisClient; prefix: string };
  /** Whether this process hands changes to live streams (API processes); workers only publish. */
  listen?: boolean;
  /** The watchers' places (API processes: shared through Redis); by default this process's own count. */
  places?: StreamPlaces;
  /** Open streams per watcher, without `places`. */
  maxStreamsPerWatcher?: number;
}): ApprovalQueueBus {
  const { logger } = deps;
  const listeners = new Set<ApprovalQueueListener>();
  const resyncListeners = new Set<() => void>();
  const dispatch = (changes: readonly ApprovalQueueChange[]) => {
    if (changes.length === 0) return;
    for (const listener of listeners) {
      try {
        listener(changes);
      } catch (error) {
        logger.warn({ err: error }, 'an approval queue listener failed');
      }
    }
  };
  const listen = (listener: ApprovalQueueListener) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  const onResync = (listener: () => void) => {
    resyncListeners.add(listener);
    return () => void resyncListeners.delete(listener);
  };
  const places = deps.places ?? createStreamPlaces({ logger, maxPerWatcher: deps.maxStreamsPerWatcher ?? 5, leaseMs: 0 });
  const ends = new Set<() => void>();
  let ended = false;
  const admit = async (watcher: string, end: () => void) => {
    if (ended) return undefined;
    const release = await places.take('approvalQueue', watcher);
    if (!release) throw new RateLimitedError(5);
    // The process began to stop while the place was taken.
    if (ended) {
      release();
      return undefined;
    }
    // One entry per admitted stream, whatever `end` it passed.
    const stream = () => end();
    ends.add(stream);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      ends.delete(stream);
      release();
    };
  };
  const endStreams = () => {
    ended = true;
    const open = [...ends];
    ends.clear();
    for (const end of open) end();
  };
  const credentials = createCredentialWatchers();
  const local = {
    listen,
    onResync,
    admit,
    endStreams,
    onCredentialChanged: credentials.watch,
    credentialChanged: credentials.changed,
    ready: Promise.resolve(),
    close: async () => undefined,
  };
  if (!deps.redis) return { events: { changed: dispatch }, ...local };

  const { client, prefix } = deps.redis;
  const channel = approvalQueueChannel(prefix);
  const publish = (changes: readonly ApprovalQueueChange[]) => {
    if (changes.length === 0) return;
    const wire = changes.map((change) => [change.kind, change.reference]);
    client.publish(channel, JSON.stringify(wire)).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not publish approval queue changes: open queues catch up with the next change');
    });
  };
  if (!deps.listen) return { events: { changed: publish }, ...local };

  const listener = listenOnChannel({
    client,
    channel,
    logger,
    subject: 'approval queue changes',
    whileAway: 'open queues get no updates',
    onMessage: (message) => dispatch(fromWire(message)),
    onResync: () => {
      for (const resync of resyncListeners) resync();
    },
  });
  return {
    ...local,
    events: { changed: publish },
    ready: listener.ready,
    close: listener.close,
  };
}
